// Terrain layers through GDAL: slope on planes of known grade (projected and geographic),
// slope against `gdaldem slope` and HAND on the shared Rome DEM, the DEM checks that must fail
// before any work, and the exclusion flags.
#include "terrain/terrain.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>

#include <fmt/format.h>
#include <gdal_priv.h>

#include "core/error.hpp"
#include "io/raster.hpp"
#include "terrain/exclusion.hpp"
#include "support/test_support.hpp"

using namespace drshym;
using drshym::testing::expect_error;
using drshym::testing::TempDir;

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr double kSlopeTolDeg = 0.05;  // GDAL's Horn slope of an exact plane, rounding only

double deg(double rad) { return rad * 180.0 / kPi; }

// A DEM GeoTIFF: heights f(col, row), EPSG code, geotransform, optional nodata and unit.
std::string write_dem(const std::string& path, int w, int h, const char* epsg, GeoTransform gt,
                      const std::function<float(int, int)>& f, const char* unit = "metre") {
  io::CreateOptions o;
  o.width = w;
  o.height = h;
  o.type = io::DataType::Float32;
  o.geotransform = gt;
  o.crs_wkt = epsg ? io::crs_wkt_of(epsg) : "";
  o.nodata = -32768.0;
  auto r = io::Raster::create_geotiff(path, o);
  std::vector<float> z(size_t(w) * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) z[size_t(y) * w + x] = f(x, y);
  r.write_band(1, Window{0, 0, w, h}, z.data());
  r.close();
  if (unit) {
    GDALAllRegister();
    GDALDatasetH ds = GDALOpen(path.c_str(), GA_Update);
    GDALSetRasterUnitType(GDALGetRasterBand(ds, 1), unit);
    GDALClose(ds);
  }
  return path;
}

io::Grid grid_of(const std::string& path) {
  auto r = io::Raster::open(path);
  return {r.info().crs_wkt, r.info().geotransform, r.width(), r.height()};
}

std::vector<float> band(const std::string& path, int b = 1) {
  auto r = io::Raster::open(path);
  std::vector<float> v(size_t(r.width()) * r.height());
  r.read_band(b, Window{0, 0, r.width(), r.height()}, v.data());
  return v;
}

float median(std::vector<float> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](float x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return kNaN;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

}  // namespace

TEST(Slope, PlaneOfKnownGradeInMetres) {
  // UTM, 30 m cells, 1 m up per 10 m east: atan(0.1) = 5.7106°.
  const int w = 20, h = 15;
  std::vector<float> z(size_t(w) * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) z[size_t(y) * w + x] = float(3.0 * x);
  auto s = terrain::slope_degrees(z, w, h, GeoTransform{{500000, 30, 0, 4600000, 0, -30}}, false, 0, 1.0);
  // Edges are extrapolated (-compute_edges): the interior is exact.
  for (int y = 1; y < h - 1; ++y)
    for (int x = 1; x < w - 1; ++x) EXPECT_NEAR(s[size_t(y) * w + x], deg(std::atan(0.1)), kSlopeTolDeg);
  EXPECT_TRUE(std::isfinite(s[0]));
  // A CRS in feet: the same numbers are 3 m of height per 30 ft (9.144 m) of ground.
  auto f = terrain::slope_degrees(z, w, h, GeoTransform{{500000, 30, 0, 4600000, 0, -30}}, false, 0, 0.3048);
  EXPECT_NEAR(f[size_t(5) * w + 5], deg(std::atan(3.0 / (30 * 0.3048))), kSlopeTolDeg);
}

TEST(Slope, GeographicPlaneIsNotFlattenedEastWest) {
  // 1" cells at 42°N; heights rise 0.1 m per ground metre eastwards. With one scale for both
  // axes (plain gdaldem -s 111120) the slope would read atan(0.1·cos 42°) = 4.25°.
  const int w = 20, h = 15;
  const double lat = 42.0, cell = 1.0 / 3600;
  const double east_m = cell * 111120.0 * std::cos(lat * kPi / 180);
  std::vector<float> z(size_t(w) * h), n(size_t(w) * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      z[size_t(y) * w + x] = float(0.1 * east_m * x);
      n[size_t(y) * w + x] = float(0.1 * cell * 111120.0 * y);  // the same grade southwards
    }
  const GeoTransform gt{{12.0, cell, 0, lat + h * cell / 2, 0, -cell}};
  auto s = terrain::slope_degrees(z, w, h, gt, true, lat, 1.0);
  auto sn = terrain::slope_degrees(n, w, h, gt, true, lat, 1.0);
  EXPECT_NEAR(s[size_t(7) * w + 10], deg(std::atan(0.1)), kSlopeTolDeg);
  EXPECT_NEAR(sn[size_t(7) * w + 10], deg(std::atan(0.1)), kSlopeTolDeg);
}

TEST(RealData, SlopeMatchesGdaldemOnTheRomeDem) {
  DRSHYM_REQUIRE_SHARED(dem, "dem/Rome-30m-DEM.tif");
  if (std::system("command -v gdaldem > /dev/null 2>&1") != 0) GTEST_SKIP() << "gdaldem not installed";
  TempDir tmp;
  // The whole DEM as the scene: the window is the DEM itself.
  const io::Grid g = grid_of(dem);
  terrain::TerrainParams tp;
  auto w = terrain::check_dem(dem, g, tp);
  EXPECT_EQ(w.window, (Window{0, 0, 360, 360}));
  auto z = terrain::read_heights(w);
  const GeoTransform gt = w.info.geotransform;
  auto ours = terrain::slope_degrees(z, 360, 360, gt, true, w.centre_lat, 1.0);
  // gdaldem on a copy whose cell width is shrunk by cos(latitude) the same way.
  const double xres = gt.t[1] * std::cos(w.centre_lat * kPi / 180);
  const std::string copy = tmp.file("dem_cos.tif"), ref = tmp.file("slope.tif");
  const std::string cmd = "gdal_translate -q -a_ullr " + std::to_string(gt.t[0]) + " " + std::to_string(gt.t[3]) + " " +
                          fmt::format("{:.12f} {:.12f}", gt.t[0] + 360 * xres, gt.t[3] + 360 * gt.t[5]) + " '" + dem +
                          "' '" + copy + "' && gdaldem slope -q -s 111120 -compute_edges '" + copy + "' '" + ref + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto theirs = band(ref);
  double worst = 0;
  for (size_t i = 0; i < ours.size(); ++i) worst = std::max(worst, double(std::abs(ours[i] - theirs[i])));
  EXPECT_LT(worst, 1e-3) << "max |ours - gdaldem| in degrees";
  // Plain `gdaldem slope -s 111120` (one scale for both axes) reads gentler east-west slopes.
  const std::string plain = tmp.file("plain.tif");
  ASSERT_EQ(std::system(("gdaldem slope -q -s 111120 -compute_edges '" + dem + "' '" + plain + "'").c_str()), 0);
  const float m_plain = median(band(plain)), m_ours = median(ours);
  std::printf("slope: max |ours - gdaldem (cos-adjusted copy)| = %.2g deg; median ours %.2f deg, plain gdaldem %.2f deg\n",
              worst, m_ours, m_plain);
  EXPECT_GT(m_ours, m_plain);
  EXPECT_GT(median(ours), 0.5f);  // real terrain, not a flat
}

TEST(RealData, HandIsNearZeroOnTheTiberFloodplainAndTensOfMetresOnTheHills) {
  DRSHYM_REQUIRE_SHARED(dem, "dem/Rome-30m-DEM.tif");
  TempDir tmp;
  const io::Grid g = grid_of(dem);
  terrain::TerrainParams tp;
  auto w = terrain::check_dem(dem, g, tp);
  auto l = terrain::compute_layers(w, g, tp, tmp.file("t"));
  auto z = band(l.dem), hand = band(l.hand), slope = band(l.slope);
  ASSERT_EQ(z.size(), size_t(360 * 360));
  std::vector<float> low, high;
  for (size_t i = 0; i < z.size(); ++i) {
    if (z[i] <= 15) low.push_back(hand[i]);   // the valley floor (heights 5–115 m)
    if (z[i] >= 70) high.push_back(hand[i]);  // the hills on either side
  }
  ASSERT_GT(low.size(), 1000u);
  ASSERT_GT(high.size(), 1000u);
  const float m_low = median(low), m_high = median(high);
  std::printf("HAND median: floodplain (z <= 15 m, %zu px) %.2f m, hills (z >= 70 m, %zu px) %.2f m; slope median %.2f°\n",
              low.size(), m_low, high.size(), m_high, median(slope));
  std::vector<float> s_low, s_high;
  int64_t steep = 0, high_hand = 0, n = 0;
  for (size_t i = 0; i < z.size(); ++i) {
    if (z[i] <= 15) s_low.push_back(slope[i]);
    if (z[i] >= 70) s_high.push_back(slope[i]);
    n += 1, steep += slope[i] > 5, high_hand += hand[i] > 15;
  }
  std::printf("slope median: floodplain %.2f deg, hills %.2f deg; share of the DEM with slope > 5 deg %.1f%%, HAND > 15 m %.1f%%\n",
              median(s_low), median(s_high), 100.0 * steep / n, 100.0 * high_hand / n);
  for (float t : {5.f, 8.f, 10.f, 15.f}) {
    int64_t a = 0, b = 0;
    for (float v : s_low) a += v > t;
    for (float v : s_high) b += v > t;
    std::printf("slope > %g: floodplain %.1f%%, hills %.1f%%\n", t, 100.0 * a / s_low.size(), 100.0 * b / s_high.size());
  }
  EXPECT_LT(m_low, 3.0f);
  EXPECT_GT(m_high, 20.0f);
  // Heights survive the round trip through the warp (the scene is the DEM's own grid).
  auto raw = terrain::read_heights(w);
  EXPECT_NEAR(z[size_t(180) * 360 + 180], raw[size_t(180) * 360 + 180], 1e-3);
  for (const auto& p : terrain::layer_paths(tmp.file("t"))) EXPECT_TRUE(drshym::testing::exists(p)) << p;
}

TEST(RealData, AUtmSceneInsideTheDemGetsTheSameHandThroughAMarginAndAWarp) {
  // A 20 m UTM 33N scene over the middle of the lon/lat DEM (4 km square): the DEM window is the
  // scene's footprint widened by the margin, and HAND warped onto the scene agrees with HAND on
  // the whole DEM at the same places (the margin holds the streams that drain the scene).
  DRSHYM_REQUIRE_SHARED(dem, "dem/Rome-30m-DEM.tif");
  TempDir tmp;
  terrain::TerrainParams tp;
  const io::Grid whole = grid_of(dem);
  auto ww = terrain::check_dem(dem, whole, tp);
  auto full = terrain::compute_layers(ww, whole, tp, tmp.file("full"));
  // Rome's centre (12.5°E, 42.0°N) is about (291,500 m E, 4,652,600 m N) in UTM 33N.
  const io::Grid utm{io::crs_wkt_of("EPSG:32633"), GeoTransform{{289500, 20, 0, 4654600, 0, -20}}, 200, 200};
  auto w = terrain::check_dem(dem, utm, tp);
  EXPECT_GT(w.scene_part.w, 150);  // ~4 km of 23 m cells
  EXPECT_LT(w.scene_part.w, 190);
  const int mx = int(std::ceil(2000 / w.cell_x_m)), my = int(std::ceil(2000 / w.cell_y_m));
  EXPECT_EQ(w.window.x, std::max(0, w.scene_part.x - mx));
  EXPECT_EQ(w.window.x + w.window.w, std::min(360, w.scene_part.x + w.scene_part.w + mx));
  EXPECT_EQ(w.window.y, std::max(0, w.scene_part.y - my));
  EXPECT_EQ(w.window.y + w.window.h, std::min(360, w.scene_part.y + w.scene_part.h + my));
  auto part = terrain::compute_layers(w, utm, tp, tmp.file("utm"));
  EXPECT_NEAR(w.scene_cell_m, 20.0, 1e-6);
  // The whole-DEM HAND warped onto the same UTM grid by GDAL, for the comparison.
  io::warp_band_to_grid(full.hand, 1, utm, tmp.file("ref_hand.tif"), "bilinear", "test");
  const auto a = band(part.hand), b = band(tmp.file("ref_hand.tif")), s = band(part.slope);
  std::vector<float> diff;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::isfinite(a[i]) && std::isfinite(b[i])) diff.push_back(std::abs(a[i] - b[i]));
  ASSERT_GT(diff.size(), a.size() * 8 / 10);
  const float med = median(diff);
  std::sort(diff.begin(), diff.end());
  const float p90 = diff[diff.size() * 9 / 10];
  std::printf("UTM scene: HAND vs whole-DEM HAND: median |diff| %.2f m, 90th percentile %.2f m; slope median %.2f deg\n",
              med, p90, median(s));
  EXPECT_LT(med, 0.5f);
  EXPECT_LT(p90, 5.0f);
  EXPECT_GT(median(s), 0.5f);
  // Without the margin, paths that leave the scene before a stream have no HAND.
  terrain::TerrainParams no_margin = tp;
  no_margin.margin_m = 0;
  auto w0 = terrain::check_dem(dem, utm, no_margin);
  EXPECT_EQ(w0.window, w0.scene_part);
  const auto a0 = band(terrain::compute_layers(w0, utm, no_margin, tmp.file("utm0")).hand);
  auto unknown = [](const std::vector<float>& v) { return std::count_if(v.begin(), v.end(), [](float x) { return !std::isfinite(x); }); };
  std::printf("UTM scene: pixels without HAND: %ld with the 2 km margin, %ld without\n", long(unknown(a)), long(unknown(a0)));
  EXPECT_GT(unknown(a0), unknown(a) + 1000);
}

TEST(RealData, HandOnlyGrowsWithTheDrainageThreshold) {
  // A higher threshold keeps a subset of the streams: a cell's flow path meets its first one at
  // or below where it met one before, so its HAND can only grow.
  DRSHYM_REQUIRE_SHARED(dem, "dem/Rome-30m-DEM.tif");
  const io::Grid g = grid_of(dem);
  auto w = terrain::check_dem(dem, g, terrain::TerrainParams::default_params());
  terrain::DemGrid grid{w.window.w, w.window.h, terrain::read_heights(w), w.cell_x_m, w.cell_y_m};
  std::vector<float> previous;
  for (double km2 : {0.1, 0.5, 2.0, 10.0}) {
    terrain::HandParams hp;
    hp.drainage_min_km2 = km2;
    auto r = terrain::compute_hand(grid, hp);
    std::vector<float> low, high;
    for (size_t i = 0; i < grid.z.size(); ++i) {
      if (grid.z[i] <= 15) low.push_back(r.hand[i]);
      if (grid.z[i] >= 70) high.push_back(r.hand[i]);
    }
    std::printf("drainage >= %4.1f km2: %6lld drainage cells, %5lld unknown; HAND median floodplain %.1f m, hills %.1f m\n",
                km2, (long long)r.drainage_cells, (long long)r.unknown_cells, median(low), median(high));
    if (!previous.empty()) {
      int64_t lower = 0;
      for (size_t i = 0; i < previous.size(); ++i)
        lower += std::isfinite(previous[i]) && std::isfinite(r.hand[i]) && r.hand[i] < previous[i] - 1e-3f;
      EXPECT_EQ(lower, 0) << km2;
    }
    previous = r.hand;
  }
}

TEST(DemChecks, BadDemsFailNamingTheFile) {
  TempDir tmp;
  auto flat = [](int, int) { return 10.0f; };
  // The scene: 100 x 100 pixels of 10 m in UTM 33N near Rome.
  const io::Grid scene{io::crs_wkt_of("EPSG:32633"), GeoTransform{{290000, 10, 0, 4650000, 0, -10}}, 100, 100};
  terrain::TerrainParams tp;
  const std::string nocrs = write_dem(tmp.file("nocrs.tif"), 50, 50, nullptr, GeoTransform{{289000, 30, 0, 4651000, 0, -30}}, flat);
  expect_error([&] { terrain::check_dem(nocrs, scene, tp); }, ErrorKind::InvalidInput, {"nocrs.tif", "no CRS"});
  const std::string far = write_dem(tmp.file("far.tif"), 50, 50, "EPSG:32633", GeoTransform{{190000, 30, 0, 4651000, 0, -30}}, flat);
  expect_error([&] { terrain::check_dem(far, scene, tp); }, ErrorKind::InvalidInput, {"far.tif", "does not overlap"});
  // 250 m cells under 10 m pixels: 25 times coarser.
  const std::string coarse = write_dem(tmp.file("coarse.tif"), 10, 10, "EPSG:32633", GeoTransform{{289000, 250, 0, 4651000, 0, -250}}, flat);
  expect_error([&] { terrain::check_dem(coarse, scene, tp); }, ErrorKind::InvalidInput, {"coarse.tif", "25.0 times", "at most 10"});
  const std::string celsius = write_dem(tmp.file("celsius.tif"), 50, 50, "EPSG:32633", GeoTransform{{289000, 30, 0, 4651000, 0, -30}}, flat, "degC");
  expect_error([&] { terrain::check_dem(celsius, scene, tp); }, ErrorKind::InvalidInput, {"celsius.tif", "degC", "not a length"});
  expect_error([&] { terrain::check_dem(tmp.file("missing.tif"), scene, tp); }, ErrorKind::NotFound, {"--dem", "missing.tif"});
  // All nodata under the scene (data only in the margin): refused once read, nothing left behind.
  const std::string holes = write_dem(tmp.file("holes.tif"), 50, 50, "EPSG:32633", GeoTransform{{289000, 30, 0, 4651000, 0, -30}},
                                      [](int x, int y) { return (x < 30 && y < 30) ? -32768.0f : 5.0f; });
  // The scene covers DEM pixels 33..66 east and 33..66 south of the DEM's corner: move it onto the hole.
  const io::Grid on_hole{scene.crs_wkt, GeoTransform{{289100, 10, 0, 4650900, 0, -10}}, 60, 60};
  auto w = terrain::check_dem(holes, on_hole, tp);
  expect_error([&] { terrain::compute_layers(w, on_hole, tp, tmp.file("h")); }, ErrorKind::InvalidInput,
               {"holes.tif", "all nodata over the scene"});
  // Feet are converted to metres.
  const std::string feet = write_dem(tmp.file("feet.tif"), 50, 50, "EPSG:32633", GeoTransform{{289000, 30, 0, 4651000, 0, -30}}, flat, "ft");
  auto wf = terrain::check_dem(feet, scene, tp);
  EXPECT_NEAR(wf.vertical_to_m, 0.3048, 1e-12);
  EXPECT_NEAR(terrain::read_heights(wf)[0], 3.048f, 1e-5);
}

TEST(DemChecks, WindowCoversTheSceneAndItsMargin) {
  TempDir tmp;
  const std::string dem = write_dem(tmp.file("d.tif"), 400, 400, "EPSG:32633", GeoTransform{{280000, 30, 0, 4660000, 0, -30}},
                                    [](int x, int y) { return float(x + y); });
  // Scene 1 km square at (290000..291000, 4649000..4650000): DEM columns 333..366, rows 333..366.
  const io::Grid scene{io::crs_wkt_of("EPSG:32633"), GeoTransform{{290000, 10, 0, 4650000, 0, -10}}, 100, 100};
  terrain::TerrainParams tp;
  tp.margin_m = 600;  // 20 cells
  auto w = terrain::check_dem(dem, scene, tp);
  EXPECT_EQ(w.scene_part, (Window{333, 333, 34, 34}));
  EXPECT_EQ(w.window, (Window{313, 313, 74, 74}));
  EXPECT_NEAR(w.cell_x_m, 30.0, 1e-9);
  EXPECT_NEAR(w.scene_cell_m, 10.0, 1e-9);
}

TEST(Exclusion, FlagsFollowTheThresholdsAndNodataIsNeverExcluded) {
  terrain::ExclusionRule r;
  r.slope_max_deg = 5;
  r.hand_max_m = 15;
  EXPECT_EQ(terrain::exclusion_flags(10, 1, 2, r), 0);
  EXPECT_EQ(terrain::exclusion_flags(10, 6, 2, r), terrain::kSteepSlope);
  EXPECT_EQ(terrain::exclusion_flags(10, 1, 16, r), terrain::kHighAboveDrainage);
  EXPECT_EQ(terrain::exclusion_flags(10, 6, 16, r), terrain::kSteepSlope | terrain::kHighAboveDrainage);
  EXPECT_EQ(terrain::exclusion_flags(10, 5, 15, r), 0);  // at the threshold: kept
  EXPECT_EQ(terrain::exclusion_flags(kNaN, 30, 90, r), terrain::kExclusionNodata);
  EXPECT_EQ(terrain::exclusion_flags(10, 1, kNaN, r), 0);  // HAND unknown: not excluded for it
  EXPECT_EQ(terrain::exclusion_flags(10, 9, kNaN, r), terrain::kSteepSlope);
}
