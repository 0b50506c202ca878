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
#include "io/area.hpp"
#include "io/raster.hpp"
#include "io/uri.hpp"
#include "io/vector.hpp"
#include "infer/predictor.hpp"
#include "infer/proba_writer.hpp"
#include "infer/exclusion_stage.hpp"
#include "infer/water_classes.hpp"
#include "io/warp.hpp"
#include "model/checkpoint.hpp"
#include "model/segnet.hpp"
#include "infer/scene_run.hpp"

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

}  // namespace

namespace detail {

// ---- prepare: every check that can fail on bad input runs before any compute or output ----
void SceneRun::prepare() {
  progress("prepare", 0.0);
  io::parse_geojson_crs(p_.geojson_crs);  // a typo is a usage error, not a silently ignored option
  if (p_.batch_size < 1) throw Error(ErrorKind::Usage, "segment", "batch size must be >= 1");
  if (p_.threshold) require_threshold(*p_.threshold, "segment");
  if (const int m = predictor_.net()->config().input_multiple(); p_.grid.tile % m != 0)
    throw Error(ErrorKind::Usage, "segment",
                "tile size " + std::to_string(p_.grid.tile) + " is not a multiple of " + std::to_string(m) +
                    ", which " + predictor_.net()->config().arch +
                    (predictor_.net()->config().grid > 1 ? " on a 20 m grid" : "") + " needs; try " +
                    std::to_string(std::max(m, p_.grid.tile / m * m)));
  if (!p_.dem_uri.empty()) check_terrain_options(p_);
  if (pp_.needs_terrain() && p_.dem_uri.empty())
    throw Error(ErrorKind::Usage, "segment",
                "model " + predictor_.describe() + " reads terrain (its bands include DEM, SLOPE or HAND): give a DEM (--dem)");
  if (pp_.needs_optical())
    throw Error(ErrorKind::Usage, "segment",
                "model " + predictor_.describe() + " reads Sentinel-2 bands (" + pp_.optical_bands().front() +
                    ", ...): it is a distillation teacher for `drshym train`; segment maps SAR scenes with an S1 model");
  // The class options' usage checks, and their type model (loaded when the caller gave none).
  if (p_.write_classes) classes_.emplace(p_, predictor_, given_type_model_);
  else check_no_classes(p_, predictor_);
  scene_.emplace(ingest::open_scene(p_.scene_uri, pp_.needs_vh()));
  info_ = scene_->raster.info();
  core::ensure_writable_dir(p_.out_dir);
  // The network's processing grid for this scene's pixels (model/segnet.hpp): a network that
  // averages 10 m pixels to 20 m runs a 20 m scene on the scene's own grid.
  if (const auto area = io::PixelArea::for_grid(info_.crs_wkt, info_.geotransform))
    pixel_m_ = std::sqrt(area->at(info_.width / 2, info_.height / 2));
  const int net_grid = predictor_.net()->config().grid;
  grid_factor_ = model::grid_for_pixel_size(predictor_.net()->config(), pixel_m_);
  if (grid_factor_ != net_grid)
    core::log().info("segment: {} has {:.1f} m pixels: the network runs on them {} (it averages 10 m pixels {}x{})",
                     quoted(p_.scene_uri), pixel_m_, grid_factor_ == 1 ? "as they are" : "averaged", net_grid, net_grid);
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
  anchor_shift_ =
      ingest::scene_anchor_shift(*scene_, pp_.anchor, &anchor_vv_db_, &anchor_from_tile, 2048, &anchor_level_);
  if (anchor_level_.land_mode)
    core::log().info("segment: {} is mostly dark ({:.0f}% of its VV below {:.1f} dB, modes {:.1f} dB apart): the "
                     "anchor measures its land mode only",
                     quoted(p_.scene_uri), 100.0 * anchor_level_.dark_share, anchor_level_.split_db,
                     anchor_level_.mode_gap_db);
  if (pp_.anchor.enabled && !anchor_level_.trusted())
    core::log().warn("segment: {}: {}", quoted(p_.scene_uri), anchor_level_.caution());
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
  prepare_outputs();
  progress("prepare", 1.0);
}

// The output rasters' writers on the output grid (the AOI's region, or the whole scene), then
// the stages that prepare before the model: the water classes' inputs, the terrain's flags.
void SceneRun::prepare_outputs() {
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
  if (classes_) {
    classes_->prepare({*scene_, io::Grid{info_.crs_wkt, info_.geotransform, info_.width, info_.height}, geo, region_,
                       *grid_, crop, pp_.anchor, anchor_shift_, base_, [this] { check(); }},
                      scratch_);
    res_.outputs["classes"] = classes_->final_path();
  }
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
    classes_->write_stage(writer.mask_stage(), writer.pixel_area());
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
        poly_ = io::polygonize_labels({classes_ ? classes_->stage() : writer.mask_stage(), writer.proba_stage(), gj_tmp,
                                       p_.min_area_m2, p_.geojson_crs,
                                       classes_ ? water_class_names() : std::vector<std::string>{}, "flood"});
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
    if (classes_) classes_->write_output(outs_, p_.cog);
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
                                                         {"measured_on", anchor_measured_on_},
                                                         {"level", anchor_level_.to_json()}}
                                        : nlohmann::json(nullptr)},
          {"calibration", "temperature=" + std::to_string(predictor_.temperature())},
          {"calibration_source", predictor_.calibration_source()},
          {"tile", p_.grid.tile},
          {"overlap", p_.grid.overlap},
          {"batch_size", p_.batch_size},
          {"model_workers", workers_},  // single-threaded network workers (--threads 0: the usable CPUs)
          {"network_grid", {{"factor", grid_factor_},  // input averaged factor x factor before the network
                            {"pixel_m", std::isfinite(pixel_m_) ? nlohmann::json(pixel_m_) : nlohmann::json(nullptr)},
                            {"processing_m", std::isfinite(pixel_m_) ? nlohmann::json(pixel_m_ * grid_factor_)
                                                                     : nlohmann::json(nullptr)}}},
          {"precision", predictor_.precision().to_json()},
          {"window", {region_.x, region_.y, region_.w, region_.h}},
          {"timings_s",
           {{"total", res_.seconds_total},
            {"model", res_.seconds_model},        // with --explain: the Grad-CAM pass, which also gives the probabilities
            {"read_preprocess", read_seconds_},   // on the reader thread, overlapping the model
            {"blend_write", write_seconds_},      // on the writer thread, overlapping the model
            {"finish_rasters", finish_seconds_},  // COG conversion, after the model
            {"polygonize", polygonize_seconds_},  // alongside the COG conversion
            {"classes", classes_ ? classes_->seconds() : 0.0},  // the classes raster, before the COG conversion
            {"terrain", terrain_seconds_},        // DEM layers, HAND and exclusion flags, before the model
            {"overlay", overlay_seconds_}}},      // after polygonize, alongside the COG conversion
          {"classes", classes_ ? classes_->provenance() : nlohmann::json(nullptr)},
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
    rec.processing.push_back(fmt::format("anchor:vv_p{:g}{}={:.2f}dB,shift={:+.2f}dB", pp_.anchor.percentile,
                                         anchor_level_.land_mode ? "(land mode)" : "", anchor_vv_db_, anchor_shift_));
  if (aoi_) rec.processing.push_back("aoi:" + p_.aoi_path);
  if (classes_) rec.processing.push_back(classes_->processing_tag());
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
  if (p_.write_polygons) stats["flood_polygon_area_km2"] = poly_.area_m2 / 1e6;
  if (classes_) stats["classes"] = classes_->stats(p_.write_polygons ? &poly_ : nullptr);
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

}  // namespace detail

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
  detail::SceneRun run(p, models, hooks);
  run.prepare();
  run.run_model();
  run.finish_outputs();
  return run.record_and_commit();
}

}  // namespace drshym::infer
