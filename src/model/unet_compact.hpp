#pragma once
// unet_compact: the plain 4-level U-Net (widths base_width * {1, 2, 4, 8, 16}), small enough
// to train and run on CPU. Built through make_model(); declared here for tests and tools.
#include "model/layers.hpp"
#include "model/segnet.hpp"

namespace drshym::model {

class UNetCompactImpl : public SegNetImpl {
 public:
  explicit UNetCompactImpl(const ModelConfig& cfg);
  torch::Tensor forward(torch::Tensor x) override;
  std::vector<std::string> tap_points() const override;

 private:
  std::vector<DoubleConv> enc_;    // levels 0..4 (4 = bottleneck at 1/16)
  std::vector<DecoderBlock> dec_;  // dec_[l] brings level l+1 up to level l
  ConvNormAct head_{nullptr};
};

}  // namespace drshym::model
