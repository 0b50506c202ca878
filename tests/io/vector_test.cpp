#include "io/vector.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "io/raster.hpp"
#include "support/test_support.hpp"

using namespace drshym;

namespace {
// A 100 x 80 grid of 10 m pixels in UTM 31N whose upper-left corner is (600000, 5000000).
const GeoTransform kGt{{600000, 10, 0, 5000000, 0, -10}};
const std::string kUtm = "EPSG:32631";

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string polygon_geojson(const std::vector<std::array<double, 2>>& ring, const std::string& crs) {
  nlohmann::json coords = nlohmann::json::array();
  for (auto& p : ring) coords.push_back({p[0], p[1]});
  coords.push_back({ring[0][0], ring[0][1]});
  nlohmann::json fc = {{"type", "FeatureCollection"},
                       {"features",
                        {{{"type", "Feature"},
                          {"properties", nlohmann::json::object()},
                          {"geometry", {{"type", "Polygon"}, {"coordinates", {coords}}}}}}}};
  if (!crs.empty()) fc["crs"] = {{"type", "name"}, {"properties", {{"name", crs}}}};
  return fc.dump();
}
}  // namespace

TEST(Aoi, UtmTriangleGivesItsWindowAndPixelCentres) {
  drshym::testing::TempDir tmp;
  // Right triangle with legs along x (200 m) and y (200 m), from pixel (10, 20).
  const double x0 = 600000 + 100, y0 = 5000000 - 200;
  write_text(tmp.file("aoi.geojson"), polygon_geojson({{x0, y0}, {x0 + 200, y0}, {x0, y0 - 200}}, "EPSG:32631"));
  auto aoi = io::Aoi::read(tmp.file("aoi.geojson"), io::crs_wkt_of(kUtm));
  auto b = aoi.bounds();
  EXPECT_NEAR(b[0], x0, 1e-6);
  EXPECT_NEAR(b[3], y0, 1e-6);
  Window w = aoi.window_on(kGt, 100, 80);
  EXPECT_EQ(w.x, 10);
  EXPECT_EQ(w.y, 20);
  EXPECT_EQ(w.w, 20);
  EXPECT_EQ(w.h, 20);
  auto inside = aoi.rasterize(kGt, w);
  ASSERT_EQ(inside.size(), 400u);
  int n = 0;
  for (int r = 0; r < 20; ++r)
    for (int c = 0; c < 20; ++c) {
      const bool expect = c + r < 19;  // pixel centres strictly inside the triangle
      n += inside[size_t(r) * 20 + c];
      if (c + r != 19) {
        ASSERT_EQ(bool(inside[size_t(r) * 20 + c]), expect) << "row " << r << " col " << c;
      }
    }
  EXPECT_GE(n, 190);
  EXPECT_LE(n, 210);
}

TEST(Aoi, Wgs84AoiIsReprojectedAndNonOverlapIsEmpty) {
  drshym::testing::TempDir tmp;
  // No "crs" member: GeoJSON's default, EPSG:4326. (3°E, 45.13°N) lies inside UTM 31N, near
  // our grid's corner; (100°E, 10°N) is on the other side of the world.
  write_text(tmp.file("near.geojson"), polygon_geojson({{2.9, 45.0}, {3.4, 45.0}, {3.4, 45.3}, {2.9, 45.3}}, ""));
  auto aoi = io::Aoi::read(tmp.file("near.geojson"), io::crs_wkt_of(kUtm));
  auto b = aoi.bounds();
  EXPECT_GT(b[0], 400000);   // metres now, not degrees
  EXPECT_LT(b[2], 800000);
  write_text(tmp.file("far.geojson"), polygon_geojson({{100, 10}, {100.1, 10}, {100.1, 10.1}}, ""));
  auto far = io::Aoi::read(tmp.file("far.geojson"), io::crs_wkt_of(kUtm));
  EXPECT_TRUE(far.window_on(kGt, 100, 80).empty());
}

TEST(Aoi, NotAPolygonMissingOrCorruptAreClearErrors) {
  drshym::testing::TempDir tmp;
  write_text(tmp.file("line.geojson"),
             R"({"type":"FeatureCollection","features":[{"type":"Feature","properties":{},)"
             R"("geometry":{"type":"LineString","coordinates":[[3,45],[3.1,45.1]]}}]})");
  try {
    io::Aoi::read(tmp.file("line.geojson"), io::crs_wkt_of(kUtm));
    FAIL() << "a LineString AOI was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("polygon"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("line.geojson"), std::string::npos) << e.what();
  }
  try {
    io::Aoi::read(tmp.file("missing.geojson"), io::crs_wkt_of(kUtm));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
  }
  write_text(tmp.file("junk.geojson"), "{ this is not json");
  EXPECT_THROW(io::Aoi::read(tmp.file("junk.geojson"), io::crs_wkt_of(kUtm)), Error);
}

TEST(Polygonize, AreaMeanProbaMinAreaAndCrs) {
  drshym::testing::TempDir tmp;
  io::CreateOptions o;
  o.width = 100;
  o.height = 80;
  o.geotransform = kGt;
  o.crs_wkt = io::crs_wkt_of(kUtm);
  o.type = io::DataType::Byte;
  o.nodata = 255.0;
  std::vector<uint8_t> mask(100 * 80, 0);
  std::vector<float> proba(mask.size(), 0.1f);
  for (int r = 10; r < 30; ++r)  // a 20 x 20 flood block (40,000 m²) at p = 0.9
    for (int c = 40; c < 60; ++c) {
      mask[size_t(r) * 100 + c] = 1;
      proba[size_t(r) * 100 + c] = 0.9f;
    }
  mask[size_t(70) * 100 + 5] = 1;  // a one-pixel speck (100 m²)
  for (int c = 0; c < 100; ++c) mask[size_t(79) * 100 + c] = 255;  // a nodata row
  {
    auto m = io::Raster::create_geotiff(tmp.file("mask.tif"), o);
    m.write_band(1, Window{0, 0, 100, 80}, mask.data());
    o.type = io::DataType::Float32;
    o.nodata = std::nullopt;
    auto p = io::Raster::create_geotiff(tmp.file("proba.tif"), o);
    p.write_band(1, Window{0, 0, 100, 80}, proba.data());
  }
  auto r = io::polygonize_flood({tmp.file("mask.tif"), tmp.file("proba.tif"), tmp.file("f.geojson"), 500.0, "source"});
  EXPECT_EQ(r.polygons, 1);
  EXPECT_EQ(r.dropped_small, 1);
  EXPECT_NEAR(r.flood_area_m2, 40000.0, 1e-6);
  nlohmann::json gj;
  std::ifstream(tmp.file("f.geojson")) >> gj;
  ASSERT_EQ(gj["features"].size(), 1u);
  auto props = gj["features"][0]["properties"];
  EXPECT_NEAR(props["area_m2"].get<double>(), 40000.0, 1e-6);
  EXPECT_NEAR(props["mean_proba"].get<double>(), 0.9, 1e-5);
  // In EPSG:4326 the same polygon has degree coordinates and the same area attribute.
  auto r2 = io::polygonize_flood({tmp.file("mask.tif"), tmp.file("proba.tif"), tmp.file("g.geojson"), 0.0, "EPSG:4326"});
  EXPECT_EQ(r2.polygons, 2);
  nlohmann::json g2;
  std::ifstream(tmp.file("g.geojson")) >> g2;
  // 600 km E / 5000 km N in UTM 31N is 4.272°E 45.146°N (gdaltransform): lon first, then lat.
  for (const auto& f : g2["features"]) {
    double lon = f["geometry"]["coordinates"][0][0][0], lat = f["geometry"]["coordinates"][0][0][1];
    EXPECT_NEAR(lon, 4.28, 0.02);
    EXPECT_NEAR(lat, 45.14, 0.02);
  }
}
