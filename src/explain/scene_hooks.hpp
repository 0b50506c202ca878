#pragma once
// The explain module attached to a segment run, so `drshym segment` and the HTTP server give
// the same outputs: the record's caption and flood_summary (describe), the overlay PNGs
// (render) and, when asked, Grad-CAM maps per tile (<scene>_cam.tif, <scene>_cam_overlay.png).
#include <optional>

#include "explain/gradcam.hpp"
#include "infer/segment.hpp"

namespace drshym::explain {

struct SceneExplainOptions {
  std::optional<GradCamParams> gradcam;  // set: explain with Grad-CAM (threshold = the run's)
};

// Fills hooks.describe, hooks.render and, with o.gradcam, hooks.explain (throws Usage for an
// unknown layer before any work). The predictor must outlive the run.
void attach_scene_hooks(infer::SegmentHooks& hooks, const infer::Predictor& predictor, const SceneExplainOptions& o);

}  // namespace drshym::explain
