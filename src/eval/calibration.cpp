#include "eval/calibration.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>

#include "core/config.hpp"
#include "core/error.hpp"

namespace drshym::eval {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

double sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

// -log sigmoid(x) for y = 1, -log(1 - sigmoid(x)) for y = 0, without overflow.
double bce_with_logit(double x, bool y) {
  const double softplus = std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x)));
  return softplus - (y ? x : 0.0);
}

std::vector<double> threshold_grid(const CalibrationParams& p) {
  std::vector<double> g;
  const int steps = int(std::floor((p.threshold_max - p.threshold_min) / p.threshold_step + 1e-9));
  for (int i = 0; i <= steps; ++i) {
    // Round to 1e-9 so 0.15 prints as 0.15, not 0.15000000000000002.
    g.push_back(std::round((p.threshold_min + i * p.threshold_step) * 1e9) / 1e9);
  }
  return g;
}

void require(bool ok, const std::string& what) {
  if (!ok) throw Error(ErrorKind::InvalidInput, "eval", "calibration: " + what);
}

}  // namespace

const char* to_string(ThresholdMetric m) {
  switch (m) {
    case ThresholdMetric::IoU: return "iou";
    case ThresholdMetric::RecallAtPrecision: return "recall@precision";
    case ThresholdMetric::Fixed: return "fixed";
    default: return "f1";
  }
}

ThresholdMetric parse_threshold_metric(const std::string& s) {
  std::string l(s);
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (l == "f1") return ThresholdMetric::F1;
  if (l == "iou") return ThresholdMetric::IoU;
  throw Error(ErrorKind::Usage, "eval", "unknown threshold metric '" + s + "' (expected f1 or iou)");
}

// ---------------------------------------------------------------------------------------------
// Parameters

void CalibrationParams::validate() const {
  require(t_min > 0 && t_max > t_min, "temperature range must satisfy 0 < t_min < t_max");
  require(t_tolerance > 0, "t_tolerance must be > 0");
  require(threshold_min > 0 && threshold_max < 1 && threshold_min <= threshold_max,
          "threshold range must satisfy 0 < threshold_min <= threshold_max < 1");
  require(threshold_step > 0, "threshold_step must be > 0");
  require(reliability_bins >= 1 && reliability_bins <= 1000, "reliability_bins must be in [1, 1000]");
  if (threshold_metric == ThresholdMetric::RecallAtPrecision)
    require(min_precision > 0 && min_precision < 1, "recall@precision needs a precision floor in (0, 1)");
  if (threshold_metric == ThresholdMetric::Fixed)
    require(fixed_threshold > 0 && fixed_threshold < 1, "a fixed threshold must be in (0, 1)");
}

std::string CalibrationParams::objective() const {
  char buf[48];
  if (threshold_metric == ThresholdMetric::RecallAtPrecision)
    std::snprintf(buf, sizeof buf, "recall@precision>=%g", min_precision);
  else if (threshold_metric == ThresholdMetric::Fixed)
    std::snprintf(buf, sizeof buf, "fixed=%g", fixed_threshold);
  else
    return to_string(threshold_metric);
  return buf;
}

void CalibrationParams::set_objective(const std::string& objective) {
  std::string l(objective);
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  l.erase(std::remove(l.begin(), l.end(), ' '), l.end());
  // "<prefix><number in (0, 1)>": the number, or nullopt when l does not start with prefix.
  auto number_after = [&](const std::string& prefix, const char* example) -> std::optional<double> {
    if (l.rfind(prefix, 0) != 0) return std::nullopt;
    char* end = nullptr;
    const std::string number = l.substr(prefix.size());
    const double p = std::strtod(number.c_str(), &end);
    if (number.empty() || *end != '\0' || !(p > 0 && p < 1))
      throw Error(ErrorKind::Usage, "eval",
                  "objective '" + objective + "': the number must be in (0, 1), e.g. " + example);
    return p;
  };
  if (const auto p = number_after("recall@precision>=", "recall@precision>=0.8")) {
    threshold_metric = ThresholdMetric::RecallAtPrecision;
    min_precision = *p;
    return;
  }
  if (const auto p = number_after("fixed=", "fixed=0.5")) {
    threshold_metric = ThresholdMetric::Fixed;
    fixed_threshold = *p;
    return;
  }
  try {
    threshold_metric = parse_threshold_metric(l);
  } catch (const Error&) {
    throw Error(ErrorKind::Usage, "eval",
                "unknown objective '" + objective +
                    "' (expected f1, iou, recall@precision>=P or fixed=T with P, T in (0, 1))");
  }
}

CalibrationParams CalibrationParams::from_json(const nlohmann::json& j) {
  CalibrationParams p;
  if (j.is_null()) return p;
  require(j.is_object(), "parameters must be an object");
  static const char* kKeys[] = {"t_min", "t_max", "t_tolerance", "threshold_metric", "threshold_min",
                                "threshold_max", "threshold_step", "reliability_bins"};
  for (auto it = j.begin(); it != j.end(); ++it)
    require(std::find_if(std::begin(kKeys), std::end(kKeys), [&](const char* k) { return it.key() == k; }) !=
                std::end(kKeys),
            "unknown key '" + it.key() + "'");
  const std::string origin = "calibration";
  p.t_min = core::get_or<double>(j, "t_min", p.t_min, origin);
  p.t_max = core::get_or<double>(j, "t_max", p.t_max, origin);
  p.t_tolerance = core::get_or<double>(j, "t_tolerance", p.t_tolerance, origin);
  p.threshold_min = core::get_or<double>(j, "threshold_min", p.threshold_min, origin);
  p.threshold_max = core::get_or<double>(j, "threshold_max", p.threshold_max, origin);
  p.threshold_step = core::get_or<double>(j, "threshold_step", p.threshold_step, origin);
  p.reliability_bins = core::get_or<int>(j, "reliability_bins", p.reliability_bins, origin);
  const std::string metric = core::get_or<std::string>(j, "threshold_metric", to_string(p.threshold_metric), origin);
  try {
    p.set_objective(metric);
  } catch (const Error& e) {
    throw Error(ErrorKind::InvalidInput, "eval", std::string("calibration: ") + e.what());
  }
  p.validate();
  return p;
}

nlohmann::json CalibrationParams::to_json() const {
  return {{"t_min", t_min},
          {"t_max", t_max},
          {"t_tolerance", t_tolerance},
          {"threshold_metric", objective()},
          {"threshold_min", threshold_min},
          {"threshold_max", threshold_max},
          {"threshold_step", threshold_step},
          {"reliability_bins", reliability_bins}};
}

// ---------------------------------------------------------------------------------------------
// Reservoir sample

PixelSample::PixelSample(size_t capacity, uint64_t seed) : capacity_(capacity), rng_(seed) {
  if (capacity_ == 0) throw Error(ErrorKind::Usage, "eval", "pixel sample capacity must be > 0");
  logits_.reserve(std::min<size_t>(capacity_, 1 << 20));
  labels_.reserve(std::min<size_t>(capacity_, 1 << 20));
}

double PixelSample::uniform01() {
  // 53 random bits, shifted half a step so neither 0 nor 1 can come out (log() stays finite).
  return (double(rng_() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

void PixelSample::offer(float logit, uint8_t label) {
  const int64_t k = int64_t(capacity_);
  const int64_t i = seen_++;
  if (i < k) {
    logits_.push_back(logit);
    labels_.push_back(label);
    if (i == k - 1) {  // full: start algorithm L's geometric skips
      w_ = std::exp(std::log(uniform01()) / double(k));
      next_ = i + 1;
      const double skip = std::floor(std::log(uniform01()) / std::log1p(-w_));
      next_ += int64_t(std::min(skip, 4e18));
    }
    return;
  }
  if (i < next_) return;
  const size_t slot = size_t(rng_() % uint64_t(k));
  logits_[slot] = logit;
  labels_[slot] = label;
  w_ *= std::exp(std::log(uniform01()) / double(k));
  const double skip = std::floor(std::log(uniform01()) / std::log1p(-w_));
  next_ = i + 1 + int64_t(std::min(skip, 4e18));
}

void PixelSample::add(const float* logits, const uint8_t* label, const uint8_t* valid, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if ((valid && valid[i] == 0) || !std::isfinite(logits[i])) continue;
    offer(logits[i], label[i] != 0);
  }
}

void PixelSample::add(const float* logits, const float* label, const float* valid, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if ((valid && !(valid[i] > 0.5f)) || !std::isfinite(logits[i])) continue;
    offer(logits[i], label[i] > 0.5f);
  }
}

// ---------------------------------------------------------------------------------------------
// Temperature

double binary_nll(const float* logits, const uint8_t* labels, size_t n, double temperature) {
  if (n == 0) return kNaN;
  const double inv_t = 1.0 / temperature;
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += bce_with_logit(double(logits[i]) * inv_t, labels[i] != 0);
  return sum / double(n);
}

double brier_score(const float* logits, const uint8_t* labels, size_t n, double temperature) {
  if (n == 0) return kNaN;
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = sigmoid(double(logits[i]) / temperature) - (labels[i] ? 1.0 : 0.0);
    sum += d * d;
  }
  return sum / double(n);
}

double fit_temperature(const float* logits, const uint8_t* labels, size_t n, const CalibrationParams& params) {
  params.validate();
  if (n == 0) throw Error(ErrorKind::InvalidInput, "eval", "cannot fit a temperature: no valid pixels");
  // NLL is convex in 1/T, hence unimodal in log T: golden-section search is safe there.
  auto f = [&](double u) { return binary_nll(logits, labels, n, std::exp(u)); };
  const double inv_phi = (std::sqrt(5.0) - 1.0) / 2.0;
  double a = std::log(params.t_min), b = std::log(params.t_max);
  double c = b - inv_phi * (b - a), d = a + inv_phi * (b - a);
  double fc = f(c), fd = f(d);
  while (b - a > params.t_tolerance) {
    if (fc <= fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - inv_phi * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + inv_phi * (b - a);
      fd = f(d);
    }
  }
  // The bracket ends themselves are candidates too (minimum on the boundary of the range).
  double best_u = 0.5 * (a + b), best = f(best_u);
  for (double u : {std::log(params.t_min), std::log(params.t_max)}) {
    const double v = f(u);
    if (v < best) best = v, best_u = u;
  }
  return std::exp(best_u);
}

// ---------------------------------------------------------------------------------------------
// Threshold

nlohmann::json ThresholdChoice::to_json() const {
  nlohmann::json curve = nlohmann::json::array();
  for (size_t i = 0; i < grid.size(); ++i)
    curve.push_back({{"threshold", grid[i]},
                     {"f1", num(f1[i])},
                     {"iou", num(iou[i])},
                     {"precision", num(i < precision.size() ? precision[i] : kNaN)},
                     {"recall", num(i < recall.size() ? recall[i] : kNaN)}});
  nlohmann::json j = {{"metric", to_string(metric)}, {"threshold", threshold}, {"score", num(score)}, {"curve", curve}};
  if (metric == ThresholdMetric::RecallAtPrecision) j["min_precision"] = min_precision;
  if (metric == ThresholdMetric::Fixed) j["score_metric"] = "f1";
  return j;
}

ThresholdChoice choose_threshold(const float* logits, const uint8_t* labels, size_t n, double temperature,
                                 const CalibrationParams& params) {
  params.validate();
  require(temperature > 0, "temperature must be > 0");
  ThresholdChoice tc;
  tc.metric = params.threshold_metric;
  tc.grid = threshold_grid(params);
  const size_t g = tc.grid.size();
  // Pixel i is predicted water at grid j exactly when j < rank(i) = #{grid values <= p_i}.
  std::vector<int64_t> pos(g + 1, 0), neg(g + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    const double p = sigmoid(double(logits[i]) / temperature);
    const size_t rank = size_t(std::upper_bound(tc.grid.begin(), tc.grid.end(), p) - tc.grid.begin());
    (labels[i] ? pos : neg)[rank]++;
  }
  int64_t total_pos = 0;
  for (auto v : pos) total_pos += v;
  // tp(j) / fp(j) = water / dry pixels with rank > j: suffix sums.
  int64_t tp = total_pos, fp = 0;
  for (auto v : neg) fp += v;
  tc.f1.assign(g, kNaN);
  tc.iou.assign(g, kNaN);
  tc.precision.assign(g, kNaN);
  tc.recall.assign(g, kNaN);
  tc.min_precision = params.min_precision;
  double best = -1;
  for (size_t j = 0; j < g; ++j) {
    tp -= pos[j];
    fp -= neg[j];
    const int64_t fn = total_pos - tp;
    const int64_t uni = tp + fp + fn;
    tc.iou[j] = uni ? double(tp) / double(uni) : 1.0;
    tc.f1[j] = uni ? 2.0 * double(tp) / double(2 * tp + fp + fn) : 1.0;
    tc.precision[j] = tp + fp ? double(tp) / double(tp + fp) : kNaN;
    tc.recall[j] = total_pos ? double(tp) / double(total_pos) : kNaN;
    if (tc.metric == ThresholdMetric::RecallAtPrecision || tc.metric == ThresholdMetric::Fixed)
      continue;  // chosen below
    const double s = tc.metric == ThresholdMetric::IoU ? tc.iou[j] : tc.f1[j];
    const bool better = s > best + 1e-12;
    const bool tie_closer = std::abs(s - best) <= 1e-12 &&
                            std::abs(tc.grid[j] - 0.5) < std::abs(tc.threshold - 0.5);
    if (better || tie_closer) {
      best = s;
      tc.threshold = tc.grid[j];
    }
  }
  if (tc.metric == ThresholdMetric::Fixed) {
    tc.threshold = params.fixed_threshold;
    int64_t ftp = 0, ffp = 0;
    for (size_t i = 0; i < n; ++i)
      if (sigmoid(double(logits[i]) / temperature) >= tc.threshold) (labels[i] ? ftp : ffp)++;
    const int64_t ffn = total_pos - ftp;
    tc.score = 2 * ftp + ffp + ffn ? 2.0 * double(ftp) / double(2 * ftp + ffp + ffn) : kNaN;
    return tc;
  }
  if (tc.metric == ThresholdMetric::RecallAtPrecision) {
    // Recall only falls as the threshold rises: the first threshold meeting the floor wins.
    double best_p = -1, best_p_at = kNaN;
    for (size_t j = 0; j < g; ++j) {
      if (std::isfinite(tc.precision[j]) && tc.precision[j] > best_p) best_p = tc.precision[j], best_p_at = tc.grid[j];
      if (std::isfinite(tc.precision[j]) && tc.precision[j] >= params.min_precision) {
        tc.threshold = tc.grid[j];
        tc.score = tc.recall[j];
        return tc;
      }
    }
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "no threshold in [%g, %g] reaches precision %g on this data (the best is %.3f, at %g); "
                  "lower the floor or calibrate on other data",
                  params.threshold_min, params.threshold_max, params.min_precision, std::max(0.0, best_p), best_p_at);
    throw Error(ErrorKind::InvalidInput, "eval", buf);
  }
  tc.score = n ? best : kNaN;
  return tc;
}

// ---------------------------------------------------------------------------------------------
// Reliability

nlohmann::json Reliability::to_json() const {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& b : bins)
    arr.push_back({{"lo", b.lo},
                   {"hi", b.hi},
                   {"confidence", num(b.confidence)},
                   {"accuracy", num(b.accuracy)},
                   {"count", b.count}});
  return {{"ece", num(ece)}, {"count", count}, {"bins", arr}};
}

Reliability reliability(const float* logits, const uint8_t* labels, size_t n, double temperature, int bins) {
  require(bins >= 1, "reliability needs at least one bin");
  require(temperature > 0, "temperature must be > 0");
  std::vector<double> sum_p(size_t(bins), 0.0), sum_y(size_t(bins), 0.0);
  std::vector<int64_t> cnt(size_t(bins), 0);
  for (size_t i = 0; i < n; ++i) {
    const double p = sigmoid(double(logits[i]) / temperature);
    const int b = std::min(bins - 1, int(p * bins));
    sum_p[size_t(b)] += p;
    sum_y[size_t(b)] += labels[i] ? 1.0 : 0.0;
    cnt[size_t(b)]++;
  }
  Reliability r;
  r.count = int64_t(n);
  r.ece = n ? 0.0 : kNaN;
  for (int b = 0; b < bins; ++b) {
    ReliabilityBin rb;
    rb.lo = double(b) / bins;
    rb.hi = double(b + 1) / bins;
    rb.count = cnt[size_t(b)];
    rb.confidence = rb.count ? sum_p[size_t(b)] / double(rb.count) : kNaN;
    rb.accuracy = rb.count ? sum_y[size_t(b)] / double(rb.count) : kNaN;
    if (rb.count) r.ece += double(rb.count) / double(n) * std::abs(rb.accuracy - rb.confidence);
    r.bins.push_back(rb);
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Everything together

nlohmann::json CalibrationResult::to_json() const {
  return {{"temperature", temperature},
          {"nll_before", num(nll_before)},
          {"nll_after", num(nll_after)},
          {"brier_before", num(brier_before)},
          {"brier_after", num(brier_after)},
          {"ece_before", num(before.ece)},
          {"ece_after", num(after.ece)},
          {"threshold", threshold.to_json()},
          {"reliability_before", before.to_json()},
          {"reliability_after", after.to_json()},
          {"pixels_used", pixels_used},
          {"pixels_seen", pixels_seen},
          {"params", params.to_json()}};
}

nlohmann::json CalibrationResult::thresholds_json() const {
  return {{"temperature", temperature},
          {"threshold", threshold.threshold},
          {"metric", params.objective()},
          {"score", num(threshold.score)}};
}

CalibrationResult calibrate(const PixelSample& sample, const CalibrationParams& params) {
  params.validate();
  const size_t n = sample.size();
  if (n == 0) throw Error(ErrorKind::InvalidInput, "eval", "cannot calibrate: no valid pixels were sampled");
  const float* z = sample.logits().data();
  const uint8_t* y = sample.labels().data();
  CalibrationResult r;
  r.params = params;
  r.pixels_used = int64_t(n);
  r.pixels_seen = sample.seen();
  r.temperature = fit_temperature(z, y, n, params);
  r.nll_before = binary_nll(z, y, n, 1.0);
  r.nll_after = binary_nll(z, y, n, r.temperature);
  r.brier_before = brier_score(z, y, n, 1.0);
  r.brier_after = brier_score(z, y, n, r.temperature);
  r.threshold = choose_threshold(z, y, n, r.temperature, params);
  r.before = reliability(z, y, n, 1.0, params.reliability_bins);
  r.after = reliability(z, y, n, r.temperature, params.reliability_bins);
  return r;
}

}  // namespace drshym::eval
