#pragma once
// DrShymRecord v0.1: the JSON that accompanies every tile (and every segmented scene):
// identity, modality, CRS, pixel spacing and bounds computed from the real geotransform,
// provenance (source URI + processing steps) and the label set.
#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/geo.hpp"

namespace drshym::ingest {

inline constexpr const char* kRecordVersion = "0.1";

struct DrShymRecord {
  std::string image_id;
  std::string modality = "sentinel1_sar_vv";
  std::string crs;  // "EPSG:32644", or the WKT when no EPSG code applies
  std::array<double, 2> pixel_spacing{0, 0};
  std::array<int, 2> tile_size{0, 0};
  std::array<double, 4> bounds{0, 0, 0, 0};  // minx, miny, maxx, maxy in `crs`
  std::string source_uri;
  std::vector<std::string> processing;
  std::vector<std::string> label_set{"flooded", "non_flooded"};
  nlohmann::json extra_provenance = nlohmann::json::object();  // merged into "provenance"

  nlohmann::json to_json() const;
};

// Fill crs, pixel_spacing, tile_size and bounds of a window from a raster's georeferencing.
DrShymRecord make_record(const std::string& image_id, const std::string& crs_code, const std::string& crs_wkt,
                         const GeoTransform& gt, const Window& window);

// Validate a record JSON; throws InvalidInput naming the first missing or mistyped field,
// e.g. "record: field 'bounds' must be an array of 4 numbers".
void validate_record(const nlohmann::json& j);

}  // namespace drshym::ingest
