#include "explain/gradcam.hpp"

#include <torch/torch.h>

#include <fmt/format.h>

#include <algorithm>

#include "core/error.hpp"
#include "infer/predictor.hpp"
#include "model/feature_tap.hpp"
#include "model/segnet.hpp"

namespace drshym::explain {

CamMethod parse_cam_method(const std::string& name) {
  if (name == "gradcam") return CamMethod::GradCam;
  if (name == "gradcam++") return CamMethod::GradCamPlusPlus;
  throw Error(ErrorKind::Usage, "explain", "unknown explanation method '" + name + "' (use gradcam or gradcam++)");
}

const char* cam_method_name(CamMethod m) { return m == CamMethod::GradCam ? "gradcam" : "gradcam++"; }

torch::Tensor grad_cam(const std::function<torch::Tensor(const torch::Tensor&)>& forward, const std::string& layer,
                       CamMethod method, const torch::Tensor& x, const RegionOf& region, torch::Tensor* logits_out) {
  model::FeatureTap tap(layer);
  torch::Tensor A, g;
  {
    torch::AutoGradMode grad_on(true);
    const torch::Tensor logits = forward(x);
    A = tap.activation();
    if (!A.defined())
      throw Error(ErrorKind::Internal, "explain", "layer '" + layer + "' did not run in the network's forward pass");
    if (logits_out) *logits_out = logits.detach();
    const torch::Tensor r = region(logits.detach()).to(logits.device(), torch::kFloat).reshape(logits.sizes());
    // Per tile: the mean logit over its region (0 for an empty region), summed over the batch;
    // tiles do not interact in an inference-mode network, so one backward gives each its own.
    const torch::Tensor count = r.sum({1, 2, 3}).clamp_min(1.0);
    const torch::Tensor score = ((logits.to(torch::kFloat) * r).sum({1, 2, 3}) / count).sum();
    if (!score.requires_grad()) return torch::zeros({x.size(0), 1, x.size(2), x.size(3)});
    g = torch::autograd::grad({score}, {A}, {}, /*retain_graph=*/false, /*create_graph=*/false,
                              /*allow_unused=*/true)[0];
  }
  torch::NoGradGuard no_grad;
  A = A.detach().to(torch::kFloat);
  if (!g.defined()) g = torch::zeros_like(A);
  g = g.to(torch::kFloat);
  torch::Tensor w;
  if (method == CamMethod::GradCam) {
    w = g.mean({2, 3}, /*keepdim=*/true);
  } else {
    const torch::Tensor g2 = g * g, g3 = g2 * g;
    const torch::Tensor denom = 2.0 * g2 + A.sum({2, 3}, true) * g3;
    const torch::Tensor alpha = g2 / torch::where(denom != 0, denom, torch::ones_like(denom));
    w = (alpha * torch::relu(g)).sum({2, 3}, true);
  }
  torch::Tensor cam = torch::relu((w * A).sum(1, /*keepdim=*/true));
  if (cam.size(2) != x.size(2) || cam.size(3) != x.size(3))
    cam = torch::nn::functional::interpolate(
        cam, torch::nn::functional::InterpolateFuncOptions()
                 .size(std::vector<int64_t>{x.size(2), x.size(3)})
                 .mode(torch::kBilinear)
                 .align_corners(false));
  return cam.to(torch::kCPU).contiguous();  // bilinear weights are convex: still >= 0
}

GradCam::GradCam(const infer::Predictor& predictor, GradCamParams p) : predictor_(predictor), p_(std::move(p)) {
  const auto taps = predictor_.net()->tap_points();
  if (p_.layer.empty()) p_.layer = taps.back();
  if (std::find(taps.begin(), taps.end(), p_.layer) == taps.end())
    throw Error(ErrorKind::Usage, "explain",
                fmt::format("{} has no layer '{}' to explain; its layers are {}", predictor_.net()->config().arch,
                            p_.layer, fmt::join(taps, ", ")));
  require_threshold(p_.threshold, "explain");
}

std::pair<torch::Tensor, torch::Tensor> GradCam::operator()(const torch::Tensor& x) const {
  return (*this)(x, torch::Tensor());
}

std::pair<torch::Tensor, torch::Tensor> GradCam::operator()(const torch::Tensor& x, const torch::Tensor& region) const {
  const double t = predictor_.temperature();
  const auto proba_of = [t](const torch::Tensor& logits) { return torch::sigmoid(logits.to(torch::kCPU) / t); };
  torch::Tensor logits;
  torch::Tensor map = grad_cam([this](const torch::Tensor& in) { return predictor_.logits_with_grad(in); }, p_.layer,
                               p_.method, x,
                               [&](const torch::Tensor& l) {
                                 return region.defined() ? region : proba_of(l) >= p_.threshold;
                               },
                               &logits);
  return {proba_of(logits).contiguous(), std::move(map)};
}

nlohmann::json GradCam::describe() const {
  return {{"method", cam_method_name(p_.method)},
          {"layer", p_.layer},
          {"target", fmt::format("mean flood logit over each tile's predicted flood pixels (p >= {:g})", p_.threshold)},
          {"units", "logit relevance, not normalized; 0 where a tile predicts no flood"}};
}

}  // namespace drshym::explain
