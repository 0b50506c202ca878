#pragma once
// What the map page of a finished job shows besides tiles, as JSON the page's script reads
// (GET /v1/jobs/{id}/map), and a STAC 1.0.0 Item describing the job's outputs (the "stac"
// download). Colours in the legend come from explain/overlay.hpp, the one palette.
//
//   auto files = service.job_files(id);           // done jobs only
//   nlohmann::json info = serve::map_info(*files, *service.job(id));
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/service.hpp"

namespace drshym::serve {

// Downloadable outputs by key, in the order the page lists them: the file a key names comes
// from JobFiles::outputs; "stac" is generated (stac_item below).
struct OutputKind {
  const char* key;
  const char* label;
  const char* content_type;
};
const std::vector<OutputKind>& output_kinds();
const OutputKind* find_output_kind(const std::string& key);

// Output route of a job's file: /v1/jobs/{id}/outputs/{key}.
std::string output_url(const std::string& id, const std::string& key);

// The map page's data: {"id", "bounds": [west, south, east, north] (WGS 84) or null, "layers":
// [{"name", "title", "url" (tile template), "default_on", "opacity"}], "polygons_url" or null,
// "legend": [{"layer", "label", "color" "#rrggbb", "alpha"}], "caption", "areas", "downloads":
// [{"key", "label", "file", "bytes", "url"}], "threshold"}. job: the GET /v1/jobs/{id} body.
nlohmann::json map_info(const JobFiles& files, const nlohmann::json& job);

// A STAC 1.0.0 Item for the job: footprint and bbox in WGS 84 (from the probability raster),
// datetime = the job's creation time (the scene's acquisition time is not known here), the
// flood summary as properties, every output as an asset linked through the output route.
nlohmann::json stac_item(const JobFiles& files, const nlohmann::json& job);

}  // namespace drshym::serve
