#include "pipeline/scene_job.hpp"

#include "core/error.hpp"
#include "core/log.hpp"
#include "explain/scene_hooks.hpp"
#include "infer/model_set.hpp"
#include "infer/predictor.hpp"

namespace drshym::pipeline {
namespace {

// A job's networks and the explain module's hooks, ready for infer::segment_scene.
struct Assembled {
  const infer::Predictor* water = nullptr;
  const infer::Predictor* type = nullptr;  // null: none needed, or the water model's own head
  infer::SegmentHooks hooks;
};

void check_explain_options(const SceneExplain& e) {
  if (!e.enabled && (e.method != "gradcam" || !e.layer.empty() || !e.region_path.empty()))
    throw Error(ErrorKind::Usage, "segment",
                "the explain method, layer and region (--explain-method, --explain-layer, --explain-region) need "
                "explain (--explain)");
}

Assembled assemble(const SceneJob& job, infer::ModelSet& models, const SceneControl& control) {
  check_explain_options(job.explain);
  Assembled a;
  a.water = &models.water_of(job.model, job.segment.scene_uri);
  a.type = models.type_for(job.segment, *a.water);
  explain::SceneExplainOptions eo;
  if (job.explain.enabled)
    eo.gradcam = explain::GradCamParams{job.explain.layer, explain::parse_cam_method(job.explain.method),
                                        job.segment.threshold.value_or(a.water->threshold())};
  eo.region_path = job.explain.region_path;
  explain::attach_scene_hooks(a.hooks, *a.water, eo, job.segment.scene_uri);  // caption, overlays, Grad-CAM
  a.hooks.cancel = control.cancel;
  a.hooks.progress = control.progress;
  return a;
}

}  // namespace

infer::SegmentResult run_scene(const SceneJob& job, infer::ModelSet& models, const SceneControl& control) {
  const Assembled a = assemble(job, models, control);
  core::log().info("segment: model {}", a.water->describe());
  if (a.type) core::log().info("segment: water type model {}", a.type->describe());
  return infer::segment_scene(job.segment, {*a.water, a.type}, a.hooks);
}

const infer::Predictor& check_scene_job(const SceneJob& job, infer::ModelSet& models) {
  return *assemble(job, models, {}).water;
}

nlohmann::json scene_output_key(const SceneJob& job, infer::ModelSet& models) {
  const Assembled a = assemble(job, models, {});
  return infer::output_key(job.segment, {*a.water, a.type}, a.hooks);
}

}  // namespace drshym::pipeline
