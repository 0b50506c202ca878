#pragma once
// A plain-language summary of a flood map that never claims more than it knows: deterministic
// text from the mask, the calibrated probabilities and the geotransform.
//
//   "Flooding detected over 2.43 km² (likely 2.21, possibly up to 2.71 km²), 9% of the valid
//    area, mostly a contiguous band about 3.1 km long running north-south in the scene's centre;
//    confidence high. 12% of the scene had no valid data."
//
// Numbers and the rules behind the words (docs: README, "Captions"):
// - areas: the mask (p >= threshold), with a band from the calibrated probabilities: "likely"
//   = ground where p >= 0.8, "possibly up to" = where p >= 0.2 (widened to contain the mask's
//   area when a custom threshold lies outside [0.2, 0.8]); exact ground areas, ellipsoidal for
//   lon/lat grids (ProbaWriter's tally, full resolution).
// - the largest flood body: 8-connected components of the mask on a grid of at most
//   kShapeGridSide px a side (nearest-neighbour decimation); its length is the extent along
//   its principal axis (ground metres), its direction that axis (N-S, E-W, NE, NW), its place
//   the scene third its centroid falls in. "contiguous band": the largest body holds at least
//   half the flood area and its length is at least 3x its mean width (area / length, so a
//   meandering river counts); "compact area": at least half, less elongated; otherwise
//   "scattered patches".
// - confidence: "high" when the flooded pixels' mean calibrated probability is >= 0.85 and the
//   ambiguous ground (0.2 <= p < 0.8) is at most half the flooded area; "moderate" at >= 0.7 and
//   at most equal to it; otherwise "low".
// - "No flooding detected" when the mask is empty; "Too few valid pixels to judge" (with the
//   count) when fewer than 1% of the pixels (or fewer than 100) are valid. With an AOI polygon,
//   the pixels outside it are neither counted nor called "no valid data".
#include <string>

#include <nlohmann/json.hpp>

#include "core/geo.hpp"
#include "infer/proba_writer.hpp"
#include "infer/segment.hpp"

namespace drshym::explain {

inline constexpr int kShapeGridSide = 2048;

struct CaptionInput {
  std::string mask_path;       // UInt8 mask: 1 flood, 0 dry, 255 nodata
  std::string crs_wkt;         // of the mask's grid
  GeoTransform geotransform;   // of the mask's grid
  infer::FloodTally tally;     // areas tallied at full resolution
  double threshold = 0.5;
};

struct FloodBody {
  double area_m2 = 0;          // on the shape grid
  double share_of_flood = 0;   // of all flood area on the shape grid
  double length_m = 0;         // extent along the principal axis
  double width_m = 0;          // extent across it
  double elongation = 1;       // length / mean width = length² / area
  double axis_deg = 0;         // principal axis, degrees from east towards north, in [0, 180)
  std::string direction;       // "north-south", "east-west", "north-east", "north-west"
  std::string where;           // "north-west", "north", ..., "centre"
};

struct FloodSummary {
  std::string verdict;         // "flooding", "no_flooding", "too_little_data"
  double flood_km2 = 0, likely_km2 = 0, possible_km2 = 0, expected_km2 = 0;
  double valid_km2 = 0;
  double flood_share_of_valid = 0;   // 0..1
  double nodata_share = 0;           // of the output pixels (inside the AOI polygon when there is one), 0..1
  double mean_flood_probability = 0;
  std::string confidence;            // "high", "moderate", "low" ("" without flooding)
  int patches = 0;                   // flood bodies on the shape grid
  std::string pattern;               // "contiguous band", "compact area", "scattered patches"
  FloodBody largest;
  bool has_area = true;              // false: no CRS, areas are pixel counts
  std::string text;
  nlohmann::json to_json() const;
};

// Reads the mask decimated to at most kShapeGridSide a side; everything else comes from the input.
FloodSummary summarize_flood(const CaptionInput& in);

// The words for an axis angle (degrees from east towards north) and for a point's place in a
// box (fractions from the west and from the north edge, each in [0, 1]).
std::string direction_words(double axis_deg);
std::string place_words(double from_west, double from_north);

}  // namespace drshym::explain

namespace drshym::explain {

// The segment hook (infer::SegmentHooks::describe): {"caption": text, "flood_summary": numbers}.
nlohmann::json describe_scene(const infer::SceneProducts& products);

}  // namespace drshym::explain
