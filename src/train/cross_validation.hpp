#pragma once
// Region / scene hold-out cross-validation (`drshym cv`): for each group (Sen1Floods11 region,
// ETCI scene) train on every other group and evaluate on the held-out one; report each fold
// and the mean ± std of the held-out metrics.
#include <nlohmann/json.hpp>
#include <vector>

#include "data/dataset.hpp"
#include "train/train_config.hpp"

namespace drshym::train {

// A view of some samples of another dataset.
class SubsetDataset : public data::Dataset {
 public:
  SubsetDataset(data::DatasetPtr base, std::vector<size_t> indices, std::string name);
  size_t size() const override { return indices_.size(); }
  data::Sample get(size_t i) const override { return base_->get(indices_.at(i)); }
  data::Sample get(size_t i, uint64_t epoch) const override { return base_->get(indices_.at(i), epoch); }
  std::string name() const override { return name_; }
  std::string group_of(size_t i) const override { return base_->group_of(indices_.at(i)); }
  const data::DatasetPtr& base() const { return base_; }

 private:
  data::DatasetPtr base_;
  std::vector<size_t> indices_;
  std::string name_;
};

// Groups of a dataset in first-seen order.
std::vector<std::string> groups_of(const data::Dataset& ds);

// Runs one training per held-out group of cfg.data.train (folds may be limited to `groups`).
// Writes <out_dir>/fold_<group>/ runs and <out_dir>/cv_summary.json; returns the summary.
nlohmann::json run_cross_validation(const TrainConfig& cfg, const std::vector<std::string>& groups = {});

}  // namespace drshym::train
