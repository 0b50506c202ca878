#include "model/unet_compact.hpp"

namespace drshym::model {

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
    x = enc_[l](x);
    skips.push_back(x);
  }
  for (int l = 3; l >= 0; --l) x = dec_[l](x, skips[l]);
  return head_(x);
}

}  // namespace drshym::model
