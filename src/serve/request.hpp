#pragma once
// What a client may ask for, checked before any work is queued or any file opened:
//   InputPolicy   which image URIs may be read (local files under --input-root folders; remote
//                 URIs only under an explicit --allow-remote prefix)
//   SegmentRequest the body of POST /v1/segment and POST /v1/jobs, with every option bounded
// Errors are drshym::Error: Usage (400) for malformed or out-of-range fields, Forbidden (403)
// for a URI outside what the policy allows, NotFound (404) for a missing file inside a root.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/limits.hpp"
#include "pipeline/scene_job.hpp"

namespace drshym::serve {

class InputPolicy {
 public:
  // roots: existing folders (made canonical here; a missing one is a usage error);
  // remote_prefixes: e.g. "https://data.example.org/s1/" or "s3://bucket/scenes/".
  InputPolicy(const std::vector<std::string>& roots, const std::vector<std::string>& remote_prefixes);
  // The path (or remote URI) GDAL should open for a client's image URI. Local files: file://
  // URIs or absolute paths; no "..", and the file with every symlink resolved must lie under
  // a root. Remote URIs: under an allowed prefix, with no '.' or '..' segment, no encoded '/',
  // '\\' or '.'. Nothing is opened before those checks; then the file must be a GeoTIFF (GDAL's
  // GTiff driver, COGs included): a VRT or any format that can reference other files could
  // reach outside the roots, so it is refused (InvalidInput).
  // field names the request field in messages ("image_uri", "before_uri", "dem_uri").
  std::string resolve(const std::string& uri, const std::string& field = "image_uri") const;
  const std::vector<std::string>& roots() const { return roots_; }

 private:
  std::vector<std::string> roots_;
  std::vector<std::string> remote_;
};

struct RequestLimits {
  int min_tile = pipeline::kApiMinTile, max_tile = pipeline::kApiMaxTile;
  // Grad-CAM keeps a tile's activations and gradients: memory grows with tile², about 4 GB
  // for one 2048 px tile, so explained requests take smaller tiles.
  int max_explain_tile = 512;
  int tile_multiple = 16;          // what every loaded network accepts
  size_t max_aoi_vertices = 100000;
  std::vector<std::string> models; // names options.model may take (empty: any)
};

// JSON nesting a request body may have; deeper bodies are refused while parsing (a hostile
// body nested 100k deep would otherwise exhaust the stack of anything that walks it).
inline constexpr int kMaxJsonDepth = 32;

// Parses a request body; malformed JSON or nesting deeper than kMaxJsonDepth → Usage.
nlohmann::json parse_request_json(const std::string& text);

struct SegmentRequest {
  std::string image_uri;           // as the client gave it
  std::string source;              // resolved by the InputPolicy
  // The options as a scene job (pipeline/options.hpp's table: keys, bounds, defaults): URI
  // options resolved by the InputPolicy, GeoJSON options not yet written (their paths empty;
  // the service writes geojson(key) into the request's folder).
  pipeline::SceneJob job;
  // The options as given, checked, plus the table's echoed defaults (tile, overlap, ...): what
  // to_json stores. URIs as the client gave them, GeoJSON objects as sent.
  nlohmann::json options = nlohmann::json::object();
  const nlohmann::json* geojson(const char* key) const {  // options.aoi / options.explain_region, or null
    return options.contains(key) ? &options[key] : nullptr;
  }
  std::string given(const char* key) const { return options.value(key, std::string()); }  // a URI as given
  nlohmann::json to_json() const { return {{"domain", "flood_sar"}, {"image_uri", image_uri}, {"options", options}}; }
};

// Parses and checks a request body. Unknown fields are refused (a typo must not be ignored).
SegmentRequest parse_segment_request(const nlohmann::json& body, const InputPolicy& policy,
                                     const RequestLimits& limits);

}  // namespace drshym::serve
