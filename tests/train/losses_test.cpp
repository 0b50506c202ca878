#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "train/losses.hpp"

using namespace drshym;
using train::LossConfig;

namespace {

constexpr double kEps = 1e-5;       // float32 loss values
constexpr double kGradEps = 1e-6;   // float32 gradients of small batches

struct Batch {
  torch::Tensor logits, target, valid;
};

// A deterministic [2, 1, 8, 8] batch with ~30% invalid pixels and mixed labels.
Batch make_batch(uint64_t seed = 0) {
  torch::manual_seed(seed);
  Batch b;
  b.logits = torch::randn({2, 1, 8, 8}) * 3.0;
  b.target = (torch::rand({2, 1, 8, 8}) > 0.6).to(torch::kFloat32);
  b.valid = (torch::rand({2, 1, 8, 8}) > 0.3).to(torch::kFloat32);
  return b;
}

LossConfig named(const std::string& name) {
  LossConfig c;
  c.name = name;
  return c;
}

std::pair<torch::Tensor, torch::Tensor> loss_and_grad(const LossConfig& cfg, const Batch& b) {
  torch::Tensor z = b.logits.clone().detach().requires_grad_(true);
  torch::Tensor loss = train::masked_loss(cfg, z, b.target, b.valid);
  loss.backward();
  return {loss.detach(), z.grad().clone()};
}

double reference_bce(const Batch& b) {
  auto z = b.logits.flatten(), t = b.target.flatten(), v = b.valid.flatten();
  double sum = 0;
  int n = 0;
  for (int64_t i = 0; i < z.numel(); ++i) {
    if (v[i].item<float>() < 0.5f) continue;
    const double x = z[i].item<float>(), y = t[i].item<float>();
    const double p = 1.0 / (1.0 + std::exp(-x));
    sum += -(y * std::log(p) + (1 - y) * std::log(1 - p));
    ++n;
  }
  return sum / n;
}

}  // namespace

TEST(Losses, BceMatchesReferenceOnValidPixels) {
  Batch b = make_batch(1);
  EXPECT_NEAR(train::masked_bce(b.logits, b.target, b.valid).item<double>(), reference_bce(b), kEps);
  // Same as torch's own BCE restricted to the valid pixels.
  auto m = b.valid > 0.5;
  auto ref = torch::binary_cross_entropy_with_logits(b.logits.masked_select(m), b.target.masked_select(m));
  EXPECT_NEAR(train::masked_bce(b.logits, b.target, b.valid).item<double>(), ref.item<double>(), kEps);
}

TEST(Losses, DiceHandComputed) {
  // Probabilities 0.5 everywhere (logit 0); 2 water of 4 valid pixels; pixel 5 invalid.
  auto z = torch::zeros({1, 1, 1, 5});
  auto t = torch::tensor({1.f, 1.f, 0.f, 0.f, 1.f}).view({1, 1, 1, 5});
  auto v = torch::tensor({1.f, 1.f, 1.f, 1.f, 0.f}).view({1, 1, 1, 5});
  // inter = 1, sum p = 2, sum t = 2: dice loss = 1 - (2 + s) / (4 + s).
  EXPECT_NEAR(train::masked_dice(z, t, v, 1.0).item<double>(), 1.0 - 3.0 / 5.0, kEps);
  // Tversky with alpha = beta = 0.5 is Dice with half the smoothing term.
  EXPECT_NEAR(train::masked_tversky(z, t, v, 0.5, 0.5, 0.5).item<double>(), 1.0 - 3.0 / 5.0, kEps);
}

TEST(Losses, SpecialCasesAgree) {
  Batch b = make_batch(2);
  const double bce = train::masked_bce(b.logits, b.target, b.valid).item<double>();
  // Focal without focusing and without alpha is BCE; with gamma = 2 it is smaller.
  EXPECT_NEAR(train::masked_focal(b.logits, b.target, b.valid, 0.0, -1.0).item<double>(), bce, kEps);
  EXPECT_LT(train::masked_focal(b.logits, b.target, b.valid, 2.0, -1.0).item<double>(), bce);
  // Focal-Tversky with gamma = 1 is Tversky.
  EXPECT_NEAR(train::masked_focal_tversky(b.logits, b.target, b.valid, 0.3, 0.7, 1.0).item<double>(),
              train::masked_tversky(b.logits, b.target, b.valid, 0.3, 0.7).item<double>(), kEps);
  // bce_dice is the weighted sum of its parts.
  LossConfig c = named("bce_dice");
  c.bce_weight = 0.3;
  c.dice_weight = 2.0;
  EXPECT_NEAR(train::masked_loss(c, b.logits, b.target, b.valid).item<double>(),
              0.3 * bce + 2.0 * train::masked_dice(b.logits, b.target, b.valid).item<double>(), kEps);
}

TEST(Losses, AllInvalidBatchGivesZeroThatBackpropagates) {
  Batch b = make_batch(3);
  b.valid.zero_();
  for (const auto& name : train::loss_names()) {
    torch::Tensor z = b.logits.clone().requires_grad_(true);
    torch::Tensor loss = train::masked_loss(named(name), z, b.target, b.valid);
    ASSERT_TRUE(loss.requires_grad()) << name;
    EXPECT_EQ(loss.item<double>(), 0.0) << name;
    loss.backward();
    ASSERT_TRUE(z.grad().defined()) << name;
    EXPECT_TRUE(torch::isfinite(z.grad()).all().item<bool>()) << name;
    EXPECT_EQ(z.grad().abs().max().item<double>(), 0.0) << name;
  }
}

TEST(Losses, InvalidPixelsInfluenceNeitherLossNorGradient) {
  const Batch b = make_batch(4);
  const auto invalid = b.valid < 0.5;
  ASSERT_GT(invalid.sum().item<int64_t>(), 0);
  Batch garbage = b;
  garbage.logits = b.logits.clone();
  garbage.logits.masked_fill_(invalid, std::numeric_limits<float>::quiet_NaN());
  garbage.logits.index_put_({invalid & (torch::rand_like(b.logits) > 0.5)}, 1e30f);
  garbage.target = b.target.clone().masked_fill_(invalid, -1.0f);  // Sen1Floods11 no-data label
  Batch shifted = b;
  shifted.logits = b.logits + invalid.to(torch::kFloat32) * 50.0;
  shifted.target = b.target.clone().masked_fill_(invalid, 1.0f);
  for (const auto& name : train::loss_names()) {
    auto [l0, g0] = loss_and_grad(named(name), b);
    for (const Batch* other : {&garbage, &shifted}) {
      auto [l1, g1] = loss_and_grad(named(name), *other);
      EXPECT_NEAR(l1.item<double>(), l0.item<double>(), 1e-7) << name;
      EXPECT_TRUE(torch::isfinite(g1).all().item<bool>()) << name;
      EXPECT_LT((g1 - g0).abs().max().item<double>(), kGradEps) << name;
      EXPECT_EQ(g1.masked_select(invalid).abs().max().item<double>(), 0.0) << name;
    }
  }
}

TEST(Losses, ExtremeLogitsStayFinite) {
  auto z = torch::tensor({-1e4f, 1e4f, -1e4f, 1e4f, 88.f, -88.f}).view({1, 1, 2, 3});
  auto t = torch::tensor({1.f, 0.f, 0.f, 1.f, 1.f, 0.f}).view({1, 1, 2, 3});
  auto v = torch::ones({1, 1, 2, 3});
  for (const auto& name : train::loss_names()) {
    torch::Tensor x = z.clone().requires_grad_(true);
    torch::Tensor loss = train::masked_loss(named(name), x, t, v);
    loss.backward();
    EXPECT_TRUE(std::isfinite(loss.item<double>())) << name;
    EXPECT_TRUE(torch::isfinite(x.grad()).all().item<bool>()) << name;
  }
  // Two confidently wrong pixels out of six cost about 1e4 each in BCE.
  EXPECT_NEAR(train::masked_bce(z, t, v).item<double>(), 2e4 / 6.0, 1.0);
}

TEST(Losses, LossesPreferCorrectPredictionsAndPushTheRightWay) {
  Batch b = make_batch(5);
  Batch right = b, wrong = b;
  right.logits = (b.target * 2 - 1) * 4.0;
  wrong.logits = -right.logits;
  for (const auto& name : train::loss_names()) {
    auto [lr, gr] = loss_and_grad(named(name), right);
    auto [lw, gw] = loss_and_grad(named(name), wrong);
    EXPECT_LT(lr.item<double>(), lw.item<double>()) << name;
    // Descent raises water logits and lowers dry ones at valid pixels.
    auto water = (b.target > 0.5) & (b.valid > 0.5);
    auto dry = (b.target < 0.5) & (b.valid > 0.5);
    EXPECT_LE(gw.masked_select(water).max().item<double>(), 0.0) << name;
    EXPECT_GE(gw.masked_select(dry).min().item<double>(), 0.0) << name;
  }
}

TEST(Losses, ConfigJsonRoundTripAndErrors) {
  LossConfig c;
  c.name = "focal_tversky";
  c.tversky_alpha = 0.2;
  c.tversky_beta = 0.8;
  c.ft_gamma = 0.5;
  LossConfig back = LossConfig::from_json(c.to_json());
  EXPECT_EQ(back.name, "focal_tversky");
  EXPECT_DOUBLE_EQ(back.tversky_beta, 0.8);
  EXPECT_DOUBLE_EQ(back.ft_gamma, 0.5);
  EXPECT_EQ(LossConfig::from_json(nlohmann::json("focal")).name, "focal");
  EXPECT_EQ(LossConfig::from_json(nlohmann::json()).name, "bce_dice");

  auto expect_error = [](auto&& fn, const std::string& needle) {
    try {
      fn();
      ADD_FAILURE() << "expected an error mentioning " << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
      EXPECT_EQ(e.stage(), "train");
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error([] { LossConfig::from_json({{"name", "lovasz"}}); }, "lovasz");
  expect_error([] { LossConfig::from_json({{"focal_gama", 2.0}}); }, "focal_gama");
  expect_error([] { LossConfig::from_json({{"bce_weight", "one"}}); }, "bce_weight");
  expect_error([] { LossConfig::from_json({{"tversky_beta", -1.0}}); }, "tversky_beta");
  Batch b = make_batch(6);
  expect_error([&] { train::masked_loss(named("hinge"), b.logits, b.target, b.valid); }, "hinge");
  expect_error([&] { train::masked_loss(named("bce"), b.logits, b.target.view({2, 8, 8}), b.valid); },
               "same shape");
}
