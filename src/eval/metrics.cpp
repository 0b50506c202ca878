#include "eval/metrics.hpp"

#include <cmath>
#include <limits>

namespace drshym::eval {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// JSON number, or null for NaN / infinity (JSON has no NaN).
nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

// Ratio with the zero-denominator rule of MetricSet: 1 when nothing went wrong, else 0.
double ratio(int64_t num_, int64_t den, bool no_errors) {
  if (den == 0) return no_errors ? 1.0 : 0.0;
  return double(num_) / double(den);
}

template <typename Pred, typename Label, typename Valid>
Confusion count(size_t n, Pred&& pred, Label&& label, Valid&& valid) {
  Confusion c;
  for (size_t i = 0; i < n; ++i) {
    if (!valid(i)) continue;
    const bool p = pred(i);
    const bool l = label(i);
    c.tp += p && l;
    c.fp += p && !l;
    c.fn += !p && l;
    c.tn += !p && !l;
  }
  return c;
}

}  // namespace

Confusion& Confusion::operator+=(const Confusion& o) {
  tp += o.tp;
  fp += o.fp;
  fn += o.fn;
  tn += o.tn;
  return *this;
}

nlohmann::json Confusion::to_json() const {
  return {{"tp", tp}, {"fp", fp}, {"fn", fn}, {"tn", tn}, {"valid", valid()}};
}

Confusion confusion(const uint8_t* pred, const uint8_t* label, const uint8_t* valid, size_t n) {
  return count(
      n, [&](size_t i) { return pred[i] != 0; }, [&](size_t i) { return label[i] != 0; },
      [&](size_t i) { return valid == nullptr || valid[i] != 0; });
}

Confusion confusion_from_scores(const float* score, float threshold, const uint8_t* label,
                                const uint8_t* valid, size_t n) {
  // "!(score < threshold)" would call NaN water; spell the comparison so NaN is dry.
  return count(
      n, [&](size_t i) { return score[i] >= threshold; }, [&](size_t i) { return label[i] != 0; },
      [&](size_t i) { return valid == nullptr || valid[i] != 0; });
}

Confusion confusion_from_scores(const float* score, float threshold, const float* label,
                                const float* valid, size_t n) {
  return count(
      n, [&](size_t i) { return score[i] >= threshold; }, [&](size_t i) { return label[i] > 0.5f; },
      [&](size_t i) { return valid == nullptr || valid[i] > 0.5f; });
}

double water_iou(const Confusion& c) {
  if (c.valid() == 0) return kNaN;
  return ratio(c.tp, c.union_count(), c.union_count() == 0);
}

MetricSet MetricSet::from(const Confusion& c) {
  MetricSet m;
  if (c.valid() == 0) {
    m.iou = m.f1 = m.precision = m.recall = m.accuracy = kNaN;
    return m;
  }
  const bool empty_union = c.union_count() == 0;
  m.iou = ratio(c.tp, c.union_count(), empty_union);
  m.f1 = ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn, empty_union);
  m.precision = ratio(c.tp, c.tp + c.fp, c.fn == 0);
  m.recall = ratio(c.tp, c.tp + c.fn, c.fp == 0);
  m.accuracy = double(c.tp + c.tn) / double(c.valid());
  return m;
}

nlohmann::json MetricSet::to_json() const {
  return {{"iou", num(iou)},
          {"f1", num(f1)},
          {"precision", num(precision)},
          {"recall", num(recall)},
          {"accuracy", num(accuracy)}};
}

void SegmentationEvaluator::add(const std::string& chip_id, const Confusion& c) {
  total_ += c;
  chips_.push_back({chip_id, c});
}

void SegmentationEvaluator::clear() {
  total_ = {};
  chips_.clear();
}

double SegmentationEvaluator::mean_iou() const {
  double sum = 0;
  int64_t k = 0;
  for (const auto& ch : chips_) {
    if (ch.confusion.valid() == 0 || ch.confusion.union_count() == 0) continue;
    sum += water_iou(ch.confusion);
    ++k;
  }
  return k ? sum / double(k) : kNaN;
}

double SegmentationEvaluator::mean_iou_with_empty() const {
  double sum = 0;
  int64_t k = 0;
  for (const auto& ch : chips_) {
    if (ch.confusion.valid() == 0) continue;
    sum += water_iou(ch.confusion);  // 1 for an empty union
    ++k;
  }
  return k ? sum / double(k) : kNaN;
}

double SegmentationEvaluator::mean_f1() const {
  double sum = 0;
  int64_t k = 0;
  for (const auto& ch : chips_) {
    if (ch.confusion.valid() == 0 || ch.confusion.union_count() == 0) continue;
    sum += MetricSet::from(ch.confusion).f1;
    ++k;
  }
  return k ? sum / double(k) : kNaN;
}

int64_t SegmentationEvaluator::scored_chip_count() const {
  int64_t k = 0;
  for (const auto& ch : chips_) k += ch.confusion.valid() > 0 && ch.confusion.union_count() > 0;
  return k;
}

int64_t SegmentationEvaluator::empty_union_chip_count() const {
  int64_t k = 0;
  for (const auto& ch : chips_) k += ch.confusion.valid() > 0 && ch.confusion.union_count() == 0;
  return k;
}

int64_t SegmentationEvaluator::no_valid_chip_count() const {
  int64_t k = 0;
  for (const auto& ch : chips_) k += ch.confusion.valid() == 0;
  return k;
}

int64_t SegmentationEvaluator::dry_chip_count() const {
  int64_t n = 0;
  for (const auto& ch : chips_) n += (ch.confusion.valid() > 0 && ch.confusion.tp + ch.confusion.fn == 0) ? 1 : 0;
  return n;
}

double SegmentationEvaluator::dry_chip_false_alarm() const {
  int64_t fp = 0, valid = 0;
  for (const auto& ch : chips_)
    if (ch.confusion.valid() > 0 && ch.confusion.tp + ch.confusion.fn == 0) {
      fp += ch.confusion.fp;
      valid += ch.confusion.valid();
    }
  return valid ? double(fp) / double(valid) : std::nan("");
}

nlohmann::json SegmentationEvaluator::to_json(bool per_chip) const {
  nlohmann::json j;
  j["total"] = {{"confusion", total_.to_json()}, {"metrics", total_metrics().to_json()}};
  j["total_iou"] = num(total_metrics().iou);
  j["mean_iou"] = num(mean_iou());
  j["mean_iou_with_empty"] = num(mean_iou_with_empty());
  j["mean_f1"] = num(mean_f1());
  j["dry_chip_false_alarm"] = num(dry_chip_false_alarm());
  j["chips"] = {{"count", chip_count()},
                {"dry", dry_chip_count()},
                {"scored", scored_chip_count()},
                {"empty_union", empty_union_chip_count()},
                {"no_valid", no_valid_chip_count()}};
  j["mean_iou_convention"] =
      "mean_iou excludes chips with no water in label or prediction; mean_iou_with_empty counts "
      "them as IoU 1; chips without valid pixels are ignored by both";
  if (per_chip) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& ch : chips_) {
      MetricSet m = MetricSet::from(ch.confusion);
      arr.push_back({{"id", ch.id},
                     {"confusion", ch.confusion.to_json()},
                     {"iou", num(m.iou)},
                     {"f1", num(m.f1)}});
    }
    j["per_chip"] = std::move(arr);
  }
  return j;
}

}  // namespace drshym::eval
