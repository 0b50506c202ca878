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

namespace drshym::eval {
namespace {

TEST(Slices, SlopeBinsAreFixedAndUncoveredPixelsAreKept) {
  // 8 valid pixels: slopes 0.5, 2, 4, 7, 15, 45, then two NaN (outside the DEM); one invalid.
  const std::vector<float> vv(9, -15.0f), slope{0.5f, 2.0f, 4.0f, 7.0f, 15.0f, 45.0f, NAN, NAN, 3.0f};
  const std::vector<uint8_t> valid{1, 1, 1, 1, 1, 1, 1, 1, 0}, label{1, 1, 0, 0, 0, 0, 1, 0, 1},
      model{1, 0, 0, 1, 0, 0, 1, 0, 1};
  SliceEvaluator s;
  s.enable_slope("dem.tif");
  SliceEvaluator::AuxPixels aux;
  aux.slope_deg = slope.data();
  s.add("a", vv.data(), valid.data(), label.data(), model.data(), nullptr, 9, nullptr, aux);
  const auto j = s.to_json()["slope"];
  const auto& bins = j["bins"];
  ASSERT_EQ(bins.size(), SliceEvaluator::kSlopeEdgesDeg.size() + 1);
  const char* names[] = {"0-1 deg", "1-3 deg", "3-5 deg", "5-10 deg", "10-20 deg", ">=20 deg", "not covered"};
  for (size_t k = 0; k < bins.size(); ++k) EXPECT_EQ(bins[k]["name"], names[k]);
  for (size_t k = 0; k < 6; ++k) EXPECT_EQ(bins[k]["pixels"].get<int64_t>(), 1) << k;
  EXPECT_EQ(bins[0]["range_deg"], nlohmann::json({0.0, 1.0}));
  EXPECT_TRUE(bins[5]["range_deg"][1].is_null());
  EXPECT_EQ(bins[6]["pixels"].get<int64_t>(), 2);
  EXPECT_EQ(bins[6]["water_pixels"].get<int64_t>(), 1);
  EXPECT_EQ(bins[6]["model"]["confusion"]["tp"].get<int64_t>(), 1);
  EXPECT_EQ(bins[1]["model"]["confusion"]["fn"].get<int64_t>(), 1);  // 2 degrees: missed water
  EXPECT_EQ(bins[3]["model"]["confusion"]["fp"].get<int64_t>(), 1);  // 7 degrees: false alarm
  EXPECT_EQ(j["chips"]["scored"].get<int64_t>(), 1);
  // Without --dem the family is absent.
  SliceEvaluator none;
  none.add("a", vv.data(), valid.data(), label.data(), model.data(), nullptr, 9);
  EXPECT_FALSE(none.to_json().contains("slope"));
  EXPECT_FALSE(none.to_json().contains("landcover"));
}

TEST(Slices, ChipsWithoutAGridAreEntirelyNotCoveredAndSaidSo) {
  const std::vector<float> vv(4, -15.0f), slope(4, NAN);
  const std::vector<uint8_t> valid{1, 1, 1, 0}, label{1, 0, 0, 0}, model{1, 0, 1, 0};
  SliceEvaluator s;
  s.enable_slope("dem.tif");
  s.add("png", vv.data(), valid.data(), label.data(), model.data(), nullptr, 4);  // no grid: no values
  SliceEvaluator::AuxPixels outside;
  outside.slope_deg = slope.data();
  s.add("far", vv.data(), valid.data(), label.data(), model.data(), nullptr, 4, nullptr, outside);
  const auto j = s.to_json()["slope"];
  EXPECT_EQ(j["bins"].back()["name"], "not covered");
  EXPECT_EQ(j["bins"].back()["pixels"].get<int64_t>(), 6);
  EXPECT_EQ(j["chips"]["without_grid"].get<int64_t>(), 1);
  EXPECT_EQ(j["chips"]["without_overlap"].get<int64_t>(), 1);
  const std::string def = j["definition"];
  EXPECT_NE(def.find("1 of 2 chips have no known grid"), std::string::npos) << def;
  EXPECT_NE(def.find("do not overlap"), std::string::npos) << def;
}

TEST(Slices, LandCoverBinsPerClassNamedByWorldCoverOnlyWhenAllCodesAre) {
  const std::vector<float> vv(6, -15.0f), wc{10, 10, 80, 80, 80, NAN}, other{1, 1, 10, 10, 10, NAN};
  const std::vector<uint8_t> valid(6, 1), label{0, 0, 1, 1, 0, 1}, model{0, 1, 1, 0, 0, 1};
  SliceEvaluator s;
  s.enable_landcover("worldcover.tif");
  SliceEvaluator::AuxPixels aux;
  aux.landcover = wc.data();
  s.add("a", vv.data(), valid.data(), label.data(), model.data(), nullptr, 6, nullptr, aux);
  const auto bins = s.to_json()["landcover"]["bins"];
  ASSERT_EQ(bins.size(), 3u);
  EXPECT_EQ(bins[0]["name"], "10 tree cover");
  EXPECT_EQ(bins[0]["value"], 10);
  EXPECT_EQ(bins[0]["pixels"].get<int64_t>(), 2);
  EXPECT_EQ(bins[1]["name"], "80 permanent water bodies");
  EXPECT_EQ(bins[1]["pixels"].get<int64_t>(), 3);
  EXPECT_DOUBLE_EQ(bins[1]["model"]["recall"].get<double>(), 0.5);
  EXPECT_EQ(bins[2]["name"], "not covered");
  EXPECT_EQ(bins[2]["pixels"].get<int64_t>(), 1);
  // Values that are not all WorldCover codes: bins named by value only.
  SliceEvaluator t;
  t.enable_landcover("other.tif");
  aux.landcover = other.data();
  t.add("a", vv.data(), valid.data(), label.data(), model.data(), nullptr, 6, nullptr, aux);
  const auto tb = t.to_json()["landcover"]["bins"];
  ASSERT_EQ(tb.size(), 3u);
  EXPECT_EQ(tb[0]["name"], "1");
  EXPECT_EQ(tb[1]["name"], "10");
}

}  // namespace
}  // namespace drshym::eval
