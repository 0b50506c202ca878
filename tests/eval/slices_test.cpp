// Error slices: quintile edges and per-bin confusions on constructed pixels.
#include "eval/slices.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace drshym::eval {
namespace {

TEST(Slices, IntensityQuintilesSplitThePixelsEvenlyAndScoreEachBin) {
  // 1000 valid pixels at -29.95, -28.95, ... dB (10 per dB step, 100 distinct values ×10):
  // water below -20 dB; the model calls water below -22 dB, Otsu below -18 dB.
  std::vector<float> vv;
  std::vector<uint8_t> valid, label, model, otsu;
  for (int i = 0; i < 1000; ++i) {
    const float db = -29.95f + 0.25f * float(i / 10);  // 100 steps of 0.25 dB, 10 pixels each
    vv.push_back(db);
    valid.push_back(1);
    label.push_back(db < -20 ? 1 : 0);
    model.push_back(db < -22 ? 1 : 0);
    otsu.push_back(db < -18 ? 1 : 0);
  }
  // One invalid and one NaN pixel: never counted.
  vv.push_back(-25);
  valid.push_back(0);
  label.push_back(1);
  model.push_back(0);
  otsu.push_back(0);
  vv.push_back(NAN);
  valid.push_back(1);
  label.push_back(1);
  model.push_back(0);
  otsu.push_back(0);
  SliceEvaluator s;
  s.add("USA", vv.data(), valid.data(), label.data(), model.data(), otsu.data(), vv.size());
  const auto j = s.to_json();
  const auto& bins = j["intensity"]["bins"];
  ASSERT_EQ(bins.size(), 5u);
  int64_t total = 0;
  for (const auto& b : bins) {
    EXPECT_EQ(b["pixels"].get<int64_t>(), 200) << b.dump();
    total += b["pixels"].get<int64_t>();
  }
  EXPECT_EQ(total, 1000);
  EXPECT_TRUE(bins[0]["range_db"][0].is_null());
  EXPECT_TRUE(bins[4]["range_db"][1].is_null());
  // Pixels run from -29.95 to -5.2 dB in 0.25 dB steps: the first quintile is the darkest
  // 200 (up to -25.2 dB, its upper edge the 0.1 dB bin boundary above), all water, all called
  // water by both.
  EXPECT_NEAR(bins[0]["range_db"][1].get<double>(), -25.15, 0.06);
  EXPECT_EQ(bins[0]["water_pixels"].get<int64_t>(), 200);
  EXPECT_DOUBLE_EQ(bins[0]["model"]["iou"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(bins[0]["otsu_vv_db"]["iou"].get<double>(), 1.0);
  // Second quintile [-24.95, -19.95): water below -20 (all of it), the model stops at -22.
  const auto& q2 = bins[1];
  EXPECT_EQ(q2["water_pixels"].get<int64_t>(), 200);
  EXPECT_EQ(q2["model"]["confusion"]["tp"].get<int64_t>(), 120);  // -24.95 .. -22.2: 12 steps × 10
  EXPECT_EQ(q2["model"]["confusion"]["fn"].get<int64_t>(), 80);
  EXPECT_EQ(q2["otsu_vv_db"]["confusion"]["tp"].get<int64_t>(), 200);
  // Third quintile: no water; Otsu's false alarms from -19.95 to -18.2 (8 steps × 10).
  EXPECT_EQ(bins[2]["water_pixels"].get<int64_t>(), 0);
  EXPECT_EQ(bins[2]["otsu_vv_db"]["confusion"]["fp"].get<int64_t>(), 80);
  EXPECT_EQ(bins[2]["model"]["confusion"]["fp"].get<int64_t>(), 0);
  // One region, holding every valid pixel.
  ASSERT_EQ(j["region"]["bins"].size(), 1u);
  EXPECT_EQ(j["region"]["bins"][0]["name"], "USA");
  EXPECT_EQ(j["region"]["bins"][0]["pixels"].get<int64_t>(), 1000);
  EXPECT_EQ(j["region"]["bins"][0]["model"]["confusion"]["tp"].get<int64_t>(), 320);
}

TEST(Slices, RegionsAreKeptApartAndOtsuIsOptional) {
  SliceEvaluator s;
  const std::vector<float> vv{-20, -20, -5, -5};
  const std::vector<uint8_t> valid{1, 1, 1, 1}, label{1, 1, 0, 0}, pred_a{1, 0, 0, 0}, pred_b{1, 1, 1, 0};
  s.add("a", vv.data(), valid.data(), label.data(), pred_a.data(), nullptr, 4);
  s.add("b", vv.data(), valid.data(), label.data(), pred_b.data(), nullptr, 4);
  const auto j = s.to_json();
  ASSERT_EQ(j["region"]["bins"].size(), 2u);
  EXPECT_DOUBLE_EQ(j["region"]["bins"][0]["model"]["iou"].get<double>(), 0.5);   // a: 1 of 2
  EXPECT_DOUBLE_EQ(j["region"]["bins"][1]["model"]["iou"].get<double>(), 2.0 / 3);  // b: 2 of 3
  EXPECT_FALSE(j["region"]["bins"][0].contains("otsu_vv_db"));
  // Two distinct values: the quintiles collapse to the slices the ties allow.
  int64_t total = 0;
  for (const auto& b : j["intensity"]["bins"]) total += b["pixels"].get<int64_t>();
  EXPECT_EQ(total, 8);
}

}  // namespace
}  // namespace drshym::eval

namespace drshym::eval {
namespace {

TEST(Slices, WaterTypeSeparatesPermanentFromFloodWater) {
  // 4 permanent-water pixels (3 detected), 6 flood pixels (2 detected), 10 dry (1 false alarm).
  std::vector<float> vv(20, -15.0f);
  std::vector<uint8_t> valid(20, 1), label(20, 0), type(20, 0), model(20, 0);
  for (int i = 0; i < 4; ++i) label[size_t(i)] = 1, type[size_t(i)] = 1, model[size_t(i)] = i < 3;
  for (int i = 4; i < 10; ++i) label[size_t(i)] = 1, type[size_t(i)] = 2, model[size_t(i)] = i < 6;
  model[15] = 1;
  SliceEvaluator s;
  s.add("etci", vv.data(), valid.data(), label.data(), model.data(), nullptr, 20, type.data());
  const auto j = s.to_json()["water_type"]["bins"];
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[0]["name"], "dry");
  EXPECT_DOUBLE_EQ(j[0]["false_alarm"].get<double>(), 0.1);
  EXPECT_EQ(j[1]["name"], "permanent water");
  EXPECT_DOUBLE_EQ(j[1]["model"]["recall"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(j[1]["model"]["iou"].get<double>(), 0.75);
  EXPECT_EQ(j[2]["name"], "flood water");
  EXPECT_DOUBLE_EQ(j[2]["model"]["recall"].get<double>(), 2.0 / 6);
  // Without types the family says so.
  SliceEvaluator none;
  none.add("x", vv.data(), valid.data(), label.data(), model.data(), nullptr, 20);
  EXPECT_TRUE(none.to_json()["water_type"].contains("unavailable"));
}

}  // namespace
}  // namespace drshym::eval
