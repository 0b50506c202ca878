#pragma once
// A window into a network's intermediate activations, for Grad-CAM (explain/gradcam).
// Every architecture passes the output of each named block through tap() in its forward();
// with no FeatureTap active on the calling thread that is a no-op. While one is active, the
// block it names is replaced by a detached copy that requires grad, kept by the tap, so the
// caller can take d(target)/d(activation) with one backward pass that stops at that block.
//
//   model::FeatureTap tap("dec0");              // this thread only
//   torch::AutoGradMode grad(true);
//   auto logits = net->forward(x);
//   logits.sum().backward();
//   auto a = tap.activation(), g = a.grad();    // [N, K, h, w] each
#include <torch/torch.h>

#include <string>

namespace drshym::model {

class FeatureTap {
 public:
  explicit FeatureTap(std::string layer);
  ~FeatureTap();
  FeatureTap(const FeatureTap&) = delete;
  FeatureTap& operator=(const FeatureTap&) = delete;

  const std::string& layer() const { return layer_; }
  // The tapped activation of the last forward (undefined until the layer ran).
  const torch::Tensor& activation() const { return activation_; }

 private:
  friend torch::Tensor tap(const char* name, torch::Tensor h);
  std::string layer_;
  torch::Tensor activation_;
  FeatureTap* previous_;
};

// Called by the architectures on each named block's output; returns h, or the tap's leaf.
torch::Tensor tap(const char* name, torch::Tensor h);

}  // namespace drshym::model
