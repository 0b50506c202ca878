// Issue "Maps that hold up with VV only and on mostly-water inputs": a crop of a real
// Sentinel-1 chip that is mostly water (88% of its labelled pixels) was anchored on its water
// (the VV 80th percentile): on four such crops the VV-only model scored water IoU 0.01. With the
// land-mode anchor both embedded models map it, and the record says how the scene was anchored.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <tuple>

#include "infer/predictor.hpp"
#include "infer/segment.hpp"
#include "io/raster.hpp"
#include "support/test_support.hpp"

using namespace drshym;

namespace {

// Writes bands [first, first + count) of src's window to a GeoTIFF on the window's grid.
void write_crop(const std::string& src, const Window& w, const std::vector<int>& bands, const std::string& dst,
                const std::vector<std::string>& names) {
  auto in = io::Raster::open(src);
  io::CreateOptions o = io::like(in.info(), int(bands.size()), io::DataType::Float32,
                                 std::numeric_limits<double>::quiet_NaN());
  o.width = w.w;
  o.height = w.h;
  o.geotransform = in.info().geotransform.shifted(w.x, w.y);
  o.descriptions = names;
  auto out = io::Raster::create_geotiff(dst, o);
  const io::Block b = in.read(w, bands);
  for (size_t k = 0; k < bands.size(); ++k) out.write_band(int(k) + 1, Window{0, 0, w.w, w.h}, b.band(k));
  out.close();
}

}  // namespace

// A scene that is one dark mode (all water at -20 dB VV, or very smooth land: VV cannot tell)
// is still mapped, and the record, the log and what the caption is built from say that the
// anchor could not find land and water may be missed. A land scene gets no such caution.
TEST(Anchor, AnAllDarkSceneIsMappedWithACaution) {
  drshym::testing::TempDir tmp;
  auto write = [&](const std::string& name, float level_db) {
    io::CreateOptions o;
    o.width = o.height = 96;
    o.crs_wkt = io::crs_wkt_of("EPSG:32631");
    o.geotransform = GeoTransform{{500000, 10, 0, 4800000, 0, -10}};
    o.descriptions = {"VV"};
    auto r = io::Raster::create_geotiff(tmp.file(name), o);
    std::vector<float> v(96 * 96);
    for (size_t i = 0; i < v.size(); ++i) v[i] = level_db + 1.5f * std::sin(float(i) * 0.7f);
    r.write_band(1, Window{0, 0, 96, 96}, v.data());
    r.close();
    return tmp.file(name);
  };
  infer::PredictorParams pp;
  pp.checkpoint = infer::default_model_path("default_vv");
  pp.threads = 1;
  const infer::Predictor predictor(pp);
  for (const auto& [name, db, trusted] : {std::tuple{"water.tif", -20.0f, false}, std::tuple{"land.tif", -8.0f, true}}) {
    infer::SegmentParams p;
    p.scene_uri = write(name, db);
    p.out_dir = tmp.file(std::string("out_") + name);
    p.progress = false;
    p.write_overlay = false;
    p.write_classes = false;
    infer::SegmentHooks hooks;
    std::string caution = "not called";
    hooks.describe = [&](const infer::SceneProducts& sp) {
      caution = sp.anchor_caution;
      return nlohmann::json::object();
    };
    const auto r = infer::segment_scene(p, predictor, hooks);
    EXPECT_TRUE(drshym::testing::exists(r.outputs["mask"].get<std::string>())) << name;
    const auto& level = r.record["provenance"]["anchor"]["level"];
    EXPECT_EQ(level["trusted"], trusted) << level.dump();
    if (trusted) {
      EXPECT_TRUE(caution.empty()) << caution;
      EXPECT_TRUE(level["caution"].is_null());
    } else {
      EXPECT_NE(caution.find("water may be missed"), std::string::npos) << caution;
      EXPECT_EQ(level["caution"], caution);
    }
  }
}

TEST(SharedAnchor, AMostlyWaterCropOfARealChipIsMappedByBothModels) {
  const std::string chips = "sen1floods11/v1.1/data/flood_events/HandLabeled/";
  DRSHYM_REQUIRE_SHARED(s1, chips + "S1Hand/India_900498_S1Hand.tif");
  DRSHYM_REQUIRE_SHARED(label, chips + "LabelHand/India_900498_LabelHand.tif");
  drshym::testing::TempDir tmp;
  const Window w{192, 64, 128, 128};
  write_crop(s1, w, {1, 2}, tmp.file("crop_vvvh.tif"), {"VV", "VH"});
  write_crop(s1, w, {1}, tmp.file("crop_vv.tif"), {"VV"});
  const io::Block truth = io::Raster::open(label).read(w, {1});
  int64_t water = 0, known = 0;
  for (size_t i = 0; i < truth.data.size(); ++i)
    if (truth.data[i] == 0.0f || truth.data[i] == 1.0f) known++, water += truth.data[i] == 1.0f;
  ASSERT_GT(double(water) / double(known), 0.85);  // mostly water
  for (const std::string name : {"default", "default_vv"}) {
    infer::PredictorParams pp;
    pp.checkpoint = infer::default_model_path(name);
    pp.threads = 1;
    const infer::Predictor predictor(pp);
    infer::SegmentParams p;
    p.scene_uri = tmp.file(name == "default" ? "crop_vvvh.tif" : "crop_vv.tif");
    p.out_dir = tmp.file("out_" + name);
    p.progress = false;
    p.write_overlay = false;
    p.write_classes = false;
    const auto r = infer::segment_scene(p, predictor);
    const io::Block mask = io::Raster::open(r.outputs["mask"].get<std::string>()).read(Window{0, 0, 128, 128}, {1});
    int64_t inter = 0, uni = 0;
    for (size_t i = 0; i < mask.data.size(); ++i) {
      if (truth.data[i] != 0.0f && truth.data[i] != 1.0f) continue;
      const bool m = mask.data[i] == 1.0f, t = truth.data[i] == 1.0f;
      inter += m && t;
      uni += m || t;
    }
    const double iou = double(inter) / double(uni);
    std::printf("%s on the mostly-water crop: water IoU %.3f\n", name.c_str(), iou);
    EXPECT_GT(iou, 0.8) << name;
    const auto& level = r.record["provenance"]["anchor"]["level"];
    EXPECT_EQ(level["measured_on"].get<std::string>().rfind("land mode", 0), 0u) << level.dump();
    EXPECT_GT(level["dark_share"].get<double>(), 0.5);
  }
}
