#pragma once
// Error slices for `drshym eval`: the same pixels as the totals, scored bin by bin so an
// analyst sees where a model fails, with the Otsu baseline on the same pixels in every bin.
//   intensity  VV dB quintiles of the valid pixels of the whole evaluation (edges exact to
//              kIntensityStepDb: pixels are tallied in fine bins, then merged into quintiles)
//   region     the dataset's group of each chip (Sen1Floods11 region, ETCI scene, OMBRIA
//              split), or the chip id's first '_'-separated token when the dataset has none
//   water_type where the data knows it (ETCI water_body_label vs flood_label): labelled
//              permanent water, labelled flood water and dry land, each its own bin. The water
//              bins hold only water, so their IoU equals their recall (the share detected);
//              the dry bin's precision is 0 and what matters there is its false_alarm share.
//   slope      with a DEM (enable_slope): terrain slope in degrees in the fixed bins
//              kSlopeEdgesDeg, [0,1) [1,3) [3,5) [5,10) [10,20) >=20
//   landcover  with a land-cover raster (enable_landcover): one bin per class value present,
//              named by ESA WorldCover when every value present is a WorldCover code
// Both hold every scored pixel: those the raster does not cover (outside it, its nodata, or a
// chip whose grid is unknown, like ETCI / OMBRIA PNGs) go to a last "not covered" bin.
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/metrics.hpp"

namespace drshym::eval {

// Per-pixel values of the auxiliary rasters on one chip's grid: slope in degrees and land-
// cover class value, NaN where the raster does not cover the pixel; nullptr when the chip's grid
// is unknown (all its pixels are then "not covered").
struct SliceAuxPixels {
  const float* slope_deg = nullptr;
  const float* landcover = nullptr;
};

class SliceEvaluator {
 public:
  static constexpr double kIntensityLoDb = -50.0, kIntensityHiDb = 20.0, kIntensityStepDb = 0.1;
  // Lower edges of the slope bins in degrees; the last bin is open above.
  static constexpr std::array<double, 6> kSlopeEdgesDeg{0, 1, 3, 5, 10, 20};

  using AuxPixels = SliceAuxPixels;
  // Score the slope / landcover family for every chip added from now on; source (the raster's
  // path and how it was resampled) goes into the family's definition.
  void enable_slope(const std::string& source);
  void enable_landcover(const std::string& source);

  // One chip: per pixel VV dB, validity, label and the two predictions (0/1). otsu may be
  // null (no baseline for this dataset); water_type (RawSample::water_type) may be null.
  void add(const std::string& group, const float* vv_db, const uint8_t* valid, const uint8_t* label,
           const uint8_t* model, const uint8_t* otsu, size_t n, const uint8_t* water_type = nullptr,
           const AuxPixels& aux = {});
  // {"intensity": {"definition", "bins": [{"range_db", "pixels", "water_pixels", "model", "otsu_vv_db"}]},
  //  "region": {"definition", "bins": [{"name", ...same fields}]}, "water_type": ...,
  //  "slope": {"definition", "chips", "bins": [{"name", "range_deg", ...}]} when enabled,
  //  "landcover": {"definition", "chips", "bins": [{"name", "value", ...}]} when enabled};
  //  each model / otsu_vv_db entry holds the confusion and IoU, F1, precision, recall.
  nlohmann::json to_json() const;

 private:
  struct Cell {
    Confusion model, otsu;
  };
  static size_t intensity_bin(float db);
  std::vector<Cell> fine_ = std::vector<Cell>(size_t((kIntensityHiDb - kIntensityLoDb) / kIntensityStepDb + 0.5));
  std::map<std::string, Cell> groups_;
  std::array<Cell, 3> types_{};  // dry, permanent, flood
  bool has_types_ = false;
  bool has_otsu_ = true;
  // A family scored on an auxiliary raster's values: bins by value, one "not covered" cell, and
  // how many chips had no grid or no covered pixel.
  struct AuxFamily {
    bool enabled = false;
    std::string source;
    std::map<double, Cell> by_value;  // slope: bin index; landcover: class value
    Cell not_covered;
    int64_t chips = 0, chips_without_grid = 0, chips_outside = 0;
  };
  static void add_aux(AuxFamily& f, const float* values, bool slope, const float* vv_db, const uint8_t* valid,
                      const uint8_t* label, const uint8_t* model, const uint8_t* otsu, size_t n);
  nlohmann::json aux_json(const AuxFamily& f, bool slope) const;
  AuxFamily slope_, landcover_;
};

}  // namespace drshym::eval
