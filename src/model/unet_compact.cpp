#include "model/unet_compact.hpp"

#include "model/feature_tap.hpp"

namespace drshym::model {
namespace {
// Encoder levels, then decoder blocks in the order they run (dec0 is the last, full resolution).
constexpr const char* kTaps[] = {"enc0", "enc1", "enc2", "enc3", "enc4", "dec3", "dec2", "dec1", "dec0"};
}  // namespace

UNetCompactImpl::UNetCompactImpl(const ModelConfig& cfg) : SegNetImpl(cfg) {
  const Norm norm = parse_norm(cfg.norm);
  const bool bilinear = cfg.upsample == "bilinear";
  const int w = cfg.base_width;
  int in = cfg.in_channels;
  for (int l = 0; l <= 4; ++l) {
    const int out = w << l;
    enc_.push_back(register_module("enc" + std::to_string(l), DoubleConv(in, out, norm)));
    in = out;
  }
  for (int l = 0; l < 4; ++l)
    dec_.push_back(register_module("dec" + std::to_string(l),
                                   DecoderBlock(w << (l + 1), w << l, w << l, norm, bilinear)));
  head_ = register_module("head", ConvNormAct(w, 1, 1, 1, Norm::None, Act::None));
}

torch::Tensor UNetCompactImpl::forward(torch::Tensor x) {
  check_input(x);
  std::vector<torch::Tensor> skips;
  for (int l = 0; l <= 4; ++l) {
    if (l > 0) x = torch::max_pool2d(x, 2);
    x = tap(kTaps[l], enc_[l](x));
    skips.push_back(x);
  }
  for (int l = 3; l >= 0; --l) x = tap(kTaps[8 - l], dec_[l](x, skips[l]));
  return head_(x);
}

std::vector<std::string> UNetCompactImpl::tap_points() const { return {std::begin(kTaps), std::end(kTaps)}; }

}  // namespace drshym::model
