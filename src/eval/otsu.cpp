#include "eval/otsu.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace drshym::eval {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

bool usable(const float* v, const uint8_t* valid, size_t i) {
  return (valid == nullptr || valid[i] != 0) && std::isfinite(v[i]);
}
}  // namespace

nlohmann::json OtsuResult::to_json() const {
  return {{"found", found},
          {"threshold", num(threshold)},
          {"between_var", num(between_var)},
          {"separability", num(separability)},
          {"count", count}};
}

OtsuResult otsu_threshold(const float* values, const uint8_t* valid, size_t n, const OtsuParams& params) {
  if (params.bins < 2)
    throw Error(ErrorKind::Usage, "eval", "otsu needs at least 2 histogram bins, got " + std::to_string(params.bins));
  OtsuResult r;
  r.threshold = kNaN;
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  for (size_t i = 0; i < n; ++i) {
    if (!usable(values, valid, i)) continue;
    lo = std::min(lo, double(values[i]));
    hi = std::max(hi, double(values[i]));
    ++r.count;
  }
  if (r.count < 2 || !(hi > lo)) return r;

  const int bins = params.bins;
  const double width = (hi - lo) / bins;
  std::vector<int64_t> hist(size_t(bins), 0);
  for (size_t i = 0; i < n; ++i) {
    if (!usable(values, valid, i)) continue;
    int b = int((double(values[i]) - lo) / width);
    hist[size_t(std::clamp(b, 0, bins - 1))]++;
  }

  // Class statistics from bin centres; split k puts bins [0, k] in the low class.
  const double total = double(r.count);
  double sum_all = 0, sq_all = 0;
  for (int b = 0; b < bins; ++b) {
    const double c = lo + (b + 0.5) * width;
    sum_all += hist[size_t(b)] * c;
    sq_all += hist[size_t(b)] * c * c;
  }
  const double mean_all = sum_all / total;
  const double var_all = std::max(0.0, sq_all / total - mean_all * mean_all);

  std::vector<double> between(size_t(bins - 1), -1.0);
  double w0 = 0, sum0 = 0, best = -1.0;
  for (int k = 0; k < bins - 1; ++k) {
    w0 += double(hist[size_t(k)]);
    sum0 += hist[size_t(k)] * (lo + (k + 0.5) * width);
    const double w1 = total - w0;
    if (w0 <= 0 || w1 <= 0) continue;
    const double mu0 = sum0 / w0;
    const double mu1 = (sum_all - sum0) / w1;
    const double p0 = w0 / total;
    between[size_t(k)] = p0 * (1 - p0) * (mu0 - mu1) * (mu0 - mu1);
    best = std::max(best, between[size_t(k)]);
  }
  if (best < 0) return r;

  // The first run of splits within rounding of the best; an empty valley gives a flat run.
  const double tol = best * 1e-9;
  int first = 0;
  while (between[size_t(first)] < best - tol) ++first;
  int last = first;
  while (last + 1 < bins - 1 && between[size_t(last + 1)] >= best - tol) ++last;
  const double edge_first = lo + (first + 1) * width;
  const double edge_last = lo + (last + 1) * width;

  r.found = true;
  r.threshold = 0.5 * (edge_first + edge_last);
  r.between_var = best;
  r.separability = var_all > 0 ? std::min(1.0, best / var_all) : 0.0;
  return r;
}

std::vector<uint8_t> otsu_water_mask(const float* vv_db, const uint8_t* valid, size_t n,
                                     const OtsuParams& params, OtsuResult* result) {
  OtsuResult r = otsu_threshold(vv_db, valid, n, params);
  std::vector<uint8_t> mask(n, 0);
  if (r.found)
    for (size_t i = 0; i < n; ++i) mask[i] = usable(vv_db, valid, i) && double(vv_db[i]) < r.threshold;
  if (result) *result = r;
  return mask;
}

}  // namespace drshym::eval
