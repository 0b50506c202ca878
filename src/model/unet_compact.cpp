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
  if (head_index("permanent_water") > 0)
    permanent_ = register_module("permanent_water", PermanentHead(w, cfg.head_width > 0 ? cfg.head_width : w, norm));
}

torch::Tensor UNetCompactImpl::trunk(torch::Tensor x, std::vector<torch::Tensor>* decs) {
  std::vector<torch::Tensor> skips;
  for (int l = 0; l <= 4; ++l) {
    if (l > 0) x = torch::max_pool2d(x, 2);
    x = tap(kTaps[l], enc_[l](x));
    skips.push_back(x);
  }
  for (int l = 3; l >= 0; --l) {
    x = tap(kTaps[8 - l], dec_[l](x, skips[l]));
    if (decs) decs->push_back(x);
  }
  return x;
}

torch::Tensor UNetCompactImpl::forward_water(torch::Tensor x) { return head_(trunk(std::move(x), nullptr)); }

torch::Tensor UNetCompactImpl::forward_all(torch::Tensor x) {
  if (config_.heads.empty()) return forward_water(std::move(x));
  const int64_t h = x.size(2), w = x.size(3);
  std::vector<torch::Tensor> decs;  // dec3, dec2, dec1, dec0
  torch::Tensor water = head_(trunk(std::move(x), &decs));
  return torch::cat({water, permanent_(decs[2], decs[1], decs[0], h, w)}, 1);
}

PermanentHeadImpl::PermanentHeadImpl(int base, int w, Norm norm) : base_width_(base) {
  reduce_ = register_module("reduce", ConvNormAct(14 * base, w, 1, 1, norm, Act::Relu));
  c1_ = register_module("c1", ConvNormAct(w, w, 3, 1, norm, Act::Relu));
  c2_ = register_module("c2", ConvNormAct(w, w, 3, 1, norm, Act::Relu));
  out_ = register_module("out", ConvNormAct(w, 1, 1, 1, Norm::None, Act::None));
}

torch::Tensor PermanentHeadImpl::forward(const torch::Tensor& d1, const torch::Tensor& d2, const torch::Tensor& d3,
                                         int64_t h, int64_t w) {
  namespace F = torch::nn::functional;
  auto up = [&](const torch::Tensor& t, int64_t th, int64_t tw) {
    return F::interpolate(t, F::InterpolateFuncOptions()
                                 .size(std::vector<int64_t>{th, tw})
                                 .mode(torch::kBilinear)
                                 .align_corners(false));
  };
  const int64_t hh = d1.size(2), ww = d1.size(3);
  torch::Tensor x;
  if (!r1_.is_empty()) {
    x = r1_(d1) + up(r2_(d2), hh, ww) + up(r3_(d3), hh, ww);
    x = torch::GradMode::is_enabled() ? torch::relu(x) : x.relu_();
  } else {
    x = reduce_(torch::cat({d1, up(d2, hh, ww), up(d3, hh, ww)}, 1));
  }
  x = out_(c2_(c1_(x)));
  return up(x, h, w);
}

void PermanentHeadImpl::fuse() {
  if (!r1_.is_empty() || !reduce_->gn.is_empty()) return;  // GroupNorm is not a per-pixel linear map
  reduce_->fuse();  // BatchNorm folded first: its scale and shift are part of the linear map
  torch::NoGradGuard no_grad;
  const torch::Tensor w = reduce_->conv->weight;  // [width, 14 * base, 1, 1]: d1, d2, d3 channels in turn
  const torch::Tensor b = reduce_->conv->bias;
  const int64_t out = w.size(0), base = base_width_;
  const int64_t sizes[3] = {2 * base, 4 * base, 8 * base};
  int64_t start = 0;
  torch::nn::Conv2d* parts[3] = {&r1_, &r2_, &r3_};
  for (int k = 0; k < 3; ++k) {
    torch::nn::Conv2d c(torch::nn::Conv2dOptions(sizes[k], out, 1).bias(k == 0));  // the shift once
    c->to(w.device(), w.scalar_type());
    c->weight.copy_(w.narrow(1, start, sizes[k]));
    if (k == 0) c->bias.copy_(b);
    c->eval();
    *parts[k] = register_module("r" + std::to_string(k + 1), c);
    start += sizes[k];
  }
  unregister_module("reduce");
  reduce_ = nullptr;
}

void UNetCompactImpl::fuse_for_inference() {
  SegNetImpl::fuse_for_inference();
  if (!permanent_.is_empty()) permanent_->fuse();
}

std::vector<std::string> UNetCompactImpl::tap_points() const { return {std::begin(kTaps), std::end(kTaps)}; }

}  // namespace drshym::model
