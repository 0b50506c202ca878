#pragma once
// Ingest: turns Sentinel-1 backscatter (VV, VH in dB) into model input. Band engineering
// (VV, VH, VH-VV, NDPI, magnitude) then normalization, both recorded by name + parameters
// (to_json) so that training and inference apply exactly the same recipe.
//
//   ingest::Preprocess pp = ingest::Preprocess::from_json({{"bands", {"VV", "VH"}},
//                                                         {"normalization", {{"method", "reference"}}}});
//   std::vector<float> x; std::vector<uint8_t> valid;
//   pp.apply(vv, vh, n, x, valid);     // x: bands x n; where invalid, each band's mean over the valid pixels
#include <nlohmann/json.hpp>
#include <limits>
#include <string>
#include <vector>

#include "io/raster.hpp"

namespace drshym::ingest {

// Engineered band names:
//   "VV", "VH"   backscatter in dB
//   "VH-VV"      cross-pol ratio in dB (VH dB minus VV dB)
//   "NDPI"       (VH - VV) / (VH + VV) computed in linear power, in [-1, 1]
//   "MAG"        sqrt((VV^2 + VH^2) / 2) of linear power, expressed in dB
//   "VV_BEFORE"  VV backscatter in dB of a pre-event scene on the same grid (bi-temporal change
//                models); anchored with the pre-event scene's own shift
//   "DEM", "SLOPE", "HAND"  terrain on the same grid (segment --dem, terrain/terrain.hpp): height
//                (m), slope (degrees), height above nearest drainage (m); never anchored
//   "S2_R", "S2_G", "S2_B"  a Sentinel-2 colour composite of the same pixels after the event,
//                in [0, 1] (8-bit / 255; Sen1Floods11 S2Hand reflectance x 10000 / 3000); the
//                "_BEFORE" ones the pre-event image. Training-only (distillation teachers): no
//                scene path of segment reads them. Never anchored
const std::vector<std::string>& known_bands();
bool band_needs_vh(const std::string& band);
bool band_needs_before(const std::string& band);
// Terrain bands read plane kTerrainPlanes' index of the terrain planes given to apply().
bool band_needs_terrain(const std::string& band);
inline const char* const kTerrainPlanes[3] = {"DEM", "SLOPE", "HAND"};
// Optical bands read plane kOpticalPlanes' index of the optical planes given to apply().
bool band_needs_optical(const std::string& band);
inline const char* const kOpticalPlanes[6] = {"S2_R", "S2_G", "S2_B", "S2_R_BEFORE", "S2_G_BEFORE", "S2_B_BEFORE"};
// True for bands in dB (all but NDPI).
bool band_is_db(const std::string& band);

// Compute `bands` from VV/VH dB planes of n pixels into out (bands.size() x n).
// vh (before, terrain) may be null when no band needs it. terrain: 3 x n planes in
// kTerrainPlanes' order (height m, slope degrees, HAND m). optical: 6 x n planes in
// kOpticalPlanes' order. NaN in, NaN out.
void engineer_bands(const std::vector<std::string>& bands, const float* vv, const float* vh, size_t n,
                    float* out, const float* before = nullptr, const float* terrain = nullptr,
                    const float* optical = nullptr);

struct Normalization {
  // "reference": (dB + 30) / 30 clipped to [0, 1] (NDPI: (r + 1) / 2; terrain: DEM (m + 100) / 2100,
  //              SLOPE degrees / 45, HAND m / 50, so the range floods care about spans most of [0, 1];
  //              optical S2_* clipped to [0, 1])
  // "minmax":    (x - lo[b]) / (hi[b] - lo[b]) clipped to [0, 1], fixed bounds per band
  // "percentile": minmax with lo/hi = per-band percentiles p_lo/p_hi fitted on training data
  std::string method = "reference";
  std::vector<float> lo, hi;
  float p_lo = 2.0f, p_hi = 98.0f;

  nlohmann::json to_json() const;
  static Normalization from_json(const nlohmann::json& j);
  // Normalize bands x n values in place; NaN stays NaN.
  void apply(float* data, const std::vector<std::string>& bands, size_t n) const;
  // Fit lo/hi from sample values (bands x n, NaN ignored) for "percentile".
  void fit(const float* data, size_t bands, size_t n);
  // Tag for DrShymRecord provenance, e.g. "normalize:reference(dB+30)/30".
  std::string tag() const;
};

// Scene-adaptive dB anchor. Calibration, incidence angle and the unknown 8-bit -> dB mappings
// of some training sources move a whole scene's backscatter by a few dB; a model that reads
// absolute dB then misses water that is a little brighter than in its training scenes. With an
// anchor, every absolute dB band (VV, VH, MAG; ratios are unaffected) is shifted by
//   shift = reference_db - (percentile-th percentile of the scene's valid VV dB)
// before normalization, so an offset common to the scene cancels exactly. The percentile sits
// high (default 80) so that it measures land unless water covers most of the scene.
// A scene that is mostly dark water would be anchored on its water (shifted bright, its water
// missed), so the level is measured on the land mode alone when the VV histogram says so
// (Anchor::level: dark_scenes = "land_mode", the default; "whole_scene" keeps the plain rule).
// "Scene" is whatever the caller passes: a whole scene in segment (ingest::scene_anchor_shift),
// one chip in predict, eval and training.

// The VV level an anchor moves to its reference, and how it was measured (for the record).
struct AnchorLevel {
  float db = std::numeric_limits<float>::quiet_NaN();  // NaN: no valid value
  bool land_mode = false;  // measured on the bright (land) mode only: the scene is mostly dark
  // The two-mode test: Otsu's split of the VV values, the share below it and the gap between
  // the two modes' means (NaN when no split exists).
  float split_db = std::numeric_limits<float>::quiet_NaN();
  float dark_share = std::numeric_limits<float>::quiet_NaN();
  float mode_gap_db = std::numeric_limits<float>::quiet_NaN();
  float dark_mean_db = std::numeric_limits<float>::quiet_NaN();  // the dark mode's mean VV
  float whole_db = std::numeric_limits<float>::quiet_NaN();  // the percentile of every value (the plain rule)
  // Whether the level can be trusted to be land. Not when it is itself as dark as open water
  // (db <= Anchor::kLandModeMaxDarkDb) and no land mode was found: the scene is then nearly all
  // water, or its land is unusually smooth (sand, tarmac, wet snow). VV alone cannot tell which,
  // and the anchor, which assumes land, shifts such a scene bright, so its water may be missed.
  // Calibrated land sits near -6 to -9 dB at the 80th percentile; ETCI's darkest (frozen) fields
  // near -11 to -13 dB.
  bool trusted() const;
  // The sentence a caption and the record give when !trusted() ("" when trusted).
  std::string caution() const;
  nlohmann::json to_json() const;
};

struct Anchor {
  bool enabled = false;
  float percentile = 80.0f;
  float reference_db = -8.0f;
  // "land_mode": when at least kLandModeDarkShare of the valid VV values lie below Otsu's split,
  // the two modes' means are at least kLandModeGapDb apart and the dark mode is as dark as open
  // water (mean at most kLandModeMaxDarkDb: calm water sits near -20 dB in VV, and a few dB of
  // calibration error cannot lift it past -15; a dominant dark mode of land, such as the frozen
  // fields of ETCI's Nebraska tiles at -11 to -13 dB, stays above it), the percentile is taken
  // over the values above the split only. "whole_scene": always over all.
  std::string dark_scenes = "land_mode";
  static constexpr float kLandModeDarkShare = 0.5f;
  static constexpr float kLandModeGapDb = 6.0f;
  static constexpr float kLandModeMaxDarkDb = -15.0f;
  // The land-mode level is at most this far above the plain percentile (chosen on OMBRIA's
  // train split, where a few images' bright class is the 8-bit stretch's saturated top).
  static constexpr float kLandModeMaxRaiseDb = 8.0f;
  static constexpr float kLandModeMinBrightShare = 0.01f;  // fewer land pixels: too few to measure

  nlohmann::json to_json() const;  // null when disabled
  static Anchor from_json(const nlohmann::json& j);
  // The shift for these VV values (NaN and !valid[i] ignored; valid may be null). 0 when
  // disabled or when no pixel is valid.
  float shift(const float* vv, const uint8_t* valid, size_t n) const;
  // The level of these VV values (NaN ignored; any order; taken by value: they are sorted).
  AnchorLevel level(std::vector<float> vv) const;
  // shift() for a value already computed: reference_db - vv_percentile_db.
  float shift_for(float vv_percentile_db) const { return enabled ? reference_db - vv_percentile_db : 0.0f; }
};

// The p-th percentile (0-100, nearest rank) of the finite values in v; NaN when there is none.
// v is taken by value: it is partially sorted.
float percentile_of(std::vector<float> v, float p);
// The same on values already sorted ascending, all finite (no copy, for many percentiles).
float percentile_of_sorted(const std::vector<float>& sorted, float p);
// The same on the n sorted, finite values at sorted[0..n) (a part of a sorted vector, no copy).
float percentile_of_sorted(const float* sorted, size_t n, float p);
// The land-mode level rule (Anchor::level, dark_scenes = "land_mode", once its test has passed):
// sorted holds finite VV dB values sorted ascending; the p-th percentile of those at or above
// split_db (the bright, land mode), bounded to the whole scene's p-th percentile plus
// Anchor::kLandModeMaxRaiseDb. NaN when sorted is empty or no value reaches split_db.
float land_mode_percentile(const std::vector<float>& sorted, float split_db, float p);

struct Preprocess {
  std::vector<std::string> bands{"VV", "VH"};
  Normalization normalization;
  Anchor anchor;

  nlohmann::json to_json() const;
  static Preprocess from_json(const nlohmann::json& j);  // throws InvalidInput naming the key
  bool needs_vh() const;
  bool needs_before() const;  // a bi-temporal recipe (band VV_BEFORE)
  bool needs_terrain() const;  // a terrain recipe (DEM, SLOPE or HAND): segment needs --dem
  bool needs_optical() const;  // reads Sentinel-2 bands (S2_*): a training-only teacher recipe
  std::vector<std::string> optical_bands() const;  // the S2_* bands it reads, in order
  // vv/vh: n dB values (vh may be null if !needs_vh()). out: bands x n model input; where
  // invalid, each band holds its mean over the valid pixels of this call (0 if none), so that no
  // data looks like the scene around it and not like water (0 is -30 dB under the reference
  // normalization); valid: 1 where all inputs are finite (and src_valid[i] if given). shift_db: the
  // anchor shift of the scene these pixels belong to (Anchor::shift), added to absolute dB bands.
  // before / before_shift_db: the pre-event VV dB on the same pixels and its own scene's anchor
  // shift, for VV_BEFORE (required when needs_before()). terrain: 3 x n planes (see
  // engineer_bands), required when needs_terrain(); a pixel without them is invalid. optical:
  // 6 x n planes (kOpticalPlanes), required when needs_optical(); NaN in a read band = invalid.
  void apply(const float* vv, const float* vh, size_t n, std::vector<float>& out,
             std::vector<uint8_t>& valid, const uint8_t* src_valid = nullptr, float shift_db = 0.0f,
             const float* before = nullptr, float before_shift_db = 0.0f, const float* terrain = nullptr,
             const float* optical = nullptr) const;
};

// Which bands of a scene hold VV and VH (1-based; vh = 0 when the scene has none).
// When any band description names a polarisation (as a whole token: "VV", "Sigma0_VH_db"),
// descriptions decide and an undescribed band is never guessed; when none does, band 1 is VV
// and band 2 VH (`assumed`, which callers should tell the user).
struct SourceBands {
  int vv = 1;
  int vh = 0;
  bool assumed = false;
};
// Throws InvalidInput naming the scene and band when: a band is HH or HV (not supported); VH
// is named but VV is not; two bands name the same polarisation; the recipe needs VH and
// there is none; or more than 2 bands carry no description (ambiguous).
SourceBands detect_source_bands(const io::RasterInfo& info, bool need_vh);

}  // namespace drshym::ingest
