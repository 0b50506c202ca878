#pragma once
// Training/evaluation datasets. Every dataset yields samples already in the model's input
// space (bands engineered and normalized as the config says), with a validity mask that
// marks pixels to exclude from losses and metrics (label -1, NaN input, outside the swath).
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/raw_sample.hpp"

namespace drshym::data {

struct Sample {
  torch::Tensor image;  // [C, H, W] float32, normalized input
  // [1 + K, H, W] float32: channel 0 water (1) or dry (0), then one channel per extra head of
  // the network (K = 0 unless the dataset was asked for head labels); 0 where invalid.
  torch::Tensor label;
  torch::Tensor valid;  // [1, H, W] float32, 1 = counts in loss/metrics
  // Distillation only (RawDataset::enable_teacher), else undefined: the teacher's input [C_t, H, W]
  // from the same pixels, and [1, H, W] 1 where the teacher's and the student's inputs are both
  // known (the pixels the teacher's soft targets cover, labelled or not).
  torch::Tensor teacher_image;
  torch::Tensor teacher_valid;
  std::string id;       // chip / tile name
  std::string group;    // region (Sen1Floods11) or scene (ETCI): the unit of hold-out splits
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  virtual Sample get(size_t index) const = 0;
  // The sample as seen in a given epoch: augmenting datasets draw their random transform from
  // (seed, epoch, index), so the same triple always gives the same sample. Others ignore epoch.
  virtual Sample get(size_t index, uint64_t epoch) const { return get(index); }
  virtual std::string name() const = 0;
  // Group (region/scene) of each sample without loading pixels, for cross-validation splits.
  virtual std::string group_of(size_t index) const = 0;
  // Id of each sample without loading pixels ("" when the dataset cannot tell cheaply).
  virtual std::string id_of(size_t index) const { return ""; }
  // Items left out at construction (unreadable, inconsistent size, no valid pixel, ...).
  virtual std::vector<SkippedItem> skipped() const { return {}; }
};
using DatasetPtr = std::shared_ptr<Dataset>;

}  // namespace drshym::data
