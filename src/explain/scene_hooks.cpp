#include "explain/scene_hooks.hpp"

#include <memory>

#include "explain/caption.hpp"
#include "explain/overlay.hpp"

namespace drshym::explain {

void attach_scene_hooks(infer::SegmentHooks& hooks, const infer::Predictor& predictor, const SceneExplainOptions& o) {
  hooks.describe = describe_scene;
  hooks.render = [](const infer::RenderJob& job) {
    const OverlayInputs in{job.scene_uri,
                           job.vv_band,
                           job.region,
                           job.products.proba_path,
                           job.products.mask_path,
                           job.products.crs_wkt,
                           job.products.geotransform,
                           job.products.threshold};
    if (!job.overlay_png.empty()) write_flood_overlay_png(in, job.overlay_png);
    if (!job.cam_overlay_png.empty()) write_cam_overlay_png(in, job.cam_path, job.cam_overlay_png);
  };
  if (o.gradcam) {
    auto cam = std::make_shared<const GradCam>(predictor, *o.gradcam);
    hooks.explain = infer::TileExplainer{
        [cam](const torch::Tensor& x) { return (*cam)(x); }, cam->describe()};
  }
}

}  // namespace drshym::explain
