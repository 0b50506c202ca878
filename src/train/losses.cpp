#include "train/losses.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/config.hpp"
#include "core/error.hpp"

namespace drshym::train {

namespace {

// Floor for bases raised to a power below 1: keeps d/dx x^g finite where x reaches 0.
constexpr double kPowFloor = 1e-6;

[[noreturn]] void fail(const std::string& msg) { throw Error(ErrorKind::InvalidInput, "train", msg); }

std::string shape(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

std::string known_names() {
  std::string s;
  for (const auto& n : loss_names()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

// Inputs with every invalid pixel replaced by a harmless constant. torch::where routes no
// gradient to the branch it did not pick, so whatever sits in invalid pixels (NaN, inf,
// label -1) can reach neither the loss nor the gradient.
struct Masked {
  torch::Tensor z;      // logits, 0 where invalid
  torch::Tensor t;      // target in [0, 1], 0 where invalid
  torch::Tensor v;      // 1 valid / 0 invalid, float
  torch::Tensor count;  // number of valid pixels (0-dim float)
};

Masked prepare(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& valid) {
  if (!logits.defined() || !target.defined() || !valid.defined()) fail("loss: undefined input tensor");
  if (logits.sizes() != target.sizes() || logits.sizes() != valid.sizes())
    fail("loss: logits " + shape(logits) + ", target " + shape(target) + " and valid " + shape(valid) +
         " must have the same shape");
  const auto opts = logits.options().dtype(torch::kFloat32);
  const torch::Tensor z = logits.to(torch::kFloat32);
  const torch::Tensor m = valid.to(z.device(), torch::kFloat32) > 0.5;
  const torch::Tensor zero = torch::zeros({}, opts);
  Masked r;
  r.v = m.to(torch::kFloat32);
  r.z = torch::where(m, z, zero);
  r.t = torch::where(m, target.to(z.device(), torch::kFloat32).clamp(0.0, 1.0), zero);
  r.count = r.v.sum();
  return r;
}

// Per-pixel BCE with logits: softplus(z) - t z = (1 - t) z - log_sigmoid(z), no overflow.
torch::Tensor bce_map(const Masked& m) { return (1.0 - m.t) * m.z - torch::log_sigmoid(m.z); }

// Mean over valid pixels; exactly 0 (with zero gradient) when there are none.
torch::Tensor valid_mean(const torch::Tensor& per_pixel, const Masked& m) {
  return (per_pixel * m.v).sum() / m.count.clamp_min(1.0);
}

torch::Tensor bce(const Masked& m) { return valid_mean(bce_map(m), m); }

torch::Tensor dice(const Masked& m, double smooth) {
  const torch::Tensor p = torch::sigmoid(m.z) * m.v;
  const torch::Tensor inter = (p * m.t).sum();
  const torch::Tensor denom = p.sum() + m.t.sum();
  return 1.0 - (2.0 * inter + smooth) / (denom + smooth);
}

torch::Tensor focal(const Masked& m, double gamma, double alpha) {
  torch::Tensor ce = bce_map(m);
  torch::Tensor per_pixel = ce;
  if (gamma > 0) {
    // 1 - p_t = 1 - exp(-ce), via expm1 for accuracy when p_t is close to 1.
    const torch::Tensor one_minus_pt = -torch::expm1(-ce);
    per_pixel = one_minus_pt.clamp_min(kPowFloor).pow(gamma) * ce;
  }
  if (alpha >= 0) per_pixel = (alpha * m.t + (1.0 - alpha) * (1.0 - m.t)) * per_pixel;
  return valid_mean(per_pixel, m);
}

torch::Tensor tversky_index(const Masked& m, double alpha, double beta, double smooth) {
  const torch::Tensor p = torch::sigmoid(m.z) * m.v;
  const torch::Tensor tp = (p * m.t).sum();
  const torch::Tensor fp = (p * (1.0 - m.t)).sum();
  const torch::Tensor fn = ((1.0 - p) * m.t).sum();  // t is 0 at invalid pixels
  return (tp + smooth) / (tp + alpha * fp + beta * fn + smooth);
}

torch::Tensor tversky(const Masked& m, double alpha, double beta, double smooth) {
  return 1.0 - tversky_index(m, alpha, beta, smooth);
}

torch::Tensor focal_tversky(const Masked& m, double alpha, double beta, double gamma, double smooth) {
  const torch::Tensor base = tversky(m, alpha, beta, smooth);
  // The floor would leave kPowFloor^gamma behind on an empty batch: multiply it away.
  const torch::Tensor any_valid = (m.count > 0).to(torch::kFloat32);
  return base.clamp_min(kPowFloor).pow(gamma) * any_valid;
}

void check_smooth(double smooth) {
  if (!(smooth > 0)) fail("loss: smooth must be > 0, got " + std::to_string(smooth));
}

}  // namespace

const std::vector<std::string>& loss_names() {
  static const std::vector<std::string> kNames = {"bce", "dice", "bce_dice", "focal", "tversky", "focal_tversky"};
  return kNames;
}

void LossConfig::validate() const {
  const auto& names = loss_names();
  if (std::find(names.begin(), names.end(), name) == names.end())
    fail("unknown loss '" + name + "' (known: " + known_names() + ")");
  auto need = [](bool ok, const std::string& what) {
    if (!ok) fail("loss: " + what);
  };
  need(std::isfinite(bce_weight) && bce_weight >= 0, "bce_weight must be >= 0");
  need(std::isfinite(dice_weight) && dice_weight >= 0, "dice_weight must be >= 0");
  need(name != "bce_dice" || bce_weight + dice_weight > 0, "bce_weight + dice_weight must be > 0");
  need(std::isfinite(focal_gamma) && focal_gamma >= 0, "focal_gamma must be >= 0");
  need(std::isfinite(focal_alpha) && focal_alpha <= 1, "focal_alpha must be <= 1 (< 0 disables it)");
  need(std::isfinite(tversky_alpha) && tversky_alpha >= 0, "tversky_alpha must be >= 0");
  need(std::isfinite(tversky_beta) && tversky_beta >= 0, "tversky_beta must be >= 0");
  need(std::isfinite(ft_gamma) && ft_gamma > 0, "ft_gamma must be > 0");
  need(std::isfinite(smooth) && smooth > 0, "smooth must be > 0");
}

LossConfig LossConfig::from_json(const nlohmann::json& j) {
  LossConfig c;
  if (j.is_null()) return c;
  if (j.is_string()) {  // shorthand: "loss: focal"
    c.name = j.get<std::string>();
    c.validate();
    return c;
  }
  if (!j.is_object()) fail("loss config must be an object or a loss name, got " + j.dump());
  static const char* kKeys[] = {"name",          "bce_weight",   "dice_weight", "focal_gamma", "focal_alpha",
                                "tversky_alpha", "tversky_beta", "ft_gamma",    "smooth"};
  for (auto it = j.begin(); it != j.end(); ++it)
    if (std::none_of(std::begin(kKeys), std::end(kKeys), [&](const char* k) { return it.key() == k; }))
      fail("loss config: unknown key '" + it.key() + "'");
  try {
    const std::string origin = "loss";
    c.name = core::get_or<std::string>(j, "name", c.name, origin);
    c.bce_weight = core::get_or<double>(j, "bce_weight", c.bce_weight, origin);
    c.dice_weight = core::get_or<double>(j, "dice_weight", c.dice_weight, origin);
    c.focal_gamma = core::get_or<double>(j, "focal_gamma", c.focal_gamma, origin);
    c.focal_alpha = core::get_or<double>(j, "focal_alpha", c.focal_alpha, origin);
    c.tversky_alpha = core::get_or<double>(j, "tversky_alpha", c.tversky_alpha, origin);
    c.tversky_beta = core::get_or<double>(j, "tversky_beta", c.tversky_beta, origin);
    c.ft_gamma = core::get_or<double>(j, "ft_gamma", c.ft_gamma, origin);
    c.smooth = core::get_or<double>(j, "smooth", c.smooth, origin);
  } catch (const Error& e) {
    fail(e.what());  // keep the stage "train" for every loss-config problem
  }
  c.validate();
  return c;
}

nlohmann::json LossConfig::to_json() const {
  return {{"name", name},
          {"bce_weight", bce_weight},
          {"dice_weight", dice_weight},
          {"focal_gamma", focal_gamma},
          {"focal_alpha", focal_alpha},
          {"tversky_alpha", tversky_alpha},
          {"tversky_beta", tversky_beta},
          {"ft_gamma", ft_gamma},
          {"smooth", smooth}};
}

torch::Tensor masked_loss(const LossConfig& cfg, const torch::Tensor& logits, const torch::Tensor& target,
                          const torch::Tensor& valid) {
  cfg.validate();
  const Masked m = prepare(logits, target, valid);
  if (cfg.name == "bce") return bce(m);
  if (cfg.name == "dice") return dice(m, cfg.smooth);
  if (cfg.name == "bce_dice") return cfg.bce_weight * bce(m) + cfg.dice_weight * dice(m, cfg.smooth);
  if (cfg.name == "focal") return focal(m, cfg.focal_gamma, cfg.focal_alpha);
  if (cfg.name == "tversky") return tversky(m, cfg.tversky_alpha, cfg.tversky_beta, cfg.smooth);
  if (cfg.name == "focal_tversky")
    return focal_tversky(m, cfg.tversky_alpha, cfg.tversky_beta, cfg.ft_gamma, cfg.smooth);
  fail("unknown loss '" + cfg.name + "' (known: " + known_names() + ")");  // validate() already threw
}

torch::Tensor masked_bce(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& valid) {
  return bce(prepare(logits, target, valid));
}

torch::Tensor masked_dice(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& valid,
                          double smooth) {
  check_smooth(smooth);
  return dice(prepare(logits, target, valid), smooth);
}

torch::Tensor masked_focal(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& valid,
                           double gamma, double alpha) {
  if (!(gamma >= 0)) fail("loss: focal gamma must be >= 0");
  return focal(prepare(logits, target, valid), gamma, alpha);
}

torch::Tensor masked_tversky(const torch::Tensor& logits, const torch::Tensor& target, const torch::Tensor& valid,
                             double alpha, double beta, double smooth) {
  check_smooth(smooth);
  return tversky(prepare(logits, target, valid), alpha, beta, smooth);
}

torch::Tensor masked_focal_tversky(const torch::Tensor& logits, const torch::Tensor& target,
                                   const torch::Tensor& valid, double alpha, double beta, double gamma,
                                   double smooth) {
  check_smooth(smooth);
  if (!(gamma > 0)) fail("loss: focal-Tversky gamma must be > 0");
  return focal_tversky(prepare(logits, target, valid), alpha, beta, gamma, smooth);
}

}  // namespace drshym::train
