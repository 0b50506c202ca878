#pragma once
// unet_compact: the plain 4-level U-Net (widths base_width * {1, 2, 4, 8, 16}), small enough
// to train and run on CPU. Built through make_model(); declared here for tests and tools.
#include "model/layers.hpp"
#include "model/segnet.hpp"

namespace drshym::model {

// The permanent-water head: the decoder's features at 1/2, 1/4 and 1/8 resolution (dec1, dec2,
// dec3: local texture and the wide context a river or a lake needs), with model.head_reads:
// decoder+encoder also the encoder's at 1/8 and 1/16 (enc3, enc4: features not yet fitted to
// the water output), or with decoder+branch also the head's own small encoder: three levels
// (1/4, 1/8, 1/16; 2, 4 and 8 x base_width channels) that start from enc1 and learn features
// the water network does not keep; every source is brought to 1/2, reduced to `width` channels
// (model.head_width, default base_width) and read by two 3x3 convolutions; the logit is upsampled
// (bilinear) to full size.
// About 4% of the network's multiply-adds at base width (about 9% with the branch), ~4x that
// at twice the width: permanent water is a coarse layer.
class PermanentHeadImpl : public torch::nn::Module {
 public:
  // `channels`: each source's channel count, finest (1/2 resolution) first; branch_in > 0 adds
  // the head's own encoder branch on a source of that many channels (enc1).
  PermanentHeadImpl(std::vector<int64_t> channels, int width, Norm norm, int64_t branch_in = 0);
  // sources: the features named by `channels`, in that order; branch_input: the branch's input
  // (defined exactly when the head has a branch); h, w: the output's size.
  torch::Tensor forward(std::vector<torch::Tensor> sources, int64_t h, int64_t w,
                        const torch::Tensor& branch_input = {});
  // For inference: the 1x1 reduction of the concatenation [s1, up(s2), up(s3), ...] becomes
  // one 1x1 conv per source, each at its own resolution, the coarse results upsampled (16
  // channels instead of 64, 128, ...) and summed. Bilinear upsampling is a per-channel weighted
  // mean, so it commutes with a per-pixel linear map: the same values up to rounding, without
  // the 14-channel-group concatenation at 1/2 resolution (the network's largest activation).
  void fuse();

 private:
  std::vector<int64_t> channels_;  // the sources', then the branch levels'
  std::vector<DoubleConv> branch_;  // decoder+branch: levels at 1/4, 1/8, 1/16
  ConvNormAct reduce_{nullptr}, c1_{nullptr}, c2_{nullptr}, out_{nullptr};
  std::vector<torch::nn::Conv2d> parts_;  // after fuse(): reduce_ split by source (r1, r2, ...)
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
  // Encoder and decoder; decs (when given) gets dec3, dec2, dec1, dec0 outputs in that order,
  // encs (when given) enc0..enc4.
  torch::Tensor trunk(torch::Tensor x, std::vector<torch::Tensor>* decs, std::vector<torch::Tensor>* encs = nullptr);
  std::vector<DoubleConv> enc_;    // levels 0..4 (4 = bottleneck at 1/16)
  std::vector<DecoderBlock> dec_;  // dec_[l] brings level l+1 up to level l
  ConvNormAct head_{nullptr};
  PermanentHead permanent_{nullptr};  // with heads: [permanent_water]
};

}  // namespace drshym::model
