#include "infer/segment.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/config.hpp"
#include "core/error.hpp"
#include "infer/batch.hpp"
#include "ingest/synthetic_scene.hpp"
#include "ingest/tile_scene.hpp"
#include "io/raster.hpp"
#include "support/test_support.hpp"

using namespace drshym;
namespace fs = std::filesystem;

namespace {
const infer::Predictor& predictor() {
  static infer::Predictor p([] {
    infer::PredictorParams pp;
    pp.checkpoint = std::string(DRSHYM_SOURCE_DIR) + "/models/default";
    pp.threads = 1;
    return pp;
  }());
  return p;
}

void expect_same_grid(const std::string& a, const std::string& b) {
  auto ra = io::Raster::open(a), rb = io::Raster::open(b);
  EXPECT_EQ(ra.width(), rb.width());
  EXPECT_EQ(ra.height(), rb.height());
  EXPECT_EQ(ra.info().geotransform, rb.info().geotransform);
  EXPECT_TRUE(io::same_crs(ra.info().crs_wkt, rb.info().crs_wkt));
}
}  // namespace

TEST(Segment, DemoSceneOutputsKeepGridNodataAndMatchStitch) {
  drshym::testing::TempDir tmp;
  ingest::SyntheticSceneParams sp;
  sp.width = 300;
  sp.height = 260;
  std::string scene = tmp.file("demo.tif");
  ingest::write_synthetic_scene(sp, scene);
  infer::SegmentParams p;
  p.scene_uri = scene;
  p.out_dir = tmp.file("seg");
  p.grid = {128, 16};
  p.progress = false;
  auto r = infer::segment_scene(p, predictor());
  for (const char* k : {"proba", "mask", "geojson", "overlay_png", "record"})
    EXPECT_TRUE(fs::exists(r.outputs[k].get<std::string>())) << k;
  expect_same_grid(scene, r.outputs["proba"]);
  expect_same_grid(scene, r.outputs["mask"]);
  // Nodata in → nodata out (255 is the mask's nodata, so read() reports it invalid).
  EXPECT_EQ(*io::Raster::open(r.outputs["mask"].get<std::string>()).info().nodata[0], 255.0);
  auto src = io::Raster::open(scene).read(Window{0, 0, 300, 260}, {1});
  auto mask = io::Raster::open(r.outputs["mask"].get<std::string>()).read(Window{0, 0, 300, 260}, {1});
  for (size_t i = 0; i < src.valid.size(); ++i) {
    if (!src.valid[i]) {
      ASSERT_EQ(mask.valid[i], 0) << "pixel " << i << " had no data in but has a mask value";
    }
  }
  EXPECT_GT(r.flood_pixels, 0);
  // tile → predict → stitch reproduces segment.
  ingest::tile_scene({scene, "", tmp.file("tiles"), {128, 16}, false, false});
  infer::PredictFolderParams pf{tmp.file("tiles/images"), tmp.file("pred"), 4, false};
  auto pr = infer::predict_folder(pf, predictor());
  EXPECT_TRUE(pr.failed.empty());
  auto st = infer::stitch_tiles({tmp.file("pred"), tmp.file("tiles/scene_meta.json"), tmp.file("stitched"), -1, true});
  auto a = io::Raster::open(r.outputs["proba"].get<std::string>()).read(Window{0, 0, 300, 260}, {1});
  auto b = io::Raster::open(st.proba_path).read(Window{0, 0, 300, 260}, {1});
  EXPECT_EQ(a.valid, b.valid);
  for (size_t i = 0; i < a.data.size(); ++i) {
    if (a.valid[i]) {
      ASSERT_NEAR(a.data[i], b.data[i], 1e-4);
    }
  }
}

TEST(Segment, BadInputsFailBeforeWriting) {
  drshym::testing::TempDir tmp;
  infer::SegmentParams p;
  p.progress = false;
  p.out_dir = tmp.file("out");
  p.scene_uri = tmp.file("missing.tif");
  EXPECT_THROW(infer::segment_scene(p, predictor()), Error);
  p.out_dir = "/proc/not_writable";
  ingest::SyntheticSceneParams sp;
  sp.width = sp.height = 64;
  ingest::write_synthetic_scene(sp, tmp.file("s.tif"));
  p.scene_uri = tmp.file("s.tif");
  EXPECT_THROW(infer::segment_scene(p, predictor()), Error);
  EXPECT_FALSE(fs::exists(tmp.file("out")));
}

TEST(RealData, Sen1Floods11ChipSegmentKeepsCrsAndBounds) {
  DRSHYM_REQUIRE_SHARED(root, "sen1floods11/v1.1/data/flood_events/HandLabeled/S1Hand/USA_905409_S1Hand.tif");
  drshym::testing::TempDir tmp;
  infer::SegmentParams p;
  p.scene_uri = root;
  p.out_dir = tmp.path();
  p.progress = false;
  auto r = infer::segment_scene(p, predictor());
  expect_same_grid(root, r.outputs["proba"]);
  expect_same_grid(root, r.outputs["mask"]);
  EXPECT_EQ(r.record["crs"], "EPSG:4326");
}

TEST(RealData, PyrosarVvOnlySceneNamesMissingVh) {
  DRSHYM_REQUIRE_SHARED(path, "pyrosar/S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif");
  drshym::testing::TempDir tmp;
  infer::SegmentParams p;
  p.scene_uri = path;
  p.out_dir = tmp.file("out");
  p.progress = false;
  try {
    infer::segment_scene(p, predictor());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("VH"), std::string::npos) << e.what();
  }
}
