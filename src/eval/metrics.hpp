#pragma once
// Water-class segmentation metrics on plain arrays (no torch, no GDAL): confusion counts that
// skip invalid pixels, the metrics derived from them, and an evaluator that reports IoU both
// pooled over all pixels ("total") and averaged per chip ("mean") — they differ a lot.
//
//   eval::SegmentationEvaluator ev;
//   for (auto& chip : chips)
//     ev.add(chip.id, eval::confusion_from_scores(chip.proba, 0.5f, chip.label, chip.valid, n));
//   nlohmann::json report = ev.to_json();
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace drshym::eval {

// Pixel counts for the water class. Only valid pixels are counted.
struct Confusion {
  int64_t tp = 0;  // predicted water, labelled water
  int64_t fp = 0;  // predicted water, labelled dry
  int64_t fn = 0;  // predicted dry, labelled water
  int64_t tn = 0;  // predicted dry, labelled dry

  int64_t valid() const { return tp + fp + fn + tn; }
  int64_t union_count() const { return tp + fp + fn; }  // water in label or prediction
  Confusion& operator+=(const Confusion& o);
  bool operator==(const Confusion& o) const {
    return tp == o.tp && fp == o.fp && fn == o.fn && tn == o.tn;
  }
  nlohmann::json to_json() const;
};

// Counting conventions shared by every overload:
//   - label: 1 = water, 0 = dry (any non-zero counts as water);
//   - valid: non-zero = counted; nullptr = every pixel counted;
//   - prediction: non-zero = water; for scores, water where score >= threshold (a NaN score
//     is dry).
Confusion confusion(const uint8_t* pred, const uint8_t* label, const uint8_t* valid, size_t n);
// Probabilities (threshold in [0, 1]) or logits (threshold in logit space) alike.
Confusion confusion_from_scores(const float* score, float threshold, const uint8_t* label,
                                const uint8_t* valid, size_t n);
// Float labels as produced by tensors (target/valid 0.0/1.0; > 0.5 means set).
Confusion confusion_from_scores(const float* score, float threshold, const float* label,
                                const float* valid, size_t n);

// Metrics of the water class. Zero-denominator conventions (documented once, used everywhere):
//   - no valid pixel at all: every metric is NaN (to_json writes null) — no evidence;
//   - empty union (no water in label nor prediction): IoU = F1 = precision = recall = 1;
//   - nothing predicted but water present: precision = 0 (recall = 0 too);
//   - no water present but some predicted: recall = 0 (precision = 0 too).
struct MetricSet {
  double iou = 0;
  double f1 = 0;
  double precision = 0;
  double recall = 0;
  double accuracy = 0;

  static MetricSet from(const Confusion& c);
  nlohmann::json to_json() const;
};

// IoU of one confusion with the conventions above (NaN without valid pixels).
double water_iou(const Confusion& c);

struct ChipResult {
  std::string id;
  Confusion confusion;
};

// Accumulates per-chip confusions and reports pooled and per-chip metrics.
//
// Mean per-chip IoU needs a convention for chips where neither label nor prediction has water
// (empty union). Both variants are reported:
//   - mean_iou            : empty-union chips EXCLUDED (the headline; it does not reward
//                           trivially dry chips);
//   - mean_iou_with_empty : empty-union chips counted as IoU = 1.
// Chips without any valid pixel are kept in chips() but ignored by every mean.
class SegmentationEvaluator {
 public:
  void add(const std::string& chip_id, const Confusion& c);
  void add(const Confusion& c) { add("", c); }
  void clear();

  const Confusion& total() const { return total_; }
  MetricSet total_metrics() const { return MetricSet::from(total_); }
  // Mean per-chip IoU over chips with a non-empty union (NaN when there are none).
  double mean_iou() const;
  // Mean per-chip IoU counting empty-union chips as 1 (NaN when no chip has valid pixels).
  double mean_iou_with_empty() const;
  // Mean per-chip F1 over chips with a non-empty union (NaN when there are none).
  double mean_f1() const;

  int64_t chip_count() const { return int64_t(chips_.size()); }
  int64_t scored_chip_count() const;       // valid pixels and non-empty union
  int64_t empty_union_chip_count() const;  // valid pixels but no water anywhere
  int64_t no_valid_chip_count() const;     // nothing valid: ignored by the means
  int64_t dry_chip_count() const;          // valid pixels, no labelled water
  // False alarms on dry chips: share of their valid pixels predicted water (NaN without one).
  double dry_chip_false_alarm() const;
  const std::vector<ChipResult>& chips() const { return chips_; }

  // {"total": {confusion, metrics}, "mean_iou", "mean_iou_with_empty", "mean_f1",
  //  "chips": {...counts...}, "per_chip": [...] (only when per_chip is true)}.
  nlohmann::json to_json(bool per_chip = false) const;

 private:
  Confusion total_;
  std::vector<ChipResult> chips_;
};

}  // namespace drshym::eval
