#include <gtest/gtest.h>

#include <cmath>

#include "eval/metrics.hpp"

using namespace drshym;
using eval::Confusion;
using eval::MetricSet;

namespace {
constexpr double kEps = 1e-12;

// 8 pixels; the last two are invalid and would add one fp and one fn if counted.
const uint8_t kPred[8] = {1, 1, 0, 0, 1, 0, 1, 0};
const uint8_t kLabel[8] = {1, 0, 1, 0, 1, 0, 0, 1};
const uint8_t kValid[8] = {1, 1, 1, 1, 1, 1, 0, 0};
}  // namespace

TEST(Metrics, ConfusionSkipsInvalidPixels) {
  Confusion c = eval::confusion(kPred, kLabel, kValid, 8);
  EXPECT_EQ(c, (Confusion{2, 1, 1, 2}));
  EXPECT_EQ(c.valid(), 6);
  Confusion all = eval::confusion(kPred, kLabel, nullptr, 8);
  EXPECT_EQ(all, (Confusion{2, 2, 2, 2}));
}

TEST(Metrics, HandComputedMetricSet) {
  MetricSet m = MetricSet::from(Confusion{2, 1, 1, 2});
  EXPECT_NEAR(m.iou, 2.0 / 4.0, kEps);
  EXPECT_NEAR(m.f1, 4.0 / 6.0, kEps);
  EXPECT_NEAR(m.precision, 2.0 / 3.0, kEps);
  EXPECT_NEAR(m.recall, 2.0 / 3.0, kEps);
  EXPECT_NEAR(m.accuracy, 4.0 / 6.0, kEps);
  auto j = m.to_json();
  EXPECT_NEAR(j.at("iou").get<double>(), 0.5, kEps);
}

TEST(Metrics, ScoresWithThresholdMatchHardPredictions) {
  const float proba[8] = {0.9f, 0.6f, 0.4f, 0.1f, 0.5f, 0.49f, 0.99f, 0.0f};
  EXPECT_EQ(eval::confusion_from_scores(proba, 0.5f, kLabel, kValid, 8), (Confusion{2, 1, 1, 2}));
  // Float label / valid as tensors give them.
  float label_f[8], valid_f[8];
  for (int i = 0; i < 8; ++i) label_f[i] = kLabel[i], valid_f[i] = kValid[i];
  EXPECT_EQ(eval::confusion_from_scores(proba, 0.5f, label_f, valid_f, 8), (Confusion{2, 1, 1, 2}));
  // A NaN score counts as dry.
  const float nan_score[1] = {std::nanf("")};
  const uint8_t water[1] = {1};
  EXPECT_EQ(eval::confusion_from_scores(nan_score, 0.5f, water, nullptr, 1), (Confusion{0, 0, 1, 0}));
}

TEST(Metrics, ZeroDenominatorConventions) {
  MetricSet dry = MetricSet::from(Confusion{0, 0, 0, 10});  // empty union: perfect
  EXPECT_EQ(dry.iou, 1.0);
  EXPECT_EQ(dry.f1, 1.0);
  EXPECT_EQ(dry.precision, 1.0);
  EXPECT_EQ(dry.recall, 1.0);
  EXPECT_EQ(dry.accuracy, 1.0);
  MetricSet missed = MetricSet::from(Confusion{0, 0, 5, 5});  // water present, none predicted
  EXPECT_EQ(missed.iou, 0.0);
  EXPECT_EQ(missed.precision, 0.0);
  EXPECT_EQ(missed.recall, 0.0);
  MetricSet false_alarm = MetricSet::from(Confusion{0, 5, 0, 5});  // no water, some predicted
  EXPECT_EQ(false_alarm.recall, 0.0);
  EXPECT_EQ(false_alarm.precision, 0.0);
  MetricSet none = MetricSet::from(Confusion{});
  EXPECT_TRUE(std::isnan(none.iou));
  EXPECT_TRUE(std::isnan(none.accuracy));
  EXPECT_TRUE(none.to_json().at("iou").is_null());
}

TEST(Metrics, TotalAndMeanIouDiffer) {
  eval::SegmentationEvaluator ev;
  ev.add("big", Confusion{90, 10, 0, 900});   // IoU 0.9
  ev.add("small", Confusion{0, 0, 10, 90});   // IoU 0: all water missed
  ev.add("dry", Confusion{0, 0, 0, 100});     // empty union
  ev.add("nodata", Confusion{});              // nothing valid
  EXPECT_NEAR(ev.total_metrics().iou, 90.0 / 110.0, kEps);
  EXPECT_NEAR(ev.mean_iou(), (0.9 + 0.0) / 2.0, kEps);
  EXPECT_NEAR(ev.mean_iou_with_empty(), (0.9 + 0.0 + 1.0) / 3.0, kEps);
  EXPECT_NEAR(ev.mean_f1(), (180.0 / 190.0 + 0.0) / 2.0, kEps);
  EXPECT_EQ(ev.chip_count(), 4);
  EXPECT_EQ(ev.scored_chip_count(), 2);
  EXPECT_EQ(ev.empty_union_chip_count(), 1);
  EXPECT_EQ(ev.no_valid_chip_count(), 1);

  auto j = ev.to_json(true);
  EXPECT_NEAR(j.at("total_iou").get<double>(), 90.0 / 110.0, kEps);
  EXPECT_NEAR(j.at("mean_iou").get<double>(), 0.45, kEps);
  EXPECT_EQ(j.at("chips").at("empty_union").get<int>(), 1);
  EXPECT_EQ(j.at("total").at("confusion").at("tp").get<int>(), 90);
  ASSERT_EQ(j.at("per_chip").size(), 4u);
  EXPECT_EQ(j.at("per_chip")[0].at("id").get<std::string>(), "big");
  EXPECT_TRUE(j.at("per_chip")[3].at("iou").is_null());
  EXPECT_FALSE(ev.to_json().contains("per_chip"));
}

TEST(Metrics, EmptyEvaluatorReportsNulls) {
  eval::SegmentationEvaluator ev;
  auto j = ev.to_json();
  EXPECT_TRUE(j.at("mean_iou").is_null());
  EXPECT_TRUE(j.at("total_iou").is_null());
  ev.add(Confusion{1, 0, 0, 0});
  ev.clear();
  EXPECT_EQ(ev.chip_count(), 0);
  EXPECT_EQ(ev.total().valid(), 0);
}
