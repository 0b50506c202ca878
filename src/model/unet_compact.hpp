#pragma once
// unet_compact: the plain 4-level U-Net (widths base_width * {1, 2, 4, 8, 16}), small enough
// to train and run on CPU. Built through make_model(); declared here for tests and tools.
#include "model/layers.hpp"
#include "model/segnet.hpp"

namespace drshym::model {

// The permanent-water head: the decoder's features at 1/2, 1/4 and 1/8 resolution (dec1, dec2,
// dec3: local texture and the wide context a river or a lake needs), brought to 1/2, reduced
// to `width` channels (model.head_width, default base_width) and read by two 3x3 convolutions;
// the logit is upsampled (bilinear) to full size. About 4% of the network's multiply-adds at
// base width, ~4x that at twice the width: permanent water is a coarse layer.
class PermanentHeadImpl : public torch::nn::Module {
 public:
  PermanentHeadImpl(int base_width, int width, Norm norm);
  torch::Tensor forward(const torch::Tensor& d1, const torch::Tensor& d2, const torch::Tensor& d3, int64_t h, int64_t w);
  // For inference: the 1x1 reduction of the concatenation [d1, up(d2), up(d3)] becomes one
  // 1x1 conv per source, each at its own resolution, the two coarse results upsampled (16
  // channels instead of 64 and 128) and summed. Bilinear upsampling is a per-channel weighted
  // mean, so it commutes with a per-pixel linear map: the same values up to rounding, without
  // the 14-channel-group concatenation at 1/2 resolution (the network's largest activation).
  void fuse();

 private:
  int base_width_;
  ConvNormAct reduce_{nullptr}, c1_{nullptr}, c2_{nullptr}, out_{nullptr};
  torch::nn::Conv2d r1_{nullptr}, r2_{nullptr}, r3_{nullptr};  // after fuse(): reduce_ split by source
};
TORCH_MODULE(PermanentHead);

class UNetCompactImpl : public SegNetImpl {
 public:
  explicit UNetCompactImpl(const ModelConfig& cfg);
  torch::Tensor forward_water(torch::Tensor x) override;
  torch::Tensor forward_all(torch::Tensor x) override;
  std::vector<std::string> tap_points() const override;
  void fuse_for_inference() override;

 private:
  // Encoder and decoder; decs (when given) gets dec3, dec2, dec1, dec0 outputs in that order.
  torch::Tensor trunk(torch::Tensor x, std::vector<torch::Tensor>* decs);
  std::vector<DoubleConv> enc_;    // levels 0..4 (4 = bottleneck at 1/16)
  std::vector<DecoderBlock> dec_;  // dec_[l] brings level l+1 up to level l
  ConvNormAct head_{nullptr};
  PermanentHead permanent_{nullptr};  // with heads: [permanent_water]
};

}  // namespace drshym::model
