// Grad-CAM and Grad-CAM++ on networks with a known answer, on the real architectures' tap
// points, and inside a whole segment run (blended <scene>_cam.tif on the scene's grid).
#include "explain/gradcam.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "explain/scene_hooks.hpp"
#include "infer/predictor.hpp"
#include "infer/segment.hpp"
#include "ingest/synthetic_scene.hpp"
#include "io/raster.hpp"
#include "model/feature_tap.hpp"
#include "model/segnet.hpp"
#include "support/test_support.hpp"

namespace drshym::explain {
namespace {

using drshym::testing::TempDir;

// A network whose flood logit depends on one quadrant only. Its tapped block "feat" has one
// channel per quadrant (channel q = the pooled input inside quadrant q, zero elsewhere), like
// the position-coded features of a real decoder; every output pixel's logit is the mean of
// channel `hot` (so only that quadrant's features matter), upsampled back to full size.
class QuadrantNet : public model::SegNetImpl {
 public:
  explicit QuadrantNet(int hot) : SegNetImpl(model::ModelConfig{}), hot_(hot) {}
  torch::Tensor forward_water(torch::Tensor x) override {
    const auto p = torch::avg_pool2d(x.narrow(1, 0, 1), 2);  // half resolution: the map is upsampled
    const int64_t h = p.size(2), w = p.size(3);
    std::vector<torch::Tensor> chans;
    for (int q = 0; q < 4; ++q) {
      auto m = torch::zeros({1, 1, h, w});
      m.narrow(2, (q / 2) * (h / 2), h / 2).narrow(3, (q % 2) * (w / 2), w / 2).fill_(1.0);
      chans.push_back(p * m);
    }
    const auto feat = model::tap("feat", torch::cat(chans, 1));
    const auto score = feat.narrow(1, hot_, 1).mean({2, 3}, true);  // [N, 1, 1, 1]
    return score.expand({x.size(0), 1, x.size(2), x.size(3)});
  }
  std::vector<std::string> tap_points() const override { return {"feat"}; }

 private:
  int hot_;
};

double quadrant_share(const torch::Tensor& cam, int q) {
  const int64_t H = cam.size(2), W = cam.size(3);
  const auto part = cam.narrow(2, (q / 2) * (H / 2), H / 2).narrow(3, (q % 2) * (W / 2), W / 2);
  return part.sum().item<double>() / cam.sum().item<double>();
}

TEST(GradCam, ConcentratesOnTheOnlyQuadrantTheLogitDependsOn) {
  torch::manual_seed(42);
  const auto x = torch::rand({2, 2, 32, 32}) + 0.5;  // positive everywhere: every channel is active
  const auto region = [](const torch::Tensor& logits) { return torch::ones_like(logits); };
  for (CamMethod m : {CamMethod::GradCam, CamMethod::GradCamPlusPlus}) {
    for (int hot = 0; hot < 4; ++hot) {
      auto net = std::make_shared<QuadrantNet>(hot);
      const auto cam = grad_cam([&](const torch::Tensor& in) { return net->forward(in); }, "feat", m, x, region);
      ASSERT_EQ(cam.sizes(), (std::vector<int64_t>{2, 1, 32, 32}));
      EXPECT_GE(cam.min().item<float>(), 0.0f);
      for (int b = 0; b < 2; ++b) {
        // Bilinear upsampling of the half-resolution map bleeds one pixel over the border.
        EXPECT_GT(quadrant_share(cam[b].unsqueeze(0), hot), 0.95) << cam_method_name(m) << " quadrant " << hot;
        for (int q = 0; q < 4; ++q) {
          if (q == hot) continue;
          EXPECT_LT(quadrant_share(cam[b].unsqueeze(0), q), 0.03);
        }
      }
    }
  }
}

TEST(GradCam, EmptyRegionGivesZerosAndAnUnknownLayerFails) {
  auto net = std::make_shared<QuadrantNet>(0);
  const auto x = torch::rand({1, 2, 16, 16}) + 0.5;
  const auto fwd = [&](const torch::Tensor& in) { return net->forward(in); };
  const auto none = [](const torch::Tensor& logits) { return torch::zeros_like(logits); };
  const auto all = [](const torch::Tensor& logits) { return torch::ones_like(logits); };
  const auto cam = grad_cam(fwd, "feat", CamMethod::GradCam, x, none);
  EXPECT_EQ(cam.abs().max().item<float>(), 0.0f);
  EXPECT_THROW(grad_cam(fwd, "nope", CamMethod::GradCam, x, all), Error);
  EXPECT_EQ(parse_cam_method("gradcam++"), CamMethod::GradCamPlusPlus);
  EXPECT_THROW(parse_cam_method("cam"), Error);
}

TEST(GradCam, EveryTapPointOfTheRealArchitecturesGivesAMap) {
  torch::manual_seed(42);
  for (const std::string arch : {"unet_compact", "attention_resunet", "unet_resnet18"}) {
    model::ModelConfig cfg;
    cfg.arch = arch;
    cfg.base_width = 4;
    auto net = model::make_model(cfg);
    net->eval();
    const auto x = torch::randn({1, 2, 64, 64});
    const auto fwd = [&](const torch::Tensor& in) { return net->forward(in); };
    const auto taps = net->tap_points();
    ASSERT_GE(taps.size(), 5u) << arch;
    for (const auto& layer : taps) {
      const auto cam = grad_cam(fwd, layer, CamMethod::GradCamPlusPlus, x,
                                [](const torch::Tensor& l) { return torch::ones_like(l); });
      ASSERT_EQ(cam.sizes(), (std::vector<int64_t>{1, 1, 64, 64})) << arch << " " << layer;
      EXPECT_TRUE(torch::isfinite(cam).all().item<bool>()) << arch << " " << layer;
      EXPECT_GE(cam.min().item<float>(), 0.0f);
    }
    // Tapping leaves the network's answer unchanged.
    torch::NoGradGuard ng;
    const auto plain = net->forward(x);
    model::FeatureTap tap(taps.back());
    EXPECT_TRUE(torch::allclose(plain, net->forward(x)));
  }
}

const infer::Predictor& predictor() {
  static infer::Predictor p([] {
    infer::PredictorParams pp;
    pp.checkpoint = std::string(DRSHYM_SOURCE_DIR) + "/models/default";
    pp.threads = 1;
    return pp;
  }());
  return p;
}

TEST(GradCam, ChecksTheLayerAgainstTheLoadedModel) {
  EXPECT_EQ(GradCam(predictor(), {}).layer(), predictor().net()->tap_points().back());
  try {
    GradCam(predictor(), {"dec9", CamMethod::GradCam, 0.5});
    FAIL() << "an unknown layer was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    EXPECT_NE(std::string(e.what()).find("dec9"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("enc0"), std::string::npos);  // lists the valid layers
  }
}

// A W x H demo scene in tmp and the parameters of a quiet run on it into tmp/seg.
infer::SegmentParams demo_run(const TempDir& tmp, int width, int height, tiling::GridParams grid) {
  ingest::SyntheticSceneParams sp;
  sp.width = width;
  sp.height = height;
  infer::SegmentParams p;
  p.scene_uri = tmp.file("demo.tif");
  ingest::write_synthetic_scene(sp, p.scene_uri);
  p.out_dir = tmp.file("seg");
  p.grid = grid;
  p.progress = false;
  return p;
}

// A whole scene: the map is blended on the scene's grid, nodata stays nodata, and relevance
// sits on the water the model found, not on dry land far from it.
TEST(GradCam, SegmentWritesABlendedMapOnTheScenesGrid) {
  TempDir tmp;
  const infer::SegmentParams p = demo_run(tmp, 300, 260, {128, 16});
  const std::string& scene = p.scene_uri;
  auto cam = std::make_shared<GradCam>(predictor(), GradCamParams{});
  infer::SegmentHooks hooks;
  hooks.explain = infer::TileExplainer{[cam](const torch::Tensor& x, const std::vector<Window>&) { return (*cam)(x); },
                                       cam->describe()};
  const auto r = infer::segment_scene(p, predictor(), hooks);
  const std::string cam_path = r.outputs.at("cam");
  auto cr = io::Raster::open(cam_path), sr = io::Raster::open(scene), mr = io::Raster::open(r.outputs.at("mask"));
  EXPECT_EQ(cr.width(), sr.width());
  EXPECT_EQ(cr.height(), sr.height());
  EXPECT_EQ(cr.info().geotransform, sr.info().geotransform);
  EXPECT_TRUE(io::same_crs(cr.info().crs_wkt, sr.info().crs_wkt));
  EXPECT_EQ(r.record["provenance"]["explain"]["method"], "gradcam");
  EXPECT_EQ(r.record["provenance"]["explain"]["layer"], "dec0");
  const Window all{0, 0, sr.width(), sr.height()};
  std::vector<float> heat(size_t(all.w) * all.h);
  std::vector<float> mask(heat.size());
  cr.read_band_resampled(1, all, all.w, all.h, heat.data());
  mr.read_band_resampled(1, all, all.w, all.h, mask.data());
  double flood_sum = 0, dry_sum = 0;
  int64_t flood_n = 0, dry_n = 0, nodata_n = 0;
  for (size_t i = 0; i < heat.size(); ++i) {
    if (mask[i] == 255.0f) {
      EXPECT_TRUE(std::isnan(heat[i]));
      ++nodata_n;
      continue;
    }
    ASSERT_TRUE(std::isfinite(heat[i]) && heat[i] >= 0.0f) << i;
    if (mask[i] == 1.0f) {
      flood_sum += heat[i];
      ++flood_n;
    } else {
      dry_sum += heat[i];
      ++dry_n;
    }
  }
  ASSERT_GT(flood_n, 100);
  ASSERT_GT(nodata_n, 0);  // the demo scene's slanted swath edge
  EXPECT_GT(flood_sum / double(flood_n), 2.0 * dry_sum / double(std::max<int64_t>(1, dry_n)));
  // The explaining pass gives the probabilities too: they equal a plain run's.
  infer::SegmentParams plain = p;
  plain.out_dir = tmp.file("plain");
  const auto q = infer::segment_scene(plain, predictor());
  std::vector<float> pa(heat.size()), pb(heat.size());
  io::Raster::open(r.outputs.at("proba")).read_band_resampled(1, all, all.w, all.h, pa.data());
  io::Raster::open(q.outputs.at("proba")).read_band_resampled(1, all, all.w, all.h, pb.data());
  double max_diff = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    ASSERT_EQ(std::isnan(pa[i]), std::isnan(pb[i])) << i;
    if (!std::isnan(pa[i])) max_diff = std::max(max_diff, double(std::abs(pa[i] - pb[i])));
  }
  EXPECT_LT(max_diff, 1e-5);
  EXPECT_EQ(r.flood_pixels, q.flood_pixels);
}

// A polygon in the demo scene's CRS (UTM 44N, 10 m pixels from (500000, 2900000)) covering
// scene pixels [c0, c1) x [r0, r1).
std::string region_geojson(const TempDir& tmp, const std::string& name, int c0, int c1, int r0, int r1) {
  const double x0 = 500000 + 10.0 * c0, x1 = 500000 + 10.0 * c1, y0 = 2900000 - 10.0 * r0, y1 = 2900000 - 10.0 * r1;
  const nlohmann::json fc = {
      {"type", "FeatureCollection"},
      {"crs", {{"type", "name"}, {"properties", {{"name", "EPSG:32644"}}}}},
      {"features",
       {{{"type", "Feature"},
         {"properties", nlohmann::json::object()},
         {"geometry",
          {{"type", "Polygon"}, {"coordinates", {{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}}}}}}}}}};
  const std::string path = tmp.file(name);
  core::write_text_file_atomic(path, fc.dump());
  return path;
}

// A given region replaces the predicted flood as what is explained: tiles that miss it get
// zeros, and a region off the scene is refused before any work.
TEST(GradCam, AGivenRegionIsExplainedInsteadOfThePredictedFlood) {
  TempDir tmp;
  const infer::SegmentParams p = demo_run(tmp, 300, 260, {128, 16});
  SceneExplainOptions o;
  o.gradcam = GradCamParams{};
  o.region_path = region_geojson(tmp, "region.geojson", 100, 200, 0, 100);  // across the river, top rows only
  infer::SegmentHooks hooks;
  attach_scene_hooks(hooks, predictor(), o, p.scene_uri);
  EXPECT_NE(hooks.explain->provenance["target"].get<std::string>().find("region.geojson"), std::string::npos);
  const auto r = infer::segment_scene(p, predictor(), hooks);
  auto cr = io::Raster::open(r.outputs.at("cam"));
  const Window all{0, 0, cr.width(), cr.height()};
  std::vector<float> heat(size_t(all.w) * all.h);
  cr.read_band_resampled(1, all, all.w, all.h, heat.data());
  double inside = 0, below = 0;
  for (int y = 0; y < all.h; ++y)
    for (int x = 0; x < all.w; ++x) {
      const float h = heat[size_t(y) * all.w + x];
      if (std::isnan(h)) continue;
      if (y < 100 && x >= 100 && x < 200) inside += h;
      if (y >= 128) below += h;  // only tiles of the second grid row and below cover these rows
    }
  EXPECT_GT(inside, 0.0);
  EXPECT_EQ(below, 0.0);

  SceneExplainOptions off = o;
  off.region_path = region_geojson(tmp, "off.geojson", 5000, 5100, 0, 100);
  infer::SegmentHooks h2;
  drshym::testing::expect_error([&] { attach_scene_hooks(h2, predictor(), off, p.scene_uri); },
                                ErrorKind::InvalidInput, {"off.geojson", "does not overlap scene"});
  SceneExplainOptions no_cam;
  no_cam.region_path = o.region_path;
  drshym::testing::expect_error([&] { attach_scene_hooks(h2, predictor(), no_cam, p.scene_uri); }, ErrorKind::Usage,
                                {"an explanation region needs Grad-CAM"});
}

TEST(GradCam, AFailingExplanationLeavesNothingBehind) {
  TempDir tmp;
  const infer::SegmentParams p = demo_run(tmp, 128, 128, {64, 8});
  infer::SegmentHooks hooks;
  hooks.explain = infer::TileExplainer{[](const torch::Tensor&, const std::vector<Window>&)
                                           -> std::pair<torch::Tensor, torch::Tensor> {
                                         throw Error(ErrorKind::Internal, "test", "explanation failed");
                                       },
                                       nullptr};
  drshym::testing::expect_error([&] { infer::segment_scene(p, predictor(), hooks); }, ErrorKind::Internal,
                                {"explanation failed"});
  EXPECT_TRUE(drshym::testing::files_in(p.out_dir).empty());
}

}  // namespace
}  // namespace drshym::explain
