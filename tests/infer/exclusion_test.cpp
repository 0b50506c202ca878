// segment --dem: the terrain exclusion layer. On a scene on the Rome DEM's grid with two equally
// dark patches, one on the Tiber floodplain and one on a hilltop, the DEM keeps the first and
// removes and flags the second; --no-exclusion removes nothing; bad DEMs fail before any output;
// DEM nodata is never excluded; a model that reads HAND gets it from the DEM.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <random>

#include "core/error.hpp"
#include "infer/predictor.hpp"
#include "model/checkpoint.hpp"
#include "model/segnet.hpp"
#include "infer/segment.hpp"
#include "io/raster.hpp"
#include "support/test_support.hpp"
#include "terrain/exclusion.hpp"

using namespace drshym;
using drshym::testing::expect_error;
using drshym::testing::files_in;
using drshym::testing::TempDir;

namespace {

constexpr int kPatch = 24;  // pixels a side of each dark patch

const infer::Predictor& predictor() {
  static infer::Predictor p([] {
    infer::PredictorParams pp;
    pp.checkpoint = std::string(DRSHYM_SOURCE_DIR) + "/models/default";
    pp.threads = 1;
    return pp;
  }());
  return p;
}

std::vector<float> band1(const std::string& path) {
  auto r = io::Raster::open(path);
  std::vector<float> v(size_t(r.width()) * size_t(r.height()));
  r.read_band(1, Window{0, 0, r.width(), r.height()}, v.data());
  return v;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

// A VV+VH scene (dB) on a grid: bright land with speckle, and equally dark water-like patches.
void write_scene(const std::string& path, const io::RasterInfo& grid, const std::vector<Window>& dark) {
  io::CreateOptions o = io::like(grid, 2, io::DataType::Float32, std::numeric_limits<double>::quiet_NaN());
  o.descriptions = {"VV", "VH"};
  auto r = io::Raster::create_geotiff(path, o);
  const int w = grid.width, h = grid.height;
  std::mt19937 rng(42);
  std::normal_distribution<float> speckle(0.0f, 1.0f);
  std::vector<float> vv(size_t(w) * h), vh(size_t(w) * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      bool water = false;
      for (const auto& d : dark) water = water || (x >= d.x && x < d.x + d.w && y >= d.y && y < d.y + d.h);
      vv[size_t(y) * w + x] = (water ? -22.0f : -8.0f) + speckle(rng);
      vh[size_t(y) * w + x] = (water ? -29.0f : -15.0f) + speckle(rng);
    }
  r.write_band(1, Window{0, 0, w, h}, vv.data());
  r.write_band(2, Window{0, 0, w, h}, vh.data());
  r.close();
}

// Share of a window's pixels equal to v.
double share(const std::vector<float>& img, int width, const Window& win, float v) {
  int64_t n = 0;
  for (int y = win.y; y < win.y + win.h; ++y)
    for (int x = win.x; x < win.x + win.w; ++x) n += img[size_t(y) * width + x] == v;
  return double(n) / double(win.area());
}

// The kPatch window with the lowest (or highest) mean height, on a kPatch/2 step.
Window extreme_window(const std::vector<float>& z, int w, int h, bool lowest) {
  Window best;
  double best_mean = lowest ? INFINITY : -INFINITY;
  for (int y = kPatch; y + 2 * kPatch <= h; y += kPatch / 2)
    for (int x = kPatch; x + 2 * kPatch <= w; x += kPatch / 2) {
      double s = 0;
      for (int r = y; r < y + kPatch; ++r)
        for (int c = x; c < x + kPatch; ++c) s += z[size_t(r) * w + c];
      const double m = s / (kPatch * kPatch);
      if (lowest ? m < best_mean : m > best_mean) best_mean = m, best = Window{x, y, kPatch, kPatch};
    }
  return best;
}

infer::SegmentParams params(const std::string& scene, const std::string& out) {
  infer::SegmentParams p;
  p.scene_uri = scene;
  p.out_dir = out;
  p.progress = false;
  p.write_overlay = false;
  p.grid.tile = 256;
  p.grid.overlap = 32;
  return p;
}

}  // namespace

TEST(RealData, DemKeepsFloodplainWaterAndExcludesTheHilltopPatch) {
  DRSHYM_REQUIRE_SHARED(dem, "dem/Rome-30m-DEM.tif");
  TempDir tmp;
  const io::RasterInfo grid = io::Raster::open(dem).info();
  const int w = grid.width, h = grid.height;
  const auto z = band1(dem);
  // Chosen by height alone: the lowest ground (the Tiber's floodplain) and the highest (a hilltop).
  const Window plain = extreme_window(z, w, h, true), hill = extreme_window(z, w, h, false);
  ASSERT_TRUE(plain.intersect(hill).empty());
  std::printf("floodplain patch %s, hilltop patch %s (DEM pixels)\n", plain.str().c_str(), hill.str().c_str());
  const std::string scene = tmp.file("rome.tif");
  write_scene(scene, grid, {plain, hill});

  // Without a DEM both patches are water.
  auto p = params(scene, tmp.file("plain"));
  auto r0 = infer::segment_scene(p, predictor());
  const auto m0 = band1(r0.outputs["mask"]);
  EXPECT_GT(share(m0, w, plain, 1.0f), 0.9);
  EXPECT_GT(share(m0, w, hill, 1.0f), 0.9);
  EXPECT_FALSE(r0.outputs.contains("exclusion"));

  // With it the floodplain patch stays water and the hilltop is flagged and removed.
  p = params(scene, tmp.file("dem"));
  p.dem_uri = dem;
  auto r1 = infer::segment_scene(p, predictor());
  ASSERT_TRUE(r1.outputs.contains("exclusion"));
  const auto m1 = band1(r1.outputs["mask"]), cls = band1(r1.outputs["classes"]), ex = band1(r1.outputs["exclusion"]);
  EXPECT_GT(share(m1, w, plain, 1.0f), 0.9);
  EXPECT_EQ(share(m1, w, hill, 1.0f), 0.0);
  EXPECT_EQ(share(cls, w, hill, 1.0f) + share(cls, w, hill, 2.0f), 0.0);  // classes follow the mask
  EXPECT_GT(share(cls, w, plain, 1.0f) + share(cls, w, plain, 2.0f), 0.9);
  int64_t hill_high = 0, plain_flagged = 0;
  for (int y = hill.y; y < hill.y + hill.h; ++y)
    for (int x = hill.x; x < hill.x + hill.w; ++x) hill_high += (uint8_t(ex[size_t(y) * w + x]) & terrain::kHighAboveDrainage) != 0;
  for (int y = plain.y; y < plain.y + plain.h; ++y)
    for (int x = plain.x; x < plain.x + plain.w; ++x) plain_flagged += ex[size_t(y) * w + x] != 0.0f;
  EXPECT_EQ(hill_high, kPatch * kPatch);
  EXPECT_LT(plain_flagged, kPatch * kPatch / 20);
  // The layer: a UInt8 COG on the scene's grid with 255 as nodata.
  {
    auto er = io::Raster::open(r1.outputs["exclusion"]);
    EXPECT_EQ(er.info().types[0], io::DataType::Byte);
    EXPECT_EQ(er.info().nodata[0].value_or(-1), 255.0);
    EXPECT_EQ(er.info().geotransform, grid.geotransform);
    EXPECT_EQ(er.width(), w);
  }
  // The record counts what was removed, per reason (the caption's sentence: tests/explain).
  const auto rec = read_json(r1.outputs["record"]);
  const auto& st = rec["stats"]["exclusion"];
  std::printf("stats.exclusion: %s\n", st.dump().c_str());
  EXPECT_TRUE(st["applied"].get<bool>());
  EXPECT_GE(st["removed_pixels"].get<int64_t>(), int64_t(0.9 * kPatch * kPatch));
  // 24 x 24 px of ~23 x 31 m: ~0.41 km², and the model's edge of the patch.
  EXPECT_GT(st["removed_km2"].get<double>(), 0.3);
  EXPECT_LT(st["removed_km2"].get<double>(), 0.6);
  EXPECT_GT(st["removed_km2_by_reason"]["high_above_drainage"].get<double>(), 0.9 * st["removed_km2"].get<double>());
  EXPECT_EQ(st["dem_nodata_pixels"].get<int64_t>(), 0);
  EXPECT_EQ(rec["provenance"]["terrain"]["applied"], true);
  EXPECT_EQ(r1.flood_pixels + st["removed_pixels"].get<int64_t>(), r0.flood_pixels);
  // Polygons: the hilltop's is gone.
  EXPECT_LT(rec["stats"]["flood_polygons"].get<int>(), read_json(r0.outputs["record"])["stats"]["flood_polygons"].get<int>());

  // --no-exclusion: the same layer, every water pixel kept, the would-be removal counted.
  p = params(scene, tmp.file("keep"));
  p.dem_uri = dem;
  p.exclusion.apply = false;
  auto r2 = infer::segment_scene(p, predictor());
  EXPECT_EQ(band1(r2.outputs["mask"]), m0);
  EXPECT_EQ(band1(r2.outputs["exclusion"]), ex);
  const auto st2 = read_json(r2.outputs["record"])["stats"]["exclusion"];
  EXPECT_FALSE(st2["applied"].get<bool>());
  EXPECT_EQ(st2["removed_pixels"].get<int64_t>(), 0);
  EXPECT_EQ(st2["water_on_excluded_pixels"], st["removed_pixels"]);
}

TEST(Exclusion, BadDemsFailBeforeAnyOutput) {
  TempDir tmp;
  // A 10 m UTM scene, 128 px a side.
  io::RasterInfo grid;
  grid.width = grid.height = 128;
  grid.geotransform = GeoTransform{{290000, 10, 0, 4650000, 0, -10}};
  grid.crs_wkt = io::crs_wkt_of("EPSG:32633");
  grid.has_geotransform = true;
  const std::string scene = tmp.file("s.tif");
  write_scene(scene, grid, {Window{40, 40, 30, 30}});
  auto dem_at = [&](const std::string& name, double x0, double cell, const char* epsg, float value) {
    io::CreateOptions o;
    o.width = o.height = 80;
    o.type = io::DataType::Float32;
    o.geotransform = GeoTransform{{x0, cell, 0, 4650000 + 20 * cell, 0, -cell}};
    o.crs_wkt = epsg ? io::crs_wkt_of(epsg) : "";
    o.nodata = -32768.0;
    auto r = io::Raster::create_geotiff(tmp.file(name), o);
    std::vector<float> v(80 * 80, value);
    r.write_band(1, Window{0, 0, 80, 80}, v.data());
    r.close();
    return tmp.file(name);
  };
  struct Case {
    std::string dem;
    ErrorKind kind;
    std::vector<std::string> needles;
  };
  const std::vector<Case> cases = {
      {dem_at("far.tif", 100000, 30, "EPSG:32633", 5), ErrorKind::InvalidInput, {"far.tif", "does not overlap"}},
      {dem_at("nocrs.tif", 289000, 30, nullptr, 5), ErrorKind::InvalidInput, {"nocrs.tif", "no CRS"}},
      {dem_at("empty.tif", 289000, 30, "EPSG:32633", -32768), ErrorKind::InvalidInput, {"empty.tif", "all nodata"}},
      {dem_at("coarse.tif", 280000, 250, "EPSG:32633", 5), ErrorKind::InvalidInput, {"coarse.tif", "25.0 times"}},
      {tmp.file("missing.tif"), ErrorKind::NotFound, {"missing.tif"}},
  };
  for (const auto& c : cases) {
    auto p = params(scene, tmp.file("out_" + std::to_string(&c - cases.data())));
    p.dem_uri = c.dem;
    try {
      infer::segment_scene(p, predictor());
      ADD_FAILURE() << c.dem << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), c.kind) << e.what();
      for (const auto& n : c.needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
    }
    EXPECT_TRUE(files_in(p.out_dir).empty()) << c.dem;
  }
  // Thresholds out of range are usage errors.
  auto p = params(scene, tmp.file("out_usage"));
  p.dem_uri = cases[0].dem;
  p.exclusion.slope_max_deg = 95;
  expect_error([&] { infer::segment_scene(p, predictor()); }, ErrorKind::Usage, {"slope threshold", "95"});
  EXPECT_TRUE(files_in(p.out_dir).empty());
}

TEST(Exclusion, DemNodataIsNeverExcludedAndCountedApart) {
  TempDir tmp;
  io::RasterInfo grid;
  grid.width = grid.height = 128;
  grid.geotransform = GeoTransform{{290000, 10, 0, 4650000, 0, -10}};
  grid.crs_wkt = io::crs_wkt_of("EPSG:32633");
  grid.has_geotransform = true;
  const std::string scene = tmp.file("s.tif");
  const Window patch{40, 40, 30, 30};
  write_scene(scene, grid, {patch});
  // A steep DEM (1 m per 2 m eastwards: 26.6°) whose data stop halfway across the scene.
  io::CreateOptions o;
  o.width = o.height = 200;
  o.type = io::DataType::Float32;
  o.geotransform = GeoTransform{{287000, 30, 0, 4653000, 0, -30}};
  o.crs_wkt = grid.crs_wkt;
  o.nodata = -32768.0;
  std::vector<float> v(200 * 200);
  for (int y = 0; y < 200; ++y)
    for (int x = 0; x < 200; ++x) v[size_t(y) * 200 + x] = y >= 100 + 12 ? -32768.0f : float(15.0 * x);
  {
    auto r = io::Raster::create_geotiff(tmp.file("half.tif"), o);
    r.write_band(1, Window{0, 0, 200, 200}, v.data());
    r.close();
  }
  // DEM rows 100..111 hold data under the scene's rows 0..35; the patch (rows 40..69) has none.
  auto p = params(scene, tmp.file("out"));
  p.dem_uri = tmp.file("half.tif");
  auto r = infer::segment_scene(p, predictor());
  const auto m = band1(r.outputs["mask"]), ex = band1(r.outputs["exclusion"]);
  EXPECT_GT(share(m, 128, patch, 1.0f), 0.9);  // water on ground without DEM data is kept
  EXPECT_GT(share(ex, 128, Window{0, 45, 128, 83}, 255.0f), 0.99);
  EXPECT_GT(share(ex, 128, Window{0, 0, 128, 30}, float(terrain::kSteepSlope)) +
                share(ex, 128, Window{0, 0, 128, 30}, float(terrain::kSteepSlope | terrain::kHighAboveDrainage)),
            0.99);
  const auto st = r.record["stats"]["exclusion"];
  EXPECT_GT(st["dem_nodata_pixels"].get<int64_t>(), 128 * 80);
  EXPECT_GT(st["dem_nodata_km2"].get<double>(), 0.8);
  EXPECT_EQ(st["removed_pixels"].get<int64_t>(), 0);
}

TEST(Exclusion, AModelThatReadsHandGetsItFromTheDemAndNeedsOne) {
  TempDir tmp;
  // An (untrained) network on bands [VV, HAND]: what it outputs depends on the HAND it is fed.
  torch::manual_seed(42);
  model::ModelConfig mc;
  mc.arch = "unet_compact";
  mc.base_width = 4;
  mc.in_channels = 2;
  model::save_checkpoint(tmp.file("hand_model/model.pt"), model::make_model(mc),
                         {{"preprocess", {{"bands", {"VV", "HAND"}}, {"normalization", {{"method", "reference"}}}}}});
  infer::PredictorParams pp;
  pp.checkpoint = tmp.file("hand_model");
  pp.threads = 1;
  const infer::Predictor hand_model(pp);
  io::RasterInfo grid;
  grid.width = grid.height = 96;
  grid.geotransform = GeoTransform{{290000, 10, 0, 4650000, 0, -10}};
  grid.crs_wkt = io::crs_wkt_of("EPSG:32633");
  grid.has_geotransform = true;
  const std::string scene = tmp.file("s.tif");
  write_scene(scene, grid, {Window{20, 20, 30, 30}});
  auto p = params(scene, tmp.file("no_dem"));
  p.grid.tile = 64;
  p.grid.overlap = 8;
  p.write_classes = false;
  expect_error([&] { infer::segment_scene(p, hand_model); }, ErrorKind::Usage, {"reads terrain", "HAND", "--dem"});
  EXPECT_TRUE(files_in(p.out_dir).empty());
  // Two DEMs under the same scene: a valley floor (HAND ~0) and a hillside rising 1 m per 10 m
  // east of a stream 600 m west of the scene (HAND 60-160 m).
  auto write_dem = [&](const std::string& name, bool hill) {
    io::CreateOptions o;
    o.width = o.height = 200;
    o.type = io::DataType::Float32;
    o.geotransform = GeoTransform{{287000, 30, 0, 4653000, 0, -30}};
    o.crs_wkt = grid.crs_wkt;
    o.nodata = -32768.0;
    std::vector<float> v(200 * 200);
    for (int y = 0; y < 200; ++y)
      for (int x = 0; x < 200; ++x) v[size_t(y) * 200 + x] = hill ? float(3.0 * std::abs(x - 80) - 0.05 * y) : float(0.01 * y + 0.001 * x);
    auto r = io::Raster::create_geotiff(tmp.file(name), o);
    r.write_band(1, Window{0, 0, 200, 200}, v.data());
    r.close();
    return tmp.file(name);
  };
  std::vector<std::vector<float>> probas;
  for (bool hill : {false, true}) {
    p.out_dir = tmp.file(hill ? "hill" : "flat");
    p.dem_uri = write_dem(hill ? "hill.tif" : "flat.tif", hill);
    p.exclusion.apply = false;  // the model's own view, nothing removed
    auto r = infer::segment_scene(p, hand_model);
    EXPECT_NE(r.record["provenance"]["processing"][0].get<std::string>().find("HAND"), std::string::npos)
        << r.record["provenance"]["processing"];
    probas.push_back(band1(r.outputs["proba"]));
  }
  double diff = 0;
  for (size_t i = 0; i < probas[0].size(); ++i) diff = std::max(diff, double(std::abs(probas[0][i] - probas[1][i])));
  EXPECT_GT(diff, 1e-3) << "the network's output does not depend on the HAND it was given";
  for (const auto& pr : probas)  // HAND known everywhere: every pixel predicted
    EXPECT_EQ(std::count_if(pr.begin(), pr.end(), [](float v) { return std::isnan(v); }), 0);
}
