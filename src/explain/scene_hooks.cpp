#include "explain/scene_hooks.hpp"

#include "explain/gradcam.hpp"

#include <torch/torch.h>

#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "core/error.hpp"
#include "explain/caption.hpp"
#include "explain/overlay.hpp"
#include "io/raster.hpp"
#include "io/vector.hpp"

namespace drshym::explain {

namespace {

// The explained region rasterized onto each tile's window of the scene grid.
class RegionMasks {
 public:
  RegionMasks(const std::string& region_path, const std::string& scene_uri) {
    const io::RasterInfo info = io::Raster::open(scene_uri).info();
    gt_ = info.geotransform;
    aoi_.emplace(io::Aoi::read(region_path, info.crs_wkt));
    if (aoi_->window_on(gt_, info.width, info.height).empty())
      throw Error(ErrorKind::InvalidInput, "explain",
                  "explain region '" + region_path + "' does not overlap scene '" + scene_uri + "'");
  }
  // [N, 1, T, T] float, 1 inside the region.
  torch::Tensor operator()(const std::vector<Window>& windows, int64_t tile) const {
    auto out = torch::zeros({int64_t(windows.size()), 1, tile, tile});
    std::lock_guard<std::mutex> lk(m_);  // one OGR geometry shared by the model workers
    for (size_t b = 0; b < windows.size(); ++b) {
      const std::vector<uint8_t> inside = aoi_->rasterize(gt_, windows[b]);
      float* dst = out[int64_t(b)].data_ptr<float>();
      for (size_t i = 0; i < inside.size() && i < size_t(tile * tile); ++i) dst[i] = inside[i] ? 1.0f : 0.0f;
    }
    return out;
  }

 private:
  GeoTransform gt_;
  std::optional<io::Aoi> aoi_;
  mutable std::mutex m_;
};

}  // namespace

void attach_scene_hooks(infer::SegmentHooks& hooks, const infer::Predictor& predictor, const SceneExplainOptions& o,
                        const std::string& scene_uri) {
  if (!o.region_path.empty() && !o.gradcam)
    throw Error(ErrorKind::Usage, "explain", "an explanation region needs Grad-CAM (--explain)");
  hooks.describe = describe_scene;
  hooks.render = [](const infer::RenderJob& job) {
    const OverlayInputs in{job.scene_uri,
                           job.vv_band,
                           job.region,
                           job.products.proba_path,
                           job.products.mask_path,
                           job.products.crs_wkt,
                           job.products.geotransform,
                           job.products.threshold,
                           job.products.classes_path,
                           job.products.classes.is_object() ? job.products.classes.value("source", std::string())
                                                            : std::string(),
                           job.products.exclusion_path,
                           job.products.anchor_caution};
    if (!job.overlay_png.empty()) write_flood_overlay_png(in, job.overlay_png);
    if (!job.cam_overlay_png.empty()) write_cam_overlay_png(in, job.cam_path, job.cam_overlay_png);
  };
  if (!o.gradcam) return;
  auto cam = std::make_shared<const GradCam>(predictor, *o.gradcam);
  nlohmann::json describe = cam->describe();
  if (o.region_path.empty()) {
    hooks.explain = infer::TileExplainer{
        [cam](const torch::Tensor& x, const std::vector<Window>&) { return (*cam)(x); }, describe};
    return;
  }
  auto masks = std::make_shared<const RegionMasks>(o.region_path, scene_uri);
  describe["target"] = "mean flood logit over the pixels inside '" + o.region_path + "'";
  describe["units"] = "logit relevance, not normalized; 0 where a tile misses the region";
  hooks.explain = infer::TileExplainer{[cam, masks](const torch::Tensor& x, const std::vector<Window>& windows) {
                                         return (*cam)(x, (*masks)(windows, x.size(2)));
                                       },
                                       describe};
}

}  // namespace drshym::explain
