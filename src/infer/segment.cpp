#include "infer/segment.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <cmath>
#include <condition_variable>
#include <map>
#include <limits>
#include <mutex>
#include <thread>
#include <tuple>

#include "core/blocking_queue.hpp"
#include "core/cancel.hpp"
#include "core/error.hpp"
#include "core/sha256.hpp"
#include "core/fs.hpp"
#include "core/interrupt.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "ingest/record.hpp"
#include "ingest/scene.hpp"
#include "io/decimate.hpp"
#include "io/raster.hpp"
#include "io/uri.hpp"
#include "io/vector.hpp"
#include "infer/predictor.hpp"
#include "infer/proba_writer.hpp"
#include "infer/exclusion_stage.hpp"
#include "infer/water_classes.hpp"
#include "io/warp.hpp"
#include "model/checkpoint.hpp"

namespace drshym::infer {
namespace {

// How a record names its source: local paths as absolute file:// URIs, remote URIs as given.
std::string source_uri_of(const std::string& uri) {
  return io::is_local(uri) ? io::to_file_uri(io::to_gdal_path(uri)) : uri;
}

// An input file as an output key names it: its path and, when local, its content's SHA-256.
nlohmann::json file_key(const std::string& path) {
  return {{"path", path},
          {"sha256", io::is_local(path) ? nlohmann::json(core::file_sha256(io::to_gdal_path(path)))
                                        : nlohmann::json(nullptr)}};
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One prepared tile: model input (C x T x T) and validity (T x T), region coordinates.
struct TileInput {
  tiling::Tile tile;
  std::vector<float> input;
  std::vector<uint8_t> valid;
  std::vector<float> type_input;  // the water type model's input (C' x T x T), with its validity
  std::vector<uint8_t> type_valid;
  bool empty = false;  // no valid pixel: not run through the model
  bool outside_aoi = false;  // a window the AOI's bounding box does not touch
};

// One predicted tile on its way to the blending writer: probabilities (T x T) and validity;
// proba is undefined for an empty tile.
struct TileOutput {
  tiling::Tile tile;
  torch::Tensor proba;
  std::vector<uint8_t> valid;
  torch::Tensor cam;  // explanation map (T x T) when the run explains
  torch::Tensor type;  // the water type model's probabilities (T x T), with its validity
  std::vector<uint8_t> type_valid;
};

bool any_set(const std::vector<uint8_t>& flags) {
  return std::any_of(flags.begin(), flags.end(), [](uint8_t v) { return v != 0; });
}

// Model workers for a run: as asked, else one per intra-op thread the predictor was given
// (each then single-threaded), or one on a GPU.
int model_workers(const SegmentParams& p, const Predictor& predictor) {
  if (p.model_workers < 0) throw Error(ErrorKind::Usage, "segment", "model workers must be >= 0");
  if (p.model_workers > 0) return p.model_workers;
  return predictor.on_cpu() ? std::max(1, at::get_num_threads()) : 1;
}

// Sets LibTorch's intra-op thread count for the lifetime of the guard (0: leave it alone).
class ModelThreadsGuard {
 public:
  explicit ModelThreadsGuard(int n) : previous_(at::get_num_threads()), set_(n > 0) {
    if (set_) at::set_num_threads(n);
  }
  ~ModelThreadsGuard() {
    if (set_) at::set_num_threads(previous_);
  }

 private:
  int previous_;
  bool set_;
};

// One run of segment_scene, stage by stage (kSegmentStages). Members carry what one stage
// hands to the next; every stage checks the hooks' token and the interrupt flag.
class SceneRun {
 public:
  SceneRun(const SegmentParams& p, const SceneModels& models, const SegmentHooks& hooks)
      : p_(p), predictor_(*models.water), given_type_model_(models.type), pp_(predictor_.preprocess()), hooks_(hooks),
        t_start_(Clock::now()) {}

  void prepare();
  void run_model();
  void finish_outputs();
  SegmentResult record_and_commit();

 private:
  // At a safe point: the interrupt flag and the hooks' token (messages start "segment: ...").
  void check() const { core::check_cancelled(hooks_.cancel, "segment"); }
  void progress(const char* stage, double f) const {
    if (hooks_.progress) hooks_.progress(stage, f);
  }
  nlohmann::json provenance() const;
  SceneProducts products() const {
    return {writer_->mask_stage(), writer_->proba_stage(), info_.crs_wkt,
            info_.geotransform.shifted(region_.x, region_.y), writer_->tally(), threshold(),
            classes_ ? classes_stage_ : "", classes_ ? classes_json() : nlohmann::json(nullptr),
            exclusion_ ? exclusion_->flags_stage() : "",
            exclusion_ ? exclusion_->stats(writer_->removal()) : nlohmann::json(nullptr)};
  }
  void prepare_classes(const io::CreateOptions& geo, const OutputCrop& crop);
  nlohmann::json classes_json() const;
  nlohmann::json classes_provenance() const;
  double threshold() const { return p_.threshold ? *p_.threshold : predictor_.threshold(); }

  const SegmentParams& p_;
  const Predictor& predictor_;
  const Predictor* given_type_model_;  // the caller's (SceneModels::type), or null
  const ingest::Preprocess& pp_;
  const SegmentHooks& hooks_;
  const Clock::time_point t_start_;
  // prepare
  std::optional<ingest::Scene> scene_;
  io::RasterInfo info_;
  Window region_;
  std::optional<io::Aoi> aoi_;
  float anchor_vv_db_ = std::numeric_limits<float>::quiet_NaN();
  float anchor_shift_ = 0;
  const char* anchor_measured_on_ = "scene";
  std::optional<tiling::WindowGrid> grid_;
  std::vector<uint8_t> touches_;
  std::string base_;
  core::OutputSet outs_;
  std::optional<ProbaWriter> writer_;
  std::optional<BlendedBand> cam_;  // with hooks_.explain
  // water classes (p_.write_classes)
  std::optional<ClassSource> classes_;
  std::shared_ptr<const Predictor> own_type_model_;  // loaded here when the caller gave none
  const Predictor* type_model_ = nullptr;            // given_type_model_ or own_type_model_
  const ingest::Preprocess* type_pp_ = nullptr;      // the type model's recipe
  int type_head_ = 0;  // > 0: the main network's permanent-water head is the type layer (no second network)
  float type_shift_ = 0, before_shift_ = 0, before_vv_db_ = std::numeric_limits<float>::quiet_NaN();
  int before_vv_band_ = 1;
  std::string before_stage_, reference_stage_, classes_stage_;  // scratch rasters
  std::optional<BlendedBand> type_band_;  // the type model's blended probabilities
  ClassesTally classes_tally_;
  std::optional<ExclusionStage> exclusion_;  // with p_.dem_uri
  std::vector<std::string> model_terrain_;    // height, slope, HAND on the scene grid, when the model reads them
  core::OutputSet scratch_;  // never finished: its files are removed whatever happens
  SegmentResult res_;
  // model
  int workers_ = 1;
  int tiles_skipped_ = 0;
  double read_seconds_ = 0, write_seconds_ = 0;
  // finish
  io::PolygonizeResult poly_;
  double finish_seconds_ = 0, polygonize_seconds_ = 0, overlay_seconds_ = 0, classes_seconds_ = 0, terrain_seconds_ = 0;
};

// ---- prepare: every check that can fail on bad input runs before any compute or output ----
void SceneRun::prepare() {
  progress("prepare", 0.0);
  io::parse_geojson_crs(p_.geojson_crs);  // a typo is a usage error, not a silently ignored option
  if (p_.batch_size < 1) throw Error(ErrorKind::Usage, "segment", "batch size must be >= 1");
  if (p_.threshold) require_threshold(*p_.threshold, "segment");
  if (const int m = predictor_.net()->config().input_multiple(); p_.grid.tile % m != 0)
    throw Error(ErrorKind::Usage, "segment",
                "tile size " + std::to_string(p_.grid.tile) + " is not a multiple of " + std::to_string(m) +
                    ", which " + predictor_.net()->config().arch + " needs; try " +
                    std::to_string(std::max(m, p_.grid.tile / m * m)));
  if (!p_.dem_uri.empty()) check_terrain_options(p_);
  if (pp_.needs_terrain() && p_.dem_uri.empty())
    throw Error(ErrorKind::Usage, "segment",
                "model " + predictor_.describe() + " reads terrain (its bands include DEM, SLOPE or HAND): give a DEM (--dem)");
  if (pp_.needs_optical())
    throw Error(ErrorKind::Usage, "segment",
                "model " + predictor_.describe() + " reads Sentinel-2 bands (" + pp_.optical_bands().front() +
                    ", ...): it is a distillation teacher for `drshym train`; segment maps SAR scenes with an S1 model");
  type_model_ = checked_type_model(p_, predictor_, given_type_model_, own_type_model_);
  scene_.emplace(ingest::open_scene(p_.scene_uri, pp_.needs_vh()));
  info_ = scene_->raster.info();
  core::ensure_writable_dir(p_.out_dir);
  if (scene_->bands.assumed)
    core::log().info("segment: no band description of {} names a polarisation: band 1 is taken as VV{}",
                     quoted(p_.scene_uri), scene_->bands.vh ? ", band 2 as VH" : "");
  region_ = Window{0, 0, info_.width, info_.height};
  if (!p_.aoi_path.empty()) {
    aoi_ = io::Aoi::read(p_.aoi_path, info_.crs_wkt);
    region_ = aoi_->window_on(info_.geotransform, info_.width, info_.height);
    if (region_.empty())
      throw Error(ErrorKind::InvalidInput, "segment",
                  "AOI " + quoted(p_.aoi_path) + " does not overlap scene " + quoted(p_.scene_uri));
  }
  ingest::require_some_valid(*scene_);
  // The DEM's checks (no pixel read yet): a bad DEM fails before any work.
  if (!p_.dem_uri.empty())
    exclusion_.emplace(p_, io::Grid{info_.crs_wkt, info_.geotransform.shifted(region_.x, region_.y), region_.w, region_.h},
                       p_.out_dir + "/" + scene_->id);
  check();
  // Anchor over the whole scene (not the AOI): cropping must never change the model's input.
  bool anchor_from_tile = false;
  anchor_shift_ = ingest::scene_anchor_shift(*scene_, pp_.anchor, &anchor_vv_db_, &anchor_from_tile);
  anchor_measured_on_ = anchor_from_tile ? "source scene (tile metadata)" : "scene";
  if (pp_.anchor.enabled)
    core::log().debug("segment: anchor: VV p{:g} of the {} is {:.2f} dB, so inputs are shifted by {:+.2f} dB",
                      pp_.anchor.percentile, anchor_measured_on_, anchor_vv_db_, anchor_shift_);
  // Tiles are laid on the whole scene even with an AOI, and only those touching it run: the
  // AOI crops the outputs but never moves a tile or alters a pixel the model sees, so every
  // pixel inside it gets exactly the probability of an uncropped run.
  grid_.emplace(info_.width, info_.height, p_.grid);
  touches_.assign(grid_->tiles().size(), 0);
  for (const auto& t : grid_->tiles()) touches_[size_t(t.index)] = !t.window.intersect(region_).empty();
  res_.scene_id = scene_->id;
  res_.tiles = int(std::count(touches_.begin(), touches_.end(), 1));
  base_ = p_.out_dir + "/" + scene_->id;

  io::CreateOptions geo = io::like(info_, 1, io::DataType::Float32, std::nullopt);
  geo.width = region_.w;
  geo.height = region_.h;
  geo.geotransform = info_.geotransform.shifted(region_.x, region_.y);
  OutputCrop crop{Window{0, 0, info_.width, info_.height}, {}};
  if (aoi_) crop = OutputCrop{region_, [this](const Window& w) { return aoi_->rasterize(info_.geotransform, w); }};
  res_.outputs["proba"] = base_ + "_proba.tif";
  res_.outputs["mask"] = base_ + "_mask.tif";
  writer_.emplace(geo, *grid_, float(threshold()), base_ + "_proba.tif", base_ + "_mask.tif", crop);
  if (hooks_.explain) {
    res_.outputs["cam"] = base_ + "_cam.tif";
    cam_.emplace(geo, *grid_, base_ + "_cam.tif", "gradcam_relevance", crop);
  }
  if (p_.write_classes) prepare_classes(geo, crop);
  if (exclusion_) {
    check();
    const auto t0 = Clock::now();
    exclusion_->compute(scratch_, writer_->pixel_area());
    writer_->exclude(exclusion_->flags_stage(), p_.exclusion.apply);
    res_.outputs["exclusion"] = exclusion_->final_path();
    if (pp_.needs_terrain()) {
      const auto& l = exclusion_->scene_layers(io::Grid{info_.crs_wkt, info_.geotransform, info_.width, info_.height}, scratch_);
      model_terrain_ = {l.dem, l.slope, l.hand};  // ingest::kTerrainPlanes' order
    }
    terrain_seconds_ = seconds_since(t0);
  }
  progress("prepare", 1.0);
}

// The water type layer: the pre-event scene warped onto this scene's grid for the change
// model, the reference raster warped onto the output grid, or the permanent-water head alone.
// Every check on the extra inputs runs here, before any compute.
void SceneRun::prepare_classes(const io::CreateOptions& geo, const OutputCrop& crop) {
  res_.outputs["classes"] = base_ + "_classes.tif";
  classes_stage_ = core::temp_path_for(base_ + "_classes.stage.tif");
  scratch_.adopt(classes_stage_);
  if (!p_.reference_water.empty()) {
    classes_ = ClassSource::reference_water;
    reference_stage_ = core::temp_path_for(base_ + "_reference.stage.tif");
    scratch_.adopt(reference_stage_);
    const io::Grid out_grid{info_.crs_wkt, geo.geotransform, geo.width, geo.height};
    io::RasterInfo ref_info = [&] {
      try {
        return io::Raster::open(p_.reference_water).info();
      } catch (const Error& e) {
        throw Error(e.kind(), "segment", "--reference-water: " + std::string(e.what()));
      }
    }();
    if (!ref_info.crs_wkt.empty() && ref_info.has_geotransform && !io::may_overlap(ref_info, out_grid))
      throw Error(ErrorKind::InvalidInput, "segment",
                  "reference water raster " + quoted(p_.reference_water) + " does not overlap scene " + quoted(p_.scene_uri));
    io::warp_band_to_grid(p_.reference_water, 1, out_grid, reference_stage_, "bilinear", "--reference-water");
    if (io::finite_pixels_sampled(reference_stage_) == 0)
      throw Error(ErrorKind::InvalidInput, "segment",
                  "reference water raster " + quoted(p_.reference_water) + " has no value over scene " +
                      quoted(p_.scene_uri) + " (no overlap, or all nodata there)");
    return;
  }
  if (p_.before_uri.empty() && !type_model_) {
    // The main network has a permanent-water head (checked_type_model loaded no network): the
    // classes cost that head, computed in the same pass as the water.
    type_head_ = predictor_.head_index("permanent_water");
    if (type_head_ <= 0) throw Error(ErrorKind::Internal, "segment", "no water type model and no permanent-water head");
    type_band_.emplace(geo, *grid_, base_ + "_water_type.tif", "water_type_probability", crop);
    classes_ = ClassSource::permanent_head;
    return;
  }
  type_pp_ = &type_model_->preprocess();
  const ingest::Anchor& ta = type_pp_->anchor;
  type_shift_ = (ta.enabled == pp_.anchor.enabled && ta.percentile == pp_.anchor.percentile &&
                 ta.reference_db == pp_.anchor.reference_db)
                    ? anchor_shift_
                    : ingest::scene_anchor_shift(*scene_, ta);
  type_band_.emplace(geo, *grid_, base_ + "_water_type.tif", "water_type_probability", crop);
  if (p_.before_uri.empty()) {
    classes_ = ClassSource::permanent_head;
    return;
  }
  classes_ = ClassSource::change_model;
  // The pre-event scene: its own checks (bands, CRS, dB scale, some valid pixel), each naming it.
  std::optional<ingest::Scene> before;
  try {
    before.emplace(ingest::open_scene(p_.before_uri, false));
    ingest::require_some_valid(*before);
  } catch (const Error& e) {
    throw Error(e.kind(), "segment", "--before: " + std::string(e.what()));
  }
  before_vv_band_ = before->bands.vv;
  if (scene_->bands.assumed != before->bands.assumed)
    core::log().info("segment: {} names its polarisations and {} does not: band {} of the pre-event scene is taken as VV",
                     scene_->bands.assumed ? quoted(p_.before_uri) : quoted(p_.scene_uri),
                     scene_->bands.assumed ? quoted(p_.scene_uri) : quoted(p_.before_uri), before_vv_band_);
  const io::Grid full{info_.crs_wkt, info_.geotransform, info_.width, info_.height};
  if (!io::may_overlap(before->raster.info(), full))
    throw Error(ErrorKind::InvalidInput, "segment",
                "pre-event scene " + quoted(p_.before_uri) + " does not overlap scene " + quoted(p_.scene_uri));
  before.reset();
  before_stage_ = core::temp_path_for(base_ + "_before.stage.tif");
  scratch_.adopt(before_stage_);
  check();
  io::warp_band_to_grid(p_.before_uri, before_vv_band_, full, before_stage_, "bilinear", "--before");
  check();
  // The pre-event anchor: its VV percentile over this scene's footprint (as the change model
  // saw both dates of one area in training).
  before_vv_db_ = ingest::percentile_of(io::read_decimated(io::Raster::open(before_stage_), 1, 2048).values, ta.percentile);
  if (!std::isfinite(before_vv_db_))
    throw Error(ErrorKind::InvalidInput, "segment",
                "pre-event scene " + quoted(p_.before_uri) + " has no valid pixel over scene " + quoted(p_.scene_uri) +
                    " (they do not overlap, or the pre-event scene is nodata there)");
  before_shift_ = ta.shift_for(before_vv_db_);
}

nlohmann::json SceneRun::classes_json() const {
  nlohmann::json j = classes_tally_.to_json();
  j["source"] = to_string(*classes_);
  return j;
}

nlohmann::json SceneRun::classes_provenance() const {
  if (!classes_) return nullptr;
  nlohmann::json j{{"source", to_string(*classes_)}};
  if (type_head_ > 0) {
    j["model"] = {{"head", "permanent_water"},
                  {"of", "the water model (one pass, two heads)"},
                  {"checkpoint", predictor_.checkpoint_path()},
                  {"checkpoint_sha256", predictor_.checkpoint_sha256()},
                  {"temperature", predictor_.head_temperature(type_head_)},
                  {"threshold", predictor_.head_threshold(type_head_)}};
  } else if (type_model_) {
    j["model"] = {{"checkpoint", type_model_->checkpoint_path()},
                  {"checkpoint_sha256", type_model_->checkpoint_sha256()},
                  {"describe", type_model_->describe()},
                  {"bands", type_pp_->bands},
                  {"temperature", type_model_->temperature()},
                  {"threshold", type_model_->threshold()},
                  {"anchor_shift_db", type_shift_}};
  }
  if (*classes_ == ClassSource::change_model)
    j["before"] = {{"source_uri", source_uri_of(p_.before_uri)},
                   {"vv_band", before_vv_band_},
                   {"warp", "gdalwarp -r bilinear onto this scene's grid"},
                   {"vv_percentile_db", before_vv_db_},
                   {"anchor_shift_db", before_shift_}};
  if (*classes_ == ClassSource::reference_water)
    j["reference_water"] = {{"source_uri", source_uri_of(p_.reference_water)},
                            {"min_occurrence_percent", p_.reference_water_min},
                            {"warp", "gdalwarp -r bilinear onto the output grid"}};
  j["rule"] = *classes_ == ClassSource::change_model
                  ? fmt::format("water with P(flood) >= threshold is flood water; other water is permanent where "
                                "the pre-event VV (anchored) was below {:g} dB, else flood",
                                ClassesRule::kPermanentMaxBeforeDb)
              : *classes_ == ClassSource::reference_water
                  ? "water where the reference occurrence >= min is permanent, other water flood"
                  : "water with P(permanent) >= threshold is permanent water, other water flood";
  j["unknown_type"] = "water with no pre-event or reference value there is flood water";
  return j;
}

// ---- model: a pipeline of threads joined by bounded queues, so memory stays a few batches deep:
//   reader (read + preprocess) → model workers → writer (blend + write finished rows).
// On a CPU each worker runs the network single-threaded on its own batches: workers never
// wait for one another inside a convolution, so when the reader or writer takes a core only
// one worker pauses (with one multi-threaded network, the whole team would stall at the
// next barrier). The writer restores grid order, so results do not depend on scheduling.
void SceneRun::run_model() {
  const int T = p_.grid.tile;
  const size_t C = pp_.bands.size();
  const auto& info = info_;
  const auto& grid = *grid_;
  const auto& touches = touches_;
  const auto& scene = *scene_;
  auto& writer = *writer_;
  workers_ = model_workers(p_, predictor_);
  const int workers = workers_;
  ModelThreadsGuard threads_guard(workers > 1 ? 1 : 0);
  core::BlockingQueue<TileInput> inputs(size_t(2 * p_.batch_size * workers));
  core::BlockingQueue<TileOutput> outputs(size_t(2 * p_.batch_size * workers));
  std::vector<double> model_seconds(size_t(workers), 0.0);
  std::atomic<int> tiles_skipped{0};
  std::atomic<int> tiles_done{0};
  std::mutex error_mutex;
  std::exception_ptr first_error;
  auto fail = [&](std::exception_ptr e) {
    {
      std::lock_guard<std::mutex> lk(error_mutex);
      if (!first_error) first_error = e;
    }
    inputs.cancel();
    outputs.cancel();
  };
  std::thread reader, blender;
  std::vector<std::thread> model_threads;
  model_threads.reserve(size_t(workers));
  // Whatever happens, every thread is stopped and joined before this scope ends.
  struct Joiner {
    std::thread& reader;
    std::thread& blender;
    std::vector<std::thread>& models;
    core::BlockingQueue<TileInput>& in;
    core::BlockingQueue<TileOutput>& out;
    ~Joiner() {
      in.cancel();
      out.cancel();
      for (auto* t : {&reader, &blender})
        if (t->joinable()) t->join();
      for (auto& t : models)
        if (t.joinable()) t.join();
    }
  } joiner{reader, blender, model_threads, inputs, outputs};
  reader = std::thread([&] {
    try {
      auto src = io::Raster::open(p_.scene_uri);  // GDAL handles are per thread
      std::optional<io::Raster> before_src;
      if (!before_stage_.empty()) before_src.emplace(io::Raster::open(before_stage_));
      std::vector<io::Raster> terrain_src;
      for (const auto& t : model_terrain_) terrain_src.push_back(io::Raster::open(t));
      std::vector<float> terrain;
      std::vector<int> bands{scene.bands.vv};
      if (scene.bands.vh) bands.push_back(scene.bands.vh);
      for (const auto& t : grid.tiles()) {
        auto t0 = Clock::now();
        const Window& w = t.window;
        TileInput ti;
        ti.tile = t;
        // A window that misses the AOI (its bounding box, then the polygon) is neither read
        // nor run; one that touches it is read and run whole, as without an AOI.
        if (!touches[size_t(t.index)] || (aoi_ && !any_set(aoi_->rasterize(info.geotransform, w)))) {
          ti.empty = true;
          ti.outside_aoi = !touches[size_t(t.index)];
          read_seconds_ += seconds_since(t0);
          if (!inputs.push(std::move(ti))) break;
          continue;
        }
        io::Block blk = src.read(w, bands);
        // A window larger than the scene (a scene smaller than one tile) overhangs it: the
        // network sees the scene mirrored there (a constant pad reads as a dark water edge and
        // leaked into the last rows and columns), and nothing outside the scene is output.
        const bool overhangs =
            tiling::mirror_overhang(blk.data.data(), blk.bands, blk.valid.data(), w, info.width, info.height) > 0;
        if (!terrain_src.empty()) {
          // Height, slope and HAND under the window (NaN outside the scene, then mirrored as the scene is).
          const size_t n = blk.valid.size();
          terrain.resize(3 * n);
          for (size_t k = 0; k < 3; ++k) {
            io::Block tb = terrain_src[k].read(w, {1});
            tiling::mirror_overhang(tb.data.data(), 1, nullptr, w, info.width, info.height);
            std::copy(tb.data.begin(), tb.data.end(), terrain.begin() + k * n);
          }
        }
        pp_.apply(blk.band(0), scene.bands.vh ? blk.band(1) : nullptr, blk.valid.size(), ti.input, ti.valid,
                  blk.valid.data(), anchor_shift_, nullptr, 0.0f, terrain_src.empty() ? nullptr : terrain.data());
        if (type_pp_) {
          io::Block bb;
          if (before_src) {
            bb = before_src->read(w, {1});  // NaN outside the warped scene
            tiling::mirror_overhang(bb.data.data(), 1, nullptr, w, info.width, info.height);
          }
          type_pp_->apply(blk.band(0), scene.bands.vh ? blk.band(1) : nullptr, blk.valid.size(), ti.type_input,
                          ti.type_valid, blk.valid.data(), type_shift_, before_src ? bb.band(0) : nullptr,
                          before_shift_);
        }
        if (overhangs)
          for (int r = 0; r < w.h; ++r)
            for (int c = 0; c < w.w; ++c)
              if (w.x + c >= info.width || w.y + r >= info.height) {
                ti.valid[size_t(r) * w.w + c] = 0;
                if (!ti.type_valid.empty()) ti.type_valid[size_t(r) * w.w + c] = 0;
              }
        // All nodata (a swath edge, the scene's empty wedges): nothing for the model to do.
        if (!any_set(ti.valid)) {
          ti.empty = true;
          ti.input.clear();
          ti.valid.clear();
        }
        read_seconds_ += seconds_since(t0);
        if (!inputs.push(std::move(ti))) break;
      }
      inputs.close();
    } catch (...) {
      fail(std::current_exception());
    }
  });
  core::Progress bar("segment " + res_.scene_id, int64_t(res_.tiles), p_.progress ? -1 : 0);
  blender = std::thread([&] {
    try {
      // Tiles finish out of order across workers; blend them in grid order.
      std::map<int, TileOutput> pending;
      int next = 0;
      TileOutput to;
      while (outputs.pop(to)) {
        pending.emplace(to.tile.index, std::move(to));
        for (auto it = pending.find(next); it != pending.end(); it = pending.find(++next)) {
          auto t0 = Clock::now();
          if (it->second.proba.defined()) {
            writer.add(it->second.tile, it->second.proba.data_ptr<float>(), it->second.valid.data());
            if (cam_) cam_->add(it->second.tile, it->second.cam.data_ptr<float>(), it->second.valid.data());
            if (type_band_)
              type_band_->add(it->second.tile, it->second.type.data_ptr<float>(), it->second.type_valid.data());
          } else {
            writer.skip(it->second.tile);
            if (cam_) cam_->skip(it->second.tile);
            if (type_band_) type_band_->skip(it->second.tile);
          }
          write_seconds_ += seconds_since(t0);
          if (touches[size_t(it->second.tile.index)]) {
            bar.advance(1);
            progress("model", double(++tiles_done) / double(std::max(1, res_.tiles)));
          }
          pending.erase(it);
        }
      }
      if (!pending.empty() && !outputs.cancelled())
        throw Error(ErrorKind::Internal, "segment", "tile " + std::to_string(next) + " never arrived from the model");
    } catch (...) {
      fail(std::current_exception());
    }
  });
  for (int k = 0; k < workers; ++k) {
    model_threads.emplace_back([&, k] {
      try {
        std::vector<TileInput> batch;
        TileInput ti;
        bool more = true;
        while (more) {
          batch.clear();
          while (int(batch.size()) < p_.batch_size && (more = inputs.pop(ti))) {
            if (!ti.empty) {
              batch.push_back(std::move(ti));
            } else {
              if (!ti.outside_aoi) ++tiles_skipped;
              if (!outputs.push({ti.tile, torch::Tensor(), {}, torch::Tensor(), torch::Tensor(), {}})) return;
            }
          }
          if (batch.empty()) continue;  // only empty tiles this time (or the end: `more` is false)
          check();
          auto x = torch::empty({int64_t(batch.size()), int64_t(C), T, T});
          for (size_t b = 0; b < batch.size(); ++b)
            std::memcpy(x[int64_t(b)].data_ptr<float>(), batch[b].input.data(), batch[b].input.size() * sizeof(float));
          const auto t0 = Clock::now();
          torch::Tensor prob, cam, typ;
          if (hooks_.explain) {
            std::vector<Window> windows;
            for (const auto& b : batch) windows.push_back(b.tile.window);
            std::tie(prob, cam) = hooks_.explain->compute(x, windows);
            cam = cam.to(torch::kFloat).contiguous();
            if (type_head_ > 0) typ = predictor_.predict_heads(x).narrow(1, type_head_, 1).contiguous();
          } else if (type_head_ > 0) {
            const auto heads = predictor_.predict_heads(x);  // water and permanent water, one pass
            prob = heads.narrow(1, 0, 1).contiguous();
            typ = heads.narrow(1, type_head_, 1).contiguous();
          } else {
            prob = predictor_.predict(x);
          }
          if (type_head_ > 0)
            for (auto& b : batch) b.type_valid = b.valid;  // same input, same valid pixels
          if (type_pp_) {
            const int64_t Ct = int64_t(type_pp_->bands.size());
            auto xt = torch::empty({int64_t(batch.size()), Ct, T, T});
            for (size_t b = 0; b < batch.size(); ++b)
              std::memcpy(xt[int64_t(b)].data_ptr<float>(), batch[b].type_input.data(),
                          batch[b].type_input.size() * sizeof(float));
            typ = type_model_->predict(xt);
          }
          model_seconds[size_t(k)] += seconds_since(t0);
          for (size_t b = 0; b < batch.size(); ++b)
            if (!outputs.push({batch[b].tile, prob[int64_t(b)], std::move(batch[b].valid),
                               cam.defined() ? cam[int64_t(b)].contiguous() : torch::Tensor(),
                               typ.defined() ? typ[int64_t(b)].contiguous() : torch::Tensor(),
                               std::move(batch[b].type_valid)}))
              return;
        }
      } catch (...) {
        fail(std::current_exception());
      }
    });
  }
  for (auto& t : model_threads) t.join();
  outputs.close();  // all workers are done: the writer drains what is left
  blender.join();
  reader.join();
  if (first_error) std::rethrow_exception(first_error);
  check();
  bar.finish();
  for (double s_k : model_seconds) res_.seconds_model += s_k / workers;
  tiles_skipped_ = tiles_skipped.load();
  writer.close_staging();
  if (cam_) cam_->close_staging();
  if (type_band_) type_band_->close_staging();
  res_.valid_pixels = writer.valid_pixels();
  res_.flood_pixels = writer.flood_pixels();
}

// ---- finish: COGs, polygons and overlay from the complete staged rasters ----
// Every output is staged under a temporary name and renamed only once all of them exist, so an
// interrupted or failed run never leaves a file (or a partial set) under the final names.
void SceneRun::finish_outputs() {
  progress("finish", 0.0);
  core::log().info("segment: {} tiles done; writing COGs{}{}", res_.tiles, p_.write_polygons ? ", polygons" : "",
                   p_.write_overlay && hooks_.render ? ", overlays" : "");
  auto& writer = *writer_;
  // The side thread's names are reserved here, before it starts: only this thread touches outs_.
  // PNGs are drawn by the render hook (the explain module); without one there are none.
  const bool overlay = p_.write_overlay && hooks_.render, cam_overlay = cam_ && hooks_.render;
  const std::string gj = base_ + "_flood.geojson", png = base_ + "_overlay.png", cam_png = base_ + "_cam_overlay.png";
  const std::string gj_tmp = p_.write_polygons ? outs_.temp(gj) : "", png_tmp = overlay ? outs_.temp(png) : "",
                    cam_png_tmp = cam_overlay ? outs_.temp(cam_png) : "";
  if (p_.write_polygons) res_.outputs["geojson"] = gj;
  if (overlay) res_.outputs["overlay_png"] = png;
  if (cam_overlay) res_.outputs["cam_overlay_png"] = cam_png;
  if (classes_) {
    const auto t0 = Clock::now();
    ClassesRule rule;
    rule.source = *classes_;
    rule.type_path = *classes_ == ClassSource::reference_water ? reference_stage_ : type_band_->stage();
    rule.cut = *classes_ == ClassSource::reference_water ? p_.reference_water_min
               : type_head_ > 0                             ? predictor_.head_threshold(type_head_)
                                                            : type_model_->threshold();
    if (*classes_ == ClassSource::change_model) {
      rule.before_path = before_stage_;
      rule.before_x0 = region_.x;
      rule.before_y0 = region_.y;
      rule.before_shift_db = before_shift_;
    }
    classes_tally_ = write_classes_stage(writer.mask_stage(), rule, classes_stage_, writer.pixel_area());
    classes_seconds_ = seconds_since(t0);
    check();
  }
  const SceneProducts products = this->products();
  // The COG conversion (this thread) and polygons + overlay (a second thread) all read the
  // complete staged rasters, so they run side by side.
  std::exception_ptr side_error;
  std::thread side([&] {
    try {
      auto t0 = Clock::now();
      if (p_.write_polygons)
        poly_ = io::polygonize_flood({classes_ ? classes_stage_ : writer.mask_stage(), writer.proba_stage(), gj_tmp,
                                      p_.min_area_m2, p_.geojson_crs, bool(classes_)});
      polygonize_seconds_ = seconds_since(t0);
      check();
      t0 = Clock::now();
      if (overlay || cam_overlay)
        hooks_.render(RenderJob{products, p_.scene_uri, scene_->bands.vv, region_, cam_ ? cam_->stage() : "", png_tmp,
                                cam_png_tmp});
      overlay_seconds_ = seconds_since(t0);
    } catch (...) {
      side_error = std::current_exception();
    }
  });
  try {
    const auto t0 = Clock::now();
    writer.write_outputs(outs_, p_.cog);
    if (cam_) cam_->write_output(outs_, p_.cog);
    if (exclusion_) exclusion_->write_output(outs_, p_.cog);
    if (classes_) {
      auto staged = io::Raster::open(classes_stage_);
      const std::string tmp = outs_.temp(res_.outputs["classes"].get<std::string>());
      if (p_.cog) staged.write_cog(tmp);
      else staged.write_copy(tmp, "GTiff");
    }
    finish_seconds_ = seconds_since(t0);
  } catch (...) {
    side.join();
    throw;
  }
  side.join();
  if (side_error) std::rethrow_exception(side_error);
  check();
  progress("finish", 1.0);
}

nlohmann::json SceneRun::provenance() const {
  return {{"model", predictor_.meta().value("model", nlohmann::json::object())},
          {"source_bands",
           {{"vv", scene_->bands.vv},
            {"vh", scene_->bands.vh ? nlohmann::json(scene_->bands.vh) : nlohmann::json(nullptr)},
            {"from", scene_->bands.assumed ? "band order (no description names VV or VH)" : "band descriptions"}}},
          {"checkpoint", predictor_.checkpoint_path()},
          {"checkpoint_sha256", predictor_.checkpoint_sha256()},
          {"threshold", threshold()},
          {"temperature", predictor_.temperature()},
          {"anchor", pp_.anchor.enabled ? nlohmann::json{{"vv_percentile", pp_.anchor.percentile},
                                                         {"vv_percentile_db", anchor_vv_db_},
                                                         {"reference_db", pp_.anchor.reference_db},
                                                         {"shift_db", anchor_shift_},
                                                         {"measured_on", anchor_measured_on_}}
                                        : nlohmann::json(nullptr)},
          {"calibration", "temperature=" + std::to_string(predictor_.temperature())},
          {"calibration_source", predictor_.calibration_source()},
          {"tile", p_.grid.tile},
          {"overlap", p_.grid.overlap},
          {"batch_size", p_.batch_size},
          {"model_workers", workers_},  // single-threaded network workers (--threads 0: the usable CPUs)
          {"precision", predictor_.precision().to_json()},
          {"window", {region_.x, region_.y, region_.w, region_.h}},
          {"timings_s",
           {{"total", res_.seconds_total},
            {"model", res_.seconds_model},        // with --explain: the Grad-CAM pass, which also gives the probabilities
            {"read_preprocess", read_seconds_},   // on the reader thread, overlapping the model
            {"blend_write", write_seconds_},      // on the writer thread, overlapping the model
            {"finish_rasters", finish_seconds_},  // COG conversion, after the model
            {"polygonize", polygonize_seconds_},  // alongside the COG conversion
            {"classes", classes_seconds_},        // the classes raster, before the COG conversion
            {"terrain", terrain_seconds_},        // DEM layers, HAND and exclusion flags, before the model
            {"overlay", overlay_seconds_}}},      // after polygonize, alongside the COG conversion
          {"classes", classes_provenance()},
          {"terrain", exclusion_ ? exclusion_->provenance() : nlohmann::json(nullptr)},
          {"explain", hooks_.explain ? hooks_.explain->provenance : nlohmann::json(nullptr)},
          {"output_key", output_key(p_, SceneModels(predictor_, given_type_model_), hooks_)},
          {"drshym_version", predictor_.meta().value("version", std::string())}};
}

// ---- record: DrShymRecord + provenance, then every output is committed at once ----
SegmentResult SceneRun::record_and_commit() {
  progress("record", 0.0);
  res_.seconds_total = seconds_since(t_start_);
  const int T = p_.grid.tile;
  auto rec = ingest::make_record(res_.scene_id, info_.crs_code, info_.crs_wkt, info_.geotransform, region_);
  rec.modality = scene_->bands.vh ? "sentinel1_sar_vv_vh" : "sentinel1_sar_vv";
  rec.source_uri = source_uri_of(p_.scene_uri);
  rec.processing = {"bands:" + nlohmann::json(pp_.bands).dump(), pp_.normalization.tag(),
                    "tile:" + std::to_string(T) + "x" + std::to_string(T), "overlap:" + std::to_string(p_.grid.overlap),
                    "blend:cosine", "calibrate:temperature=" + std::to_string(predictor_.temperature()),
                    "threshold:" + std::to_string(threshold())};
  if (pp_.anchor.enabled)
    rec.processing.push_back(fmt::format("anchor:vv_p{:g}={:.2f}dB,shift={:+.2f}dB", pp_.anchor.percentile,
                                         anchor_vv_db_, anchor_shift_));
  if (aoi_) rec.processing.push_back("aoi:" + p_.aoi_path);
  if (classes_) rec.processing.push_back(std::string("classes:") + to_string(*classes_));
  if (exclusion_) rec.processing.push_back(exclusion_->processing_tag());
  rec.extra_provenance = provenance();
  nlohmann::json stats = {{"tiles", res_.tiles},
                          {"tiles_skipped_no_valid_pixel", tiles_skipped_},
                          {"valid_pixels", res_.valid_pixels},
                          {"flood_pixels", res_.flood_pixels},
                          {"flood_fraction", res_.valid_pixels ? double(res_.flood_pixels) / double(res_.valid_pixels) : 0.0},
                          {"flood_polygons", poly_.polygons},
                          {"polygons_dropped_below_min_area", poly_.dropped_small},
                          {"min_area_m2", p_.min_area_m2}};
  // Ground area whatever the CRS (ellipsoidal for geographic scenes, unit-scaled otherwise).
  if (const auto area_m2 = writer_->flood_area_m2()) {
    stats["flood_area_km2"] = *area_m2 / 1e6;
    stats["area_method"] = writer_->pixel_area()->method();
  }
  if (p_.write_polygons) stats["flood_polygon_area_km2"] = poly_.flood_area_m2 / 1e6;
  if (classes_) {
    stats["classes"] = classes_json();
    if (p_.write_polygons) {
      stats["classes"]["permanent_water_polygons"] = poly_.permanent_polygons;
      stats["classes"]["flood_water_polygons"] = poly_.flood_class_polygons;
    }
  }
  if (exclusion_) stats["exclusion"] = exclusion_->stats(writer_->removal());
  nlohmann::json rj = rec.to_json();
  rj["stats"] = stats;
  rj["outputs"] = res_.outputs;
  rj["policy"] = {{"crs_kept", true}, {"geojson_exported", p_.write_polygons}, {"nodata_preserved", true}};
  if (hooks_.describe) {
    const nlohmann::json extra = hooks_.describe(products());
    if (!extra.is_object()) throw Error(ErrorKind::Internal, "segment", "describe hook returned a non-object");
    rj.update(extra);
  }
  ingest::validate_record(rj);
  const std::string rec_path = base_ + "_record.json";
  core::write_text_file_atomic(outs_.temp(rec_path), rj.dump(2) + "\n");
  res_.outputs["record"] = rec_path;
  res_.record = rj;
  check();
  for (auto it = res_.outputs.begin(); it != res_.outputs.end(); ++it) outs_.commit(it.value().get<std::string>());
  outs_.finish();
  progress("record", 1.0);
  core::log().info("segment: {} — {} tiles, {:.1f}% of valid pixels flooded, {:.1f}s ({:.1f}s in the model)",
                   res_.scene_id, res_.tiles, 100.0 * stats["flood_fraction"].get<double>(), res_.seconds_total,
                   res_.seconds_model);
  return res_;
}

}  // namespace

nlohmann::json output_key(const SegmentParams& p, const SceneModels& models, const SegmentHooks& hooks) {
  const Predictor& predictor = *models.water;
  const Predictor* type_model = models.type;
  const nlohmann::json aoi = p.aoi_path.empty() ? nlohmann::json(nullptr) : file_key(p.aoi_path);
  nlohmann::json classes = nullptr;
  if (p.write_classes) {
    const std::string name = type_model_name(p);
    nlohmann::json sha = nullptr;  // the embedded model segment_scene would load
    if (type_model) sha = type_model->checkpoint_sha256();
    else if (!name.empty()) sha = core::file_sha256(default_model_path(name) + "/model.pt");
    classes = {{"before", p.before_uri.empty() ? nlohmann::json(nullptr) : nlohmann::json(source_uri_of(p.before_uri))},
               {"model_sha256", sha},
               {"model_temperature", type_model ? nlohmann::json(type_model->temperature()) : nlohmann::json(nullptr)},
               {"model_threshold", type_model ? nlohmann::json(type_model->threshold()) : nlohmann::json(nullptr)}};
    if (!p.reference_water.empty()) {
      classes["reference_water"] = file_key(p.reference_water);
      classes["reference_water"]["min_occurrence_percent"] = p.reference_water_min;
    }
  }
  nlohmann::json terrain = nullptr;
  if (!p.dem_uri.empty())
    terrain = {{"dem", file_key(p.dem_uri)},
               {"slope_max_deg", p.exclusion.slope_max_deg},
               {"hand_max_m", p.exclusion.hand_max_m},
               {"applied", p.exclusion.apply},
               {"drainage_min_km2", p.terrain.hand.drainage_min_km2},
               {"margin_m", p.terrain.margin_m},
               {"max_cell_ratio", p.terrain.max_cell_ratio}};
  return {{"source_uri", source_uri_of(p.scene_uri)},
          {"checkpoint_sha256", predictor.checkpoint_sha256()},
          {"temperature", predictor.temperature()},
          {"threshold", p.threshold.value_or(predictor.threshold())},
          {"tile", p.grid.tile},
          {"overlap", p.grid.overlap},
          {"aoi", aoi},
          {"min_area_m2", p.min_area_m2},
          {"geojson_crs", p.geojson_crs},
          {"polygons", p.write_polygons},
          {"overlay", p.write_overlay && bool(hooks.render)},
          {"cog", p.cog},
          {"explain", hooks.explain ? hooks.explain->provenance : nlohmann::json(nullptr)},
          {"classes", classes},
          {"terrain", terrain}};
}

SegmentResult segment_scene(const SegmentParams& p, const SceneModels& models, const SegmentHooks& hooks) {
  SceneRun run(p, models, hooks);
  run.prepare();
  run.run_model();
  run.finish_outputs();
  return run.record_and_commit();
}

}  // namespace drshym::infer
