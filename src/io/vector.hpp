#pragma once
// Vector side of GDAL/OGR: areas of interest (GeoJSON polygons in any CRS), rasterizing them
// onto a pixel grid, and polygonizing labelled masks into GeoJSON with per-polygon attributes.
#include <array>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/geo.hpp"

namespace drshym::io {

// An area of interest reprojected into a raster's CRS.
class Aoi {
 public:
  // Reads every Polygon/MultiPolygon feature of a vector file (GeoJSON, GPKG, ...) and unites
  // them. Throws NotFound, or InvalidInput when it holds no polygon ("AOI is not a polygon").
  // Files without a CRS are taken as EPSG:4326 (GeoJSON's default).
  static Aoi read(const std::string& path, const std::string& target_crs_wkt);
  Aoi(Aoi&&) noexcept;
  Aoi& operator=(Aoi&&) noexcept;
  ~Aoi();

  // [minx, miny, maxx, maxy] in the target CRS.
  std::array<double, 4> bounds() const;
  // Pixel window of a raster grid covering the AOI, clipped to [0,width)x[0,height);
  // empty when they do not overlap.
  Window window_on(const GeoTransform& gt, int width, int height) const;
  // 1 where a pixel centre of the window lies inside the AOI.
  std::vector<uint8_t> rasterize(const GeoTransform& gt, const Window& win) const;
  const std::string& path() const { return path_; }

 private:
  Aoi();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
};

// A GeoJSON object may name its CRS ({"type": "name", "properties": {"name": "EPSG:4326"}}, an
// EPSG code or an OGC URN that GDAL resolves) or leave it out (WGS 84). Anything else, at any
// level, is refused (InvalidInput), an unknown name too (it would read as WGS 84): GDAL's GeoJSON reader follows {"type": "link", "properties": {"href": ...}},
// which makes it open a URL or a file the GeoJSON's author chose. Aoi::read checks its
// *.geojson files with this before GDAL sees them, and the server checks client GeoJSON.
void require_named_geojson_crs(const nlohmann::json& geojson);

struct PolygonizeParams {
  std::string mask_path;       // uint8 label raster: 0 background, labels 1, 2, ..., 255 nodata
  std::string proba_path;      // float raster on the same grid (mean probability per polygon)
  std::string out_path;        // GeoJSON to write
  double min_area_m2 = 0;      // drop polygons smaller than this (speckle)
  std::string out_crs = "rfc7946";  // see parse_geojson_crs
  // The names of labels 1, 2, ... written as each polygon's `class`; labels past the list are
  // not polygonized. Empty: label 1 only, and no `class` field (a plain 1/0 mask).
  std::vector<std::string> class_names;
  std::string layer_name = "polygons";  // the GeoJSON's layer ("name" member)
};

// Which CRS the polygons are written in: "rfc7946" (default; WGS 84 lon/lat without a `crs`
// member, as RFC 7946 requires), "source" (the scene's CRS, with a `crs` member), or any CRS
// GDAL understands ("EPSG:3857", a WKT or PROJ string). Throws Usage for anything else, so a
// typo fails before any work.
struct GeoJsonCrs {
  enum class Kind { Rfc7946, Source, Other } kind = Kind::Rfc7946;
  std::string crs;  // for Other
};
GeoJsonCrs parse_geojson_crs(const std::string& value);

struct PolygonizeResult {
  int polygons = 0;            // written
  int dropped_small = 0;
  double area_m2 = 0;          // of written polygons (every label)
  // With class_names: polygons and area per label (index = label - 1).
  std::vector<int> class_polygons;
  std::vector<double> class_area_m2;
  // Polygons whose mean_proba was found by rasterizing them because they matched no piece of
  // the one-pass scan (a safety net; 0 unless GDAL's polygons and the scan disagree).
  int burned_for_stats = 0;
};

// The polygons of a mask's labels (label 1, or every named label), with area_m2 (ground area in
// m²: see io/area.hpp), mean_proba (of the finite probabilities of its pixels) and, with
// class_names, its class. io knows no class: the caller names them (infer: the water classes).
// Time linear in the scene's size, memory O(width + polygons).
PolygonizeResult polygonize_labels(const PolygonizeParams& p);

}  // namespace drshym::io
