#include "model/unet_resnet.hpp"

#include <array>

#include "core/error.hpp"
#include "model/feature_tap.hpp"

namespace drshym::model {

BasicBlockImpl::BasicBlockImpl(int in, int planes, int stride, Norm norm) {
  c1 = register_module("c1", ConvNormAct(in, planes, 3, stride, norm, Act::Relu));
  c2 = register_module("c2", ConvNormAct(planes, planes, 3, 1, norm, Act::None));
  if (stride != 1 || in != planes)
    down = register_module("down", ConvNormAct(in, planes, 1, stride, norm, Act::None));
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  return torch::relu(c2(c1(x)) + (down ? down(x) : x));
}

BottleneckImpl::BottleneckImpl(int in, int planes, int stride, Norm norm) {
  const int out = planes * kExpansion;
  c1 = register_module("c1", ConvNormAct(in, planes, 1, 1, norm, Act::Relu));
  c2 = register_module("c2", ConvNormAct(planes, planes, 3, stride, norm, Act::Relu));
  c3 = register_module("c3", ConvNormAct(planes, out, 1, 1, norm, Act::None));
  if (stride != 1 || in != out)
    down = register_module("down", ConvNormAct(in, out, 1, stride, norm, Act::None));
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  return torch::relu(c3(c2(c1(x))) + (down ? down(x) : x));
}

namespace {

// Blocks per stage, as in He et al. 2016.
std::array<int, 4> stage_blocks(int depth) {
  switch (depth) {
    case 18: return {2, 2, 2, 2};
    case 34:
    case 50: return {3, 4, 6, 3};
  }
  throw Error(ErrorKind::InvalidInput, "model",
              "unsupported ResNet depth " + std::to_string(depth) + " (known: 18, 34, 50)");
}

template <typename Block>
torch::nn::Sequential make_stage(int& in, int planes, int blocks, int stride, Norm norm) {
  torch::nn::Sequential seq;
  for (int i = 0; i < blocks; ++i) {
    seq->push_back(Block(in, planes, i == 0 ? stride : 1, norm));
    in = planes * Block::Impl::kExpansion;
  }
  return seq;
}

}  // namespace

UNetResNetImpl::UNetResNetImpl(const ModelConfig& cfg, int depth) : SegNetImpl(cfg) {
  const Norm norm = parse_norm(cfg.norm);
  const bool bilinear = cfg.upsample == "bilinear";
  const std::array<int, 4> blocks = stage_blocks(depth);
  const int w = cfg.base_width;
  const int stem_width = 4 * w;  // 64 for the default base_width 16

  stem_ = register_module("stem", ConvNormAct(cfg.in_channels, stem_width, 7, 2, norm, Act::Relu));
  int in = stem_width;
  std::array<int, 4> enc_out{};
  for (int s = 0; s < 4; ++s) {
    const int planes = stem_width << s;
    const int stride = s == 0 ? 1 : 2;  // stage 1 follows the max-pool, which already halved
    auto stage = depth >= 50 ? make_stage<Bottleneck>(in, planes, blocks[s], stride, norm)
                             : make_stage<BasicBlock>(in, planes, blocks[s], stride, norm);
    layers_.push_back(register_module("layer" + std::to_string(s + 1), stage));
    enc_out[s] = in;
  }

  // Decoder widths base_width * {16, 8, 4, 2, 1}: 256 … 16 for the default, as in common
  // ResNet U-Nets; skips are layer3, layer2, layer1, stem, then none at full resolution.
  const std::array<int, 5> skip{enc_out[2], enc_out[1], enc_out[0], stem_width, 0};
  int dec_in = enc_out[3];
  for (int i = 0; i < 5; ++i) {
    const int out = w << (4 - i);
    dec_.push_back(register_module("dec" + std::to_string(i),
                                   DecoderBlock(dec_in, skip[i], out, norm, bilinear)));
    dec_in = out;
  }
  head_ = register_module("head", ConvNormAct(w, 1, 1, 1, Norm::None, Act::None));
}

torch::Tensor UNetResNetImpl::forward_water(torch::Tensor x) {
  torch::Tensor s2 = tap("stem", stem_(x));                                        // 1/2
  torch::Tensor s4 = tap("layer1", layers_[0]->forward(torch::max_pool2d(s2, 3, 2, 1)));  // 1/4
  torch::Tensor s8 = tap("layer2", layers_[1]->forward(s4));
  torch::Tensor s16 = tap("layer3", layers_[2]->forward(s8));
  torch::Tensor y = tap("layer4", layers_[3]->forward(s16));  // 1/32
  y = tap("dec0", dec_[0](y, s16));
  y = tap("dec1", dec_[1](y, s8));
  y = tap("dec2", dec_[2](y, s4));
  y = tap("dec3", dec_[3](y, s2));
  y = tap("dec4", dec_[4](y));
  return head_(y);
}

std::vector<std::string> UNetResNetImpl::tap_points() const {
  return {"stem", "layer1", "layer2", "layer3", "layer4", "dec0", "dec1", "dec2", "dec3", "dec4"};
}

}  // namespace drshym::model
