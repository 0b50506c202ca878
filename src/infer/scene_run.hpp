#pragma once
// Internal to infer (not installed, not included outside src/infer/): the state of one
// segment_scene run, shared by its stage files. No LibTorch here: the model stage keeps its
// tensors in segment_model.cpp.
#include <chrono>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/cancel.hpp"
#include "core/fs.hpp"
#include "ingest/preprocess.hpp"
#include "ingest/scene.hpp"
#include "infer/classes_stage.hpp"
#include "infer/exclusion_stage.hpp"
#include "infer/predictor.hpp"
#include "infer/proba_writer.hpp"
#include "infer/segment.hpp"
#include "io/raster.hpp"
#include "io/vector.hpp"
#include "tiling/window_grid.hpp"

namespace drshym::infer::detail {

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One run of segment_scene, stage by stage (kSegmentStages). Members carry what one stage
// hands to the next; every stage checks the hooks' token and the interrupt flag.
//   prepare, finish_outputs, record_and_commit   segment.cpp
//   run_model (tiles → model → blend)            segment_model.cpp (its ModelStage)
// Optional features that run through several stages are stage objects of their own, called at
// each phase they take part in: the water classes (ClassesStage, classes_stage.hpp, which says
// how a new one plugs in) and the terrain (ExclusionStage).
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
  friend class ModelStage;  // segment_model.cpp: the model stage's threads
  // At a safe point: the interrupt flag and the hooks' token (messages start "segment: ...").
  void check() const { core::check_cancelled(hooks_.cancel, "segment"); }
  void progress(const char* stage, double f) const {
    if (hooks_.progress) hooks_.progress(stage, f);
  }
  void prepare_outputs();  // prepare's second half, once the scene is open and the tiles laid
  nlohmann::json provenance() const;
  SceneProducts products() const {
    return {writer_->mask_stage(), writer_->proba_stage(), info_.crs_wkt,
            info_.geotransform.shifted(region_.x, region_.y), writer_->tally(), threshold(),
            classes_ ? classes_->stage() : "", classes_ ? classes_->stats() : nlohmann::json(nullptr),
            exclusion_ ? exclusion_->flags_stage() : "",
            exclusion_ ? exclusion_->stats(writer_->removal()) : nlohmann::json(nullptr),
            pp_.anchor.enabled ? anchor_level_.caution() : ""};
  }
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
  ingest::AnchorLevel anchor_level_;  // how the level was measured (the land mode of a mostly dark scene)
  double pixel_m_ = std::numeric_limits<double>::quiet_NaN();  // pixel side at the scene's centre
  int grid_factor_ = 1;  // the network's input averaging on this scene (model::grid_for_pixel_size)
  std::optional<tiling::WindowGrid> grid_;
  std::vector<uint8_t> touches_;
  std::string base_;
  core::OutputSet outs_;
  std::optional<ProbaWriter> writer_;
  std::optional<BlendedBand> cam_;  // with hooks_.explain
  std::optional<ClassesStage> classes_;      // with p_.write_classes
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
  double finish_seconds_ = 0, polygonize_seconds_ = 0, overlay_seconds_ = 0, terrain_seconds_ = 0;
};


}  // namespace drshym::infer::detail
