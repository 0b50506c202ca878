#pragma once
// Segmentation losses for training, every one masked by a validity map so that no-data pixels
// (Sen1Floods11 label -1, SAR NaN, padding) never touch the loss or its gradient. All work on
// logits in stable log-sigmoid forms; a batch without any valid pixel gives an exact 0 that
// still backpropagates (zero gradients, never NaN).
//
//   train::LossConfig cfg = train::LossConfig::from_json(j["loss"]);   // {"name": "bce_dice"}
//   torch::Tensor loss = train::masked_loss(cfg, logits, target, valid); // all [N, 1, H, W]
//   loss.backward();
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace drshym::train {

// Which loss and its knobs. Names:
//   bce            mean binary cross-entropy over valid pixels
//   dice           1 - soft Dice over all valid pixels of the batch (pooled, not per image)
//   bce_dice       bce_weight * bce + dice_weight * dice
//   focal          mean of alpha_t * (1 - p_t)^focal_gamma * bce (Lin et al.); focal_alpha is
//                  the weight of water pixels (dry get 1 - alpha); focal_alpha < 0 disables it
//   tversky        1 - TP / (TP + tversky_alpha * FP + tversky_beta * FN), soft and pooled;
//                  beta > alpha favours recall (alpha = beta = 0.5 is Dice with smooth / 2)
//   focal_tversky  (tversky loss)^ft_gamma (Abraham & Khan; their gamma = 1 / ft_gamma)
// `smooth` is added to numerator and denominator of Dice / Tversky.
struct LossConfig {
  std::string name = "bce_dice";
  double bce_weight = 1.0;
  double dice_weight = 1.0;
  double focal_gamma = 2.0;
  double focal_alpha = 0.25;
  double tversky_alpha = 0.3;
  double tversky_beta = 0.7;
  double ft_gamma = 0.75;
  double smooth = 1.0;

  static LossConfig default_params() { return {}; }
  // Keys as in to_json(); absent keys keep defaults. Unknown keys, unknown names and
  // out-of-range values throw Error(InvalidInput, "train", ...) naming them.
  static LossConfig from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  void validate() const;
};

// The accepted loss names, in the order listed above.
const std::vector<std::string>& loss_names();

// logits, target, valid: same shape (normally [N, 1, H, W]); target and valid are 0/1 floats
// (valid > 0.5 counts; target is clamped to [0, 1]). Any device; computed in float32.
// Shape mismatches throw Error(InvalidInput, "train", ...).
torch::Tensor masked_loss(const LossConfig& cfg, const torch::Tensor& logits, const torch::Tensor& target,
                          const torch::Tensor& valid);

// The individual terms (same masking and conventions).
torch::Tensor masked_bce(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& valid);
torch::Tensor masked_dice(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& valid,
                          double smooth = 1.0);
torch::Tensor masked_focal(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& valid,
                           double gamma = 2.0, double alpha = 0.25);
torch::Tensor masked_tversky(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& valid,
                             double alpha = 0.3, double beta = 0.7, double smooth = 1.0);
torch::Tensor masked_focal_tversky(const torch::Tensor& logits, const torch::Tensor& target,
                                   const torch::Tensor& valid, double alpha = 0.3, double beta = 0.7,
                                   double gamma = 0.75, double smooth = 1.0);

}  // namespace drshym::train
