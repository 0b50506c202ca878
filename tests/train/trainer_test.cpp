#include "train/trainer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "data/memory_dataset.hpp"
#include "data/raw_dataset.hpp"
#include "model/checkpoint.hpp"
#include "model/runtime.hpp"
#include "support/test_support.hpp"
#include "train/train_config.hpp"

using namespace drshym;

namespace {
// Water where VV is dark: a learnable toy task, with a few invalid pixels.
data::DatasetPtr toy(int n, uint64_t seed, const ingest::Preprocess& pp) {
  std::vector<data::RawSample> v;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0, 1);
  for (int k = 0; k < n; ++k) {
    auto s = data::RawSample::blank(32, 32, true);
    for (size_t i = 0; i < s.pixels(); ++i) {
      bool water = (i % 32) < size_t(8 + k);
      s.vv[i] = (water ? -20.0f : -8.0f) + 2.0f * u(rng);
      s.vh[i] = s.vv[i] - 7.0f;
      s.label[i] = water;
      s.valid[i] = i % 97 != 0;
    }
    s.id = "toy_" + std::to_string(k);
    s.group = k % 2 ? "a" : "b";
    s.normalize_validity();
    v.push_back(std::move(s));
  }
  return std::make_shared<data::MemoryDataset>(std::move(v), pp, "toy");
}

// The toy samples with a permanent_water head label: the left part of their water only.
data::DatasetPtr with_head(data::DatasetPtr ds, const ingest::Preprocess& pp) {
  std::vector<data::RawSample> v;
  for (size_t k = 0; k < ds->size(); ++k) {
    auto r = *data::raw_sample_of(*ds, k);
    std::vector<uint8_t> perm(r.pixels());
    for (size_t i = 0; i < r.pixels(); ++i) perm[i] = r.label[i] && (i % 32) < 6;
    r.head_labels.push_back(std::move(perm));
    v.push_back(std::move(r));
  }
  return std::make_shared<data::MemoryDataset>(std::move(v), pp, "toy_heads");
}

train::TrainConfig tiny_config(const std::string& out) {
  nlohmann::json j = {{"out_dir", out},
                      {"threads", 1},
                      {"model", {{"arch", "unet_compact"}, {"base_width", 4}, {"norm", "batch"}}},
                      {"data", {{"train", {{"type", "memory"}}}, {"val", {{"type", "memory"}}}}},
                      {"train", {{"epochs", 2}, {"batch_size", 2}, {"steps_per_epoch", 2}, {"lr", 0.01}}}};
  return train::TrainConfig::from_json(j);
}
}  // namespace

TEST(Trainer, SameSeedGivesBitIdenticalWeights) {
  drshym::testing::TempDir tmp;
  auto cfg_a = tiny_config(tmp.file("a")), cfg_b = tiny_config(tmp.file("b"));
  auto tr = toy(4, 1, cfg_a.preprocess), va = toy(2, 2, cfg_a.preprocess);
  auto ra = train::run_training(cfg_a, tr, va, nullptr);
  auto rb = train::run_training(cfg_b, tr, va, nullptr);
  auto a = model::load_checkpoint(ra.last_checkpoint), b = model::load_checkpoint(rb.last_checkpoint);
  auto pb = b.net->named_parameters(true);
  for (const auto& p : a.net->named_parameters(true)) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
  for (const char* f : {"metrics.jsonl", "metrics.csv", "curves.png", "summary.json", "thresholds.json", "best.pt"})
    EXPECT_TRUE(std::filesystem::exists(tmp.file(std::string("a/") + f))) << f;
  EXPECT_TRUE(std::isfinite(ra.summary["temperature"].get<double>()));
}

TEST(Trainer, AllInvalidBatchGivesFiniteLossesAndWeights) {
  drshym::testing::TempDir tmp;
  auto cfg = tiny_config(tmp.file("x"));
  std::vector<data::RawSample> v;
  auto s = data::RawSample::blank(32, 32, true);  // nothing valid
  s.id = "empty";
  v.push_back(s);
  auto empty = std::make_shared<data::MemoryDataset>(v, cfg.preprocess, "empty");
  auto va = toy(2, 2, cfg.preprocess);
  auto r = train::run_training(cfg, empty, va, nullptr);
  // A masked loss over no valid pixel must be 0 (not NaN) and leave every weight finite.
  std::ifstream metrics(tmp.file("x/metrics.jsonl"));
  std::string line;
  int epochs = 0;
  while (std::getline(metrics, line)) {
    auto e = nlohmann::json::parse(line);
    EXPECT_TRUE(std::isfinite(e["train_loss"].get<double>())) << line;
    EXPECT_EQ(e["train_loss"].get<double>(), 0.0) << line;
    ++epochs;
  }
  EXPECT_EQ(epochs, 2);
  auto ck = model::load_checkpoint(r.last_checkpoint);
  for (const auto& p : ck.net->named_parameters(true))
    EXPECT_TRUE(torch::isfinite(p.value()).all().item<bool>()) << p.key();
}

TEST(Trainer, LearnsAToyTask) {
  // Water where VV is dark: an untrained network scores near chance; a few epochs must make
  // it nearly perfect on held-out samples of the same task.
  drshym::testing::TempDir tmp;
  nlohmann::json j = {{"out_dir", tmp.file("toy")},
                      {"threads", 1},
                      {"model", {{"arch", "unet_compact"}, {"base_width", 4}, {"norm", "batch"}}},
                      {"data", {{"train", {{"type", "memory"}}}, {"val", {{"type", "memory"}}}}},
                      {"train", {{"epochs", 8}, {"batch_size", 4}, {"steps_per_epoch", 12}, {"lr", 0.01}, {"select", "last"}}}};
  auto cfg = train::TrainConfig::from_json(j);
  auto r = train::run_training(cfg, toy(8, 1, cfg.preprocess), toy(4, 9, cfg.preprocess), nullptr);
  EXPECT_GT(r.best_val_iou, 0.9) << r.summary.dump();
}

TEST(Trainer, MultiTaskLearnsTheWaterAndTheHead) {
  // One network, two outputs trained together: water where VV is dark, and a permanent_water
  // head whose label is the left half of that water only. Both must be learnt, and each output
  // gets its own calibration in the checkpoint.
  drshym::testing::TempDir tmp;
  nlohmann::json j = {{"out_dir", tmp.file("mt")},
                      {"threads", 1},
                      {"model", {{"arch", "unet_compact"}, {"base_width", 4}, {"norm", "batch"}, {"heads", {"permanent_water"}}}},
                      {"data", {{"train", {{"type", "memory"}}}, {"val", {{"type", "memory"}}}}},
                      {"train", {{"epochs", 8}, {"batch_size", 4}, {"steps_per_epoch", 12}, {"lr", 0.01}, {"select", "last"}}}};
  auto cfg = train::TrainConfig::from_json(j);
  auto r = train::run_training(cfg, with_head(toy(8, 1, cfg.preprocess), cfg.preprocess),
                                with_head(toy(4, 9, cfg.preprocess), cfg.preprocess), nullptr);
  EXPECT_GT(r.best_val_iou, 0.9) << r.summary.dump();
  ASSERT_TRUE(r.summary.contains("heads")) << r.summary.dump();
  EXPECT_GT(r.summary["heads"]["permanent_water"]["val_calibrated"]["total_iou"].get<double>(), 0.8) << r.summary.dump();
  auto ck = model::load_checkpoint(r.best_checkpoint);
  EXPECT_EQ(ck.net->head_index("permanent_water"), 1);
  EXPECT_EQ(ck.net->output_head(), 0);
  EXPECT_GT(ck.meta["heads"]["permanent_water"]["temperature"].get<double>(), 0.0);
  EXPECT_TRUE(std::filesystem::exists(tmp.file("mt/thresholds_permanent_water.json")));

  // Without head labels in the data, multi-task training refuses to start.
  auto cfg2 = cfg;
  cfg2.out_dir = tmp.file("mt2");
  drshym::testing::expect_error(
      [&] { train::run_training(cfg2, toy(4, 1, cfg.preprocess), toy(2, 9, cfg.preprocess), nullptr); },
      ErrorKind::Usage, {"label per head", "water+permanent_water"});
}

TEST(Trainer, OnlyTheHeadsLearnOnAnInitNetwork) {
  // train.init + train.trainable: heads: a water network is given a permanent_water head; every
  // weight and BatchNorm statistic of the water network stays as it was (its water output is the
  // same, bit for bit) while the head learns; the checkpoint records where its weights came from.
  drshym::testing::TempDir tmp;
  auto base_cfg = tiny_config(tmp.file("water"));
  auto water = train::run_training(base_cfg, toy(4, 1, base_cfg.preprocess), toy(2, 2, base_cfg.preprocess), nullptr);
  auto a = model::load_checkpoint(water.best_checkpoint);

  nlohmann::json j = base_cfg.raw;
  j["out_dir"] = tmp.file("heads");
  j["model"]["heads"] = {"permanent_water"};
  j["train"]["init"] = water.best_checkpoint;
  j["train"]["trainable"] = "heads";
  j["train"]["select"] = "last";
  auto cfg = train::TrainConfig::from_json(j);
  auto r = train::run_training(cfg, with_head(toy(4, 1, cfg.preprocess), cfg.preprocess),
                                with_head(toy(2, 2, cfg.preprocess), cfg.preprocess), nullptr);
  auto b = model::load_checkpoint(r.last_checkpoint);
  auto pb = b.net->named_parameters(true);
  for (const auto& p : a.net->named_parameters(true)) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
  auto bb = b.net->named_buffers(true);
  for (const auto& p : a.net->named_buffers(true)) EXPECT_TRUE(torch::equal(p.value(), bb[p.key()])) << p.key();
  // The head did learn: its weights moved away from the fresh network's (same seed) initialisation.
  model::seed_everything(cfg.seed);
  model::SegNet fresh = model::make_model(cfg.model);
  EXPECT_FALSE(torch::equal(fresh->named_parameters(true)["permanent_water.out.conv.weight"],
                            pb["permanent_water.out.conv.weight"]));
  torch::NoGradGuard no_grad;
  auto x = torch::rand({1, 2, 32, 32});
  EXPECT_TRUE(torch::equal(a.net->forward(x), b.net->forward(x)));
  EXPECT_EQ(b.meta["init"]["weights_sha256"], a.meta["weights_sha256"]);
  EXPECT_EQ(b.meta["init"]["trainable"], "heads");

  // Resuming is not starting: a run whose network has a head the checkpoint lacks is refused.
  nlohmann::json k = j;
  k["out_dir"] = tmp.file("resumed");
  k["resume"] = water.last_checkpoint;
  auto resumed = train::TrainConfig::from_json(k);
  drshym::testing::expect_error(
      [&] {
        train::run_training(resumed, with_head(toy(2, 1, cfg.preprocess), cfg.preprocess),
                            with_head(toy(2, 2, cfg.preprocess), cfg.preprocess), nullptr);
      },
      ErrorKind::InvalidInput, {"resume checkpoint", "lacks tensor", "permanent_water."});
}

TEST(TrainConfig, HeadsOnlyTrainingNeedsAMatchingInit) {
  drshym::testing::TempDir tmp;
  auto base_cfg = tiny_config(tmp.file("water"));
  nlohmann::json j = base_cfg.raw;
  j["model"]["heads"] = {"permanent_water"};
  j["train"]["trainable"] = "heads";
  using drshym::testing::expect_error;
  expect_error([&] { train::TrainConfig::from_json(j); }, ErrorKind::InvalidInput, {"train.init is not set"});
  j["train"]["trainable"] = "some";
  expect_error([&] { train::TrainConfig::from_json(j); }, ErrorKind::InvalidInput, {"'train.trainable'", "'some'"});
  // The water is fixed: its validation score cannot choose an epoch, nor a water teacher teach.
  j["train"]["trainable"] = "heads";
  j["train"]["init"] = tmp.file("water/last.pt");
  expect_error([&] { train::TrainConfig::from_json(j); }, ErrorKind::InvalidInput, {"train.select: last"});
  j["train"]["select"] = "last";
  j["distill"] = {{"teacher", tmp.file("water/last.pt")}};
  expect_error([&] { train::TrainConfig::from_json(j); }, ErrorKind::InvalidInput, {"distill"});
  j.erase("distill");
  j["train"].erase("init");

  // A network trained on other inputs (VV only) cannot start a VV+VH run, nor one of another width.
  nlohmann::json vv = base_cfg.raw;
  vv["out_dir"] = tmp.file("vv");
  vv["preprocess"] = {{"bands", {"VV"}}};
  auto vv_cfg = train::TrainConfig::from_json(vv);
  auto vv_run = train::run_training(vv_cfg, toy(2, 1, vv_cfg.preprocess), toy(2, 2, vv_cfg.preprocess), nullptr);
  j["train"]["trainable"] = "heads";
  j["train"]["init"] = vv_run.last_checkpoint;
  j["out_dir"] = tmp.file("heads");
  auto cfg = train::TrainConfig::from_json(j);
  expect_error([&] { train::run_training(cfg, toy(2, 1, cfg.preprocess), toy(2, 2, cfg.preprocess), nullptr); },
               ErrorKind::InvalidInput, {"train.init", "was trained with preprocess"});
  nlohmann::json wide = vv;
  wide["out_dir"] = tmp.file("wide");
  wide["model"]["base_width"] = 8;
  wide["model"]["heads"] = {"permanent_water"};
  wide["train"]["init"] = vv_run.last_checkpoint;
  auto wide_cfg = train::TrainConfig::from_json(wide);
  expect_error([&] { train::run_training(wide_cfg, toy(2, 1, vv_cfg.preprocess), toy(2, 2, vv_cfg.preprocess), nullptr); },
               ErrorKind::InvalidInput, {"train.init", "heads aside, they must be the same"});
}

namespace {
// Raises the interrupt flag (as Ctrl-C would) at the n-th sample read.
class InterruptingDataset : public data::Dataset {
 public:
  InterruptingDataset(data::DatasetPtr inner, int at) : inner_(std::move(inner)), at_(at) {}
  size_t size() const override { return inner_->size(); }
  data::Sample get(size_t i) const override {
    if (++reads_ == at_) core::request_interrupt();
    return inner_->get(i);
  }
  std::string name() const override { return inner_->name(); }
  std::string group_of(size_t i) const override { return inner_->group_of(i); }

 private:
  data::DatasetPtr inner_;
  int at_;
  mutable int reads_ = 0;
};
}  // namespace

TEST(Trainer, InterruptStopsAtTheNextStepAndKeepsOnlyCompleteEpochs) {
  drshym::testing::TempDir tmp;
  auto cfg = tiny_config(tmp.file("x"));  // 2 epochs x 2 steps x 2 samples
  auto tr = std::make_shared<InterruptingDataset>(toy(4, 1, cfg.preprocess), 6);  // epoch 2, step 1
  try {
    train::run_training(cfg, tr, toy(2, 2, cfg.preprocess), nullptr);
    core::clear_interrupt();
    FAIL() << "training ignored the interrupt";
  } catch (const Error& e) {
    core::clear_interrupt();
    EXPECT_EQ(e.kind(), ErrorKind::Interrupted) << e.what();
  }
  // Epoch 1's checkpoint is kept (a complete one, to resume from); nothing of epoch 2 and no
  // calibration or summary was written.
  auto ck = model::load_checkpoint(tmp.file("x/last.pt"));
  EXPECT_EQ(ck.meta["trainer_state"]["epoch"], 0);
  for (const char* f : {"summary.json", "thresholds.json", "calibration.json"})
    EXPECT_FALSE(std::filesystem::exists(tmp.file(std::string("x/") + f))) << f;
}

TEST(TrainConfig, RejectsBadValues) {
  nlohmann::json j = {{"data", {{"train", {{"type", "etci"}}}, {"val", {{"type", "etci"}}}}},
                      {"train", {{"epochs", 0}}}};
  using drshym::testing::expect_error;
  expect_error([&] { train::TrainConfig::from_json(j); }, ErrorKind::InvalidInput, {"'train.epochs' must be > 0"});
  expect_error([] { train::TrainConfig::from_json(nlohmann::json{{"train", {{"epochs", 1}}}}); }, ErrorKind::InvalidInput,
               {"missing required section 'data.train'"});
  nlohmann::json bad_loss = {{"data", {{"train", {}}, {"val", {}}}}, {"train", {{"loss", {{"name", "nope"}}}}}};
  expect_error([&] { train::TrainConfig::from_json(bad_loss); }, ErrorKind::InvalidInput, {"unknown loss 'nope'"});
  nlohmann::json missing_root = {{"type", "etci"}, {"root", "/nonexistent/etci"}};
  train::TrainConfig c = tiny_config("/tmp/unused");
  expect_error([&] { train::build_dataset(missing_root, c, true, "training"); }, ErrorKind::NotFound,
               {"/nonexistent/etci", "does not exist"});
}
