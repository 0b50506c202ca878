#include "data/concat_dataset.hpp"

#include <algorithm>
#include <set>

#include "core/error.hpp"

namespace drshym::data {

ConcatDataset::ConcatDataset(std::vector<DatasetPtr> parts) : parts_(std::move(parts)) {
  if (parts_.empty()) throw Error(ErrorKind::InvalidInput, "data", "concat: no dataset to concatenate");
  offsets_.push_back(0);
  for (size_t k = 0; k < parts_.size(); ++k) {
    if (!parts_[k]) throw Error(ErrorKind::InvalidInput, "data", "concat: part " + std::to_string(k) + " is null");
    offsets_.push_back(offsets_.back() + parts_[k]->size());
  }
}

std::pair<size_t, size_t> ConcatDataset::locate(size_t index) const {
  if (index >= size())
    throw Error(ErrorKind::Internal, "data",
                "concat: index " + std::to_string(index) + " out of range (size " + std::to_string(size()) + ")");
  size_t k = size_t(std::upper_bound(offsets_.begin(), offsets_.end(), index) - offsets_.begin()) - 1;
  return {k, index - offsets_[k]};
}

Sample ConcatDataset::get(size_t index, uint64_t epoch) const {
  auto [k, i] = locate(index);
  return parts_[k]->get(i, epoch);
}

std::string ConcatDataset::name() const {
  std::string s = "concat(";
  for (size_t k = 0; k < parts_.size(); ++k) s += (k ? ", " : "") + parts_[k]->name();
  return s + ")";
}

std::string ConcatDataset::group_of(size_t index) const {
  auto [k, i] = locate(index);
  return parts_[k]->group_of(i);
}

std::string ConcatDataset::id_of(size_t index) const {
  auto [k, i] = locate(index);
  return parts_[k]->id_of(i);
}

std::vector<SkippedItem> ConcatDataset::skipped() const {
  std::vector<SkippedItem> all;
  for (const auto& p : parts_) {
    auto s = p->skipped();
    all.insert(all.end(), s.begin(), s.end());
  }
  return all;
}

SubsetDataset::SubsetDataset(DatasetPtr base, std::vector<size_t> indices, std::string label)
    : base_(std::move(base)), indices_(std::move(indices)), label_(std::move(label)) {
  if (!base_) throw Error(ErrorKind::InvalidInput, "data", "subset: null base dataset");
  for (size_t i : indices_)
    if (i >= base_->size())
      throw Error(ErrorKind::InvalidInput, "data",
                  "subset of " + base_->name() + ": index " + std::to_string(i) + " out of range (size " +
                      std::to_string(base_->size()) + ")");
}

Sample SubsetDataset::get(size_t index, uint64_t epoch) const {
  if (index >= indices_.size())
    throw Error(ErrorKind::Internal, "data", name() + ": index " + std::to_string(index) + " out of range");
  return base_->get(indices_[index], epoch);
}

std::vector<size_t> indices_of_groups(const Dataset& ds, const std::vector<std::string>& groups, bool exclude) {
  std::set<std::string> g(groups.begin(), groups.end());
  std::vector<size_t> out;
  for (size_t i = 0; i < ds.size(); ++i)
    if ((g.count(ds.group_of(i)) > 0) != exclude) out.push_back(i);
  return out;
}

}  // namespace drshym::data
