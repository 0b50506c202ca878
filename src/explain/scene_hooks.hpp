#pragma once
// The explain module attached to a segment run, so `drshym segment` and the HTTP server give
// the same outputs: the record's caption and flood_summary (describe), the overlay PNGs
// (render) and, when asked, Grad-CAM maps per tile (<scene>_cam.tif, <scene>_cam_overlay.png).
#include <optional>

#include "explain/gradcam_params.hpp"
#include "infer/segment.hpp"

namespace drshym::explain {

struct SceneExplainOptions {
  std::optional<GradCamParams> gradcam;  // set: explain with Grad-CAM (threshold = the run's)
  // With gradcam: explain the mean flood logit over this polygon (GeoJSON or any OGR vector,
  // any CRS) instead of over the predicted flood; tiles that miss it get zeros.
  std::string region_path;
};

// Fills hooks.describe, hooks.render and, with o.gradcam, hooks.explain. Throws before any
// work: Usage for an unknown layer or a region without gradcam; NotFound / InvalidInput for a
// region that cannot be read or does not overlap scene_uri (needed only with a region).
// The predictor must outlive the run.
void attach_scene_hooks(infer::SegmentHooks& hooks, const infer::Predictor& predictor, const SceneExplainOptions& o,
                        const std::string& scene_uri = "");

}  // namespace drshym::explain
