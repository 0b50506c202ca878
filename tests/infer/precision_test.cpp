// Network precision: fp32 / bf16 / auto (a cached, timed trial per machine).
#include "infer/precision.hpp"

#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "model/runtime.hpp"
#include "support/test_support.hpp"

using namespace drshym;
using drshym::testing::expect_error;

namespace {

model::SegNet tiny_net() {
  model::seed_everything(42);
  model::ModelConfig c;
  c.arch = "unet_compact";
  c.base_width = 4;
  c.in_channels = 2;
  auto net = model::make_model(c);
  net->eval();
  return net;
}

// Points the cache at a temporary folder for the test's lifetime.
struct CacheDir {
  drshym::testing::TempDir tmp;
  CacheDir() { setenv("DRSHYM_CACHE_DIR", tmp.path().c_str(), 1); }
  ~CacheDir() { unsetenv("DRSHYM_CACHE_DIR"); }
};

}  // namespace

TEST(Precision, ParsesTheThreeChoicesAndNothingElse) {
  EXPECT_EQ(infer::parse_precision("fp32"), infer::Precision::fp32);
  EXPECT_EQ(infer::parse_precision("bf16"), infer::Precision::bf16);
  EXPECT_EQ(infer::parse_precision("auto"), infer::Precision::automatic);
  expect_error([] { infer::parse_precision("fp16"); }, ErrorKind::Usage, {"fp16", "fp32, bf16 or auto"});
  EXPECT_STREQ(infer::to_string(infer::Precision::automatic), "auto");
}

TEST(Precision, Fp32IsWhatWasAskedWithoutATrial) {
  auto net = tiny_net();
  auto c = infer::choose_precision(infer::Precision::fp32, net, 2, torch::kCPU, true);
  EXPECT_FALSE(c.bf16);
  EXPECT_EQ(c.fp32_ms, 0.0);
  EXPECT_EQ(c.to_json()["used"], "fp32");
}

TEST(Precision, AutoDecidesOncePerMachineAndKeepsTheAnswer) {
  CacheDir cache;
  auto net = tiny_net();
  auto first = infer::choose_precision(infer::Precision::automatic, net, 2, torch::kCPU, true);
  if (!infer::cpu_has_native_bf16()) {
    // No trial without BF16 units, and bf16 on demand is refused by name.
    EXPECT_FALSE(first.bf16);
    EXPECT_NE(first.reason.find("no native BF16"), std::string::npos) << first.reason;
    expect_error([&] { infer::choose_precision(infer::Precision::bf16, net, 2, torch::kCPU, true); }, ErrorKind::Usage,
                 {"native BF16"});
    return;
  }
  EXPECT_GT(first.fp32_ms, 0.0);
  EXPECT_GT(first.bf16_ms, 0.0);
  EXPECT_FALSE(first.cached);
  EXPECT_EQ(first.bf16, first.fp32_ms / first.bf16_ms >= 1.15);
  ASSERT_TRUE(std::filesystem::exists(infer::precision_cache_path()));
  auto again = infer::choose_precision(infer::Precision::automatic, net, 2, torch::kCPU, true);
  EXPECT_TRUE(again.cached);
  EXPECT_EQ(again.bf16, first.bf16);
  EXPECT_EQ(again.fp32_ms, first.fp32_ms);
  // A damaged cache file is ignored (and rewritten), never an error.
  core::write_text_file_atomic(infer::precision_cache_path(), "{not json");
  auto fresh = infer::choose_precision(infer::Precision::automatic, net, 2, torch::kCPU, true);
  EXPECT_FALSE(fresh.cached);
  EXPECT_TRUE(core::read_json_file(infer::precision_cache_path()).is_object());
}

TEST(Precision, Bf16ScopeChangesTheArithmeticAndRestoresIt) {
  auto net = tiny_net();
  torch::NoGradGuard ng;
  auto x = torch::rand({1, 2, 64, 64});
  auto ref = net->forward(x);
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
  torch::Tensor low;
  {
    infer::Bf16Autocast scope(true);
    EXPECT_TRUE(at::autocast::is_cpu_enabled());
    low = net->forward(x);
  }
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
  EXPECT_EQ(low.scalar_type(), torch::kBFloat16);  // the convolutions really ran in bf16
  const double err = (low.to(torch::kFloat) - ref).abs().max().item<double>();
  EXPECT_LT(err, 0.05 * std::max(1.0, ref.abs().max().item<double>()));
  {
    infer::Bf16Autocast off(false);
    EXPECT_FALSE(at::autocast::is_cpu_enabled());
  }
}
