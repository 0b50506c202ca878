#include "model/layers.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace drshym::model {
namespace {
thread_local FlopCountScope* t_flop_scope = nullptr;
}  // namespace

Norm parse_norm(const std::string& s) {
  if (s == "batch") return Norm::Batch;
  if (s == "group") return Norm::Group;
  throw Error(ErrorKind::InvalidInput, "model",
              "unknown norm " + quoted(s) + " (known: batch, group)");
}

int group_count(int channels) {
  for (int g = std::min(32, channels / 4); g > 1; --g)
    if (channels % g == 0) return g;
  return 1;
}

FlopCountScope::FlopCountScope() : previous_(t_flop_scope) { t_flop_scope = this; }
FlopCountScope::~FlopCountScope() { t_flop_scope = previous_; }

void record_macs(int64_t macs) {
  if (t_flop_scope) t_flop_scope->macs_ += macs;
}

// ---------------------------------------------------------------------------------------------

ConvNormActImpl::ConvNormActImpl(int in, int out, int kernel, int stride, Norm norm, Act act)
    : in_(in), kernel_(kernel), act_(act) {
  conv = register_module(
      "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                                    .stride(stride)
                                    .padding(kernel / 2)
                                    .bias(norm == Norm::None)));
  if (norm == Norm::Batch) bn = register_module("bn", torch::nn::BatchNorm2d(out));
  if (norm == Norm::Group)
    gn = register_module("gn", torch::nn::GroupNorm(torch::nn::GroupNormOptions(group_count(out), out)));

  // He init for layers feeding a ReLU (as torchvision's ResNet); variance-preserving linear
  // init otherwise, so logit heads and residual branches do not start out with huge outputs.
  torch::NoGradGuard no_grad;
  if (act == Act::Relu)
    torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
  else
    torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanIn, torch::kLinear);
  if (conv->bias.defined()) conv->bias.zero_();
}

torch::Tensor ConvNormActImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = conv(x);
  if (t_flop_scope) record_macs(y.numel() * int64_t(in_) * kernel_ * kernel_);
  if (bn) y = bn(y);
  if (gn) y = gn(y);
  if (act_ == Act::Relu) {
    // In place when nothing will backpropagate through y (inference): one less full-size
    // tensor allocated and written per layer.
    if (torch::GradMode::is_enabled()) y = torch::relu(y);
    else y.relu_();
  }
  return y;
}

void ConvNormActImpl::fuse() {
  if (!bn) return;
  torch::NoGradGuard no_grad;
  const torch::Tensor w = conv->weight;
  // Double precision keeps the fused weights within float rounding of the two-step result.
  torch::Tensor scale =
      torch::rsqrt(bn->running_var.to(torch::kDouble) + bn->options.eps());
  if (bn->options.affine()) scale = scale * bn->weight.to(torch::kDouble);
  torch::Tensor shift = -bn->running_mean.to(torch::kDouble) * scale;
  if (bn->options.affine()) shift = shift + bn->bias.to(torch::kDouble);
  if (conv->bias.defined()) shift = shift + conv->bias.to(torch::kDouble) * scale;

  const int out = int(w.size(0));
  torch::nn::Conv2d fused(torch::nn::Conv2dOptions(in_, out, kernel_)
                              .stride(conv->options.stride())
                              .padding(kernel_ / 2)
                              .bias(true));
  fused->to(w.device(), w.scalar_type());
  fused->weight.copy_((w.to(torch::kDouble) * scale.view({-1, 1, 1, 1})).to(w.scalar_type()));
  fused->bias.copy_(shift.to(w.scalar_type()));
  fused->eval();
  conv = replace_module("conv", fused);
  unregister_module("bn");
  bn = nullptr;
}

// ---------------------------------------------------------------------------------------------

UpsampleImpl::UpsampleImpl(int in, int out, bool bilinear) : in_(in), out_(out) {
  if (bilinear)
    proj = register_module("proj", ConvNormAct(in, out, 1, 1, Norm::None, Act::None));
  else
    tconv = register_module(
        "tconv", torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(in, out, 2).stride(2)));
}

torch::Tensor UpsampleImpl::forward(const torch::Tensor& x) {
  // Every input pixel scatters a 2x2 patch into each output channel.
  if ((tconv || shuffle) && t_flop_scope) record_macs(x.numel() * int64_t(out_) * 4);
  if (tconv) return tconv(x);
  if (shuffle) return shuffled(x, 0);
  namespace F = torch::nn::functional;
  auto up = F::interpolate(x, F::InterpolateFuncOptions()
                                  .size(std::vector<int64_t>{x.size(2) * 2, x.size(3) * 2})
                                  .mode(torch::kBilinear)
                                  .align_corners(false));
  return proj(up);
}

// The 1x1 conv's y[n, (2i + j) * out + c, h, w] is the output's [n, c, 2h + i, 2w + j]. Written
// into the first out channels of a channels-last [n, out + extra, 2h, 2w] tensor, whose memory
// is [n][h][i][w][j][channel]; the other `extra` channels are left for the caller to fill.
torch::Tensor UpsampleImpl::shuffled(const torch::Tensor& x, int64_t extra) {
  const torch::Tensor y = shuffle(x);
  const int64_t n = y.size(0), h = y.size(2), w = y.size(3), c = out_ + extra;
  torch::Tensor dst = torch::empty({n, c, 2 * h, 2 * w}, y.options().memory_format(torch::MemoryFormat::ChannelsLast));
  dst.permute({0, 2, 3, 1})
      .view({n, h, 2, w, 2, c})
      .narrow(5, 0, out_)
      .copy_(y.view({n, 2, 2, out_, h, w}).permute({0, 4, 1, 5, 2, 3}));
  return dst;
}

torch::Tensor UpsampleImpl::forward_concat(const torch::Tensor& x, const torch::Tensor& skip) {
  if (t_flop_scope) record_macs(x.numel() * int64_t(out_) * 4);
  torch::Tensor cat = shuffled(x, skip.size(1));
  cat.narrow(1, out_, skip.size(1)).copy_(skip);
  return cat;
}

void UpsampleImpl::fuse() {
  if (!tconv) return;
  torch::NoGradGuard no_grad;
  // ConvTranspose2d weight [in, out, 2, 2] → 1x1 conv weight [(i, j, out), in, 1, 1].
  const torch::Tensor w = tconv->weight;
  torch::nn::Conv2d c(torch::nn::Conv2dOptions(in_, 4 * out_, 1).bias(true));
  c->to(w.device(), w.scalar_type());
  c->weight.copy_(w.permute({2, 3, 1, 0}).reshape({4 * out_, in_, 1, 1}));
  if (tconv->bias.defined()) c->bias.copy_(tconv->bias.repeat({4}));
  else c->bias.zero_();
  c->eval();
  unregister_module("tconv");
  tconv = nullptr;
  shuffle = register_module("shuffle", c);
}

DoubleConvImpl::DoubleConvImpl(int in, int out, Norm norm) {
  c1 = register_module("c1", ConvNormAct(in, out, 3, 1, norm, Act::Relu));
  c2 = register_module("c2", ConvNormAct(out, out, 3, 1, norm, Act::Relu));
}

torch::Tensor DoubleConvImpl::forward(const torch::Tensor& x) { return c2(c1(x)); }

DecoderBlockImpl::DecoderBlockImpl(int in, int skip_channels, int out, Norm norm, bool bilinear) {
  up = register_module("up", Upsample(in, out, bilinear));
  conv = register_module("conv", DoubleConv(out + skip_channels, out, norm));
}

torch::Tensor DecoderBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& skip) {
  if (skip.defined() && up->fused() && !torch::GradMode::is_enabled()) return conv(up->forward_concat(x, skip));
  torch::Tensor y = up(x);
  if (skip.defined()) y = torch::cat({y, skip}, 1);
  return conv(y);
}

SqueezeExciteImpl::SqueezeExciteImpl(int channels, int reduction) {
  const int hidden = std::max(channels / reduction, std::min(channels, 4));
  fc1 = register_module("fc1", ConvNormAct(channels, hidden, 1, 1, Norm::None, Act::Relu));
  fc2 = register_module("fc2", ConvNormAct(hidden, channels, 1, 1, Norm::None, Act::None));
}

torch::Tensor SqueezeExciteImpl::forward(const torch::Tensor& x) {
  torch::Tensor s = torch::adaptive_avg_pool2d(x, {1, 1});
  return x * torch::sigmoid(fc2(fc1(s)));
}

AttentionGateImpl::AttentionGateImpl(int g_channels, int x_channels, int inter_channels, Norm norm) {
  wg = register_module("wg", ConvNormAct(g_channels, inter_channels, 1, 1, norm, Act::None));
  wx = register_module("wx", ConvNormAct(x_channels, inter_channels, 1, 1, norm, Act::None));
  // No norm on the one-channel gate: normalizing a single map would erase what it says.
  psi = register_module("psi", ConvNormAct(inter_channels, 1, 1, 1, Norm::None, Act::None));
}

torch::Tensor AttentionGateImpl::forward(const torch::Tensor& g, const torch::Tensor& x) {
  torch::Tensor a = torch::relu(wg(g) + wx(x));
  return x * torch::sigmoid(psi(a));
}

void fuse_conv_norm(torch::nn::Module& root) {
  root.eval();
  for (const auto& m : root.modules(/*include_self=*/false)) {
    if (auto c = std::dynamic_pointer_cast<ConvNormActImpl>(m)) c->fuse();
    if (auto u = std::dynamic_pointer_cast<UpsampleImpl>(m)) u->fuse();
  }
}

}  // namespace drshym::model
