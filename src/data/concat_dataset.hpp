#pragma once
// Dataset views: ConcatDataset serves several datasets as one (e.g. Sen1Floods11 train + ETCI
// scenes); SubsetDataset serves chosen indices of another (cross-validation folds).
//
//   auto both = std::make_shared<ConcatDataset>(std::vector<DatasetPtr>{s1f11, etci});
//   auto fold = std::make_shared<SubsetDataset>(both, indices_of_fold);
#include <string>
#include <vector>

#include "data/dataset.hpp"

namespace drshym::data {

class ConcatDataset : public Dataset {
 public:
  // Throws InvalidInput when parts is empty or holds a null dataset.
  explicit ConcatDataset(std::vector<DatasetPtr> parts);

  size_t size() const override { return offsets_.back(); }
  using Dataset::get;
  Sample get(size_t index) const override { return get(index, 0); }
  Sample get(size_t index, uint64_t epoch) const override;
  std::string name() const override;
  std::string group_of(size_t index) const override;
  std::string id_of(size_t index) const override;
  std::vector<SkippedItem> skipped() const override;

  const std::vector<DatasetPtr>& parts() const { return parts_; }
  // Which part serves a global index, and the index inside that part.
  std::pair<size_t, size_t> locate(size_t index) const;

 private:
  std::vector<DatasetPtr> parts_;
  std::vector<size_t> offsets_;  // offsets_[k] = first global index of part k; back() = size
};

class SubsetDataset : public Dataset {
 public:
  // Throws InvalidInput for a null base or an index out of range.
  SubsetDataset(DatasetPtr base, std::vector<size_t> indices, std::string label = "subset");

  size_t size() const override { return indices_.size(); }
  using Dataset::get;
  Sample get(size_t index) const override { return get(index, 0); }
  Sample get(size_t index, uint64_t epoch) const override;
  std::string name() const override { return base_->name() + "[" + label_ + "]"; }
  std::string group_of(size_t index) const override { return base_->group_of(indices_.at(index)); }
  std::string id_of(size_t index) const override { return base_->id_of(indices_.at(index)); }
  std::vector<SkippedItem> skipped() const override { return base_->skipped(); }
  const std::vector<size_t>& indices() const { return indices_; }
  const Dataset& base() const { return *base_; }

 private:
  DatasetPtr base_;
  std::vector<size_t> indices_;
  std::string label_;
};

// Indices of the samples whose group is (or is not, with exclude = true) in `groups`.
std::vector<size_t> indices_of_groups(const Dataset& ds, const std::vector<std::string>& groups, bool exclude = false);

}  // namespace drshym::data
