// Auxiliary rasters on chip grids: slope of tilted planes across CRSs, partial coverage,
// nearest-neighbour land cover from another CRS, and the errors for unusable files.
#include "eval/aux_layers.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <map>

#include <gdal.h>
#include <ogr_spatialref.h>

#include "core/error.hpp"
#include "io/raster.hpp"
#include "support/test_support.hpp"

namespace drshym::eval {
namespace {

constexpr double kSlopeTolDeg = 0.05;  // planes: bilinear resampling is exact, only the warp's
                                       // approximated transformer and UTM's scale factor remain
constexpr double kDeg = M_PI / 180.0;

// A 20 x 20 chip of 10 m pixels in UTM 31N whose centre column edge lies on the zone's
// central meridian (easting 500000, longitude 3), near 45 N.
ChipGrid utm_chip() {
  ChipGrid g;
  g.crs_wkt = io::crs_wkt_of("EPSG:32631");
  g.geotransform.t = {499900.0, 10.0, 0.0, 5000000.0, 0.0, -10.0};
  g.width = g.height = 20;
  return g;
}

// A raster with value f(x, y) at each pixel centre (x, y in its CRS).
void write_raster(const std::string& path, const std::string& crs, const GeoTransform& gt, int w, int h,
                  const std::function<double(double, double)>& f, std::optional<double> nodata = std::nullopt,
                  int bands = 1) {
  io::CreateOptions o;
  o.width = w;
  o.height = h;
  o.bands = bands;
  o.geotransform = gt;
  o.crs_wkt = crs.empty() ? "" : io::crs_wkt_of(crs);
  o.nodata = nodata;
  auto r = io::Raster::create_geotiff(path, o);
  std::vector<float> v(size_t(w) * size_t(h));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double gx, gy;
      gt.pixel_to_geo(x + 0.5, y + 0.5, gx, gy);
      v[size_t(y) * size_t(w) + size_t(x)] = float(f(gx, gy));
    }
  for (int b = 1; b <= bands; ++b) {
    if (b > 1)
      for (auto& x : v) x = 1000.0f * float(b);  // other bands: a flat decoy
    r.write_band(b, Window{0, 0, w, h}, v.data());
  }
  r.close();
}

// Longitude / latitude of a UTM 31N point.
std::pair<double, double> utm_to_lonlat(double e, double n) {
  OGRSpatialReference utm, geo;
  utm.importFromEPSG(32631);
  geo.importFromEPSG(4326);
  utm.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  geo.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  std::unique_ptr<OGRCoordinateTransformation> ct(OGRCreateCoordinateTransformation(&utm, &geo));
  ct->Transform(1, &e, &n);
  return {e, n};
}

size_t count_nan(const std::vector<float>& v) {
  size_t n = 0;
  for (float x : v) n += std::isnan(x) ? 1 : 0;
  return n;
}

TEST(AuxLayers, TiltedPlaneInUtmHasItsSlope) {
  drshym::testing::TempDir tmp;
  // Rises 1 m per metre eastward (45 degrees), on 30 m pixels while the chip has 10 m ones.
  write_raster(tmp.file("dem.tif"), "EPSG:32631", GeoTransform{{499500.0, 30.0, 0.0, 5000400.0, 0.0, -30.0}}, 40, 40,
               [](double x, double) { return x - 499000.0; });
  const auto dem = AuxRaster::open(tmp.file("dem.tif"), "--dem");
  const auto s = slope_on_grid(dem, utm_chip());
  ASSERT_EQ(s.size(), 400u);
  for (float v : s) ASSERT_NEAR(v, 45.0, kSlopeTolDeg);
  // 1 m per 10 m northward: atan(0.1) = 5.71 degrees, edge pixels included.
  write_raster(tmp.file("dem_n.tif"), "EPSG:32631", GeoTransform{{499500.0, 30.0, 0.0, 5000400.0, 0.0, -30.0}}, 40,
               40, [](double, double y) { return 0.1 * (y - 4999000.0); });
  for (float v : slope_on_grid(AuxRaster::open(tmp.file("dem_n.tif"), "--dem"), utm_chip()))
    ASSERT_NEAR(v, std::atan(0.1) / kDeg, kSlopeTolDeg);
  // The same numbers in feet (GDAL unit type "ft"): 1 ft per metre is atan(0.3048).
  {
    GDALDatasetH h = GDALOpen(tmp.file("dem.tif").c_str(), GA_Update);
    ASSERT_NE(h, nullptr);
    GDALSetRasterUnitType(GDALGetRasterBand(h, 1), "ft");
    GDALClose(h);
  }
  const auto feet = AuxRaster::open(tmp.file("dem.tif"), "--dem");
  EXPECT_DOUBLE_EQ(feet.vertical_unit_m(), 0.3048);
  for (float v : slope_on_grid(feet, utm_chip())) ASSERT_NEAR(v, std::atan(0.3048) / kDeg, kSlopeTolDeg);
}

TEST(AuxLayers, GeographicDemOverAUtmChipIsWarpedWithItsGeometry) {
  drshym::testing::TempDir tmp;
  // A DEM in EPSG:4326 rising 0.1 m per metre eastward at 45 N: per degree of longitude that is
  // 0.1 x (metres per degree east there). The chip in UTM must see atan(0.1) wherever it lies.
  const auto [lon0, lat0] = utm_to_lonlat(500000.0, 4999900.0);
  const double a = 6378137.0, e2 = 0.00669437999014, s = std::sin(lat0 * kDeg);
  const double east_m_per_deg = a / std::sqrt(1 - e2 * s * s) * std::cos(lat0 * kDeg) * kDeg;
  // 0.0003 degree pixels (24 m east-west, 33 m north-south) are coarser than the chip's 10 m:
  // bilinear then interpolates, exact on a plane. (A finer DEM is averaged over each chip pixel,
  // which on a plane ripples by a few percent where the size ratio is not an integer.)
  write_raster(tmp.file("dem.tif"), "EPSG:4326", GeoTransform{{lon0 - 0.01, 0.0003, 0.0, lat0 + 0.01, 0.0, -0.0003}},
               67, 67, [&](double lon, double) { return 0.1 * (lon - lon0) * east_m_per_deg; });
  const auto sl = slope_on_grid(AuxRaster::open(tmp.file("dem.tif"), "--dem"), utm_chip());
  ASSERT_EQ(count_nan(sl), 0u);
  for (float v : sl) ASSERT_NEAR(v, std::atan(0.1) / kDeg, kSlopeTolDeg);
}

TEST(AuxLayers, GeographicChipUsesGroundMetresEastWest) {
  drshym::testing::TempDir tmp;
  // The Sen1Floods11 case: a chip in EPSG:4326 at 60 N (10 m-ish pixels), a UTM DEM rising 1 m
  // per metre eastward. "-s 111120" alone would report atan(0.5) = 26.6 degrees here.
  ChipGrid g;
  g.crs_wkt = io::crs_wkt_of("EPSG:4326");
  g.geotransform.t = {3.0, 0.00018, 0.0, 60.0, 0.0, -0.00009};
  g.width = g.height = 20;
  const auto px = ground_pixel_size_m(g);
  EXPECT_NEAR(px[0], 0.00018 * 55801.5, 0.001);  // WGS 84 metres per degree east at 60 N
  EXPECT_NEAR(px[1], 0.00009 * 111412.3, 0.001);  // and north
  write_raster(tmp.file("dem.tif"), "EPSG:32631", GeoTransform{{490000.0, 20.0, 0.0, 6660000.0, 0.0, -20.0}}, 1000,
               1000, [](double x, double) { return x - 490000.0; });
  const auto sl = slope_on_grid(AuxRaster::open(tmp.file("dem.tif"), "--dem"), g);
  ASSERT_EQ(count_nan(sl), 0u);
  // UTM's grid metres differ from ground metres by its scale factor (< 0.1% here).
  for (float v : sl) ASSERT_NEAR(v, 45.0, 0.1);
}

TEST(AuxLayers, PixelsOutsideTheDemOrOnItsNodataAreNotCovered) {
  drshym::testing::TempDir tmp;
  // The DEM ends at the chip's middle (easting 500000): the west 10 columns are covered.
  write_raster(tmp.file("west.tif"), "EPSG:32631", GeoTransform{{499500.0, 10.0, 0.0, 5000400.0, 0.0, -10.0}}, 50, 80,
               [](double x, double) { return x - 499000.0; });
  const auto s = slope_on_grid(AuxRaster::open(tmp.file("west.tif"), "--dem"), utm_chip());
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 20; ++x) {
      const float v = s[size_t(y) * 20 + size_t(x)];
      if (x < 10)
        EXPECT_FALSE(std::isnan(v)) << x << "," << y;
      else
        EXPECT_TRUE(std::isnan(v)) << x << "," << y;
    }
  // Interior pixels keep the plane's slope; the last covered column is computed at the edge.
  EXPECT_NEAR(s[5 * 20 + 5], 45.0, kSlopeTolDeg);
  // Nodata inside the extent: the north 5 rows of the chip.
  write_raster(tmp.file("holes.tif"), "EPSG:32631", GeoTransform{{499500.0, 10.0, 0.0, 5000400.0, 0.0, -10.0}}, 100,
               80, [](double x, double y) { return y > 4999950.0 ? -32768.0 : x - 499000.0; }, -32768.0);
  const auto h = slope_on_grid(AuxRaster::open(tmp.file("holes.tif"), "--dem"), utm_chip());
  EXPECT_EQ(count_nan(h), 100u);
  for (int x = 0; x < 20; ++x) EXPECT_TRUE(std::isnan(h[size_t(4 * 20 + x)]) && !std::isnan(h[size_t(5 * 20 + x)]));
  // A DEM far away: nothing covered, no error.
  write_raster(tmp.file("far.tif"), "EPSG:4326", GeoTransform{{-120.0, 0.001, 0.0, 40.0, 0.0, -0.001}}, 50, 50,
               [](double, double) { return 1.0; });
  EXPECT_EQ(count_nan(slope_on_grid(AuxRaster::open(tmp.file("far.tif"), "--dem"), utm_chip())), 400u);
}

TEST(AuxLayers, LandCoverFromAnotherCrsIsResampledByNearestNeighbour) {
  drshym::testing::TempDir tmp;
  // In EPSG:4326: class 10 west of longitude 3 (the chip's middle, on UTM 31N's central
  // meridian), 80 east of it, nodata (0) north of the chip's 5th row.
  const double lat_row5 = utm_to_lonlat(500000.0, 4999950.0).second;
  const double step = 0.00001;  // ~1 m
  write_raster(tmp.file("lc.tif"), "EPSG:4326",
               GeoTransform{{3.0 - 400 * step, step, 0.0, lat_row5 + 400 * step, 0.0, -step}}, 800, 800,
               [&](double lon, double lat) { return lat > lat_row5 ? 0.0 : lon < 3.0 ? 10.0 : 80.0; }, 0.0);
  const auto c = classes_on_grid(AuxRaster::open(tmp.file("lc.tif"), "--landcover"), utm_chip());
  std::map<float, int> counts;
  size_t nan = 0;
  for (float v : c) std::isnan(v) ? ++nan : ++counts[v];
  EXPECT_EQ(nan, 100u);  // rows 0-4: the raster's nodata is not a class
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts[10.0f], 150);
  EXPECT_EQ(counts[80.0f], 150);
  EXPECT_EQ(c[size_t(10 * 20 + 9)], 10.0f);
  EXPECT_EQ(c[size_t(10 * 20 + 10)], 80.0f);
}

TEST(AuxLayers, MultiBandRasterUsesBandOne) {
  drshym::testing::TempDir tmp;
  write_raster(tmp.file("dem2.tif"), "EPSG:32631", GeoTransform{{499500.0, 30.0, 0.0, 5000400.0, 0.0, -30.0}}, 40, 40,
               [](double x, double) { return x - 499000.0; }, std::nullopt, 2);
  for (float v : slope_on_grid(AuxRaster::open(tmp.file("dem2.tif"), "--dem"), utm_chip())) ASSERT_NEAR(v, 45.0, kSlopeTolDeg);
}

TEST(AuxLayers, UnusableFilesAreClearErrorsNamingThem) {
  drshym::testing::TempDir tmp;
  auto kind_of = [](const std::string& path, std::string& message) {
    try {
      AuxRaster::open(path, "--dem");
    } catch (const Error& e) {
      message = e.what();
      return e.kind();
    }
    return ErrorKind::Internal;
  };
  std::string m;
  // No CRS.
  write_raster(tmp.file("nocrs.tif"), "", GeoTransform{{0.0, 1.0, 0.0, 0.0, 0.0, -1.0}}, 4, 4,
               [](double, double) { return 1.0; });
  EXPECT_EQ(kind_of(tmp.file("nocrs.tif"), m), ErrorKind::InvalidInput);
  EXPECT_NE(m.find("nocrs.tif"), std::string::npos) << m;
  EXPECT_NE(m.find("--dem"), std::string::npos) << m;
  EXPECT_NE(m.find("no CRS"), std::string::npos) << m;
  // Missing.
  EXPECT_EQ(kind_of(tmp.file("missing.tif"), m), ErrorKind::NotFound);
  EXPECT_NE(m.find("missing.tif"), std::string::npos) << m;
  // Not a raster.
  std::ofstream(tmp.file("text.tif")) << "not a raster\n";
  EXPECT_EQ(kind_of(tmp.file("text.tif"), m), ErrorKind::InvalidInput);
  EXPECT_NE(m.find("text.tif"), std::string::npos) << m;
}

}  // namespace
}  // namespace drshym::eval
