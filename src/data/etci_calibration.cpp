#include "data/etci_calibration.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <mutex>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "data/parallel.hpp"
#include "data/sen1floods11_layout.hpp"

namespace drshym::data {
namespace {

constexpr int kVV = 0, kVH = 1, kDry = 0, kWater = 1;
const char* kPolName[2] = {"VV", "VH"};
const char* kClsName[2] = {"dry", "water"};

// 8-bit values as a continuous distribution: value v spread evenly over [v - 0.5, v + 0.5].
struct ByteHist {
  std::array<double, 256> h{};
  double total() const {
    double t = 0;
    for (double v : h) t += v;
    return t;
  }
  double cdf(double p) const {
    const double t = total();
    if (p <= -0.5) return 0.0;
    if (p >= 255.5) return 1.0;
    int k = int(std::floor(p + 0.5));
    double below = 0;
    for (int i = 0; i < k; ++i) below += h[size_t(i)];
    return (below + (p + 0.5 - k) * h[size_t(k)]) / t;
  }
  double quantile(double q) const {
    const double target = q * total();
    double acc = 0;
    for (int k = 0; k < 256; ++k) {
      if (acc + h[size_t(k)] >= target && h[size_t(k)] > 0) return (k - 0.5) + (target - acc) / h[size_t(k)];
      acc += h[size_t(k)];
    }
    return 255.5;
  }
};

// Sen1Floods11 dB values in 0.01 dB bins over [-80, +40) (outliers clamped to the end bins).
struct DbHist {
  static constexpr double kLo = -80.0, kStep = 0.01;
  static constexpr int kBins = 12000;
  std::vector<double> h = std::vector<double>(kBins, 0.0);
  std::vector<double> cum;  // cum[k] = weight below bin k (built by finish())
  void add(float db) {
    int k = int(std::floor((double(db) - kLo) / kStep));
    h[size_t(std::clamp(k, 0, kBins - 1))] += 1.0;
  }
  void finish() {
    cum.assign(kBins + 1, 0.0);
    for (int k = 0; k < kBins; ++k) cum[size_t(k) + 1] = cum[size_t(k)] + h[size_t(k)];
  }
  double total() const { return cum.back(); }
  double cdf(double x) const {
    double pos = (x - kLo) / kStep;
    if (pos <= 0) return 0.0;
    if (pos >= kBins) return 1.0;
    int k = int(pos);
    return (cum[size_t(k)] + (pos - k) * h[size_t(k)]) / total();
  }
  double quantile(double q) const {
    const double target = q * total();
    int k = int(std::upper_bound(cum.begin(), cum.end(), target) - cum.begin()) - 1;
    k = std::clamp(k, 0, kBins - 1);
    while (k < kBins - 1 && h[size_t(k)] == 0) ++k;
    double frac = h[size_t(k)] > 0 ? (target - cum[size_t(k)]) / h[size_t(k)] : 0.0;
    return kLo + (k + std::clamp(frac, 0.0, 1.0)) * kStep;
  }
};

double ks_distance(const ByteHist& e, const DbHist& s, const LinearDb& l) {
  double worst = 0.0;
  for (double x = -70.0; x <= 35.0; x += 0.02)
    worst = std::max(worst, std::abs(e.cdf((x - l.offset) / l.scale) - s.cdf(x)));
  return worst;
}

double quantile_rmse(const ByteHist& e, const DbHist& s, const LinearDb& l, const std::vector<double>& levels) {
  double acc = 0.0;
  for (double q : levels) {
    double d = l(std::clamp(e.quantile(q), 0.0, 255.0)) - s.quantile(q);
    acc += d * d;
  }
  return std::sqrt(acc / double(levels.size()));
}

ClassAgreement agreement(const std::string& scene, int pol, int cls, const ByteHist& e, const DbHist& s,
                         const LinearDb& before, const LinearDb& after, const std::vector<double>& levels) {
  ClassAgreement a;
  a.scene = scene;
  a.pol = kPolName[pol];
  a.cls = kClsName[cls];
  a.etci_pixels = e.total();
  a.s1f11_pixels = s.total();
  a.ks_before = ks_distance(e, s, before);
  a.ks_after = ks_distance(e, s, after);
  a.qrmse_before = quantile_rmse(e, s, before, levels);
  a.qrmse_after = quantile_rmse(e, s, after, levels);
  a.median_s1f11 = s.quantile(0.5);
  a.median_before = before(std::clamp(e.quantile(0.5), 0.0, 255.0));
  a.median_after = after(std::clamp(e.quantile(0.5), 0.0, 255.0));
  a.etci_at_0 = e.h[0] / e.total();
  a.etci_at_255 = e.h[255] / e.total();
  return a;
}

nlohmann::json agreement_json(const ClassAgreement& a) {
  return {{"scene", a.scene},
          {"pol", a.pol},
          {"class", a.cls},
          {"etci_pixels", a.etci_pixels},
          {"s1f11_pixels", a.s1f11_pixels},
          {"ks_before", a.ks_before},
          {"ks_after", a.ks_after},
          {"quantile_rmse_db_before", a.qrmse_before},
          {"quantile_rmse_db_after", a.qrmse_after},
          {"median_db_s1f11", a.median_s1f11},
          {"median_db_before", a.median_before},
          {"median_db_after", a.median_after},
          {"etci_share_at_0", a.etci_at_0},
          {"etci_share_at_255", a.etci_at_255}};
}

// Per polarization and class: [kVV or kVH][kDry or kWater].
template <class Hist>
using PolClass = std::array<std::array<Hist, 2>, 2>;

// Sen1Floods11's dB histograms by polarization and class, valid pixels only; records the chips
// used and skipped in res.
PolClass<DbHist> read_reference(const std::string& s1f11_root, const EtciCalibrationParams& params,
                                EtciCalibrationResult& res) {
  PolClass<DbHist> ref;
  ChipListing listing = list_sen1floods11(s1f11_root, params.s1f11_split);
  ChipScan scan = scan_sen1floods11(listing.present, size_t(1) << 30, params.progress);
  res.s1f11_skipped = scan.skipped;
  for (size_t i = 0; i < scan.usable.size(); ++i) {
    RawSample r = scan.pixels[i].width > 0 ? std::move(scan.pixels[i]) : read_sen1floods11_chip(scan.usable[i]);
    for (size_t p = 0; p < r.pixels(); ++p) {
      if (!r.valid[p]) continue;
      ref[kVV][r.label[p]].add(r.vv[p]);
      ref[kVH][r.label[p]].add(r.vh[p]);
    }
    res.s1f11_chips.push_back(r.id);
  }
  for (int pol = 0; pol < 2; ++pol)
    for (int cls = 0; cls < 2; ++cls) {
      ref[pol][cls].finish();
      if (ref[pol][cls].total() == 0)
        throw Error(ErrorKind::InvalidInput, "data",
                    std::string("etci calibration: Sen1Floods11 under ") + quoted(s1f11_root) + " has no valid " +
                        kClsName[cls] + " pixel");
    }
  return ref;
}

// ETCI's 8-bit histograms for each of res.scenes, the tiles read in parallel; counts the tiles
// used and those wholly outside the swath in res.
std::vector<PolClass<ByteHist>> read_etci_histograms(const std::string& etci_root, const EtciCalibrationParams& params,
                                                     EtciCalibrationResult& res) {
  std::vector<EtciTileRef> tiles;
  std::vector<size_t> scene_of;
  for (size_t s = 0; s < res.scenes.size(); ++s)
    for (auto& t : list_etci_tiles(etci_root, res.scenes[s])) {
      tiles.push_back(std::move(t));
      scene_of.push_back(s);
    }
  std::vector<PolClass<ByteHist>> scene_hist(res.scenes.size());
  std::mutex mu;
  core::Progress bar("etci calibration: reading tiles", int64_t(tiles.size()), params.progress ? -1 : 0);
  parallel_for_each(tiles.size(), params.threads, [&](size_t i) {
    EtciTile t = read_etci_tile(tiles[i], params.min_fill_area);
    std::array<std::array<std::array<int64_t, 256>, 2>, 2> local{};
    int64_t n_valid = 0;
    for (size_t p = 0; p < t.vv.size(); ++p) {
      if (!t.valid[p]) continue;
      ++n_valid;
      ++local[kVV][t.label[p]][t.vv[p]];
      ++local[kVH][t.label[p]][t.vh[p]];
    }
    std::lock_guard<std::mutex> lock(mu);
    bar.advance();
    if (n_valid == 0) {
      ++res.etci_tiles_outside;
      return;
    }
    ++res.etci_tiles;
    for (int pol = 0; pol < 2; ++pol)
      for (int cls = 0; cls < 2; ++cls)
        for (int v = 0; v < 256; ++v)
          scene_hist[scene_of[i]][size_t(pol)][size_t(cls)].h[size_t(v)] +=
              double(local[size_t(pol)][size_t(cls)][size_t(v)]);
  });
  bar.finish();
  return scene_hist;
}

// The scenes' histograms added up, each scene weighing the same when equal_scene_weights.
PolClass<ByteHist> pool_scenes(const std::vector<PolClass<ByteHist>>& scene_hist, bool equal_scene_weights) {
  PolClass<ByteHist> pooled;
  for (int pol = 0; pol < 2; ++pol)
    for (int cls = 0; cls < 2; ++cls) {
      for (const auto& sh : scene_hist) {
        const ByteHist& h = sh[size_t(pol)][size_t(cls)];
        const double w = equal_scene_weights ? (h.total() > 0 ? 1.0 / h.total() : 0.0) : 1.0;
        for (int v = 0; v < 256; ++v) pooled[pol][cls].h[size_t(v)] += w * h.h[size_t(v)];
      }
      if (pooled[pol][cls].total() == 0)
        throw Error(ErrorKind::InvalidInput, "data",
                    std::string("etci calibration: the ETCI scenes have no valid ") + kClsName[cls] + " pixel");
    }
  return pooled;
}

// A (ETCI quantile, S1F11 quantile) pair and its weight in the fit.
struct FitPoint {
  double x, y, w;
};

// The fit's points for one polarization: the pairs at every level of both classes, each class
// weighing the same; censored (saturated) ETCI quantiles left out.
std::vector<FitPoint> fit_points(int pol, const PolClass<ByteHist>& pooled, const PolClass<DbHist>& ref,
                                 const std::vector<double>& levels) {
  std::vector<FitPoint> pts;
  for (int cls = 0; cls < 2; ++cls) {
    std::vector<FitPoint> c;
    for (double q : levels) {
      double x = pooled[pol][cls].quantile(q);
      if (x > 0.5 && x < 254.5) c.push_back({x, ref[pol][cls].quantile(q), 1.0});
    }
    for (auto& p : c) p.w = 1.0 / double(c.size());
    pts.insert(pts.end(), c.begin(), c.end());
  }
  return pts;
}

// A fitted line, with the number of points it was fitted to and its weighted RMS residual (dB).
struct LineFit {
  LinearDb line;
  int points;
  double rmse;
};

// Weighted least squares over pts; throws InvalidInput naming pol when there are fewer than 2
// points, their ETCI values do not spread, or the slope is not positive.
LineFit fit_line(int pol, const std::vector<FitPoint>& pts) {
  double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& p : pts) {
    sw += p.w;
    sx += p.w * p.x;
    sy += p.w * p.y;
    sxx += p.w * p.x * p.x;
    sxy += p.w * p.x * p.y;
  }
  const double den = sw * sxx - sx * sx;
  if (pts.size() < 2 || !(std::abs(den) > 1e-12))
    throw Error(ErrorKind::InvalidInput, "data",
                std::string("etci calibration: too few uncensored quantiles to fit ") + kPolName[pol]);
  LinearDb l;
  l.scale = (sw * sxy - sx * sy) / den;
  l.offset = (sy - l.scale * sx) / sw;
  if (!(l.scale > 0))
    throw Error(ErrorKind::InvalidInput, "data",
                std::string("etci calibration: fitted ") + kPolName[pol] + " slope is not positive");
  double se = 0;
  for (const auto& p : pts) se += p.w * (l(p.x) - p.y) * (l(p.x) - p.y);
  return {l, int(pts.size()), std::sqrt(se / sw)};
}

// Agreement before (baseline) and after (fitted mapping) per polarization and class, pooled and
// for every scene with pixels of that class.
void add_agreements(const PolClass<ByteHist>& pooled, const std::vector<PolClass<ByteHist>>& scene_hist,
                    const PolClass<DbHist>& ref, EtciCalibrationResult& res) {
  for (int pol = 0; pol < 2; ++pol) {
    const LinearDb& before = pol == kVV ? res.baseline.vv : res.baseline.vh;
    const LinearDb& after = pol == kVV ? res.mapping.vv : res.mapping.vh;
    for (int cls : {kWater, kDry}) {
      res.pooled.push_back(agreement("", pol, cls, pooled[pol][cls], ref[pol][cls], before, after, res.levels));
      for (size_t s = 0; s < res.scenes.size(); ++s) {
        const ByteHist& h = scene_hist[s][size_t(pol)][size_t(cls)];
        if (h.total() > 0)
          res.per_scene.push_back(agreement(res.scenes[s], pol, cls, h, ref[pol][cls], before, after, res.levels));
      }
    }
  }
}

}  // namespace

EtciCalibrationResult estimate_etci_mapping(const std::string& etci_root, const std::string& s1f11_root,
                                            const EtciCalibrationParams& params) {
  EtciCalibrationResult res;
  res.baseline = EtciMapping::naive();
  res.levels = params.levels;
  if (res.levels.empty())
    for (int i = 1; i <= 19; ++i) res.levels.push_back(0.05 * i);

  // Reference: Sen1Floods11 valid pixels by class and polarization.
  const PolClass<DbHist> ref = read_reference(s1f11_root, params, res);

  // ETCI: 8-bit histograms per scene, class and polarization (valid pixels only).
  res.scenes = params.scenes.empty() ? list_etci_scenes(etci_root) : params.scenes;
  if (res.scenes.empty())
    throw Error(ErrorKind::InvalidInput, "data", "etci calibration: no scene under " + quoted(etci_root));
  const std::vector<PolClass<ByteHist>> scene_hist = read_etci_histograms(etci_root, params, res);
  const PolClass<ByteHist> pooled = pool_scenes(scene_hist, params.equal_scene_weights);

  // Fit per polarization: weighted least squares over (ETCI quantile, S1F11 quantile) pairs of
  // both classes, each class weighing the same; censored (saturated) ETCI quantiles left out.
  for (int pol = 0; pol < 2; ++pol) {
    const LineFit f = fit_line(pol, fit_points(pol, pooled, ref, res.levels));
    (pol == kVV ? res.mapping.vv : res.mapping.vh) = f.line;
    (pol == kVV ? res.fit_points_vv : res.fit_points_vh) = f.points;
    (pol == kVV ? res.fit_rmse_vv : res.fit_rmse_vh) = f.rmse;
  }

  add_agreements(pooled, scene_hist, ref, res);
  return res;
}

nlohmann::json EtciCalibrationResult::to_json() const {
  nlohmann::json j;
  j["mapping"] = mapping.to_json();
  j["baseline"] = baseline.to_json();
  j["levels"] = levels;
  j["fit"] = {{"points_vv", fit_points_vv},
              {"points_vh", fit_points_vh},
              {"rmse_db_vv", fit_rmse_vv},
              {"rmse_db_vh", fit_rmse_vh}};
  j["pooled"] = nlohmann::json::array();
  for (const auto& a : pooled) j["pooled"].push_back(agreement_json(a));
  j["per_scene"] = nlohmann::json::array();
  for (const auto& a : per_scene) j["per_scene"].push_back(agreement_json(a));
  j["etci"] = {{"scenes", scenes}, {"tiles_used", etci_tiles}, {"tiles_outside_swath", etci_tiles_outside}};
  nlohmann::json sk = nlohmann::json::array();
  for (const auto& s : s1f11_skipped) sk.push_back({{"id", s.id}, {"reason", s.reason}});
  j["sen1floods11"] = {{"chips", s1f11_chips}, {"skipped", sk}};
  return j;
}

std::string EtciCalibrationResult::report() const {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line,
                "ETCI 8-bit -> dB fit (dB = scale * p + offset)\n"
                "  VV: scale %.5f  offset %.3f  (p=0 -> %.2f dB, p=255 -> %.2f dB)  %d quantile pairs, fit rmse %.2f dB\n"
                "  VH: scale %.5f  offset %.3f  (p=0 -> %.2f dB, p=255 -> %.2f dB)  %d quantile pairs, fit rmse %.2f dB\n",
                mapping.vv.scale, mapping.vv.offset, mapping.vv(0), mapping.vv(255), fit_points_vv, fit_rmse_vv,
                mapping.vh.scale, mapping.vh.offset, mapping.vh(0), mapping.vh(255), fit_points_vh, fit_rmse_vh);
  out += line;
  std::snprintf(line, sizeof line, "  data: %zu ETCI tiles (%zu outside the swath) from %zu scene(s); %zu Sen1Floods11 chips\n",
                etci_tiles, etci_tiles_outside, scenes.size(), s1f11_chips.size());
  out += line;
  auto table = [&](const std::vector<ClassAgreement>& rows, const char* title) {
    out += title;
    out += "  scene                        pol class  KS naive  KS fit  qRMSE naive  qRMSE fit  "
           "median S1F11/naive/fit (dB)  at 0 / at 255\n";
    for (const auto& a : rows) {
      std::snprintf(line, sizeof line,
                    "  %-28s %-3s %-5s  %8.3f  %6.3f  %11.2f  %9.2f  %6.1f / %6.1f / %6.1f      %5.1f%% / %4.1f%%\n",
                    a.scene.empty() ? "(pooled)" : a.scene.c_str(), a.pol.c_str(), a.cls.c_str(), a.ks_before,
                    a.ks_after, a.qrmse_before, a.qrmse_after, a.median_s1f11, a.median_before, a.median_after,
                    100.0 * a.etci_at_0, 100.0 * a.etci_at_255);
      out += line;
    }
  };
  table(pooled, "Agreement with Sen1Floods11, pooled ETCI scenes (naive = 0..255 -> [-30, 0] dB):\n");
  table(per_scene, "Per ETCI scene:\n");
  return out;
}

}  // namespace drshym::data
