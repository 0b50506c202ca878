#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.hpp"
#include "eval/calibration.hpp"

using namespace drshym;

namespace {

constexpr double kTemperatureRelTol = 0.05;  // 200k pixels pin T within a few percent
constexpr double kEceCalibrated = 0.01;
constexpr double kEps = 1e-9;

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double logit(double p) { return std::log(p / (1.0 - p)); }

// Labels drawn from sigmoid(true_logit); observed logits = true_logit * t0, so T = t0 undoes it.
void synth(double t0, size_t n, std::vector<float>& z, std::vector<uint8_t>& y, uint32_t seed = 42) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> logit_dist(0.0, 2.0);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  z.resize(n);
  y.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const double t = logit_dist(rng);
    y[i] = u(rng) < sigmoid(t);
    z[i] = float(t * t0);
  }
}

}  // namespace

TEST(Calibration, TemperatureFitRecoversKnownT) {
  for (double t0 : {0.5, 2.5}) {
    std::vector<float> z;
    std::vector<uint8_t> y;
    synth(t0, 200000, z, y);
    const double t = eval::fit_temperature(z.data(), y.data(), z.size());
    EXPECT_NEAR(t, t0, t0 * kTemperatureRelTol) << "t0=" << t0;
    EXPECT_LT(eval::binary_nll(z.data(), y.data(), z.size(), t),
              eval::binary_nll(z.data(), y.data(), z.size(), 1.0));
  }
}

TEST(Calibration, CalibrateImprovesNllAndEce) {
  std::vector<float> z;
  std::vector<uint8_t> y;
  synth(3.0, 200000, z, y, 3);
  eval::PixelSample sample(50000);
  sample.add(z.data(), y.data(), nullptr, z.size());
  EXPECT_EQ(sample.size(), 50000u);
  EXPECT_EQ(sample.seen(), 200000);
  eval::CalibrationResult cal = eval::calibrate(sample);
  EXPECT_NEAR(cal.temperature, 3.0, 3.0 * 2 * kTemperatureRelTol);
  EXPECT_LT(cal.nll_after, cal.nll_before);
  EXPECT_LT(cal.after.ece, cal.before.ece);
  EXPECT_LT(cal.after.ece, kEceCalibrated * 2);
  ASSERT_EQ(cal.after.bins.size(), 15u);
  int64_t total = 0;
  for (const auto& b : cal.after.bins) total += b.count;
  EXPECT_EQ(total, 50000);

  auto j = cal.to_json();
  for (const char* key : {"temperature", "nll_before", "nll_after", "ece_before", "ece_after", "threshold",
                          "reliability_before", "reliability_after", "pixels_used", "pixels_seen", "params"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j.at("reliability_after").at("bins").size(), 15u);
  auto th = cal.thresholds_json();
  EXPECT_NEAR(th.at("temperature").get<double>(), cal.temperature, kEps);
  EXPECT_EQ(th.at("metric").get<std::string>(), "f1");
}

TEST(Calibration, ReliabilityOfCalibratedDataHasSmallEce) {
  std::vector<float> z;
  std::vector<uint8_t> y;
  synth(1.0, 200000, z, y, 11);
  eval::Reliability r = eval::reliability(z.data(), y.data(), z.size(), 1.0, 15);
  EXPECT_LT(r.ece, kEceCalibrated);
  for (const auto& b : r.bins)
    if (b.count > 1000) {
      EXPECT_GE(b.confidence, b.lo);
      EXPECT_LE(b.confidence, b.hi);
    }
  // Over-confident logits: ECE clearly worse.
  EXPECT_GT(eval::reliability(z.data(), y.data(), z.size(), 0.3, 15).ece, 5 * kEceCalibrated);
}

TEST(Calibration, ThresholdChoiceFindsTheSeparatingValue) {
  // Positives at p in [0.62, 0.9], negatives at p in [0.05, 0.58]: only grid 0.6 separates them.
  std::vector<float> z;
  std::vector<uint8_t> y;
  for (int i = 0; i <= 28; ++i) z.push_back(float(logit(0.62 + 0.01 * i))), y.push_back(1);
  for (int i = 0; i <= 53; ++i) z.push_back(float(logit(0.05 + 0.01 * i))), y.push_back(0);
  eval::ThresholdChoice tc = eval::choose_threshold(z.data(), y.data(), z.size(), 1.0);
  EXPECT_NEAR(tc.threshold, 0.6, kEps);
  EXPECT_NEAR(tc.score, 1.0, kEps);
  EXPECT_EQ(tc.grid.size(), 19u);
  EXPECT_NEAR(tc.grid.front(), 0.05, kEps);
  EXPECT_NEAR(tc.grid.back(), 0.95, kEps);

  // The same choice on logits scaled by T when the temperature undoes the scaling.
  std::vector<float> z2(z);
  for (auto& v : z2) v *= 2.0f;
  eval::CalibrationParams iou;
  iou.threshold_metric = eval::ThresholdMetric::IoU;
  eval::ThresholdChoice tc2 = eval::choose_threshold(z2.data(), y.data(), z2.size(), 2.0, iou);
  EXPECT_NEAR(tc2.threshold, 0.6, kEps);
  EXPECT_EQ(tc2.metric, eval::ThresholdMetric::IoU);
  EXPECT_EQ(tc2.to_json().at("curve").size(), 19u);
}

TEST(Calibration, ThresholdTiesGoToTheValueNearestHalf) {
  // Perfect separation between 0.3 and 0.75: grid 0.35 .. 0.75 all score F1 = 1.
  std::vector<float> z = {float(logit(0.8)), float(logit(0.9)), float(logit(0.2)), float(logit(0.3))};
  std::vector<uint8_t> y = {1, 1, 0, 0};
  EXPECT_NEAR(eval::choose_threshold(z.data(), y.data(), z.size(), 1.0).threshold, 0.5, kEps);
}

TEST(Calibration, PixelSampleIsBoundedUniformAndDeterministic) {
  const size_t n = 100000;
  std::vector<float> z(n);
  std::vector<uint8_t> y(n), valid(n);
  for (size_t i = 0; i < n; ++i) {
    z[i] = float(i);
    y[i] = i < n * 3 / 10;  // the first 30% are water
    valid[i] = i % 10 != 9;  // 10% invalid
  }
  eval::PixelSample a(5000, 123), b(5000, 123);
  // Feed in chunks, as chips would arrive.
  for (size_t off = 0; off < n; off += 4096) {
    const size_t len = std::min<size_t>(4096, n - off);
    a.add(z.data() + off, y.data() + off, valid.data() + off, len);
    b.add(z.data() + off, y.data() + off, valid.data() + off, len);
  }
  EXPECT_EQ(a.size(), 5000u);
  EXPECT_EQ(a.seen(), 90000);
  EXPECT_EQ(a.logits(), b.logits());
  double water = 0, mean = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    water += a.labels()[i];
    mean += a.logits()[i];
    EXPECT_NE(int64_t(a.logits()[i]) % 10, 9);  // never an invalid pixel
  }
  EXPECT_NEAR(water / 5000.0, 0.3, 0.03);
  EXPECT_NEAR(mean / 5000.0, n / 2.0, n * 0.02);
  eval::PixelSample c(5000, 999);
  c.add(z.data(), y.data(), valid.data(), n);
  EXPECT_NE(a.logits(), c.logits());
}

TEST(Calibration, ParamsRoundTripAndValidation) {
  eval::CalibrationParams p;
  p.threshold_metric = eval::ThresholdMetric::IoU;
  p.reliability_bins = 10;
  auto back = eval::CalibrationParams::from_json(p.to_json());
  EXPECT_EQ(back.threshold_metric, eval::ThresholdMetric::IoU);
  EXPECT_EQ(back.reliability_bins, 10);
  EXPECT_THROW(eval::CalibrationParams::from_json({{"t_mni", 0.1}}), Error);
  EXPECT_THROW(eval::CalibrationParams::from_json({{"threshold_metric", "auc"}}), Error);
  EXPECT_THROW(eval::CalibrationParams::from_json({{"t_min", -1.0}}), Error);
  EXPECT_THROW(eval::parse_threshold_metric("dice"), Error);
  EXPECT_EQ(eval::parse_threshold_metric("IoU"), eval::ThresholdMetric::IoU);
  eval::PixelSample empty;
  try {
    eval::calibrate(empty);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
  }
}

TEST(Calibration, RecallAtPrecisionTakesTheLowestThresholdMeetingTheFloor) {
  // Three dry pixels below 0.15, seven water pixels from 0.22 up and one dry pixel at 0.72.
  // Precision rises with the threshold; the objective picks the lowest threshold (highest
  // recall) whose precision reaches the floor.
  std::vector<float> z;
  std::vector<uint8_t> y;
  auto add = [&](double p, int label) {
    z.push_back(float(std::log(p / (1 - p))));
    y.push_back(uint8_t(label));
  };
  for (double p : {0.08, 0.11, 0.13}) add(p, 0);  // off the 0.05-step grid on purpose
  add(0.22, 1);
  for (double p : {0.32, 0.42, 0.52, 0.62, 0.82, 0.92}) add(p, 1);
  add(0.72, 0);
  eval::CalibrationParams cp;
  cp.set_objective("recall@precision>=0.85");
  EXPECT_EQ(cp.objective(), "recall@precision>=0.85");
  auto tc = eval::choose_threshold(z.data(), y.data(), z.size(), 1.0, cp);
  // 0.05: 7/11; 0.10: 7/10; 0.15: 7/8 = 0.875 with recall 7/7, the lowest grid value reaching it.
  EXPECT_NEAR(tc.threshold, 0.15, 1e-9);
  EXPECT_NEAR(tc.score, 1.0, 1e-9);
  cp.set_objective("recall@precision>=0.99");  // only reachable above the dry pixel at 0.72
  tc = eval::choose_threshold(z.data(), y.data(), z.size(), 1.0, cp);
  EXPECT_NEAR(tc.threshold, 0.75, 1e-9);
  EXPECT_NEAR(tc.score, 2.0 / 7.0, 1e-9);
  // A floor no threshold reaches is an error saying what the best was, not a silent choice.
  std::vector<uint8_t> noisy(y.size(), 0);
  noisy[0] = 1;  // the only water pixel has the lowest probability
  cp.set_objective("recall@precision>=0.9");
  try {
    eval::choose_threshold(z.data(), noisy.data(), z.size(), 1.0, cp);
    ADD_FAILURE() << "an unreachable precision floor was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("precision 0.9"), std::string::npos) << e.what();
  }
  for (const char* bad : {"recall@precision>=1.5", "recall@precision>=", "precision", "f2"})
    EXPECT_THROW(cp.set_objective(bad), Error) << bad;
}

TEST(Calibration, FixedObjectiveKeepsTheThresholdAndScoresIt) {
  // Water at p = 0.3, 0.6, 0.9; dry at 0.1, 0.55. F1 would pick 0.3 or below; fixed=0.5 keeps
  // 0.5: predicted water {0.55, 0.6, 0.9}, tp 2, fp 1, fn 1, F1 = 4 / 6.
  std::vector<float> z;
  std::vector<uint8_t> y;
  for (auto [p, label] : {std::pair{0.3, 1}, {0.6, 1}, {0.9, 1}, {0.1, 0}, {0.55, 0}}) {
    z.push_back(float(std::log(p / (1 - p))));
    y.push_back(uint8_t(label));
  }
  eval::CalibrationParams cp;
  cp.set_objective("fixed=0.5");
  EXPECT_EQ(cp.objective(), "fixed=0.5");
  auto tc = eval::choose_threshold(z.data(), y.data(), z.size(), 1.0, cp);
  EXPECT_EQ(tc.threshold, 0.5);
  EXPECT_NEAR(tc.score, 4.0 / 6.0, 1e-9);
  EXPECT_EQ(tc.f1.size(), tc.grid.size());  // the curve is still there to read
  cp.set_objective("f1");
  EXPECT_LT(eval::choose_threshold(z.data(), y.data(), z.size(), 1.0, cp).threshold, 0.35);
  for (const char* bad : {"fixed=1", "fixed=0", "fixed=", "fixed=abc"}) EXPECT_THROW(cp.set_objective(bad), Error) << bad;
}

TEST(Calibration, BrierScoreHandComputed) {
  const float z[] = {0.0f, 0.0f, float(std::log(3.0))};  // p = 0.5, 0.5, 0.75
  const uint8_t y[] = {1, 0, 1};
  // ((0.5-1)^2 + 0.5^2 + 0.25^2) / 3 = (0.25 + 0.25 + 0.0625) / 3
  EXPECT_NEAR(eval::brier_score(z, y, 3, 1.0), 0.5625 / 3, 1e-9);
  EXPECT_TRUE(std::isnan(eval::brier_score(z, y, 0, 1.0)));
}
