#include "io/area.hpp"

#include <gtest/gtest.h>
#include <ogr_geometry.h>
#include <ogr_spatialref.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "io/raster.hpp"
#include "io/vector.hpp"
#include "support/test_support.hpp"

using namespace drshym;

namespace {
// Footprint of pixels [c0, c1) x [r0, r1) of a north-up grid as a polygon in the grid's CRS.
OGRPolygon footprint(const GeoTransform& gt, int c0, int r0, int c1, int r1) {
  OGRLinearRing ring;
  double x, y;
  for (auto [c, r] : {std::pair{c0, r0}, {c1, r0}, {c1, r1}, {c0, r1}, {c0, r0}}) {
    gt.pixel_to_geo(c, r, x, y);
    ring.addPoint(x, y);
  }
  OGRPolygon poly;
  poly.addRing(&ring);
  return poly;
}

double sum_area(const io::PixelArea& a, int cols, int rows) {
  double s = 0;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) s += a.at(c, r);
  return s;
}

OGRSpatialReference srs_of(const std::string& crs) {
  OGRSpatialReference s;
  s.SetFromUserInput(crs.c_str());
  s.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  return s;
}
}  // namespace

TEST(PixelArea, ProjectedGridsAreScaledByTheirLinearUnit) {
  auto utm = io::PixelArea::for_grid(io::crs_wkt_of("EPSG:32631"), GeoTransform{{600000, 10, 0, 5000000, 0, -10}});
  ASSERT_TRUE(utm);
  EXPECT_DOUBLE_EQ(utm->at(3, 7), 100.0);
  EXPECT_NE(utm->method().find("metre"), std::string::npos) << utm->method();
  // NAD83 / New York Long Island in US survey feet: a 10 ft pixel is 9.2903 m², not 100.
  auto ft = io::PixelArea::for_grid(io::crs_wkt_of("EPSG:2263"), GeoTransform{{1000000, 10, 0, 200000, 0, -10}});
  ASSERT_TRUE(ft);
  const double us_ft = 1200.0 / 3937.0;
  EXPECT_NEAR(ft->at(0, 0), 100 * us_ft * us_ft, 1e-6);
  EXPECT_NE(ft->method().find("foot"), std::string::npos) << ft->method();
  // No CRS: no area at all rather than a number in unknown units.
  EXPECT_FALSE(io::PixelArea::for_grid("", GeoTransform{}));
}

TEST(PixelArea, GeographicGridsAreMeasuredOnTheEllipsoid) {
  // 0.0001° pixels at 45°N: about 7.88 m x 11.11 m. The sum over a 200 x 200 block must equal
  // the area of the block's footprint in an equal-area projection (an independent method).
  const GeoTransform gt{{3.0, 1e-4, 0, 45.01, 0, -1e-4}};
  for (const char* crs : {"EPSG:4326", "EPSG:4269"}) {
    auto a = io::PixelArea::for_grid(io::crs_wkt_of(crs), gt);
    ASSERT_TRUE(a) << crs;
    EXPECT_TRUE(a->same_along_rows());
    EXPECT_NE(a->method().find("ellipsoidal"), std::string::npos) << a->method();
    EXPECT_NEAR(a->at(0, 0), 87.6, 0.2) << crs;
    const io::AreaMeter meter(srs_of(crs), 3.01, 45.0);
    const double expected = meter.area_m2(footprint(gt, 0, 0, 200, 200));
    EXPECT_NEAR(sum_area(*a, 200, 200) / expected, 1.0, 1e-6) << crs;
    EXPECT_GT(expected, 3.4e6);
    EXPECT_LT(expected, 3.6e6);
  }
  // Pixels shrink towards the poles: at 60°N a pixel of the same size is about half as wide.
  auto north = io::PixelArea::for_grid(io::crs_wkt_of("EPSG:4326"), GeoTransform{{3.0, 1e-4, 0, 60.0, 0, -1e-4}});
  auto south = io::PixelArea::for_grid(io::crs_wkt_of("EPSG:4326"), GeoTransform{{3.0, 1e-4, 0, 0.0, 0, -1e-4}});
  EXPECT_NEAR(north->at(0, 0) / south->at(0, 0), std::cos(60 * M_PI / 180), 0.01);
}

TEST(PixelArea, RotatedGeographicGridKeepsItsArea) {
  // The same pixel size rotated by 30°: same determinant, so (to second order) the same area.
  const double d = 1e-4, c = std::cos(M_PI / 6), s = std::sin(M_PI / 6);
  auto straight = io::PixelArea::for_grid(io::crs_wkt_of("EPSG:4326"), GeoTransform{{3.0, d, 0, 45.0, 0, -d}});
  auto rotated = io::PixelArea::for_grid(io::crs_wkt_of("EPSG:4326"), GeoTransform{{3.0, d * c, d * s, 45.0, d * s, -d * c}});
  ASSERT_TRUE(rotated);
  EXPECT_FALSE(rotated->same_along_rows());
  EXPECT_NEAR(rotated->at(0, 0) / straight->at(0, 0), 1.0, 1e-4);
}

TEST(AreaMeter, PolygonAreasInMetresForEveryKindOfCrs) {
  // A 1 km x 1 km square in UTM; the same square in feet of EPSG:2263 units; in WGS 84 degrees.
  OGRLinearRing ring;
  for (auto [x, y] : {std::pair{0.0, 0.0}, {1000.0, 0.0}, {1000.0, 1000.0}, {0.0, 1000.0}, {0.0, 0.0}})
    ring.addPoint(600000 + x, 5000000 + y);
  OGRPolygon sq;
  sq.addRing(&ring);
  EXPECT_NEAR(io::AreaMeter(srs_of("EPSG:32631"), 0, 0).area_m2(sq), 1e6, 1e-3);
  const double us_ft = 1200.0 / 3937.0;
  EXPECT_NEAR(io::AreaMeter(srs_of("EPSG:2263"), 0, 0).area_m2(sq), 1e6 * us_ft * us_ft, 1e-3);
  // Reproject the UTM square to lon/lat: its area measured there must still be 1 km².
  auto utm = srs_of("EPSG:32631"), wgs = srs_of("EPSG:4326");
  std::unique_ptr<OGRCoordinateTransformation> ct(OGRCreateCoordinateTransformation(&utm, &wgs));
  OGRPolygon geo(sq);
  ASSERT_EQ(geo.transform(ct.get()), OGRERR_NONE);
  OGREnvelope e;
  geo.getEnvelope(&e);
  const double area = io::AreaMeter(wgs, 0.5 * (e.MinX + e.MaxX), 0.5 * (e.MinY + e.MaxY)).area_m2(geo);
  // UTM's scale factor (0.9996 at the central meridian, ~1.0000 here at 600 km E) is the only
  // difference: a square of 1 km grid units is (1/k)² km² on the ground.
  EXPECT_NEAR(area / 1e6, 1.0, 2e-3);
}

TEST(GeoJsonCrs, TyposAreUsageErrorsAndKnownNamesParse) {
  EXPECT_EQ(io::parse_geojson_crs("").kind, io::GeoJsonCrs::Kind::Rfc7946);
  EXPECT_EQ(io::parse_geojson_crs("RFC7946").kind, io::GeoJsonCrs::Kind::Rfc7946);
  EXPECT_EQ(io::parse_geojson_crs("source").kind, io::GeoJsonCrs::Kind::Source);
  EXPECT_EQ(io::parse_geojson_crs("EPSG:3857").kind, io::GeoJsonCrs::Kind::Other);
  for (const char* bad : {"EPSG:99999999", "wgs-eighty-four", "sourcee"}) {
    try {
      io::parse_geojson_crs(bad);
      FAIL() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Usage);
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(Polygonize, GeographicMaskAreasAndRfc7946Default) {
  drshym::testing::TempDir tmp;
  // A 40 x 40 flood block of 0.0001° pixels at 45°N in EPSG:4269 (NAD83, degrees).
  io::CreateOptions o;
  o.width = o.height = 64;
  o.geotransform = GeoTransform{{-93.0, 1e-4, 0, 45.0, 0, -1e-4}};
  o.crs_wkt = io::crs_wkt_of("EPSG:4269");
  o.type = io::DataType::Byte;
  o.nodata = 255.0;
  std::vector<uint8_t> mask(64 * 64, 0);
  for (int r = 10; r < 50; ++r)
    for (int c = 10; c < 50; ++c) mask[size_t(r) * 64 + c] = 1;
  std::vector<float> proba(mask.size(), 0.8f);
  {
    auto m = io::Raster::create_geotiff(tmp.file("mask.tif"), o);
    m.write_band(1, Window{0, 0, 64, 64}, mask.data());
    o.type = io::DataType::Float32;
    o.nodata = std::nullopt;
    auto p = io::Raster::create_geotiff(tmp.file("proba.tif"), o);
    p.write_band(1, Window{0, 0, 64, 64}, proba.data());
  }
  auto pa = io::PixelArea::for_grid(o.crs_wkt, o.geotransform);
  double expected = 0;
  for (int r = 10; r < 50; ++r) expected += 40 * pa->at(0, r);  // ~ 40 x 40 x 87.6 m² ≈ 0.14 km²
  // --min-area is in m²: 100,000 m² keeps the block (~140,000 m²), 200,000 m² drops it. Before
  // areas were measured on the ground, this block measured 1.6e-5 "m²" (degrees²).
  io::PolygonizeParams pp{tmp.file("mask.tif"), tmp.file("proba.tif"), tmp.file("f.geojson"), 1e5, "rfc7946"};
  auto r = io::polygonize_labels(pp);
  ASSERT_EQ(r.polygons, 1);
  EXPECT_NEAR(r.area_m2 / expected, 1.0, 1e-4);
  pp.min_area_m2 = 2e5;
  pp.out_path = tmp.file("g.geojson");
  EXPECT_EQ(io::polygonize_labels(pp).dropped_small, 1);
  // RFC 7946: no `crs` member, lon/lat coordinates.
  nlohmann::json gj;
  std::ifstream(tmp.file("f.geojson")) >> gj;
  EXPECT_FALSE(gj.contains("crs")) << gj.dump().substr(0, 300);
  const auto& ring = gj["features"][0]["geometry"]["coordinates"][0];
  EXPECT_NEAR(ring[0][0].get<double>(), -92.998, 0.01);
  EXPECT_NEAR(ring[0][1].get<double>(), 44.998, 0.01);
  // "source" keeps the CRS and says so.
  pp.out_crs = "source";
  pp.min_area_m2 = 0;
  pp.out_path = tmp.file("s.geojson");
  io::polygonize_labels(pp);
  nlohmann::json sj;
  std::ifstream(tmp.file("s.geojson")) >> sj;
  ASSERT_TRUE(sj.contains("crs"));
  EXPECT_NE(sj["crs"].dump().find("4269"), std::string::npos) << sj["crs"].dump();
}

TEST(Polygonize, UtmMaskInRfc7946IsLonLatWithoutCrsMember) {
  drshym::testing::TempDir tmp;
  io::CreateOptions o;
  o.width = o.height = 32;
  o.geotransform = GeoTransform{{600000, 10, 0, 5000000, 0, -10}};
  o.crs_wkt = io::crs_wkt_of("EPSG:32631");
  o.type = io::DataType::Byte;
  std::vector<uint8_t> mask(32 * 32, 1);
  std::vector<float> proba(mask.size(), 0.9f);
  {
    auto m = io::Raster::create_geotiff(tmp.file("mask.tif"), o);
    m.write_band(1, Window{0, 0, 32, 32}, mask.data());
    o.type = io::DataType::Float32;
    auto p = io::Raster::create_geotiff(tmp.file("proba.tif"), o);
    p.write_band(1, Window{0, 0, 32, 32}, proba.data());
  }
  auto r = io::polygonize_labels({tmp.file("mask.tif"), tmp.file("proba.tif"), tmp.file("f.geojson"), 0.0, "rfc7946"});
  EXPECT_EQ(r.polygons, 1);
  EXPECT_NEAR(r.area_m2, 320.0 * 320.0, 1e-3);  // measured in the source CRS, not in degrees
  nlohmann::json gj;
  std::ifstream(tmp.file("f.geojson")) >> gj;
  EXPECT_FALSE(gj.contains("crs"));
  EXPECT_TRUE(gj.contains("bbox"));
  EXPECT_NEAR(gj["features"][0]["geometry"]["coordinates"][0][0][0].get<double>(), 4.28, 0.02);
  EXPECT_NEAR(gj["features"][0]["geometry"]["coordinates"][0][0][1].get<double>(), 45.14, 0.02);
}

TEST(Polygonize, DryGeographicMaskIsAnEmptyFeatureCollection) {
  // No water at all in EPSG:4326: the equal-area projection used to be centred on the empty
  // envelope of no polygon (NaN) and the run failed; it is 0 polygons and 0 m² instead.
  drshym::testing::TempDir tmp;
  io::CreateOptions o;
  o.width = o.height = 32;
  o.geotransform = GeoTransform{{3.0, 1e-4, 0, 45.0, 0, -1e-4}};
  o.crs_wkt = io::crs_wkt_of("EPSG:4326");
  o.type = io::DataType::Byte;
  o.nodata = 255.0;
  std::vector<uint8_t> mask(32 * 32, 0);
  std::vector<float> proba(mask.size(), 0.1f);
  {
    auto m = io::Raster::create_geotiff(tmp.file("mask.tif"), o);
    m.write_band(1, Window{0, 0, 32, 32}, mask.data());
    o.type = io::DataType::Float32;
    o.nodata = std::nullopt;
    auto p = io::Raster::create_geotiff(tmp.file("proba.tif"), o);
    p.write_band(1, Window{0, 0, 32, 32}, proba.data());
  }
  for (const std::string crs : {"rfc7946", "source"}) {
    for (const bool classes : {false, true}) {
      io::PolygonizeParams pp{tmp.file("mask.tif"), tmp.file("proba.tif"), tmp.file("f.geojson"), 0.0, crs,
                              classes ? std::vector<std::string>{"permanent_water", "flood_water"}
                                      : std::vector<std::string>{}};
      const auto r = io::polygonize_labels(pp);
      EXPECT_EQ(r.polygons, 0) << crs;
      EXPECT_EQ(r.dropped_small, 0) << crs;
      EXPECT_EQ(r.area_m2, 0.0) << crs;
      for (double a : r.class_area_m2) EXPECT_EQ(a, 0.0) << crs;
      EXPECT_EQ(r.class_area_m2.size(), classes ? 2u : 0u);
      nlohmann::json gj;
      std::ifstream(tmp.file("f.geojson")) >> gj;
      EXPECT_EQ(gj["type"], "FeatureCollection") << crs;
      ASSERT_TRUE(gj["features"].is_array()) << gj.dump();
      EXPECT_EQ(gj["features"].size(), 0u) << crs;
    }
  }
}
