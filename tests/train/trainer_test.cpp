#include "train/trainer.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.hpp"
#include "data/memory_dataset.hpp"
#include "model/checkpoint.hpp"
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

TEST(Trainer, AllInvalidBatchGivesNoNaN) {
  drshym::testing::TempDir tmp;
  auto cfg = tiny_config(tmp.file("x"));
  std::vector<data::RawSample> v;
  auto s = data::RawSample::blank(32, 32, true);  // nothing valid
  s.id = "empty";
  v.push_back(s);
  auto empty = std::make_shared<data::MemoryDataset>(v, cfg.preprocess, "empty");
  auto va = toy(2, 2, cfg.preprocess);
  EXPECT_NO_THROW(train::run_training(cfg, empty, va, nullptr));
}

TEST(TrainConfig, RejectsBadValues) {
  nlohmann::json j = {{"data", {{"train", {{"type", "etci"}}}, {"val", {{"type", "etci"}}}}},
                      {"train", {{"epochs", 0}}}};
  EXPECT_THROW(train::TrainConfig::from_json(j), Error);
  EXPECT_THROW(train::TrainConfig::from_json(nlohmann::json{{"train", {{"epochs", 1}}}}), Error);
  nlohmann::json bad_loss = {{"data", {{"train", {}}, {"val", {}}}}, {"train", {{"loss", {{"name", "nope"}}}}}};
  EXPECT_THROW(train::TrainConfig::from_json(bad_loss), Error);
  nlohmann::json missing_root = {{"type", "etci"}, {"root", "/nonexistent/etci"}};
  train::TrainConfig c = tiny_config("/tmp/unused");
  EXPECT_THROW(train::build_dataset(missing_root, c, true, "training"), Error);
}
