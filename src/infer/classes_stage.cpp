#include "infer/classes_stage.hpp"

#include <torch/torch.h>

#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "infer/segment.hpp"
#include "io/decimate.hpp"
#include "io/uri.hpp"

namespace drshym::infer {
namespace {

using Clock = std::chrono::steady_clock;

// How the record names an input: local paths as absolute file:// URIs, remote URIs as given
// (as segment.cpp names the scene).
std::string source_uri_of(const std::string& uri) {
  return io::is_local(uri) ? io::to_file_uri(io::to_gdal_path(uri)) : uri;
}

}  // namespace

ClassesStage::ClassesStage(const SegmentParams& p, const Predictor& water, const Predictor* given)
    : p_(p), water_(water) {
  type_model_ = checked_type_model(p, water, given, own_type_model_);
}

void check_no_classes(const SegmentParams& p, const Predictor& water) {
  std::shared_ptr<const Predictor> none;  // without the classes no model is chosen, let alone loaded
  checked_type_model(p, water, nullptr, none);
}

// The water type layer: the reference raster warped onto the output grid, the permanent-water
// head alone, or a type model's band (on the pre-event scene warped onto this scene's grid for
// the change model). Every check on the extra inputs runs here, before any compute.
void ClassesStage::prepare(const ClassesInput& in, core::OutputSet& scratch) {
  region_ = in.region;
  scene_width_ = in.scene_grid.width;
  scene_height_ = in.scene_grid.height;
  scene_vh_ = in.scene.bands.vh != 0;
  final_path_ = in.base + "_classes.tif";
  stage_ = core::temp_path_for(in.base + "_classes.stage.tif");
  scratch.adopt(stage_);
  if (!p_.reference_water.empty()) {
    source_ = ClassSource::reference_water;
    prepare_reference(in, scratch);
    return;
  }
  if (p_.before_uri.empty() && !type_model_) {
    // The main network has a permanent-water head (checked_type_model loaded no network): the
    // classes cost that head, computed in the same pass as the water.
    type_head_ = water_.head_index("permanent_water");
    if (type_head_ <= 0) throw Error(ErrorKind::Internal, "segment", "no water type model and no permanent-water head");
    type_band_.emplace(in.out, in.grid, in.base + "_water_type.tif", "water_type_probability", in.crop);
    source_ = ClassSource::permanent_head;
    return;
  }
  type_pp_ = &type_model_->preprocess();
  const ingest::Anchor& ta = type_pp_->anchor;
  type_shift_ = (ta.enabled == in.anchor.enabled && ta.percentile == in.anchor.percentile &&
                 ta.reference_db == in.anchor.reference_db)
                    ? in.anchor_shift
                    : ingest::scene_anchor_shift(in.scene, ta);
  type_band_.emplace(in.out, in.grid, in.base + "_water_type.tif", "water_type_probability", in.crop);
  if (p_.before_uri.empty()) {
    source_ = ClassSource::permanent_head;
    return;
  }
  source_ = ClassSource::change_model;
  prepare_before(in, scratch);
}

// The reference raster (water occurrence %), bilinear onto the output grid: it must overlap
// the scene and have some value there.
void ClassesStage::prepare_reference(const ClassesInput& in, core::OutputSet& scratch) {
  reference_stage_ = core::temp_path_for(in.base + "_reference.stage.tif");
  scratch.adopt(reference_stage_);
  const io::Grid out_grid{in.scene_grid.crs_wkt, in.out.geotransform, in.out.width, in.out.height};
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
}

// The pre-event scene for the change model: its own checks (bands, CRS, dB scale, some valid
// pixel), each naming it; its VV band bilinear onto the whole scene's grid (the model's tiles
// read it beside the scene's), and its anchor.
void ClassesStage::prepare_before(const ClassesInput& in, core::OutputSet& scratch) {
  std::optional<ingest::Scene> before;
  try {
    before.emplace(ingest::open_scene(p_.before_uri, false));
    ingest::require_some_valid(*before);
  } catch (const Error& e) {
    throw Error(e.kind(), "segment", "--before: " + std::string(e.what()));
  }
  before_vv_band_ = before->bands.vv;
  if (in.scene.bands.assumed != before->bands.assumed)
    core::log().info("segment: {} names its polarisations and {} does not: band {} of the pre-event scene is taken as VV",
                     in.scene.bands.assumed ? quoted(p_.before_uri) : quoted(p_.scene_uri),
                     in.scene.bands.assumed ? quoted(p_.scene_uri) : quoted(p_.before_uri), before_vv_band_);
  if (!io::may_overlap(before->raster.info(), in.scene_grid))
    throw Error(ErrorKind::InvalidInput, "segment",
                "pre-event scene " + quoted(p_.before_uri) + " does not overlap scene " + quoted(p_.scene_uri));
  before.reset();
  before_stage_ = core::temp_path_for(in.base + "_before.stage.tif");
  scratch.adopt(before_stage_);
  in.check();
  io::warp_band_to_grid(p_.before_uri, before_vv_band_, in.scene_grid, before_stage_, "bilinear", "--before");
  in.check();
  // The pre-event anchor: its VV percentile over this scene's footprint (as the change model
  // saw both dates of one area in training).
  const ingest::Anchor& ta = type_pp_->anchor;
  before_vv_db_ = ingest::percentile_of(io::read_decimated(io::Raster::open(before_stage_), 1, 2048).values, ta.percentile);
  if (!std::isfinite(before_vv_db_))
    throw Error(ErrorKind::InvalidInput, "segment",
                "pre-event scene " + quoted(p_.before_uri) + " has no valid pixel over scene " + quoted(p_.scene_uri) +
                    " (they do not overlap, or the pre-event scene is nodata there)");
  before_shift_ = ta.shift_for(before_vv_db_);
}

// ---- the model stage ----

ClassesStage::TileReader::TileReader(const ClassesStage& stage) : stage_(stage) {
  if (!stage.before_stage_.empty()) before_.emplace(io::Raster::open(stage.before_stage_));
}

void ClassesStage::TileReader::read(const Window& w, const io::Block& scene, std::vector<float>& input,
                                    std::vector<uint8_t>& valid) {
  const ClassesStage& s = stage_;
  if (!s.type_pp_) return;
  io::Block bb;
  if (before_) {
    bb = before_->read(w, {1});  // NaN outside the warped scene
    tiling::mirror_overhang(bb.data.data(), 1, nullptr, w, s.scene_width_, s.scene_height_);
  }
  s.type_pp_->apply(scene.band(0), s.scene_vh_ ? scene.band(1) : nullptr, scene.valid.size(), input, valid,
                    scene.valid.data(), s.type_shift_, before_ ? bb.band(0) : nullptr, s.before_shift_);
}

at::Tensor ClassesStage::predict_type(const at::Tensor& x) const { return type_model_->predict(x); }

void ClassesStage::add(const tiling::Tile& t, const at::Tensor& type, const uint8_t* valid) {
  if (type_band_) type_band_->add(t, type.data_ptr<float>(), valid);
}

void ClassesStage::skip(const tiling::Tile& t) {
  if (type_band_) type_band_->skip(t);
}

void ClassesStage::close_staging() {
  if (type_band_) type_band_->close_staging();
}

// ---- finish ----

void ClassesStage::write_stage(const std::string& mask_stage, const std::optional<io::PixelArea>& area) {
  const auto t0 = Clock::now();
  ClassesRule rule;
  rule.source = *source_;
  rule.type_path = *source_ == ClassSource::reference_water ? reference_stage_ : type_band_->stage();
  rule.cut = *source_ == ClassSource::reference_water ? p_.reference_water_min
             : type_head_ > 0                         ? water_.head_threshold(type_head_)
                                                      : type_model_->threshold();
  if (*source_ == ClassSource::change_model) {
    rule.before_path = before_stage_;
    rule.before_x0 = region_.x;
    rule.before_y0 = region_.y;
    rule.before_shift_db = before_shift_;
  }
  tally_ = write_classes_stage(mask_stage, rule, stage_, area);
  seconds_ = std::chrono::duration<double>(Clock::now() - t0).count();
}

void ClassesStage::write_output(core::OutputSet& outs, bool cog) const {
  auto staged = io::Raster::open(stage_);
  const std::string tmp = outs.temp(final_path_);
  if (cog) staged.write_cog(tmp);
  else staged.write_copy(tmp, "GTiff");
}

// ---- record ----

nlohmann::json ClassesStage::stats(const io::PolygonizeResult* polygons) const {
  nlohmann::json j = tally_.to_json();
  j["source"] = to_string(*source_);
  if (polygons) {
    j["permanent_water_polygons"] = polygons->class_polygons.at(0);  // water_class_names()
    j["flood_water_polygons"] = polygons->class_polygons.at(1);
  }
  return j;
}

nlohmann::json ClassesStage::provenance() const {
  nlohmann::json j{{"source", to_string(*source_)}};
  if (type_head_ > 0) {
    j["model"] = {{"head", "permanent_water"},
                  {"of", "the water model (one pass, two heads)"},
                  {"checkpoint", water_.checkpoint_path()},
                  {"checkpoint_sha256", water_.checkpoint_sha256()},
                  {"temperature", water_.head_temperature(type_head_)},
                  {"threshold", water_.head_threshold(type_head_)}};
  } else if (type_model_) {
    j["model"] = {{"checkpoint", type_model_->checkpoint_path()},
                  {"checkpoint_sha256", type_model_->checkpoint_sha256()},
                  {"describe", type_model_->describe()},
                  {"bands", type_pp_->bands},
                  {"temperature", type_model_->temperature()},
                  {"threshold", type_model_->threshold()},
                  {"anchor_shift_db", type_shift_}};
  }
  if (*source_ == ClassSource::change_model)
    j["before"] = {{"source_uri", source_uri_of(p_.before_uri)},
                   {"vv_band", before_vv_band_},
                   {"warp", "gdalwarp -r bilinear onto this scene's grid"},
                   {"vv_percentile_db", before_vv_db_},
                   {"anchor_shift_db", before_shift_}};
  if (*source_ == ClassSource::reference_water)
    j["reference_water"] = {{"source_uri", source_uri_of(p_.reference_water)},
                            {"min_occurrence_percent", p_.reference_water_min},
                            {"warp", "gdalwarp -r bilinear onto the output grid"}};
  j["rule"] = *source_ == ClassSource::change_model
                  ? fmt::format("water with P(flood) >= threshold is flood water; other water is permanent where "
                                "the pre-event VV (anchored) was below {:g} dB, else flood",
                                ClassesRule::kPermanentMaxBeforeDb)
              : *source_ == ClassSource::reference_water
                  ? "water where the reference occurrence >= min is permanent, other water flood"
                  : "water with P(permanent) >= threshold is permanent water, other water flood";
  j["unknown_type"] = "water with no pre-event or reference value there is flood water";
  return j;
}

std::string ClassesStage::processing_tag() const { return std::string("classes:") + to_string(*source_); }

}  // namespace drshym::infer
