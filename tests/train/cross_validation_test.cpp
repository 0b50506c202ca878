#include "train/cross_validation.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/config.hpp"
#include "core/error.hpp"
#include "data/data_fixtures.hpp"
#include "support/test_support.hpp"
#include "train/train_config.hpp"

using namespace drshym;

namespace {

// A folder dataset of two regions ("alpha", "beta"), two 32x32 VV+VH chips each: water where
// VV is dark, one chip per region without any water (the false-alarm check).
void write_folder(const std::string& root) {
  for (const char* region : {"alpha", "beta"})
    for (int k = 0; k < 2; ++k) {
      const int n = 32 * 32;
      std::vector<float> img(static_cast<size_t>(n) * 2), lab(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) {
        const bool water = k == 0 && (i % 32) < 12;
        img[size_t(i)] = water ? -21.0f : -8.0f + float(i % 7) * 0.3f;
        img[size_t(n + i)] = img[size_t(i)] - 7.0f;
        lab[size_t(i)] = water ? 1.0f : 0.0f;
      }
      const std::string name = std::string(region) + "_" + std::to_string(k) + ".tif";
      drshym::testing::write_tif(root + "/train/images/" + name, 32, 32, 2, img);
      drshym::testing::write_tif(root + "/train/labels/" + name, 32, 32, 1, lab);
    }
}

}  // namespace

TEST(CrossValidation, HoldsOutEachGroupWithOtsuBesideAndNoSelection) {
  drshym::testing::TempDir tmp;
  write_folder(tmp.file("data"));
  nlohmann::json j = {{"out_dir", tmp.file("cv")},
                      {"threads", 1},
                      {"model", {{"arch", "unet_compact"}, {"base_width", 4}, {"norm", "batch"}}},
                      {"data",
                       {{"train", {{"type", "folder"}, {"root", tmp.file("data")}, {"split", "train"},
                                   {"augment", {{"offset_db", 2.0}}}}},
                        {"val", {{"type", "folder"}, {"root", tmp.file("data")}, {"split", "train"}}}}},
                      {"train", {{"epochs", 2}, {"batch_size", 2}, {"steps_per_epoch", 2}, {"lr", 0.01},
                                 {"select", "best"}}}};
  auto cfg = train::TrainConfig::from_json(j);
  auto summary = train::run_cross_validation(cfg);
  ASSERT_EQ(summary["folds"].size(), 2u);
  for (const auto& f : summary["folds"]) {
    const std::string held = f["held_out"];
    EXPECT_TRUE(held == "alpha" || held == "beta") << held;
    EXPECT_EQ(f["test_samples"].get<int>(), 2);
    EXPECT_EQ(f["train_samples"].get<int>(), 2);
    // Otsu is scored on the same held-out pixels, and the dry chip's false alarms are reported.
    ASSERT_TRUE(f.contains("otsu_vv_db"));
    EXPECT_EQ(f["model"]["dry_samples"].get<int>(), 1);
    EXPECT_EQ(f["otsu_vv_db"]["dry_samples"].get<int>(), 1);
    EXPECT_TRUE(f["otsu_vv_db"]["total_iou"].is_number());
    // The held-out group chose no epoch: the fold kept its last one despite select: best.
    auto fold = core::read_json_file(f["run"].get<std::string>() + "/summary.json");
    EXPECT_EQ(fold["best_epoch"].get<int>(), 2);
    EXPECT_EQ(fold["threshold"].get<double>(), 0.5);
  }
  EXPECT_TRUE(std::filesystem::exists(tmp.file("cv/cv_summary.json")));
  drshym::testing::expect_error([&] { train::run_cross_validation(cfg, {"gamma"}); }, ErrorKind::Usage,
                                {"unknown group 'gamma'"});
}

TEST(TrainConfig, SelectIsChecked) {
  nlohmann::json j = {{"data", {{"train", {{"type", "folder"}}}, {"val", {{"type", "folder"}}}}},
                      {"train", {{"select", "first"}}}};
  drshym::testing::expect_error([&] { train::TrainConfig::from_json(j); }, ErrorKind::InvalidInput,
                                {"train.select must be 'best' or 'last'", "'first'"});
  j["train"] = {{"select", "last"}, {"patience", 3}};
  drshym::testing::expect_error([&] { train::TrainConfig::from_json(j); }, ErrorKind::InvalidInput,
                                {"train.patience (early stopping) must be 0"});
  j["train"] = {{"select", "last"}};
  EXPECT_EQ(train::TrainConfig::from_json(j).select, "last");
}
