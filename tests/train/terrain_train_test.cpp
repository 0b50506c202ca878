// DEM bands as model inputs: on synthetic scenes where dark water on the valley floor and dark
// ground high above it (radar shadow) have the same backscatter, only a model given HAND can
// tell them apart; its checkpoint records the terrain bands and their normalization.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>

#include "data/memory_dataset.hpp"
#include "model/checkpoint.hpp"
#include "support/test_support.hpp"
#include "train/train_config.hpp"
#include "train/trainer.hpp"

using namespace drshym;

namespace {

// 32 x 32 scenes: a dark band across the scene (VV -20 dB, land -8 dB), HAND 0-3 m on one side
// of a random column (west or east) and 30-40 m on the other. Water is the dark band where HAND
// is low only.
data::DatasetPtr shadow_scenes(int n, uint64_t seed, const ingest::Preprocess& pp) {
  std::vector<data::RawSample> v;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0, 1);
  for (int k = 0; k < n; ++k) {
    auto s = data::RawSample::blank(32, 32, false);
    const size_t px = s.pixels();
    s.terrain.assign(3 * px, 0.0f);
    const int edge = 10 + int(u(rng) * 12), top = 4 + int(u(rng) * 10), bottom = top + 8 + int(u(rng) * 8);
    const bool west = u(rng) < 0.5f;  // the valley on either side: position tells nothing
    for (size_t i = 0; i < px; ++i) {
      const int x = int(i % 32), y = int(i / 32);
      const bool dark = y >= top && y < bottom, low = west ? x < edge : x >= 32 - edge;
      s.vv[i] = (dark ? -20.0f : -8.0f) + 2.0f * u(rng);
      s.terrain[i] = low ? 20.0f + u(rng) : 60.0f + 20.0f * u(rng);   // height
      s.terrain[px + i] = low ? u(rng) : 15.0f + 10.0f * u(rng);       // slope
      s.terrain[2 * px + i] = low ? 3.0f * u(rng) : 30.0f + 10.0f * u(rng);  // HAND
      s.label[i] = dark && low;
      s.valid[i] = 1;
    }
    s.id = "shadow_" + std::to_string(k);
    s.group = "g";
    s.normalize_validity();
    v.push_back(std::move(s));
  }
  return std::make_shared<data::MemoryDataset>(std::move(v), pp, "shadow");
}

train::TrainResult train_with(const std::string& out, const std::vector<std::string>& bands) {
  nlohmann::json j = {{"out_dir", out},
                      {"threads", 1},
                      {"seed", 42},
                      {"preprocess", {{"bands", bands}, {"normalization", {{"method", "reference"}}}}},
                      {"model", {{"arch", "unet_compact"}, {"base_width", 4}, {"norm", "batch"}}},
                      {"data", {{"train", {{"type", "memory"}}}, {"val", {{"type", "memory"}}}}},
                      {"train", {{"epochs", 8}, {"batch_size", 4}, {"steps_per_epoch", 12}, {"lr", 0.01}, {"select", "last"}}}};
  auto cfg = train::TrainConfig::from_json(j);
  return train::run_training(cfg, shadow_scenes(8, 1, cfg.preprocess), shadow_scenes(4, 9, cfg.preprocess), nullptr);
}

}  // namespace

TEST(TerrainInputs, OnlyAModelGivenHandTellsValleyWaterFromDarkHillsides) {
  drshym::testing::TempDir tmp;
  const auto sar = train_with(tmp.file("vv"), {"VV"});
  const auto dem = train_with(tmp.file("vv_hand"), {"VV", "HAND", "SLOPE"});
  std::printf("val IoU: VV only %.3f, VV + HAND + SLOPE %.3f\n", sar.best_val_iou, dem.best_val_iou);
  EXPECT_LT(sar.best_val_iou, 0.7) << sar.summary.dump();    // about half the dark band is not water
  EXPECT_GT(dem.best_val_iou, 0.9) << dem.summary.dump();
  // The checkpoint says which terrain bands it reads and how they are normalized, so segment
  // knows to ask for --dem and applies the same recipe.
  const auto ck = model::load_checkpoint(dem.last_checkpoint);
  EXPECT_EQ(ck.net->config().in_channels, 3);
  const auto pp = ingest::Preprocess::from_json(ck.meta.at("preprocess"));
  EXPECT_EQ(pp.bands, (std::vector<std::string>{"VV", "HAND", "SLOPE"}));
  EXPECT_TRUE(pp.needs_terrain());
  EXPECT_EQ(pp.normalization.method, "reference");
  // A sample without terrain cannot feed it.
  auto s = data::RawSample::blank(8, 8, false);
  data::MemoryDataset bare({s}, pp, "bare");
  drshym::testing::expect_error([&] { bare.get(0, 0); }, ErrorKind::InvalidInput, {"no terrain", "HAND"});
}
