#include "model/unet_compact.hpp"

#include "core/error.hpp"
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
  if (head_index("permanent_water") > 0) {
    std::vector<int64_t> channels{2 * w, 4 * w, 8 * w};  // dec1, dec2, dec3
    if (cfg.head_reads == "decoder+encoder") channels.insert(channels.end(), {8 * w, 16 * w});  // enc3, enc4
    const int64_t branch_in = cfg.head_reads == "decoder+branch" ? 2 * w : 0;  // enc1
    permanent_ = register_module("permanent_water",
                                 PermanentHead(channels, cfg.head_width > 0 ? cfg.head_width : w, norm, branch_in));
  }
}

torch::Tensor UNetCompactImpl::trunk(torch::Tensor x, std::vector<torch::Tensor>* decs, std::vector<torch::Tensor>* encs) {
  std::vector<torch::Tensor> skips;
  for (int l = 0; l <= 4; ++l) {
    if (l > 0) x = torch::max_pool2d(x, 2);
    x = tap(kTaps[l], enc_[l](x));
    skips.push_back(x);
  }
  if (encs) *encs = skips;
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
  std::vector<torch::Tensor> decs, encs;  // dec3, dec2, dec1, dec0; enc0..enc4
  const bool with_encoder = config_.head_reads == "decoder+encoder";
  const bool with_branch = config_.head_reads == "decoder+branch";
  torch::Tensor water = head_(trunk(std::move(x), &decs, with_encoder || with_branch ? &encs : nullptr));
  std::vector<torch::Tensor> sources{decs[2], decs[1], decs[0]};
  if (with_encoder) sources.insert(sources.end(), {encs[3], encs[4]});
  torch::Tensor branch_input = with_branch ? encs[1] : torch::Tensor();
  decs.clear();
  encs.clear();
  return torch::cat({water, permanent_(std::move(sources), h, w, branch_input)}, 1);
}

PermanentHeadImpl::PermanentHeadImpl(std::vector<int64_t> channels, int w, Norm norm, int64_t branch_in)
    : channels_(std::move(channels)) {
  for (int64_t k = 0, in = branch_in; branch_in > 0 && k < 3; ++k) {  // each level reads the one before
    const int64_t out = branch_in << k;
    branch_.push_back(register_module("b" + std::to_string(k + 2), DoubleConv(in, out, norm)));  // b2: 1/4 ... b4: 1/16
    channels_.push_back(out);
    in = out;
  }
  int64_t in = 0;
  for (int64_t c : channels_) in += c;
  reduce_ = register_module("reduce", ConvNormAct(in, w, 1, 1, norm, Act::Relu));
  c1_ = register_module("c1", ConvNormAct(w, w, 3, 1, norm, Act::Relu));
  c2_ = register_module("c2", ConvNormAct(w, w, 3, 1, norm, Act::Relu));
  out_ = register_module("out", ConvNormAct(w, 1, 1, 1, Norm::None, Act::None));
}

torch::Tensor PermanentHeadImpl::forward(std::vector<torch::Tensor> sources, int64_t h, int64_t w,
                                         const torch::Tensor& branch_input) {
  namespace F = torch::nn::functional;
  if (branch_.empty() == branch_input.defined())
    throw Error(ErrorKind::Internal, "model", "permanent-water head: branch input given to a head without a branch, or not given to one with it");
  torch::Tensor b = branch_input;
  for (auto& level : branch_) {
    b = level(torch::max_pool2d(b, 2));
    sources.push_back(b);
  }
  auto up = [&](const torch::Tensor& t, int64_t th, int64_t tw) {
    return F::interpolate(t, F::InterpolateFuncOptions()
                                 .size(std::vector<int64_t>{th, tw})
                                 .mode(torch::kBilinear)
                                 .align_corners(false));
  };
  const int64_t hh = sources[0].size(2), ww = sources[0].size(3);
  torch::Tensor x;
  if (!parts_.empty()) {
    x = parts_[0](sources[0]);
    for (size_t k = 1; k < parts_.size(); ++k) x = x + up(parts_[k](sources[k]), hh, ww);
    x = torch::GradMode::is_enabled() ? torch::relu(x) : x.relu_();
  } else {
    std::vector<torch::Tensor> at_half{sources[0]};
    for (size_t k = 1; k < sources.size(); ++k) at_half.push_back(up(sources[k], hh, ww));
    x = reduce_(torch::cat(at_half, 1));
  }
  x = out_(c2_(c1_(x)));
  return up(x, h, w);
}

void PermanentHeadImpl::fuse() {
  if (!parts_.empty() || !reduce_->gn.is_empty()) return;  // GroupNorm is not a per-pixel linear map
  reduce_->fuse();  // BatchNorm folded first: its scale and shift are part of the linear map
  torch::NoGradGuard no_grad;
  const torch::Tensor w = reduce_->conv->weight;  // [width, sum(channels), 1, 1]: each source's channels in turn
  const torch::Tensor b = reduce_->conv->bias;
  const int64_t out = w.size(0);
  int64_t start = 0;
  for (size_t k = 0; k < channels_.size(); ++k) {
    torch::nn::Conv2d c(torch::nn::Conv2dOptions(channels_[k], out, 1).bias(k == 0));  // the shift once
    c->to(w.device(), w.scalar_type());
    c->weight.copy_(w.narrow(1, start, channels_[k]));
    if (k == 0) c->bias.copy_(b);
    c->eval();
    parts_.push_back(register_module("r" + std::to_string(k + 1), c));
    start += channels_[k];
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
