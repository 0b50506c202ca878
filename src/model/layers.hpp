#pragma once
// Building blocks shared by every architecture. ConvNormAct is the one place where a
// convolution meets its normalization, so BatchNorm folding and FLOP counting live there
// (and in Upsample for transposed convs) instead of in each network.
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace drshym::model {

enum class Norm { None, Batch, Group };
enum class Act { None, Relu };

// "batch" | "group"; anything else throws InvalidInput naming it.
Norm parse_norm(const std::string& s);

// GroupNorm group count for `channels`: the largest divisor of channels that is <= 32 and
// leaves at least 4 channels per group (1 for tiny layers), so narrow test nets still work.
int group_count(int channels);

// FLOP counting: while a FlopCountScope is alive on this thread, every ConvNormAct and
// Upsample adds the multiply-accumulates of its convolution for the batch it saw.
class FlopCountScope {
 public:
  FlopCountScope();
  ~FlopCountScope();
  FlopCountScope(const FlopCountScope&) = delete;
  FlopCountScope& operator=(const FlopCountScope&) = delete;
  int64_t macs() const { return macs_; }

 private:
  friend void record_macs(int64_t);
  int64_t macs_ = 0;
  FlopCountScope* previous_;
};
void record_macs(int64_t macs);

// conv (kernel k, stride s, padding k/2) → optional norm → optional ReLU.
// The conv has a bias only when there is no norm (a norm's shift makes it redundant).
class ConvNormActImpl : public torch::nn::Module {
 public:
  ConvNormActImpl(int in, int out, int kernel, int stride, Norm norm, Act act);
  torch::Tensor forward(const torch::Tensor& x);
  // Fold eval-mode BatchNorm (running stats, eps, affine) into the conv's weight and bias and
  // drop the norm. No-op for GroupNorm or no norm.
  void fuse();

  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  torch::nn::GroupNorm gn{nullptr};

 private:
  int in_, kernel_;
  Act act_;
};
TORCH_MODULE(ConvNormAct);

// x2 upsampling from `in` to `out` channels: a learned 2x2 stride-2 transposed conv, or
// bilinear interpolation followed by a 1x1 conv (smoother, no checkerboard artifacts).
class UpsampleImpl : public torch::nn::Module {
 public:
  UpsampleImpl(int in, int out, bool bilinear);
  torch::Tensor forward(const torch::Tensor& x);
  // For inference: the transposed conv becomes the same map as a 1x1 conv to 4*out channels
  // followed by a depth-to-space shuffle. LibTorch 1.13 runs a transposed conv through
  // im2col and BLAS in FP32 even under BF16 autocast, and hands back an NCHW tensor that the
  // next concatenation and conv must convert; the 1x1 conv runs in oneDNN like every other
  // layer, in the precision and memory format of its input. Equal up to summation order.
  // No-op for the bilinear variant.
  void fuse();
  bool fused() const { return !shuffle.is_empty(); }
  // After fuse(), without gradients: torch::cat({forward(x), skip}, 1), the shuffle written
  // straight into the concatenation (one full-size tensor and one copy fewer).
  torch::Tensor forward_concat(const torch::Tensor& x, const torch::Tensor& skip);

 private:
  torch::Tensor shuffled(const torch::Tensor& x, int64_t extra);  // shared by both forms above
  int in_, out_;
  torch::nn::ConvTranspose2d tconv{nullptr};
  torch::nn::Conv2d shuffle{nullptr};  // after fuse(): the 1x1 conv, channels ordered (i, j, c)
  ConvNormAct proj{nullptr};
};
TORCH_MODULE(Upsample);

// Two 3x3 ConvNormAct with ReLU: the classic U-Net block.
class DoubleConvImpl : public torch::nn::Module {
 public:
  DoubleConvImpl(int in, int out, Norm norm);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  ConvNormAct c1{nullptr}, c2{nullptr};
};
TORCH_MODULE(DoubleConv);

// Upsample x2, concatenate the skip (if skip_channels > 0), DoubleConv to `out` channels.
class DecoderBlockImpl : public torch::nn::Module {
 public:
  DecoderBlockImpl(int in, int skip_channels, int out, Norm norm, bool bilinear);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& skip = {});

 private:
  Upsample up{nullptr};
  DoubleConv conv{nullptr};
};
TORCH_MODULE(DecoderBlock);

// Squeeze-and-excitation channel attention: global pooling → bottleneck → per-channel gate.
class SqueezeExciteImpl : public torch::nn::Module {
 public:
  explicit SqueezeExciteImpl(int channels, int reduction = 8);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  ConvNormAct fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(SqueezeExcite);

// Additive attention gate on a skip connection (Oktay et al. 2018): the decoder signal g
// decides, per pixel, how much of the skip x passes. g and x share the spatial size.
class AttentionGateImpl : public torch::nn::Module {
 public:
  AttentionGateImpl(int g_channels, int x_channels, int inter_channels, Norm norm);
  torch::Tensor forward(const torch::Tensor& g, const torch::Tensor& x);

 private:
  ConvNormAct wg{nullptr}, wx{nullptr}, psi{nullptr};
};
TORCH_MODULE(AttentionGate);

// Fuse every ConvNormAct inside `root` (recursively) and turn every transposed-conv Upsample
// into its 1x1 conv + shuffle form. Puts root in eval mode first, because only the running
// statistics describe what BatchNorm does at inference.
void fuse_conv_norm(torch::nn::Module& root);

}  // namespace drshym::model
