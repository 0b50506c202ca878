#include "serve/map_info.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/error.hpp"
#include "explain/overlay.hpp"
#include "io/raster.hpp"
#include "io/warp.hpp"
#include "serve/tiles.hpp"

namespace drshym::serve {
namespace fs = std::filesystem;
namespace {

using nlohmann::json;

std::string hex(const eval::Rgb& c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

std::string fixed2(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

json legend_row(const char* layer, const std::string& label, const explain::Paint& p) {
  return {{"layer", layer}, {"label", label}, {"color", hex(p.rgb)}, {"alpha", p.alpha}};
}

// The footprint of a raster as a closed lon/lat ring (io::footprint_wgs84, as the batch's STAC
// items); empty when it has no CRS or cannot be taken to WGS 84.
std::vector<std::array<double, 2>> footprint_lonlat(const std::string& path) {
  try {
    return io::footprint_wgs84(io::Raster::open(path).info());
  } catch (const Error&) {
    return {};
  }
}

std::optional<std::array<double, 4>> bbox_of(const std::vector<std::array<double, 2>>& ring) {
  if (ring.empty()) return std::nullopt;
  std::array<double, 4> b{HUGE_VAL, HUGE_VAL, -HUGE_VAL, -HUGE_VAL};
  for (const auto& p : ring) b = {std::min(b[0], p[0]), std::min(b[1], p[1]), std::max(b[2], p[0]), std::max(b[3], p[1])};
  return b;
}

// The raster the map's extent comes from: the probability (always written), else the mask.
std::string extent_raster(const JobFiles& f) {
  for (const char* k : {"proba", "mask"})
    if (auto it = f.outputs.find(k); it != f.outputs.end()) return it->second;
  return "";
}

json layers_of(const JobFiles& f) {
  auto url = [&](const char* layer) { return "/v1/jobs/" + f.id + "/tiles/" + layer + "/{z}/{x}/{y}.png"; };
  json layers = json::array();
  if (!f.scene.empty())
    layers.push_back({{"name", "backdrop"}, {"title", "SAR backdrop (VV, dB)"}, {"url", url("backdrop")}, {"default_on", true}, {"opacity", 1.0}});
  layers.push_back({{"name", "proba"}, {"title", "Calibrated probability"}, {"url", url("proba")}, {"default_on", true}, {"opacity", 1.0}});
  if (f.outputs.count("classes"))
    layers.push_back({{"name", "classes"}, {"title", "Classes (flood / permanent water)"}, {"url", url("classes")}, {"default_on", false}, {"opacity", 1.0}});
  if (f.outputs.count("exclusion"))
    layers.push_back({{"name", "exclusion"}, {"title", "Excluded by terrain"}, {"url", url("exclusion")}, {"default_on", true}, {"opacity", 1.0}});
  return layers;
}

json legend_of(const JobFiles& f) {
  const double t = f.threshold;
  json rows = json::array();
  rows.push_back(legend_row("proba", "flood, p ≥ " + fixed2(t) + " (more opaque as p rises)", explain::flood_paint(1.0, t)));
  rows.push_back(legend_row("proba", "uncertain, mapped dry: 0.20 ≤ p < " + fixed2(t),
                            explain::uncertain_paint((0.2 + t) / 2, t, false)));
  if (f.outputs.count("classes")) {
    rows.push_back(legend_row("classes", "flood water (new)", explain::class_paint(2, 1.0, t)));
    rows.push_back(legend_row("classes", "permanent water", explain::class_paint(1, 1.0, t)));
  }
  if (f.outputs.count("exclusion"))
    rows.push_back(legend_row("exclusion", "excluded by terrain (steep, or high above drainage)",
                              {explain::kExcludedPurple, 0.85}));
  rows.push_back({{"layer", "backdrop"}, {"label", "VV backscatter, −25 dB (black) to 0 dB (white)"},
                  {"gradient", {hex({0, 0, 0}), hex({255, 255, 255})}}});
  return rows;
}

json areas_of(const json& result) {
  const json fs_ = result.value("flood_summary", json::object());
  json a = json::object();
  for (const char* k : {"flood_km2", "likely_km2", "possible_km2", "confidence", "verdict", "valid_km2"})
    if (fs_.contains(k)) a[k] = fs_[k];
  const json classes = fs_.value("classes", json::object());
  for (const char* k : {"flood_water_km2", "permanent_water_km2"})
    if (classes.contains(k)) a[k] = classes[k];
  if (fs_.contains("rules")) a["rules"] = fs_["rules"];
  return a;
}

json downloads_of(const JobFiles& f) {
  json out = json::array();
  for (const auto& k : output_kinds()) {
    if (std::string(k.key) == "stac") {
      out.push_back({{"key", k.key}, {"label", k.label}, {"file", f.id + "_stac_item.json"}, {"url", output_url(f.id, k.key)}});
      continue;
    }
    auto it = f.outputs.find(k.key);
    if (it == f.outputs.end()) continue;
    std::error_code ec;
    const auto bytes = fs::file_size(it->second, ec);
    out.push_back({{"key", k.key}, {"label", k.label}, {"file", fs::path(it->second).filename().string()},
                   {"bytes", ec ? json(nullptr) : json(uint64_t(bytes))}, {"url", output_url(f.id, k.key)}});
  }
  return out;
}

}  // namespace

const std::vector<OutputKind>& output_kinds() {
  static const std::vector<OutputKind> kinds = {
      {"mask", "flood mask (COG)", "image/tiff; application=geotiff; profile=cloud-optimized"},
      {"proba", "calibrated probability (COG)", "image/tiff; application=geotiff; profile=cloud-optimized"},
      {"classes", "water classes (COG)", "image/tiff; application=geotiff; profile=cloud-optimized"},
      {"exclusion", "terrain exclusion (COG)", "image/tiff; application=geotiff; profile=cloud-optimized"},
      {"cam", "Grad-CAM relevance (COG)", "image/tiff; application=geotiff; profile=cloud-optimized"},
      {"geojson", "flood polygons (GeoJSON)", "application/geo+json"},
      {"overlay_png", "overlay picture (PNG)", "image/png"},
      {"cam_overlay_png", "Grad-CAM picture (PNG)", "image/png"},
      {"record", "record with provenance (JSON)", "application/json"},
      {"stac", "STAC item (JSON)", "application/geo+json"},
  };
  return kinds;
}

const OutputKind* find_output_kind(const std::string& key) {
  for (const auto& k : output_kinds())
    if (key == k.key) return &k;
  return nullptr;
}

std::string output_url(const std::string& id, const std::string& key) { return "/v1/jobs/" + id + "/outputs/" + key; }

json map_info(const JobFiles& f, const json& job) {
  const json result = job.value("result", json::object());
  const std::string extent = extent_raster(f);
  const auto bbox = extent.empty() ? std::nullopt : bbox_of(footprint_lonlat(extent));
  const bool has_polygons = f.outputs.count("geojson") > 0;
  return {{"id", f.id},
          {"image_uri", f.image_uri},
          {"bounds", bbox ? json{(*bbox)[0], (*bbox)[1], (*bbox)[2], (*bbox)[3]} : json(nullptr)},
          {"max_zoom", kMaxTileZoom},
          {"layers", layers_of(f)},
          {"polygons_url", has_polygons ? json(output_url(f.id, "geojson")) : json(nullptr)},
          {"polygon_colors",
           {{"flood", hex(explain::kFloodBlue)},
            {"flood_water", hex(explain::kFloodVermillion)},
            {"permanent_water", hex(explain::kPermanentNavy)}}},
          {"legend", legend_of(f)},
          {"caption", result.value("caption", "")},
          {"areas", areas_of(result)},
          {"threshold", f.threshold},
          {"downloads", downloads_of(f)}};
}

json stac_item(const JobFiles& f, const json& job) {
  const json result = job.value("result", json::object());
  const std::string extent = extent_raster(f);
  const auto ring = extent.empty() ? std::vector<std::array<double, 2>>{} : footprint_lonlat(extent);
  const auto bbox = bbox_of(ring);
  json coords = json::array();
  for (const auto& p : ring) coords.push_back({p[0], p[1]});
  json props = {{"datetime", job.value("created_at", "")},
                {"drshym:datetime_source", "job creation time (the scene's acquisition time is unknown here)"},
                {"drshym:caption", result.value("caption", "")},
                {"drshym:threshold", f.threshold},
                {"drshym:flood_summary", areas_of(result)}};
  json assets = json::object();
  for (const auto& k : output_kinds()) {
    auto it = f.outputs.find(k.key);
    if (it == f.outputs.end()) continue;
    assets[k.key] = {{"href", output_url(f.id, k.key)},
                     {"type", k.content_type},
                     {"title", k.label},
                     {"roles", {std::string(k.key) == "record" ? "metadata" : "data"}}};
  }
  return {{"type", "Feature"},
          {"stac_version", "1.0.0"},
          {"stac_extensions", json::array()},
          {"id", f.id},
          {"geometry", ring.empty() ? json(nullptr) : json{{"type", "Polygon"}, {"coordinates", {coords}}}},
          {"bbox", bbox ? json{(*bbox)[0], (*bbox)[1], (*bbox)[2], (*bbox)[3]} : json(nullptr)},
          {"properties", props},
          {"links", {{{"rel", "self"}, {"href", output_url(f.id, "stac")}, {"type", "application/geo+json"}}}},
          {"assets", assets}};
}

}  // namespace drshym::serve
