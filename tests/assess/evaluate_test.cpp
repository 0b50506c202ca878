// `drshym eval` on a real Sen1Floods11 chip (shared data; skipped when absent) with synthetic
// auxiliary rasters made over the chip's footprint: the slope and landcover error slices.
#include "assess/evaluate.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <memory>

#include <ogr_spatialref.h>

#include "core/error.hpp"
#include "data/folder_dataset.hpp"
#include "io/raster.hpp"
#include "support/test_support.hpp"

using namespace drshym;
namespace fs = std::filesystem;

namespace {

constexpr double kPi = 3.14159265358979323846;

int64_t bin_pixels(const nlohmann::json& family, const std::string& name) {
  for (const auto& b : family["bins"])
    if (b["name"] == name) return b["pixels"].get<int64_t>();
  return -1;
}

int64_t total_pixels(const nlohmann::json& family) {
  int64_t n = 0;
  for (const auto& b : family["bins"]) n += b["pixels"].get<int64_t>();
  return n;
}

TEST(SharedEvaluate, SlicesOfASen1Floods11ChipWithSyntheticDemAndLandCover) {
  DRSHYM_REQUIRE_SHARED(root, "sen1floods11/v1.1/data/flood_events/HandLabeled");
  const std::string s1 = root + "/S1Hand/India_900498_S1Hand.tif", lab = root + "/LabelHand/India_900498_LabelHand.tif";
  if (!drshym::testing::exists(s1) || !drshym::testing::exists(lab)) GTEST_SKIP() << "chip India_900498 absent";
  drshym::testing::TempDir tmp;
  // The chip as a one-item folder dataset, so the evaluation sees exactly it.
  const std::string images = tmp.file("data/valid/images"), labels = tmp.file("data/valid/labels");
  fs::create_directories(images);
  fs::create_directories(labels);
  fs::copy_file(s1, images + "/India_900498.tif");
  fs::copy_file(lab, labels + "/India_900498.tif");
  const io::RasterInfo chip = io::Raster::open(s1).info();  // EPSG:4326, ~10 m pixels
  const auto& t = chip.geotransform.t;
  const double mid_lon = t[0] + t[1] * chip.width / 2.0;

  // DEM in UTM 46N over the chip's west half only (its east edge at the chip's middle, at the
  // middle latitude), a plane rising tan(7 deg) per metre eastward.
  OGRSpatialReference geo, utm;
  geo.importFromEPSG(4326);
  utm.importFromEPSG(32646);
  geo.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  utm.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  std::unique_ptr<OGRCoordinateTransformation> ct(OGRCreateCoordinateTransformation(&geo, &utm));
  double x[2] = {t[0], mid_lon}, y[2] = {t[3], t[3] + t[5] * chip.height / 2.0};
  ASSERT_TRUE(ct->Transform(2, x, y));
  const double px = 30.0, slope = std::tan(7.0 * kPi / 180.0);
  const int w = int((x[1] - (x[0] - 1000.0)) / px), h = int(8000.0 / px);
  io::CreateOptions o;
  o.width = w;
  o.height = h;
  o.geotransform.t = {x[1] - w * px, px, 0.0, y[1] + 4000.0, 0.0, -px};
  o.crs_wkt = io::crs_wkt_of("EPSG:32646");
  {
    auto dem = io::Raster::create_geotiff(tmp.file("dem.tif"), o);
    std::vector<float> z(size_t(w) * size_t(h));
    for (int r = 0; r < h; ++r)
      for (int c = 0; c < w; ++c) z[size_t(r) * size_t(w) + size_t(c)] = float(100.0 + slope * px * c);
    dem.write_band(1, Window{0, 0, w, h}, z.data());
    dem.close();
  }
  // Land cover on the chip's own grid: cropland (40) in the north half, built-up (50) south.
  io::CreateOptions l = io::like(chip, 1, io::DataType::Byte, 0.0);
  {
    auto lc = io::Raster::create_geotiff(tmp.file("lc.tif"), l);
    std::vector<uint8_t> v(size_t(chip.width) * size_t(chip.height));
    for (size_t i = 0; i < v.size(); ++i) v[i] = int(i / size_t(chip.width)) < chip.height / 2 ? 40 : 50;
    lc.write_band(1, Window{0, 0, chip.width, chip.height}, v.data());
    lc.close();
  }

  assess::EvaluateParams p;
  p.data = {{"type", "folder"}, {"root", tmp.file("data")}, {"split", "valid"}};
  p.split = "valid";
  p.threads = 1;
  p.dem = tmp.file("dem.tif");
  p.landcover = tmp.file("lc.tif");
  const auto r = assess::evaluate_checkpoint(p);
  ASSERT_TRUE(r["slices"].contains("slope")) << r["slices"].dump();
  const auto& sl = r["slices"]["slope"];
  const auto& lc = r["slices"]["landcover"];
  // Nothing disappears: every family holds the same pixels as the regions.
  const int64_t valid = total_pixels(r["slices"]["region"]);
  ASSERT_GT(valid, 0);
  EXPECT_EQ(total_pixels(sl), valid);
  EXPECT_EQ(total_pixels(lc), valid);
  // About half the chip is outside the DEM; the covered half is the 7-degree plane (the DEM's
  // last column, computed at its edge, reads about half the slope).
  const int64_t not_covered = bin_pixels(sl, "not covered");
  EXPECT_GT(not_covered, valid * 4 / 10);
  EXPECT_LT(not_covered, valid * 6 / 10);
  EXPECT_GE(bin_pixels(sl, "5-10 deg"), (valid - not_covered) * 97 / 100);
  EXPECT_EQ(sl["chips"]["scored"].get<int64_t>(), 1);
  EXPECT_EQ(sl["chips"]["without_grid"].get<int64_t>(), 0);
  // Land cover: exactly the valid pixels of each half, named by WorldCover.
  const data::RawSample raw = data::read_folder_item({"India_900498", "India", images + "/India_900498.tif",
                                                      labels + "/India_900498.tif"}, true);
  int64_t north = 0, south = 0;
  for (size_t i = 0; i < raw.pixels(); ++i)
    if (raw.valid[i]) ++(int(i / size_t(raw.width)) < raw.height / 2 ? north : south);
  EXPECT_EQ(bin_pixels(lc, "40 cropland"), north);
  EXPECT_EQ(bin_pixels(lc, "50 built-up"), south);
  EXPECT_EQ(bin_pixels(lc, "not covered"), 0);
}

TEST(EvaluateSlices, DemWithoutCrsFailsBeforeTheModelLoads) {
  drshym::testing::TempDir tmp;
  io::CreateOptions o;
  o.width = o.height = 4;
  io::Raster::create_geotiff(tmp.file("dem.tif"), o).close();
  assess::EvaluateParams p;
  p.checkpoint = tmp.file("no_such_model.pt");  // would fail with NotFound if it were reached
  p.data = {{"type", "folder"}, {"root", tmp.file("nothing")}, {"split", "valid"}};
  p.dem = tmp.file("dem.tif");
  try {
    assess::evaluate_checkpoint(p);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput) << e.what();
    EXPECT_NE(std::string(e.what()).find(tmp.file("dem.tif")), std::string::npos) << e.what();
  }
}

}  // namespace

// The bar: on OMBRIA test the change model (the default for ombria) scores flood IoU
// above every classical change detector in the same report, and what segment --before maps too.
TEST(SharedEvaluate, OmbriaTestChangeModelBeatsEveryClassicalBaseline) {
  DRSHYM_REQUIRE_SHARED(root, "ombria/OmbriaS1/test");
  assess::EvaluateParams p;
  p.checkpoint = std::string(DRSHYM_SOURCE_DIR) + "/models/change";
  p.data = {{"type", "ombria"}, {"root", root.substr(0, root.size() - 5)}, {"split", "test"}};
  p.split = "test";
  p.threads = 2;
  const auto r = assess::evaluate_checkpoint(p);
  auto iou = [&](const char* k) { return r[k]["total"]["metrics"]["iou"].get<double>(); };
  const double model = iou("model");
  for (const char* b : {"otsu_vv_db", "otsu_change_db", "otsu_after_and_change"}) {
    EXPECT_GT(model, iou(b)) << b;
    EXPECT_GT(iou("segment_rule"), iou(b)) << b;
  }
  EXPECT_EQ(r["samples"], 70);
}

// The README's water IoU on the shared Sen1Floods11 chips (0.758 VV+VH, 0.737 VV-only; the
// models chose nothing on them) and its promise that a calibration shift of +3 dB changes
// nothing (the scene anchor). Floors a little under the published figures: a model that broke
// on real chips, or an anchor that stopped cancelling offsets, fails here.
TEST(SharedEvaluate, ChipsScoreThePublishedWaterIouAndIgnoreACalibrationOffset) {
  DRSHYM_REQUIRE_SHARED(root, "sen1floods11/v1.1/data/flood_events/HandLabeled");
  struct Case { const char* model; double published; };
  for (const Case c : {Case{"default", 0.758}, Case{"default_vv", 0.737}}) {
    double iou[2] = {0, 0};
    for (int k = 0; k < 2; ++k) {
      assess::EvaluateParams p;
      p.checkpoint = std::string(DRSHYM_SOURCE_DIR) + "/models/" + c.model;
      p.data = {{"type", "sen1floods11"}, {"root", drshym::testing::shared_data_dir() + "/sen1floods11"}, {"split", "all"}};
      p.split = "all";
      p.threads = 2;
      p.offset_db = k == 0 ? 0.0 : 3.0;
      const auto r = assess::evaluate_checkpoint(p);
      iou[k] = r["model"]["total"]["metrics"]["iou"].get<double>();
      EXPECT_GT(iou[k], r["otsu_vv_db"]["total"]["metrics"]["iou"].get<double>()) << c.model << " vs Otsu";
    }
    EXPECT_GE(iou[0], c.published - 0.01) << c.model;
    EXPECT_LT(std::abs(iou[1] - iou[0]), 0.005) << c.model << ": +3 dB moved the IoU from " << iou[0] << " to " << iou[1];
  }
}
