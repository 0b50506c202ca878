#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.hpp"
#include "eval/otsu.hpp"

using namespace drshym;

namespace {
constexpr double kValleyTol = 0.5;  // dB: one bin is 16/256 = 0.0625 dB in the clean case
}

TEST(Otsu, CleanBimodalThresholdSitsMidValley) {
  // Water in [-22, -18] dB, land in [-10, -6] dB: every split in the empty valley ties.
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> water(-22.f, -18.f), land(-10.f, -6.f);
  std::vector<float> v;
  std::vector<uint8_t> truth;
  for (int i = 0; i < 3000; ++i) v.push_back(water(rng)), truth.push_back(1);
  for (int i = 0; i < 7000; ++i) v.push_back(land(rng)), truth.push_back(0);
  eval::OtsuResult r = eval::otsu_threshold(v.data(), nullptr, v.size());
  ASSERT_TRUE(r.found);
  EXPECT_NEAR(r.threshold, -14.0, kValleyTol);
  EXPECT_GT(r.separability, 0.9);
  EXPECT_EQ(r.count, 10000);
  auto mask = eval::otsu_water_mask(v.data(), nullptr, v.size());
  EXPECT_EQ(mask, truth);
}

TEST(Otsu, NoisyBimodalFindsTheValleyAndIgnoresInvalid) {
  std::mt19937 rng(7);
  std::normal_distribution<float> water(-20.f, 1.5f), land(-8.f, 1.5f);
  std::vector<float> v;
  std::vector<uint8_t> valid, truth;
  for (int i = 0; i < 4000; ++i) v.push_back(water(rng)), valid.push_back(1), truth.push_back(1);
  for (int i = 0; i < 12000; ++i) v.push_back(land(rng)), valid.push_back(1), truth.push_back(0);
  // Invalid pixels with extreme values and NaN must not move the threshold.
  for (int i = 0; i < 500; ++i) v.push_back(60.f), valid.push_back(0), truth.push_back(0);
  v.push_back(std::nanf("")), valid.push_back(1), truth.push_back(0);
  eval::OtsuResult r;
  auto mask = eval::otsu_water_mask(v.data(), valid.data(), v.size(), {}, &r);
  ASSERT_TRUE(r.found);
  EXPECT_EQ(r.count, 16000);
  EXPECT_GT(r.threshold, -16.0);
  EXPECT_LT(r.threshold, -12.0);
  size_t agree = 0;
  for (size_t i = 0; i < v.size(); ++i) agree += mask[i] == truth[i];
  EXPECT_GT(double(agree) / double(v.size()), 0.99);
  for (size_t i = 16000; i < v.size(); ++i) EXPECT_EQ(mask[i], 0) << i;
}

TEST(Otsu, DegenerateInputsFindNothing) {
  std::vector<float> flat(100, -12.f);
  eval::OtsuResult r;
  auto mask = eval::otsu_water_mask(flat.data(), nullptr, flat.size(), {}, &r);
  EXPECT_FALSE(r.found);
  EXPECT_TRUE(std::isnan(r.threshold));
  for (auto m : mask) EXPECT_EQ(m, 0);
  EXPECT_FALSE(eval::otsu_threshold(flat.data(), nullptr, 0).found);
  EXPECT_TRUE(eval::otsu_threshold(flat.data(), nullptr, 1).to_json().at("threshold").is_null());
  EXPECT_THROW(eval::otsu_threshold(flat.data(), nullptr, flat.size(), {1}), Error);
}
