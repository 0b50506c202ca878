#pragma once
// `drshym segment`: the main job. Streams a scene window by window through the model (a reader
// thread prepares tiles while the network runs), blends overlapping tiles, applies the
// checkpoint's temperature and threshold and writes, in the scene's CRS and grid:
//   <scene>_proba.tif (COG, Float32, NaN nodata)   <scene>_mask.tif (COG, 1 flood, 0 dry, 255 nodata)
//   <scene>_classes.tif (COG, 0 dry, 1 permanent water, 2 flood water, 255 nodata; the water is
//   the mask's, split by a pre-event scene, a reference water raster or the permanent-water head)
//   <scene>_flood.geojson   <scene>_record.json
// and, with a DEM (dem_uri), <scene>_exclusion.tif (COG, UInt8 flags: 1 steep slope, 2 high
// above drainage, 4 reserved, 255 no DEM data; terrain/exclusion.hpp): water on flagged ground
// is removed from the mask, and so from the classes and the polygons, unless exclusion.apply is off.
// and, with the explain module's hooks (SegmentHooks::explain, ::render), <scene>_cam.tif
// (Grad-CAM relevance, blended like the probabilities) and the overlay PNGs.
// Memory stays bounded by a few tile rows whatever the scene size.
#include <nlohmann/json.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/geo.hpp"
#include "infer/proba_writer.hpp"
#include "terrain/exclusion.hpp"
#include "terrain/terrain.hpp"
#include "tiling/window_grid.hpp"

namespace drshym::core {
class CancelToken;  // core/cancel.hpp
}

namespace at {
class Tensor;  // LibTorch: only the explain hook's implementers need it
}

namespace drshym::infer {

class Predictor;  // infer/predictor.hpp (LibTorch): only callers that build one need it

struct SegmentParams {
  std::string scene_uri;
  std::string out_dir;
  std::string aoi_path;           // optional polygon (any CRS): restricts and crops the work
  tiling::GridParams grid;        // tile 512, overlap 64
  std::optional<double> threshold;  // decision threshold on the calibrated probability; default: the predictor's
  int batch_size = 1;              // tiles per model call (per worker)
  int model_workers = 0;           // 0: one single-threaded worker per CPU thread of the predictor
  double min_area_m2 = 1000.0;    // flood polygons smaller than this are dropped (speckle)
  std::string geojson_crs = "rfc7946";  // "source", or any CRS GDAL knows (io::parse_geojson_crs)
  bool write_polygons = true;
  bool write_overlay = true;      // drawn by SegmentHooks::render; without one no overlay is written
  bool cog = true;                // Cloud-Optimized GeoTIFF (else plain tiled GeoTIFF)
  bool progress = true;
  // Flood vs permanent water (infer/water_classes.hpp): <scene>_classes.tif, classed polygons.
  bool write_classes = true;
  std::string before_uri;             // pre-event scene, any grid or CRS (GDAL warps it onto this
                                      // scene's grid): the change model decides
  std::string reference_water;        // without a before scene: a water occurrence raster in %
                                      // (e.g. JRC Global Surface Water), warped by GDAL
  double reference_water_min = 50.0;  // occurrence (%) from which water counts as permanent
  // Terrain (segment --dem): a DEM in any CRS and resolution (at most terrain.max_cell_ratio
  // times coarser than the scene), warped by GDAL; slope and HAND flag ground where SAR water is
  // not believed (radar shadow and dark slopes look like water).
  std::string dem_uri;
  terrain::TerrainParams terrain;    // margin around the scene, cell ratio limit, HAND drainage threshold
  terrain::ExclusionRule exclusion;  // slope and HAND thresholds; apply = false keeps every water pixel
  static SegmentParams default_params() { return {}; }
};

// The networks of one run: the water model and the water type model that splits its water
// into classes (the change model with before_uri; a permanent-water network for a water model
// without its own head). type = null: the embedded one is loaded when the params need one, or
// none is needed (the water model's own head, a reference raster, no classes). Which model that
// is: type_model_name, infer/water_classes.hpp; infer::ModelSet picks and caches both.
struct SceneModels {
  SceneModels(const Predictor& water_model, const Predictor* type_model = nullptr)  // NOLINT: implicit from a Predictor
      : water(&water_model), type(type_model) {}
  const Predictor* water;
  const Predictor* type;
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

// The named stages of a run, in order, as reported to SegmentHooks::progress.
//   prepare  checks, scene and AOI opened, anchor measured, tile grid laid
//   model    tiles read, run through the network and blended into staged rasters (per tile)
//   finish   COGs, polygons and overlay written from the staged rasters
//   record   DrShymRecord + provenance assembled, then every output committed at once
inline constexpr const char* kSegmentStages[] = {"prepare", "model", "finish", "record"};

// The finished rasters of a run, handed to SegmentHooks::describe before the record is written.
struct SceneProducts {
  std::string mask_path;       // complete (staged) mask on the output grid: 1 flood, 0 dry, 255 nodata
  std::string proba_path;      // complete (staged) calibrated probabilities, NaN nodata
  std::string crs_wkt;
  GeoTransform geotransform;   // of the output grid (the AOI's window when cropped)
  FloodTally tally;            // areas tallied at full resolution while blending
  double threshold = 0.5;
  std::string classes_path;    // complete (staged) water classes ("" without classes)
  nlohmann::json classes;      // stats.classes of the record (null without classes)
  std::string exclusion_path;  // complete (staged) terrain exclusion flags ("" without a DEM)
  nlohmann::json exclusion;    // stats.exclusion of the record (null without a DEM)
  std::string anchor_caution;  // why the scene anchor's level may not be land ("" when it can be trusted)
};

// Per-tile explanation maps (the explain module's Grad-CAM), computed on the model workers.
struct TileExplainer {
  // x: model inputs [N, C, T, T] of the tiles at `windows` (scene pixels) → {calibrated
  // probabilities, maps}, both [N, 1, T, T], from one pass of the network (it replaces
  // Predictor::predict in runs that explain, and must give the same probabilities). Maps are
  // blended like the probabilities into <scene>_cam.tif. Called from several model workers at once.
  std::function<std::pair<at::Tensor, at::Tensor>(const at::Tensor& x, const std::vector<Window>& windows)> compute;
  nlohmann::json provenance;  // recorded as provenance.explain
};

// What the finish stage hands to SegmentHooks::render: complete staged rasters and where to
// write each PNG (temporary names, committed with the other outputs; "" = not wanted).
struct RenderJob {
  const SceneProducts& products;
  std::string scene_uri;
  int vv_band = 1;
  Window region;            // the scene window the products cover
  std::string cam_path;     // staged explanation map ("" without SegmentHooks::explain)
  std::string overlay_png;
  std::string cam_overlay_png;
};

// What a front-end (the CLI, the HTTP server) may attach to a run.
struct SegmentHooks {
  // Checked at safe points in every stage (besides the process-wide interrupt flag): a
  // cancelled token or a passed deadline stops the run and removes its outputs.
  const core::CancelToken* cancel = nullptr;
  // Called from the run's threads with a stage name and the fraction of that stage done.
  std::function<void(const std::string& stage, double fraction)> progress;
  // Called in the record stage; the JSON object it returns is merged into the record (the
  // explain module adds "caption" and "flood_summary"). infer does not depend on explain.
  std::function<nlohmann::json(const SceneProducts&)> describe;
  // Explanation maps per tile (segment --explain): adds <scene>_cam.tif.
  std::optional<TileExplainer> explain;
  // Called in the finish stage, beside polygonize, to draw the PNGs.
  std::function<void(const RenderJob&)> render;
};

// What decides a run's outputs besides the scene's pixels: the source, the model (checkpoint
// SHA-256, temperature, threshold), tiling, AOI (path and SHA-256 of its file), polygon and
// overlay options and the explanation wanted. Written as provenance.output_key; a run with an
// equal key writes the same outputs (`drshym batch --resume` compares them). Reads the AOI file.
nlohmann::json output_key(const SegmentParams& p, const SceneModels& models, const SegmentHooks& hooks = {});

// Throws drshym::Error for bad input before any output is written; a failure later removes
// every output written so far (nothing half-written remains under a final name).
SegmentResult segment_scene(const SegmentParams& p, const SceneModels& models, const SegmentHooks& hooks = {});

}  // namespace drshym::infer
