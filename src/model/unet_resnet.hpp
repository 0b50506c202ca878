#pragma once
// unet_resnet18/34/50: a ResNet encoder built from scratch (BasicBlock for 18/34, Bottleneck
// for 50; any number of input bands) with skips at 1/2, 1/4, 1/8 and 1/16 into a U-Net decoder
// and a last x2 upsampling back to input resolution. Inputs must be multiples of 32.
#include "model/layers.hpp"
#include "model/segnet.hpp"

namespace drshym::model {

// conv3x3(stride) → conv3x3, identity or 1x1 projection shortcut (ResNet-18/34).
class BasicBlockImpl : public torch::nn::Module {
 public:
  static constexpr int kExpansion = 1;
  BasicBlockImpl(int in, int planes, int stride, Norm norm);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  ConvNormAct c1{nullptr}, c2{nullptr}, down{nullptr};
};
TORCH_MODULE(BasicBlock);

// 1x1 reduce → 3x3(stride) → 1x1 expand (x4), projection shortcut when shapes change (ResNet-50).
class BottleneckImpl : public torch::nn::Module {
 public:
  static constexpr int kExpansion = 4;
  BottleneckImpl(int in, int planes, int stride, Norm norm);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  ConvNormAct c1{nullptr}, c2{nullptr}, c3{nullptr}, down{nullptr};
};
TORCH_MODULE(Bottleneck);

class UNetResNetImpl : public SegNetImpl {
 public:
  // depth: 18, 34 or 50 (anything else throws InvalidInput).
  UNetResNetImpl(const ModelConfig& cfg, int depth);
  torch::Tensor forward_water(torch::Tensor x) override;
  std::vector<std::string> tap_points() const override;

 private:
  ConvNormAct stem_{nullptr};               // 7x7 stride 2 → 1/2
  std::vector<torch::nn::Sequential> layers_;  // layer1..4 → 1/4, 1/8, 1/16, 1/32
  std::vector<DecoderBlock> dec_;           // 1/32→1/16, …, 1/2→1/1
  ConvNormAct head_{nullptr};
};

}  // namespace drshym::model
