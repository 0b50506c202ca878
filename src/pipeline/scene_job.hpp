#pragma once
// One scene job as a library call, like GDAL's gdal_utils.h: the CLI (`segment`), the HTTP
// server and the batch each map their options onto a SceneJob and call run_scene; none of them
// picks models, builds explain hooks or checks job options itself.
//
//   pipeline::SceneJob job;                     // flat values with commented defaults
//   job.segment.scene_uri = "s1.tif";  job.segment.out_dir = "out";
//   infer::ModelSet models({pred_params, ""});  // picks, loads and caches the networks
//   infer::SegmentResult r = pipeline::run_scene(job, models);
//
// Its header pulls in neither LibTorch nor GDAL.
#include <nlohmann/json.hpp>

#include <functional>
#include <string>

#include "infer/segment.hpp"

namespace drshym::core {
class CancelToken;  // core/cancel.hpp
}

namespace drshym::infer {
class ModelSet;   // infer/model_set.hpp
class Predictor;  // infer/predictor.hpp
}  // namespace drshym::infer

namespace drshym::pipeline {

// Grad-CAM explanation of the flood call (segment --explain; options.explain of the API).
struct SceneExplain {
  bool enabled = false;            // write <scene>_cam.tif and <scene>_cam_overlay.png
  std::string method = "gradcam";  // "gradcam" or "gradcam++"
  std::string layer;               // "" = the model's default (the last decoder block)
  std::string region_path;         // polygon file (any CRS): explain the mean logit over it, not over the predicted flood
};

// Everything that decides one run, as values: no loaded object, so it can be built from flags,
// a JSON request or a manifest line, compared and logged.
struct SceneJob {
  infer::SegmentParams segment;  // scene, outputs, tiling, threshold, water classes, terrain (infer/segment.hpp)
  std::string model;             // water model: a ModelSet name or checkpoint; "" = the one that matches the scene's bands
  SceneExplain explain;
};

// What a caller watches or stops a run with.
struct SceneControl {
  const core::CancelToken* cancel = nullptr;  // cancelled or past its deadline: the run stops and removes its outputs
  std::function<void(const std::string& stage, double fraction)> progress;  // infer::kSegmentStages
};

// Runs the job: the water model (job.model, else by the scene's bands), the water type model
// its classes need, the explain module's caption, overlays and (job.explain) Grad-CAM, then
// infer::segment_scene. Usage errors for option combinations that make no sense (explain
// options without explain.enabled; see also segment_scene) come before any model runs.
infer::SegmentResult run_scene(const SceneJob& job, infer::ModelSet& models, const SceneControl& control = {});

// The checks of run_scene that need no scene pixels (models picked and loaded, explain layer and
// region checked): the server runs them when a job is submitted. Returns the water model.
const infer::Predictor& check_scene_job(const SceneJob& job, infer::ModelSet& models);

// provenance.output_key of the run this job would make (`batch --resume` compares it).
nlohmann::json scene_output_key(const SceneJob& job, infer::ModelSet& models);

}  // namespace drshym::pipeline
