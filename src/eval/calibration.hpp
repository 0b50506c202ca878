#pragma once
// Probability calibration of the water logit: a temperature T (p = sigmoid(logit / T)) fitted
// by minimum binary NLL, the decision threshold on the calibrated probability that maximizes
// F1 or IoU, and reliability diagrams with ECE before and after. Works on a bounded,
// deterministic reservoir sample of valid pixels so memory does not grow with the data set.
//
//   eval::PixelSample sample;                       // at most 2M pixels kept
//   for (auto& chip : val) sample.add(chip.logits, chip.label, chip.valid, n);
//   eval::CalibrationResult cal = eval::calibrate(sample);
//   core::write_json_file(dir + "/thresholds.json", cal.thresholds_json());
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace drshym::eval {

// What the decision threshold optimizes: F1 or IoU of water, or (for users who fear missed
// floods more than false alarms) the highest recall whose precision is at least a floor; or
// Fixed: a threshold given up front (e.g. 0.5, the fewest expected errors on calibrated
// probabilities), so calibration fits only the temperature and the data chooses no threshold.
enum class ThresholdMetric { F1, IoU, RecallAtPrecision, Fixed };
const char* to_string(ThresholdMetric m);
// "f1" | "iou" (case-insensitive); anything else throws Usage naming it.
ThresholdMetric parse_threshold_metric(const std::string& s);

struct CalibrationParams {
  double t_min = 0.05;           // temperature search range (golden section on log T)
  double t_max = 20.0;
  double t_tolerance = 1e-4;     // stop when the log T bracket is narrower than this
  ThresholdMetric threshold_metric = ThresholdMetric::F1;
  double threshold_min = 0.05;   // threshold grid on the calibrated probability
  double threshold_max = 0.95;
  double threshold_step = 0.05;
  int reliability_bins = 15;
  double min_precision = 0;      // RecallAtPrecision: the precision floor, in (0, 1)
  double fixed_threshold = 0.5;  // Fixed: the threshold, in (0, 1)

  static CalibrationParams default_params() { return {}; }
  // Keys as in to_json(); absent keys keep defaults; bad values throw InvalidInput.
  static CalibrationParams from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  void validate() const;  // throws InvalidInput naming the bad field
  // The objective as users write it: "f1", "iou", "recall@precision>=0.8" or "fixed=0.5".
  std::string objective() const;
  // Sets threshold_metric (and min_precision) from such a string; throws Usage naming it.
  void set_objective(const std::string& objective);
};

// A uniform sample without replacement of (logit, label) over valid pixels, kept to at most
// `capacity` pixels (reservoir sampling, algorithm L). With the same seed and the same input
// order the sample is identical run to run.
class PixelSample {
 public:
  explicit PixelSample(size_t capacity = 2'000'000, uint64_t seed = 0x5eedULL);
  // label non-zero = water; valid non-zero = use (nullptr = all); non-finite logits skipped.
  void add(const float* logits, const uint8_t* label, const uint8_t* valid, size_t n);
  // Float label / valid as tensors give them (> 0.5 means set).
  void add(const float* logits, const float* label, const float* valid, size_t n);

  size_t size() const { return logits_.size(); }
  size_t capacity() const { return capacity_; }
  int64_t seen() const { return seen_; }  // valid pixels offered so far
  const std::vector<float>& logits() const { return logits_; }
  const std::vector<uint8_t>& labels() const { return labels_; }

 private:
  void offer(float logit, uint8_t label);
  double uniform01();  // in (0, 1), platform-independent
  size_t capacity_;
  std::mt19937_64 rng_;
  std::vector<float> logits_;
  std::vector<uint8_t> labels_;
  int64_t seen_ = 0;
  int64_t next_ = 0;   // index (in offer order) of the next pixel to take once full
  double w_ = 0;
};

// Mean binary cross-entropy of sigmoid(logit / T) against labels (0/1), stable log-sigmoid form.
double binary_nll(const float* logits, const uint8_t* labels, size_t n, double temperature);
// Brier score: mean (sigmoid(logit / T) - label)^2; 0 is perfect, 0.25 a coin flip.
double brier_score(const float* logits, const uint8_t* labels, size_t n, double temperature);

// T in [t_min, t_max] minimizing binary_nll. Throws InvalidInput when n == 0.
double fit_temperature(const float* logits, const uint8_t* labels, size_t n,
                       const CalibrationParams& params = {});

struct ThresholdChoice {
  ThresholdMetric metric = ThresholdMetric::F1;
  double threshold = 0.5;     // on calibrated probability; water where p >= threshold
  double score = 0;           // metric at that threshold
  std::vector<double> grid;   // every threshold tried
  std::vector<double> f1;     // F1 per grid value
  std::vector<double> iou;    // IoU per grid value
  std::vector<double> precision, recall;  // per grid value (precision NaN when nothing is water)
  double min_precision = 0;   // RecallAtPrecision: the floor that was asked for
  nlohmann::json to_json() const;
};

// Best grid threshold for sigmoid(logit / T); ties go to the threshold nearest 0.5. For
// RecallAtPrecision: the lowest grid threshold (highest recall) whose precision reaches
// params.min_precision; throws InvalidInput with the best precision found when none does.
// For Fixed: params.fixed_threshold, scored by its F1 (the curve is filled as for the others).
ThresholdChoice choose_threshold(const float* logits, const uint8_t* labels, size_t n,
                                 double temperature, const CalibrationParams& params = {});

// Positive-class reliability diagram over equal-width bins of the predicted water probability
// p = sigmoid(logit / T): per bin, `confidence` is the mean p and `accuracy` the observed
// fraction of water. ECE = sum over bins of count/N * |accuracy - confidence|.
struct ReliabilityBin {
  double lo = 0, hi = 0;
  double confidence = 0;  // NaN for an empty bin
  double accuracy = 0;    // NaN for an empty bin
  int64_t count = 0;
};

struct Reliability {
  std::vector<ReliabilityBin> bins;
  double ece = 0;
  int64_t count = 0;
  nlohmann::json to_json() const;
};

Reliability reliability(const float* logits, const uint8_t* labels, size_t n, double temperature,
                        int bins = 15);

struct CalibrationResult {
  double temperature = 1.0;
  double nll_before = 0;      // at T = 1
  double nll_after = 0;       // at the fitted T
  double brier_before = 0;    // at T = 1
  double brier_after = 0;     // at the fitted T
  ThresholdChoice threshold;
  Reliability before;         // at T = 1
  Reliability after;          // at the fitted T
  int64_t pixels_used = 0;
  int64_t pixels_seen = 0;
  CalibrationParams params;

  nlohmann::json to_json() const;
  // The small file inference reads: {"temperature", "threshold", "metric", "score"}.
  nlohmann::json thresholds_json() const;
};

// Fit T, choose the threshold and build both reliability diagrams on the sample.
// Throws InvalidInput when the sample is empty.
CalibrationResult calibrate(const PixelSample& sample, const CalibrationParams& params = {});

}  // namespace drshym::eval
