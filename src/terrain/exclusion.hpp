#pragma once
// The terrain exclusion layer <scene>_exclusion.tif: UInt8 bit flags on the scene's output grid
// saying where a SAR water call is not believed, whatever the backscatter:
//   1 steep slope (slope > slope_max_deg)  2 high above drainage (HAND > hand_max_m)
//   4 reserved: radar shadow / layover      0 not excluded      255 no DEM data (never excluded)
// Built from the terrain layers (terrain/terrain.hpp); segment removes mask water where a flag
// is set (unless --no-exclusion).
//
//   terrain::ExclusionTally t = terrain::write_exclusion_stage(layers, rule, "out/.s_excl.tif", area);
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "io/area.hpp"

namespace drshym::terrain {

struct TerrainLayers;  // terrain/terrain.hpp

inline constexpr uint8_t kSteepSlope = 1;
inline constexpr uint8_t kHighAboveDrainage = 2;
inline constexpr uint8_t kRadarShadowReserved = 4;
inline constexpr uint8_t kExclusionNodata = 255;

struct ExclusionRule {
  // HAND > 15 m: Twele et al. 2016 and the Copernicus GFM exclusion mask (floods rarely stand
  // higher above their river). Slope > 10°, the top of the 5–10° range services use: on a 1 m
  // quantized 30 m DEM (the Rome test DEM) one-metre steps alone read as 2–3°, and 5° flags 11%
  // of the Tiber floodplain (10°: 0.6%; hills 10%), so HAND does the work on gentle hills.
  // docs/terrain.md has the measurements.
  double slope_max_deg = 10.0;
  double hand_max_m = 15.0;
  bool apply = true;  // false (--no-exclusion): the layer is written, no water is removed
  static ExclusionRule default_params() { return {}; }
};

// Flags of one pixel: NaN height means no DEM data (255); NaN slope or HAND leaves that bit unset.
uint8_t exclusion_flags(float height, float slope_deg, float hand_m, const ExclusionRule& r);

struct ExclusionTally {
  bool has_area = false;
  int64_t pixels = 0, steep_pixels = 0, high_pixels = 0, excluded_pixels = 0;
  int64_t dem_nodata_pixels = 0;     // 255: not excluded, counted apart
  int64_t hand_unknown_pixels = 0;   // DEM data but no HAND (the path left the DEM window first)
  double steep_m2 = 0, high_m2 = 0, excluded_m2 = 0, dem_nodata_m2 = 0;
  nlohmann::json to_json() const;
};

// Staged flags raster (Byte, nodata 255) on the layers' (output) grid, in strips of rows.
ExclusionTally write_exclusion_stage(const TerrainLayers& layers, const ExclusionRule& rule, const std::string& out_stage,
                                     const std::optional<io::PixelArea>& area);

// Water the model found on excluded ground, tallied while the mask is written: removed from the
// mask when the rule applies, only counted when it does not.
struct ExclusionRemoval {
  bool applied = true;
  bool has_area = false;
  int64_t pixels = 0, steep_pixels = 0, high_pixels = 0;
  double m2 = 0, steep_m2 = 0, high_m2 = 0;
  nlohmann::json to_json() const;
};

}  // namespace drshym::terrain
