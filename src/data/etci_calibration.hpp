#pragma once
// Estimating the unpublished ETCI 8-bit → dB mapping: per polarization, a line dB = a*p + b
// fitted by least squares to pairs of quantiles (ETCI value, Sen1Floods11 dB) of the water and
// the dry pixel distributions, valid pixels only. Quantiles that fall in ETCI's saturated 0 or
// 255 bins are censored (left out of the fit). Reports how well the distributions agree
// before (naive 0..255 → [-30, 0] dB) and after the fit.
//
//   EtciCalibrationResult r = estimate_etci_mapping("../shared/data/etci2021", "../shared/data/sen1floods11");
//   std::cout << r.report();            // r.mapping holds the fitted constants
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "data/etci_mapping.hpp"
#include "data/etci_tiles.hpp"
#include "data/raw_sample.hpp"

namespace drshym::data {

struct EtciCalibrationParams {
  std::vector<std::string> scenes;  // ETCI scenes to use; empty = every scene under the root
  std::string s1f11_split = "all";  // Sen1Floods11 chips serving as the reference
  std::vector<double> levels;       // quantile levels; empty = 0.05, 0.10, ..., 0.95
  bool equal_scene_weights = true;  // every ETCI scene weighs the same (Bangladesh has most pixels)
  int min_fill_area = kEtciMinFillArea;
  int threads = 0;                  // tile-reading threads (0 = hardware)
  bool progress = true;

  static EtciCalibrationParams default_params() { return {}; }
};

// Agreement of one polarization and class between ETCI (mapped to dB) and Sen1Floods11.
struct ClassAgreement {
  std::string scene;  // "" for the pooled figures
  std::string pol;    // "VV" | "VH"
  std::string cls;    // "water" | "dry"
  double etci_pixels = 0.0;
  double s1f11_pixels = 0.0;
  double ks_before = 0.0, ks_after = 0.0;        // Kolmogorov-Smirnov distance (0..1)
  double qrmse_before = 0.0, qrmse_after = 0.0;  // RMS quantile difference over all levels, dB
  double median_s1f11 = 0.0, median_before = 0.0, median_after = 0.0;  // dB
  double etci_at_0 = 0.0, etci_at_255 = 0.0;  // share of ETCI pixels in the saturated bins
};

struct EtciCalibrationResult {
  EtciMapping mapping;   // fitted
  EtciMapping baseline;  // naive, for the "before" figures
  std::vector<double> levels;
  int fit_points_vv = 0, fit_points_vh = 0;  // quantile pairs kept (censored ones dropped)
  double fit_rmse_vv = 0.0, fit_rmse_vh = 0.0;
  std::vector<ClassAgreement> pooled;     // VV water, VV dry, VH water, VH dry
  std::vector<ClassAgreement> per_scene;  // the same per ETCI scene (after = fitted mapping)
  std::vector<std::string> scenes;
  size_t etci_tiles = 0;          // tiles with valid pixels
  size_t etci_tiles_outside = 0;  // tiles wholly outside the swath
  std::vector<std::string> s1f11_chips;
  std::vector<SkippedItem> s1f11_skipped;

  nlohmann::json to_json() const;
  // Plain-text tables (fit, pooled agreement, per-scene agreement).
  std::string report() const;
};

// Throws NotFound for a missing root or scene, InvalidInput when either side lacks water or
// dry pixels, or when a fit has fewer than 2 points or a non-positive slope.
EtciCalibrationResult estimate_etci_mapping(const std::string& etci_root, const std::string& s1f11_root,
                                            const EtciCalibrationParams& params = EtciCalibrationParams::default_params());

}  // namespace drshym::data
