#pragma once
// A dataset of RawSamples held in memory: for tests of everything downstream (trainer, batcher,
// augmentation) and for small programmatic datasets, with the same augment/preprocess path as
// the file-backed datasets.
//
//   auto ds = std::make_shared<MemoryDataset>(std::vector<RawSample>{a, b}, pp, "toy");
#include <string>
#include <vector>

#include "data/raw_dataset.hpp"

namespace drshym::data {

class MemoryDataset : public RawDataset {
 public:
  // Throws InvalidInput when a sample's planes disagree with its size.
  MemoryDataset(std::vector<RawSample> samples, const ingest::Preprocess& pp, std::string name = "memory");

  size_t size() const override { return samples_.size(); }
  std::string name() const override { return name_; }
  std::string group_of(size_t index) const override { return samples_.at(index).group; }
  std::string id_of(size_t index) const override { return samples_.at(index).id; }
  RawSample raw(size_t index) const override { return samples_.at(index); }

 private:
  std::vector<RawSample> samples_;
  std::string name_;
};

}  // namespace drshym::data
