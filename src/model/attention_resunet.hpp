#pragma once
// attention_resunet: a 4-level U-Net of residual blocks with squeeze-and-excitation (channel
// attention) and additive attention gates on every skip (spatial attention), which helps keep
// thin flood channels while suppressing look-alike dark surfaces (roads, shadows) in SAR.
#include "model/layers.hpp"
#include "model/segnet.hpp"

namespace drshym::model {

// conv3x3 → conv3x3 → SE, plus identity or 1x1 projection shortcut, ReLU after the sum.
class ResBlockSEImpl : public torch::nn::Module {
 public:
  ResBlockSEImpl(int in, int out, Norm norm);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  ConvNormAct c1{nullptr}, c2{nullptr}, shortcut{nullptr};
  SqueezeExcite se{nullptr};
};
TORCH_MODULE(ResBlockSE);

class AttentionResUNetImpl : public SegNetImpl {
 public:
  explicit AttentionResUNetImpl(const ModelConfig& cfg);
  torch::Tensor forward_water(torch::Tensor x) override;
  std::vector<std::string> tap_points() const override;

 private:
  std::vector<ResBlockSE> enc_;     // levels 0..4 (4 = bridge at 1/16)
  std::vector<Upsample> up_;        // up_[l]: level l+1 → level l
  std::vector<AttentionGate> gate_;
  std::vector<ResBlockSE> dec_;
  ConvNormAct head_{nullptr};
};

}  // namespace drshym::model
