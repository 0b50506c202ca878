#pragma once
// Grad-CAM and Grad-CAM++ for the segmentation networks, on real activations and gradients
// (LibTorch autograd). The explained score of a tile is its mean flood logit over a region,
// by default the tile's predicted flood pixels (calibrated p >= threshold), so a map answers
// "which features made the model call this water?". The activation is a named block of the
// network (model::FeatureTap; SegNetImpl::tap_points() lists them), by default the last
// decoder block.
//
//   Grad-CAM    w_k = mean over positions of dS/dA_k
//   Grad-CAM++  w_k = sum over positions of alpha_k * relu(dS/dA_k),
//               alpha_k = g^2 / (2 g^2 + sum_positions(A_k) g^3)   (Chattopadhay et al. 2018)
//   map         relu(sum_k w_k A_k), bilinearly upsampled to the input size
//
// Maps are not normalized per tile: the score is a mean over the region, so magnitudes (logit
// units) compare across the tiles of a scene and blend like probabilities; a tile with an
// empty region gets zeros.
#include <functional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "explain/gradcam_params.hpp"
#include "model/segnet_fwd.hpp"  // at::Tensor, declared only

namespace drshym::infer {
class Predictor;
}

namespace drshym::explain {

// One batch: x [N, C, H, W]. forward must run the network (with autograd on) and return logits
// [N, 1, H, W]; region maps those logits (detached) to [N, 1, H, W], nonzero where the score
// sums the logit. Returns the maps, [N, 1, H, W] float on the CPU, >= 0; logits_out (when not
// null) receives the detached logits, so a caller needs no second forward pass. Throws
// Internal if the layer never ran.
using RegionOf = std::function<at::Tensor(const at::Tensor& logits)>;
at::Tensor grad_cam(const std::function<at::Tensor(const at::Tensor&)>& forward, const std::string& layer,
                       CamMethod method, const at::Tensor& x, const RegionOf& region,
                       at::Tensor* logits_out = nullptr);

// Grad-CAM of a loaded model, safe to call from several threads at once (each runs its own
// graph; the tap is per thread).
class GradCam {
 public:
  // Throws Usage naming the layer and listing the valid ones when it is unknown.
  GradCam(const infer::Predictor& predictor, GradCamParams p);

  // x: model inputs [N, C, T, T] → {calibrated probabilities, maps}, both [N, 1, T, T] on the
  // CPU, from one forward pass (the probabilities equal Predictor::predict's). region, when
  // given ([N, 1, T, T], nonzero inside), replaces the predicted flood as what is explained.
  std::pair<at::Tensor, at::Tensor> operator()(const at::Tensor& x) const;
  std::pair<at::Tensor, at::Tensor> operator()(const at::Tensor& x, const at::Tensor& region) const;

  const std::string& layer() const { return p_.layer; }
  // {"method", "layer", "target", "units"} for the run record.
  nlohmann::json describe() const;

 private:
  const infer::Predictor& predictor_;
  GradCamParams p_;
};

}  // namespace drshym::explain
