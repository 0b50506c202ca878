#pragma once
// `drshym segment`: the main job. Streams a scene window by window through the model (a reader
// thread prepares tiles while the network runs), blends overlapping tiles, applies the
// checkpoint's temperature and threshold and writes, in the scene's CRS and grid:
//   <scene>_proba.tif (COG, Float32, NaN nodata)   <scene>_mask.tif (COG, 1 flood, 0 dry, 255 nodata)
//   <scene>_flood.geojson   <scene>_overlay.png   <scene>_record.json
// Memory stays bounded by a few tile rows whatever the scene size.
#include <nlohmann/json.hpp>
#include <string>

#include "tiling/window_grid.hpp"

namespace drshym::infer {

class Predictor;  // infer/predictor.hpp (LibTorch): only callers that build one need it

struct SegmentParams {
  std::string scene_uri;
  std::string out_dir;
  std::string aoi_path;           // optional polygon (any CRS): restricts and crops the work
  tiling::GridParams grid;        // tile 512, overlap 64
  int batch_size = 1;              // tiles per model call (per worker)
  int model_workers = 0;           // 0: one single-threaded worker per CPU thread of the predictor
  double min_area_m2 = 1000.0;    // flood polygons smaller than this are dropped (speckle)
  std::string geojson_crs = "rfc7946";  // "source", or any CRS GDAL knows (io::parse_geojson_crs)
  bool write_polygons = true;
  bool write_overlay = true;
  bool cog = true;                // Cloud-Optimized GeoTIFF (else plain tiled GeoTIFF)
  bool progress = true;
  static SegmentParams default_params() { return {}; }
};

struct SegmentResult {
  std::string scene_id;
  nlohmann::json outputs;   // name → path
  nlohmann::json record;    // DrShymRecord + provenance (also written as <scene>_record.json)
  int64_t valid_pixels = 0;
  int64_t flood_pixels = 0;
  double seconds_total = 0, seconds_model = 0;
  int tiles = 0;
};

// Throws drshym::Error for bad input before any output is written; a failure later removes
// every output written so far (nothing half-written remains under a final name).
SegmentResult segment_scene(const SegmentParams& p, const Predictor& predictor);

// Write an overlay PNG: SAR backdrop (VV dB) with flood drawn in blue, opacity by confidence.
// Reads decimated views, so memory stays small for any scene size.
void write_overlay_png(const std::string& scene_uri, int vv_band, const Window& region,
                       const std::string& proba_path, const std::string& mask_path, const std::string& out_png,
                       int max_side = 1600);

}  // namespace drshym::infer
