#include "model/attention_resunet.hpp"

#include <algorithm>

#include "model/feature_tap.hpp"

namespace drshym::model {
namespace {
// Encoder levels, then decoder blocks in the order they run (dec0 is the last, full resolution).
constexpr const char* kTaps[] = {"enc0", "enc1", "enc2", "enc3", "enc4", "dec3", "dec2", "dec1", "dec0"};
}  // namespace

ResBlockSEImpl::ResBlockSEImpl(int in, int out, Norm norm) {
  c1 = register_module("c1", ConvNormAct(in, out, 3, 1, norm, Act::Relu));
  c2 = register_module("c2", ConvNormAct(out, out, 3, 1, norm, Act::None));
  se = register_module("se", SqueezeExcite(out));
  if (in != out) shortcut = register_module("shortcut", ConvNormAct(in, out, 1, 1, norm, Act::None));
}

torch::Tensor ResBlockSEImpl::forward(const torch::Tensor& x) {
  return torch::relu(se(c2(c1(x))) + (shortcut ? shortcut(x) : x));
}

AttentionResUNetImpl::AttentionResUNetImpl(const ModelConfig& cfg) : SegNetImpl(cfg) {
  const Norm norm = parse_norm(cfg.norm);
  const bool bilinear = cfg.upsample == "bilinear";
  const int w = cfg.base_width;
  int in = cfg.in_channels;
  for (int l = 0; l <= 4; ++l) {
    enc_.push_back(register_module("enc" + std::to_string(l), ResBlockSE(in, w << l, norm)));
    in = w << l;
  }
  for (int l = 0; l < 4; ++l) {
    const int c = w << l;
    const std::string id = std::to_string(l);
    up_.push_back(register_module("up" + id, Upsample(c * 2, c, bilinear)));
    gate_.push_back(register_module("gate" + id, AttentionGate(c, c, std::max(c / 2, 1), norm)));
    dec_.push_back(register_module("dec" + id, ResBlockSE(c * 2, c, norm)));
  }
  head_ = register_module("head", ConvNormAct(w, 1, 1, 1, Norm::None, Act::None));
}

torch::Tensor AttentionResUNetImpl::forward_water(torch::Tensor x) {
  std::vector<torch::Tensor> skips;
  for (int l = 0; l <= 4; ++l) {
    if (l > 0) x = torch::max_pool2d(x, 2);
    x = tap(kTaps[l], enc_[l](x));
    skips.push_back(x);
  }
  for (int l = 3; l >= 0; --l) {
    torch::Tensor g = up_[l](x);
    x = tap(kTaps[8 - l], dec_[l](torch::cat({g, gate_[l](g, skips[l])}, 1)));
  }
  return head_(x);
}

std::vector<std::string> AttentionResUNetImpl::tap_points() const { return {std::begin(kTaps), std::end(kTaps)}; }

}  // namespace drshym::model
