// Networks: shapes for every architecture, config JSON, BatchNorm folding, and that eval mode
// after a short training run behaves like train mode (BatchNorm statistics really learned).
#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "support/test_support.hpp"
#include "model/checkpoint.hpp"
#include "model/layers.hpp"
#include "model/runtime.hpp"
#include "model/segnet.hpp"

using namespace drshym;
using namespace drshym::model;

namespace {

constexpr double kFuseTol = 1e-4;  // fused vs unfused eval output, relative to max(1, max|out|)
// Eval vs train IoU after the short run below. Stale running statistics (never updated or
// never used) give ~0.4 here; fully converged ones give the same IoU as train mode.
constexpr double kEvalIouTol = 0.05;

ModelConfig small_config(const std::string& arch, const std::string& norm = "batch",
                         const std::string& upsample = "transpose") {
  ModelConfig c;
  c.arch = arch;
  c.in_channels = 2;
  c.base_width = 8;
  c.norm = norm;
  c.upsample = upsample;
  return c;
}

// Water-class IoU of logits > 0 against a 0/1 label.
double iou(const torch::Tensor& logits, const torch::Tensor& label) {
  auto pred = logits > 0;
  auto truth = label > 0.5;
  double inter = (pred & truth).sum().item<double>();
  double uni = (pred | truth).sum().item<double>();
  return uni > 0 ? inter / uni : 1.0;
}

// Gives every BatchNorm non-trivial statistics and affine parameters, so folding is tested on
// something other than the identity it starts as.
void randomize_batchnorm(torch::nn::Module& net) {
  torch::NoGradGuard no_grad;
  for (const auto& m : net.modules(false))
    if (auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(m)) {
      bn->running_mean.uniform_(-0.5, 0.5);
      bn->running_var.uniform_(0.5, 2.0);
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.uniform_(-0.2, 0.2);
    }
}

// The nets here are tiny: one intra-op thread is as fast, and avoids OpenMP threads spinning
// against each other when ctest -j or other builds share the cores (seen: 30x slowdowns).
class SingleThreadEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { torch::set_num_threads(1); }
};
const auto* const kSingleThread = ::testing::AddGlobalTestEnvironment(new SingleThreadEnvironment);

// Parameterized by arch only (each ctest process pays ~1 s of LibTorch start-up); norms and
// upsampling modes are looped inside.
class EveryArch : public ::testing::TestWithParam<std::string> {};

const std::vector<std::pair<std::string, std::string>> kVariants = {
    {"batch", "transpose"}, {"batch", "bilinear"}, {"group", "transpose"}, {"group", "bilinear"}};

}  // namespace

TEST_P(EveryArch, OutputIsOneLogitChannelAtFullResolution) {
  const std::string& arch = GetParam();
  for (const auto& [norm, upsample] : kVariants) {
    SCOPED_TRACE(arch + " " + norm + " " + upsample);
    seed_everything(42);
    SegNet net = make_model(small_config(arch, norm, upsample));
    auto x = torch::rand({2, 2, 64, 64});
    for (bool training : {true, false}) {
      net->train(training);
      torch::NoGradGuard no_grad;
      auto y = net->forward(x);
      EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 1, 64, 64})) << "training=" << training;
      EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
    }
  }
}

TEST_P(EveryArch, FusedBatchNormMatchesEvalOutput) {
  const std::string& arch = GetParam();
  for (const auto& [norm, upsample] : kVariants) {
    SCOPED_TRACE(arch + " " + norm + " " + upsample);
    seed_everything(7);
    SegNet net = make_model(small_config(arch, norm, upsample));
    randomize_batchnorm(*net);
    net->eval();
    torch::NoGradGuard no_grad;
    auto x = torch::rand({2, 2, 64, 64});
    auto ref = net->forward(x);
    const auto n_params = net->parameters().size();
    net->fuse_for_inference();
    EXPECT_TRUE(net->fused());
    auto fused = net->forward(x);
    // Relative for large outputs: randomized statistics push untrained ResNet-50 logits to ~1e3.
    const double scale = std::max(1.0, ref.abs().max().item<double>());
    EXPECT_LE((fused - ref).abs().max().item<double>(), kFuseTol * scale);
    if (norm == "group" && upsample == "bilinear") {
      EXPECT_TRUE(torch::equal(fused, ref));  // nothing to fold
    } else if (norm == "batch") {
      EXPECT_LT(net->parameters().size(), n_params);  // BatchNorm modules are gone
    }
  }
}

// The transposed conv's inference form (1x1 conv + depth-to-space) is the same map, keeps the
// input's memory format and precision (LibTorch's own transposed conv answers BF16
// channels-last input with FP32 NCHW), and still passes gradients (Grad-CAM).
TEST(Upsample, FusedShuffleIsTheTransposedConv) {
  seed_everything(42);
  Upsample up(12, 6, /*bilinear=*/false);
  for (auto& p : up->parameters()) {
    torch::NoGradGuard ng;
    p.uniform_(-1, 1);  // a bias that is not zero, weights of both signs
  }
  auto x = torch::randn({2, 12, 5, 7});
  torch::Tensor ref;
  {
    torch::NoGradGuard ng;
    ref = up->forward(x);
  }
  up->fuse();
  EXPECT_EQ(up->named_parameters().size(), 2u);  // shuffle.weight, shuffle.bias
  EXPECT_TRUE(up->named_parameters().contains("shuffle.weight"));
  auto xg = x.clone().requires_grad_(true);
  auto y = up->forward(xg);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 6, 10, 14}));
  EXPECT_LE((y - ref).abs().max().item<double>(), 1e-5);
  y.sum().backward();
  ASSERT_TRUE(xg.grad().defined());
  // d(sum)/dx[k] = sum over c, i, j of W[k, c, i, j]: the same for every pixel.
  EXPECT_GT(xg.grad().abs().sum().item<double>(), 0.0);

  torch::NoGradGuard ng;
  auto xl = x.contiguous(torch::MemoryFormat::ChannelsLast);
  auto yl = up->forward(xl);
  EXPECT_TRUE(yl.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_LE((yl - ref).abs().max().item<double>(), 1e-5);
  // The decoder's form: shuffle written straight into the concatenation with the skip.
  for (const auto& in : {x, xl}) {
    auto skip = torch::randn({2, 5, 10, 14}).contiguous(in.suggest_memory_format());
    auto cat = up->forward_concat(in, skip);
    EXPECT_TRUE(torch::equal(cat, torch::cat({up->forward(in), skip}, 1)));
    EXPECT_TRUE(cat.is_contiguous(torch::MemoryFormat::ChannelsLast));
  }
  up->to(torch::kBFloat16);  // as a BF16 autocast pass runs it
  auto yb = up->forward(xl.to(torch::kBFloat16));
  EXPECT_EQ(yb.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(yb.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_LE((yb.to(torch::kFloat) - ref).abs().max().item<double>(), 0.1 * std::max(1.0, ref.abs().max().item<double>()));
}

INSTANTIATE_TEST_SUITE_P(Model, EveryArch,
                         ::testing::Values("unet_compact", "unet_resnet18", "unet_resnet34",
                                           "unet_resnet50", "attention_resunet"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(MakeModel, UnknownArchThrowsNamingItAndTheKnownOnes) {
  ModelConfig c = small_config("unet_resnet101");
  try {
    make_model(c);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_EQ(e.stage(), "model");
    std::string msg = e.what();
    EXPECT_NE(msg.find("unet_resnet101"), std::string::npos) << msg;
    for (const auto& a : known_archs()) EXPECT_NE(msg.find(a), std::string::npos) << msg;
  }
}

TEST(MakeModel, BadInputShapeIsAClearError) {
  using drshym::testing::expect_error;
  SegNet net = make_model(small_config("unet_compact"));
  expect_error([&] { net->forward(torch::rand({1, 2, 60, 64})); }, ErrorKind::InvalidInput, {"multiples of 16", "60"});
  expect_error([&] { net->forward(torch::rand({1, 3, 64, 64})); }, ErrorKind::InvalidInput, {"expects 2 input channels"});
  expect_error([&] { net->forward(torch::rand({2, 64, 64})); }, ErrorKind::InvalidInput, {"[N, C, H, W]"});
  SegNet res = make_model(small_config("unet_resnet18"));
  // 48 is not a multiple of 32
  expect_error([&] { res->forward(torch::rand({1, 2, 48, 64})); }, ErrorKind::InvalidInput, {"multiples of 32", "48"});
}

TEST(ModelConfig, JsonRoundTripAndStrictKeys) {
  ModelConfig c = small_config("attention_resunet", "group", "bilinear");
  EXPECT_EQ(ModelConfig::from_json(c.to_json()), c);
  // Missing keys keep defaults (metadata written before a key existed still loads).
  EXPECT_EQ(ModelConfig::from_json({{"arch", "unet_compact"}}), ModelConfig{});
  auto expect_bad = [](const nlohmann::json& j, const std::string& needle) {
    try {
      ModelConfig::from_json(j);
      ADD_FAILURE() << "accepted " << j.dump();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_bad({{"arch", "unet_compact"}, {"base_widht", 8}}, "base_widht");
  expect_bad({{"in_channels", "two"}}, "in_channels");
  expect_bad({{"norm", "layer"}}, "norm");
  expect_bad({{"upsample", "nearest"}}, "upsample");
  expect_bad({{"base_width", 0}}, "base_width");
  expect_bad(nlohmann::json::array(), "object");
}

TEST(Heads, OnePassGivesTheWaterAndEveryHead) {
  // A permanent_water head reads the same pass: forward_heads()'s channel 0 is forward()'s
  // water logit, channel 1 the head's; set_output_head picks what forward() returns; BatchNorm
  // folding keeps both; the config round-trips and refuses unknown or duplicate heads.
  seed_everything(7);
  ModelConfig c = small_config("unet_compact", "batch", "transpose");
  c.heads = {"permanent_water"};
  SegNet net = make_model(c);
  randomize_batchnorm(*net);
  net->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::rand({2, 2, 64, 64});
  auto all = net->forward_heads(x);
  ASSERT_EQ(all.sizes(), (std::vector<int64_t>{2, 2, 64, 64}));
  EXPECT_TRUE(torch::allclose(all.narrow(1, 0, 1), net->forward(x), 1e-5, 1e-5));
  EXPECT_FALSE(torch::allclose(all.narrow(1, 0, 1), all.narrow(1, 1, 1), 1e-3, 1e-3));
  EXPECT_EQ(net->head_index("water"), 0);
  EXPECT_EQ(net->head_index("permanent_water"), 1);
  EXPECT_EQ(net->head_index("snow"), -1);
  net->set_output_head("permanent_water");
  EXPECT_TRUE(torch::allclose(net->forward(x), all.narrow(1, 1, 1), 1e-5, 1e-5));
  drshym::testing::expect_error([&] { net->set_output_head("snow"); }, ErrorKind::InvalidInput,
                                {"snow", "water, permanent_water"});
  net->set_output_head("water");
  net->fuse_for_inference();
  // The head's reduction is split by source (PermanentHeadImpl::fuse), not only BN-folded.
  EXPECT_TRUE(net->named_parameters().contains("permanent_water.r3.weight"));
  EXPECT_FALSE(net->named_parameters().contains("permanent_water.reduce.conv.weight"));
  auto fused = net->forward_heads(x);
  EXPECT_LE((fused - all).abs().max().item<double>(), kFuseTol * std::max(1.0, all.abs().max().item<double>()));

  EXPECT_EQ(ModelConfig::from_json(c.to_json()), c);
  EXPECT_FALSE(small_config("unet_compact", "batch", "transpose").to_json().contains("heads"));
  nlohmann::json bad = c.to_json();
  bad["heads"] = {"permanent_water", "permanent_water"};
  drshym::testing::expect_error([&] { ModelConfig::from_json(bad); }, ErrorKind::InvalidInput, {"twice"});
  bad["heads"] = {"glaciers"};
  drshym::testing::expect_error([&] { ModelConfig::from_json(bad); }, ErrorKind::InvalidInput, {"glaciers"});
  bad = small_config("unet_resnet18", "batch", "transpose").to_json();
  bad["heads"] = {"permanent_water"};
  drshym::testing::expect_error([&] { ModelConfig::from_json(bad); }, ErrorKind::InvalidInput, {"unet_compact"});
  // A network without heads has none to give.
  SegNet plain = make_model(small_config("unet_compact", "batch", "transpose"));
  EXPECT_EQ(plain->forward_heads(x).size(1), 1);
}

TEST(Heads, AWiderHeadHasItsOwnWidthAndStillFolds) {
  // model.head_width: the head's channels, independent of the trunk's base width; folding the
  // reduction by source must split the trunk's channels (base width), not the head's.
  seed_everything(8);
  ModelConfig c = small_config("unet_compact", "batch", "transpose");
  c.heads = {"permanent_water"};
  c.head_width = 3 * c.base_width;
  SegNet net = make_model(c);
  auto params = net->named_parameters();
  EXPECT_EQ(params["permanent_water.reduce.conv.weight"].sizes(),
            (std::vector<int64_t>{3 * c.base_width, 14 * c.base_width, 1, 1}));
  EXPECT_EQ(params["permanent_water.c2.conv.weight"].size(0), 3 * c.base_width);
  randomize_batchnorm(*net);
  net->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::rand({1, 2, 64, 64});
  auto all = net->forward_heads(x);
  net->fuse_for_inference();
  EXPECT_EQ(net->named_parameters()["permanent_water.r2.weight"].sizes(),
            (std::vector<int64_t>{3 * c.base_width, 4 * c.base_width, 1, 1}));
  EXPECT_LE((net->forward_heads(x) - all).abs().max().item<double>(),
            kFuseTol * std::max(1.0, all.abs().max().item<double>()));
  // The key round-trips, is absent at the default and refused without heads or below 0.
  EXPECT_EQ(ModelConfig::from_json(c.to_json()), c);
  EXPECT_EQ(c.to_json()["head_width"], 3 * c.base_width);
  c.head_width = 0;
  EXPECT_FALSE(c.to_json().contains("head_width"));
  nlohmann::json bad = small_config("unet_compact", "batch", "transpose").to_json();
  bad["head_width"] = 32;
  drshym::testing::expect_error([&] { ModelConfig::from_json(bad); }, ErrorKind::InvalidInput, {"head_width", "none"});
  bad["heads"] = {"permanent_water"};
  bad["head_width"] = -1;
  drshym::testing::expect_error([&] { ModelConfig::from_json(bad); }, ErrorKind::InvalidInput, {"head_width", ">= 0"});
}

namespace {

// A permanent-water head that reads more than the decoder (model.head_reads: `reads`): its 1x1
// reduction takes `reduce_in` x base width channels; zeroing their share [from, from + count)
// x base width changes the head's answer (those sources reach it); it folds into `parts`
// per-source convolutions, the last reading `last_in` x base width channels, with the same
// output; the water logit is the same function of the trunk as without the head; the config
// round-trips. Returns the network's config.
ModelConfig expect_head_reads(const std::string& reads, int reduce_in, int from, int count, int parts, int last_in) {
  seed_everything(9);
  ModelConfig c = small_config("unet_compact", "batch", "transpose");
  c.heads = {"permanent_water"};
  c.head_reads = reads;
  SegNet net = make_model(c);
  const int64_t w = c.base_width;
  auto p = net->named_parameters();
  EXPECT_EQ(p["permanent_water.reduce.conv.weight"].size(1), reduce_in * w) << reads;
  randomize_batchnorm(*net);
  net->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::rand({1, 2, 64, 64});
  auto all = net->forward_heads(x);
  EXPECT_TRUE(torch::allclose(all.narrow(1, 0, 1), net->forward(x), 1e-5, 1e-5)) << reads;
  torch::Tensor share = p["permanent_water.reduce.conv.weight"].narrow(1, from * w, count * w);
  const torch::Tensor kept = share.clone();
  share.zero_();
  EXPECT_FALSE(torch::allclose(net->forward_heads(x).narrow(1, 1, 1), all.narrow(1, 1, 1), 1e-4, 1e-4)) << reads;
  share.copy_(kept);
  net->fuse_for_inference();
  EXPECT_EQ(net->named_parameters()["permanent_water.r" + std::to_string(parts) + ".weight"].sizes(),
            (std::vector<int64_t>{w, last_in * w, 1, 1})) << reads;
  EXPECT_LE((net->forward_heads(x) - all).abs().max().item<double>(),
            kFuseTol * std::max(1.0, all.abs().max().item<double>())) << reads;
  EXPECT_EQ(ModelConfig::from_json(c.to_json()), c);
  EXPECT_EQ(c.to_json()["head_reads"], reads);
  return c;
}

}  // namespace

TEST(Heads, AHeadThatReadsTheEncoderTooFoldsAndLeavesTheWaterAlone) {
  // model.head_reads: decoder+encoder adds enc3 (1/8) and enc4 (1/16) to the head's sources:
  // 14 + 24 channel groups, the encoder's 24 from the 14th, five parts once folded (enc4's last).
  const ModelConfig c = expect_head_reads("decoder+encoder", 38, 14, 24, 5, 16);
  ModelConfig d = c;
  d.head_reads = "decoder";
  EXPECT_FALSE(d.to_json().contains("head_reads"));
  nlohmann::json bad = c.to_json();
  bad["head_reads"] = "everything";
  drshym::testing::expect_error([&] { ModelConfig::from_json(bad); }, ErrorKind::InvalidInput,
                                {"head_reads", "decoder+encoder", "decoder+branch"});
  bad = small_config("unet_compact", "batch", "transpose").to_json();
  bad["head_reads"] = "decoder+encoder";
  drshym::testing::expect_error([&] { ModelConfig::from_json(bad); }, ErrorKind::InvalidInput, {"head_reads", "none"});
}

TEST(Heads, AHeadWithItsOwnBranchLearnsFromEnc1FoldsAndLeavesTheWaterAlone) {
  // model.head_reads: decoder+branch gives the head its own three encoder levels from enc1
  // (1/4, 1/8, 1/16 at 2, 4, 8 x base width): 14 + 14 channel groups, the deepest level's 8
  // from the 20th, six parts once folded; the branch's weights live under the head, so
  // train.trainable: heads moves them.
  const ModelConfig c = expect_head_reads("decoder+branch", 28, 20, 8, 6, 8);
  SegNet net = make_model(c);
  const int64_t w = c.base_width;
  EXPECT_EQ(net->named_parameters()["permanent_water.b4.c2.conv.weight"].sizes(), (std::vector<int64_t>{8 * w, 8 * w, 3, 3}));
  EXPECT_EQ(net->named_parameters()["permanent_water.b2.c1.conv.weight"].sizes(), (std::vector<int64_t>{2 * w, 2 * w, 3, 3}));
}

TEST(Layers, GroupCountDividesChannels) {
  for (int c : {1, 2, 3, 8, 12, 16, 24, 64, 96, 256, 2048}) {
    int g = group_count(c);
    EXPECT_GE(g, 1);
    EXPECT_EQ(c % g, 0) << c;
    EXPECT_LE(g, 32);
  }
  EXPECT_EQ(group_count(256), 32);
}

namespace {

// Trains unet_compact for 40 steps on "water where channel 0 > 0.5" and returns
// {train-mode IoU, eval-mode IoU} on the training batch.
std::pair<double, double> train_tiny(const std::string& norm) {
  seed_everything(42);
  SegNet net = make_model(small_config("unet_compact", norm));
  auto clean = torch::rand({4, 2, 64, 64});
  auto label = (clean.slice(1, 0, 1) > 0.5).to(torch::kFloat);
  auto x = clean + 0.05 * torch::randn_like(clean);
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(1e-4));
  net->train();
  for (int step = 0; step < 40; ++step) {
    // Decay the rate for the last steps, as any real schedule does: BatchNorm's running
    // averages (momentum 0.1) can only track weights that have stopped moving fast.
    if (step == 25)
      for (auto& group : opt.param_groups())
        static_cast<torch::optim::AdamWOptions&>(group.options()).lr(1e-3);
    opt.zero_grad();
    auto loss = torch::binary_cross_entropy_with_logits(net->forward(x), label);
    loss.backward();
    opt.step();
  }
  torch::NoGradGuard no_grad;
  const double train_iou = iou(net->forward(x), label);
  net->eval();
  auto eval_logits = net->forward(x);
  EXPECT_TRUE(torch::isfinite(eval_logits).all().item<bool>());
  if (norm == "batch") {
    // Running statistics moved away from their (0, 1) initial values.
    for (const auto& m : net->modules(false))
      if (auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(m)) {
        EXPECT_GT(bn->running_mean.abs().max().item<double>(), 1e-3);
        EXPECT_GE(bn->num_batches_tracked.item<int64_t>(), 40);
      }
  }
  return {train_iou, iou(eval_logits, label)};
}

}  // namespace

TEST(Training, EvalModeMatchesTrainModeWithBatchNorm) {
  auto [train_iou, eval_iou] = train_tiny("batch");
  EXPECT_GT(train_iou, 0.7);
  EXPECT_NEAR(eval_iou, train_iou, kEvalIouTol);
}

TEST(Training, EvalModeMatchesTrainModeWithGroupNorm) {
  auto [train_iou, eval_iou] = train_tiny("group");
  EXPECT_GT(train_iou, 0.7);
  EXPECT_DOUBLE_EQ(eval_iou, train_iou);  // GroupNorm has no train/eval difference
}

TEST(Grid, ACoarseGridNetworkIsTheSameNetworkOnTheAveragedInputUpsampled) {
  // grid 2: the same weights as a grid-1 network, run on the 2x2-averaged input, logits
  // upsampled bilinearly to the input's size; every head too; a quarter of the arithmetic;
  // inputs must be multiples of 32; the key round-trips and is absent at grid 1.
  seed_everything(11);
  ModelConfig fine = small_config("unet_compact", "batch", "transpose");
  fine.heads = {"permanent_water"};
  ModelConfig coarse = fine;
  coarse.grid = 2;
  SegNet a = make_model(fine), b = make_model(coarse);
  randomize_batchnorm(*a);
  EXPECT_TRUE(copy_state(*a, *b, "the grid-1 network").empty());
  a->eval();
  b->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::rand({2, 2, 64, 96});
  namespace F = torch::nn::functional;
  auto want = F::interpolate(a->forward_heads(torch::avg_pool2d(x, 2)),
                             F::InterpolateFuncOptions().size(std::vector<int64_t>{64, 96}).mode(torch::kBilinear).align_corners(false));
  auto got = b->forward_heads(x);
  ASSERT_EQ(got.sizes(), (std::vector<int64_t>{2, 2, 64, 96}));
  EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(b->forward(x), want.narrow(1, 0, 1), 1e-5, 1e-5));
  b->set_output_head("permanent_water");
  EXPECT_TRUE(torch::allclose(b->forward(x), want.narrow(1, 1, 1), 1e-5, 1e-5));
  // The same network on the input's grid would differ: the pooling is really there.
  EXPECT_FALSE(torch::allclose(a->forward_heads(x), got, 1e-3, 1e-3));

  const double ratio = double(count_flops(b, 2, 256, 256)) / double(count_flops(a, 2, 256, 256));
  EXPECT_NEAR(ratio, 0.25, 0.02);  // a quarter, plus the head's full-size upsampling
  EXPECT_EQ(coarse.input_multiple(), 32);
  drshym::testing::expect_error([&] { b->forward(torch::rand({1, 2, 48, 64})); }, ErrorKind::InvalidInput,
                                {"multiples of 32", "48"});
  EXPECT_EQ(ModelConfig::from_json(coarse.to_json()), coarse);
  EXPECT_EQ(coarse.to_json().at("grid"), 2);
  EXPECT_FALSE(fine.to_json().contains("grid"));
  nlohmann::json bad = coarse.to_json();
  bad["grid"] = 3;
  drshym::testing::expect_error([&] { ModelConfig::from_json(bad); }, ErrorKind::InvalidInput, {"grid", "1 or 2"});
}

TEST(Grid, ASceneWithCoarserPixelsRunsOnAFinerFactor) {
  // A grid-2 network was trained on 10 m pixels averaged to 20 m: 10 m input is averaged 2x2,
  // 20 m input (and coarser) runs on its own grid, an unknown size keeps the network's factor;
  // under a GridScope every network on the thread derives its factor from the scope's pixel size.
  ModelConfig c = small_config("unet_compact", "batch", "transpose");
  c.grid = 2;
  EXPECT_EQ(grid_for_pixel_size(c, 10.0), 2);
  EXPECT_EQ(grid_for_pixel_size(c, 12.0), 2);
  EXPECT_EQ(grid_for_pixel_size(c, 20.0), 1);
  EXPECT_EQ(grid_for_pixel_size(c, 40.0), 1);
  EXPECT_EQ(grid_for_pixel_size(c, 5.0), 2);  // never more than the network was trained on
  EXPECT_EQ(grid_for_pixel_size(c, std::nan("")), 2);
  EXPECT_EQ(grid_for_pixel_size(small_config("unet_compact"), 10.0), 1);

  seed_everything(5);
  SegNet net = make_model(c);
  net->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::rand({1, 2, 64, 64});
  const auto coarse = net->forward(x);
  {
    GridScope scope(20.0);  // 20 m input
    EXPECT_EQ(net->grid(), 1);
    // Each network takes its own factor from the pixel size: at 10 m a grid-1 network beside
    // this one keeps 1 and another grid-2 network averages 2x2.
    {
      GridScope ten(10.0);
      EXPECT_EQ(net->grid(), 2);
      EXPECT_EQ(make_model(small_config("unet_compact"))->grid(), 1);
    }
    EXPECT_EQ(net->grid(), 1);  // the outer scope back
    const auto own = net->forward(x);
    ASSERT_EQ(own.sizes(), coarse.sizes());
    EXPECT_FALSE(torch::allclose(own, coarse, 1e-3, 1e-3));
    // The scope is this thread's: another thread still runs the network's own factor.
    int other = 0;
    std::thread([&] { other = net->grid(); }).join();
    EXPECT_EQ(other, 2);
  }
  EXPECT_EQ(net->grid(), 2);
  EXPECT_TRUE(torch::equal(net->forward(x), coarse));
}
