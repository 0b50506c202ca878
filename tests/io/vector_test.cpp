#include "io/vector.hpp"

#include <gdal_alg.h>
#include <gdal_priv.h>
#include <gtest/gtest.h>
#include <ogr_geometry.h>
#include <ogrsf_frmts.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "io/area.hpp"
#include "io/gdal_env.hpp"
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

TEST(Aoi, ANamedCrsGdalDoesNotKnowIsAnErrorNotWgs84) {
  // {"crs": {"type": "name", "properties": {"name": "EPSG:99999"}}} was read as WGS 84: GDAL
  // gave the layer no CRS and the reader fell back to RFC 7946's default, so metres were taken
  // for degrees. Only a GeoJSON with no crs member is WGS 84.
  drshym::testing::TempDir tmp;
  const double x0 = 600000 + 100, y0 = 5000000 - 200;
  for (const std::string& crs : std::vector<std::string>{"EPSG:99999", "urn:ogc:def:crs:EPSG::99999", "EPSG:nonsense"}) {
    write_text(tmp.file("aoi.geojson"), polygon_geojson({{x0, y0}, {x0 + 200, y0}, {x0, y0 - 200}}, crs));
    try {
      io::Aoi::read(tmp.file("aoi.geojson"), io::crs_wkt_of(kUtm));
      ADD_FAILURE() << "an AOI in " << crs << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidInput) << e.what();
      EXPECT_NE(std::string(e.what()).find("'" + crs + "'"), std::string::npos) << e.what();
    }
    nlohmann::json j = nlohmann::json::parse(polygon_geojson({{x0, y0}, {x0 + 200, y0}, {x0, y0 - 200}}, crs));
    EXPECT_THROW(io::require_named_geojson_crs(j), Error) << crs;
  }
  // Known names still work, and no crs member is WGS 84.
  for (const std::string& crs : std::vector<std::string>{"EPSG:32631", "urn:ogc:def:crs:EPSG::32631"}) {
    write_text(tmp.file("aoi.geojson"), polygon_geojson({{x0, y0}, {x0 + 200, y0}, {x0, y0 - 200}}, crs));
    EXPECT_NEAR(io::Aoi::read(tmp.file("aoi.geojson"), io::crs_wkt_of(kUtm)).bounds()[0], x0, 1e-6) << crs;
  }
  write_text(tmp.file("aoi.geojson"), polygon_geojson({{2.9, 45.0}, {3.4, 45.0}, {3.4, 45.3}}, "urn:ogc:def:crs:OGC:1.3:CRS84"));
  EXPECT_GT(io::Aoi::read(tmp.file("aoi.geojson"), io::crs_wkt_of(kUtm)).bounds()[0], 400000);
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
  auto r = io::polygonize_labels({tmp.file("mask.tif"), tmp.file("proba.tif"), tmp.file("f.geojson"), 500.0, "source"});
  EXPECT_EQ(r.polygons, 1);
  EXPECT_EQ(r.dropped_small, 1);
  EXPECT_NEAR(r.area_m2, 40000.0, 1e-6);
  nlohmann::json gj;
  std::ifstream(tmp.file("f.geojson")) >> gj;
  ASSERT_EQ(gj["features"].size(), 1u);
  auto props = gj["features"][0]["properties"];
  EXPECT_NEAR(props["area_m2"].get<double>(), 40000.0, 1e-6);
  EXPECT_NEAR(props["mean_proba"].get<double>(), 0.9, 1e-5);
  // In EPSG:4326 the same polygon has degree coordinates and the same area attribute.
  auto r2 = io::polygonize_labels({tmp.file("mask.tif"), tmp.file("proba.tif"), tmp.file("g.geojson"), 0.0, "EPSG:4326"});
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

// ---------------------------------------------------------------------------------------------
// Reference: io::polygonize_labels (then polygonize_flood) as it was before its statistics were computed in one
// streaming pass (issue 24). It polygonizes the mask, then burns every polygon over its
// envelope with GDALRasterizeGeometries to average the probabilities of the pixels whose centre
// lies inside: quadratic on scenes with many pieces, but it defines what mean_proba means. Kept
// here verbatim (less error wording) to check that the streaming pass gives the same output.
namespace legacy_reference {

Window envelope_window(const GeoTransform& gt, const OGREnvelope& e, int width, int height) {
  double cs[4], rs[4];
  gt.geo_to_pixel(e.MinX, e.MinY, cs[0], rs[0]);
  gt.geo_to_pixel(e.MaxX, e.MinY, cs[1], rs[1]);
  gt.geo_to_pixel(e.MinX, e.MaxY, cs[2], rs[2]);
  gt.geo_to_pixel(e.MaxX, e.MaxY, cs[3], rs[3]);
  double c0 = std::min({cs[0], cs[1], cs[2], cs[3]}), c1 = std::max({cs[0], cs[1], cs[2], cs[3]});
  double r0 = std::min({rs[0], rs[1], rs[2], rs[3]}), r1 = std::max({rs[0], rs[1], rs[2], rs[3]});
  auto to_int = [](double v) { return std::isfinite(v) ? int(std::clamp(v, -2e9, 2e9)) : 0; };
  int x0 = to_int(std::floor(c0)), y0 = to_int(std::floor(r0)), x1 = to_int(std::ceil(c1)), y1 = to_int(std::ceil(r1));
  x0 = std::clamp(x0, 0, width);
  x1 = std::clamp(x1, 0, width);
  y0 = std::clamp(y0, 0, height);
  y1 = std::clamp(y1, 0, height);
  return Window{x0, y0, x1 - x0, y1 - y0}.intersect(Window{0, 0, width, height});
}

std::vector<uint8_t> burn_mask(const OGRGeometry* geom, const GeoTransform& gt, const Window& win) {
  io::CreateOptions o;
  o.width = win.w;
  o.height = win.h;
  o.type = io::DataType::Byte;
  o.geotransform = gt.shifted(win.x, win.y);
  auto mem = io::Raster::create_mem(o);
  int band = 1;
  double burn = 1.0;
  OGRGeometryH g = OGRGeometry::ToHandle(const_cast<OGRGeometry*>(geom));
  if (GDALRasterizeGeometries(GDALDataset::ToHandle(mem.handle()), 1, &band, 1, &g, nullptr, nullptr, &burn,
                              nullptr, nullptr, nullptr) != CE_None)
    throw std::runtime_error("reference: rasterizing failed");
  std::vector<float> v(size_t(win.w) * win.h);
  mem.read_band(1, Window{0, 0, win.w, win.h}, v.data());
  std::vector<uint8_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = v[i] > 0.5f ? 1 : 0;
  return out;
}

io::PolygonizeResult polygonize_flood(const io::PolygonizeParams& p) {
  io::gdal_init();
  auto mask = io::Raster::open(p.mask_path);
  auto proba = io::Raster::open(p.proba_path);
  const auto& info = mask.info();
  OGRSpatialReference srs;
  srs.importFromWkt(info.crs_wkt.c_str());
  srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  const std::string gpkg_path = p.out_path + ".polygons.gpkg";
  core::OutputSet scratch;
  scratch.adopt(gpkg_path);
  std::filesystem::remove(gpkg_path);
  GDALDriver* gpkg = GetGDALDriverManager()->GetDriverByName("GPKG");
  GDALDatasetUniquePtr vds(gpkg->Create(gpkg_path.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
  char** layer_opts = CSLSetNameValue(nullptr, "SPATIAL_INDEX", "NO");
  OGRLayer* layer = vds->CreateLayer("flood", &srs, wkbPolygon, layer_opts);
  CSLDestroy(layer_opts);
  OGRFieldDefn dn("DN", OFTInteger);
  layer->CreateField(&dn);
  GDALRasterBand* band = mask.handle()->GetRasterBand(1);
  char** opts = CSLSetNameValue(nullptr, "8CONNECTED", "8");
  vds->StartTransaction();
  CPLErr err = GDALPolygonize(band, band, layer, 0, opts, nullptr, nullptr);
  CSLDestroy(opts);
  if (err != CE_None || vds->CommitTransaction() != OGRERR_NONE) throw std::runtime_error("reference: polygonize failed");

  OGREnvelope env;
  if (layer->GetExtent(&env) != OGRERR_NONE) env = OGREnvelope();
  const io::AreaMeter meter(srs, 0.5 * (env.MinX + env.MaxX), 0.5 * (env.MinY + env.MaxY));
  const io::GeoJsonCrs out_crs = io::parse_geojson_crs(p.out_crs);
  std::unique_ptr<OGRCoordinateTransformation> to_out;
  OGRSpatialReference out_srs = srs;
  if (out_crs.kind == io::GeoJsonCrs::Kind::Other) {
    out_srs.SetFromUserInput(out_crs.crs.c_str());
    out_srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    to_out.reset(OGRCreateCoordinateTransformation(&srs, &out_srs));
  }
  GDALDriver* gj = GetGDALDriverManager()->GetDriverByName("GeoJSON");
  std::error_code ec;
  std::filesystem::remove(p.out_path, ec);
  char** lco = nullptr;
  if (out_crs.kind == io::GeoJsonCrs::Kind::Rfc7946) {
    lco = CSLSetNameValue(lco, "RFC7946", "YES");
    lco = CSLSetNameValue(lco, "WRITE_BBOX", "YES");
  } else {
    lco = CSLSetNameValue(lco, "COORDINATE_PRECISION", out_srs.IsGeographic() ? "9" : "3");
  }
  GDALDatasetUniquePtr out(gj->Create(p.out_path.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
  OGRLayer* ol = out->CreateLayer("flood", &out_srs, wkbPolygon, lco);
  CSLDestroy(lco);
  OGRFieldDefn f_id("id", OFTInteger), f_area("area_m2", OFTReal), f_mp("mean_proba", OFTReal);
  ol->CreateField(&f_id);
  ol->CreateField(&f_area);
  ol->CreateField(&f_mp);
  const bool classes = !p.class_names.empty();
  if (classes) {
    OGRFieldDefn f_class("class", OFTString);
    ol->CreateField(&f_class);
  }
  io::PolygonizeResult res;
  res.class_polygons.assign(p.class_names.size(), 0);
  res.class_area_m2.assign(p.class_names.size(), 0.0);
  const GeoTransform& gt = info.geotransform;
  for (auto& feat : *layer) {
    OGRGeometry* g = feat->GetGeometryRef();
    const int dn = g ? feat->GetFieldAsInteger("DN") : 0;
    if (dn != 1 && !(classes && dn == 2)) continue;
    const double area = meter.area_m2(*g);
    if (area < p.min_area_m2) {
      ++res.dropped_small;
      continue;
    }
    OGREnvelope env;
    g->getEnvelope(&env);
    const Window w = envelope_window(gt, env, info.width, info.height);
    double sum = 0;
    int64_t n = 0;
    constexpr int kStripRows = 512;
    std::vector<float> pv;
    for (int y = w.y; y < w.y + w.h; y += kStripRows) {
      const Window sw{w.x, y, w.w, std::min(kStripRows, w.y + w.h - y)};
      auto inside = burn_mask(g, gt, sw);
      pv.resize(inside.size());
      proba.read_band(1, sw, pv.data());
      for (size_t i = 0; i < inside.size(); ++i)
        if (inside[i] && std::isfinite(pv[i])) {
          sum += pv[i];
          ++n;
        }
    }
    const double mean_p = n ? sum / double(n) : 0.0;
    OGRFeature of(ol->GetLayerDefn());
    std::unique_ptr<OGRGeometry> og(g->clone());
    if (to_out) og->transform(to_out.get());
    of.SetGeometryDirectly(og.release());
    of.SetField("id", res.polygons + 1);
    of.SetField("area_m2", area);
    of.SetField("mean_proba", mean_p);
    if (classes) {
      of.SetField("class", dn == 1 ? "permanent_water" : "flood_water");
      res.class_polygons[size_t(dn - 1)] += 1;
      res.class_area_m2[size_t(dn - 1)] += area;
    }
    if (ol->CreateFeature(&of) != OGRERR_NONE) throw std::runtime_error("reference: cannot write a polygon");
    ++res.polygons;
    res.area_m2 += area;
  }
  out.reset();
  return res;
}

}  // namespace legacy_reference

// What infer names the classes raster's values (infer::water_class_names()); io knows no class.
const std::vector<std::string> kWaterClasses{"permanent_water", "flood_water"};
const std::vector<std::string> kNone;

namespace {

// A scene cut into many pieces: interleaved discs of permanent (1) and flood (2) water, rings
// with holes holding islands of the other class, checkerboards and staircases whose pixels
// touch only at corners, salt noise, nodata (255) rows and blocks, NaN probabilities and a
// piece whose probabilities are all NaN. 157 x 301 pixels: taller than one 256-row strip.
struct PiecesScene {
  int w = 157, h = 301;
  std::vector<uint8_t> mask;
  std::vector<float> proba;
};

PiecesScene pieces_scene() {
  PiecesScene s;
  s.mask.assign(size_t(s.w) * s.h, 0);
  s.proba.assign(s.mask.size(), 0.f);
  std::mt19937 rng(24);
  auto at = [&](int c, int r) -> uint8_t& { return s.mask[size_t(r) * s.w + c]; };
  auto inside = [&](int c, int r) { return c >= 0 && r >= 0 && c < s.w && r < s.h; };
  for (int k = 0; k < 90; ++k) {  // discs, overwriting one another; some cross the edges
    const int cx = int(rng() % s.w), cy = int(rng() % s.h), rad = 1 + int(rng() % 9);
    const uint8_t v = uint8_t(1 + rng() % 2);
    for (int r = cy - rad; r <= cy + rad; ++r)
      for (int c = cx - rad; c <= cx + rad; ++c)
        if (inside(c, r) && (c - cx) * (c - cx) + (r - cy) * (r - cy) <= rad * rad) at(c, r) = v;
  }
  // Rings of flood water with a hole; in the hole an island of permanent water, and in the
  // island a dry hole with a one-pixel flood speck.
  for (int k = 0; k < 3; ++k) {
    const int cx = 30 + 45 * k, cy = 40;
    for (int r = cy - 14; r <= cy + 14; ++r)
      for (int c = cx - 14; c <= cx + 14; ++c) {
        const int d2 = (c - cx) * (c - cx) + (r - cy) * (r - cy);
        at(c, r) = d2 <= 14 * 14 && d2 > 10 * 10 ? 2 : d2 <= 6 * 6 && d2 > 2 * 2 ? 1 : d2 <= 2 * 2 ? 0 : at(c, r);
      }
    at(cx, cy) = 2;
  }
  for (int r = 70; r < 90; ++r)  // checkerboard of both classes: each class one 8-connected piece
    for (int c = 10; c < 30; ++c) at(c, r) = (r + c) % 2 ? 1 : 2;
  for (int r = 70; r < 90; ++r)  // checkerboard of flood and dry
    for (int c = 40; c < 60; ++c) at(c, r) = (r + c) % 2 ? 2 : 0;
  for (int r = 70; r < 90; ++r)
    for (int c = 70; c < 90; ++c) at(c, r) = 0;
  for (int i = 0; i < 10; ++i) {  // a diamond of corner-touching pixels around a dry hole
    at(80 + i, 70 + i) = 1;
    at(80 - i, 70 + i) = 1;
    at(80 + i, 89 - i) = 1;
    at(80 - i, 89 - i) = 1;
  }
  for (int r = 95; r < 120; ++r)  // two staircases of different classes crossing at corners
    for (int c = 100; c < 125; ++c) at(c, r) = (c - 100 == r - 95) ? 1 : (c - 100 == 119 - r) ? 2 : 0;
  for (size_t i = 0; i < s.mask.size(); ++i) {  // salt: specks, corner contacts, nodata
    const unsigned u = rng() % 100;
    if (u < 2) s.mask[i] = 1;
    else if (u < 4) s.mask[i] = 2;
    else if (u < 5) s.mask[i] = 0;
    else if (u < 6) s.mask[i] = 255;
  }
  for (int c = 0; c < s.w; ++c) at(c, 150) = 255;  // a nodata row cutting pieces in two
  for (int r = 200; r < 215; ++r)
    for (int c = 60; c < 80; ++c) at(c, r) = 255;
  std::uniform_real_distribution<float> u01(0.f, 1.f);
  for (size_t i = 0; i < s.proba.size(); ++i) s.proba[i] = rng() % 20 == 0 ? NAN : u01(rng);
  for (int r = 250; r < 262; ++r)  // a piece whose probabilities are all NaN
    for (int c = 130; c < 142; ++c) {
      at(c, r) = 2;
      s.proba[size_t(r) * s.w + c] = NAN;
    }
  for (int r = 249; r <= 262; ++r)
    for (int c = 129; c <= 142; ++c)
      if (r == 249 || r == 262 || c == 129 || c == 142) at(c, r) = 0;
  return s;
}

void write_scene(const PiecesScene& s, const GeoTransform& gt, const std::string& crs, const std::string& mask_path,
                 const std::string& proba_path) {
  io::CreateOptions o;
  o.width = s.w;
  o.height = s.h;
  o.geotransform = gt;
  o.crs_wkt = io::crs_wkt_of(crs);
  o.type = io::DataType::Byte;
  o.nodata = 255.0;
  auto m = io::Raster::create_geotiff(mask_path, o);
  m.write_band(1, Window{0, 0, s.w, s.h}, s.mask.data());
  o.type = io::DataType::Float32;
  o.nodata = std::nullopt;
  auto p = io::Raster::create_geotiff(proba_path, o);
  p.write_band(1, Window{0, 0, s.w, s.h}, s.proba.data());
}

struct Written {
  double area_m2, mean_proba;
  std::string cls;
};

// Features of a GeoJSON by their geometry (as written, coordinates included) and class.
std::map<std::string, Written> features_by_geometry(const std::string& path, std::set<int>* ids) {
  nlohmann::json gj;
  std::ifstream(path) >> gj;
  std::map<std::string, Written> out;
  for (const auto& f : gj["features"]) {
    const auto& pr = f["properties"];
    Written w{pr["area_m2"].get<double>(), pr["mean_proba"].get<double>(),
              pr.contains("class") ? pr["class"].get<std::string>() : ""};
    const std::string key = f["geometry"].dump() + "|" + w.cls;
    EXPECT_TRUE(out.emplace(key, w).second) << "two features with one geometry in " << path;
    ids->insert(pr["id"].get<int>());
  }
  return out;
}

}  // namespace

TEST(Polygonize, StreamingStatisticsMatchThePerPolygonReference) {
  drshym::testing::TempDir tmp;
  const PiecesScene scene = pieces_scene();
  struct Grid {
    std::string name, crs;
    GeoTransform gt;
    double min_area_m2;  // about 3 pixels
  };
  const Grid grids[] = {
      {"utm", kUtm, kGt, 300.0},
      {"utm-south-up", kUtm, GeoTransform{{600000, 10, 0, 4990000, 0, 10}}, 300.0},
      {"wgs84", "EPSG:4326", GeoTransform{{3.0, 1e-4, 0, 45.0, 0, -1e-4}}, 250.0},
  };
  int compared = 0;
  for (const auto& grid : grids) {
    const std::string mask = tmp.file(grid.name + "_mask.tif"), proba = tmp.file(grid.name + "_proba.tif");
    write_scene(scene, grid.gt, grid.crs, mask, proba);
    for (const bool classes : {true, false})
      for (const double min_area : {0.0, grid.min_area_m2})
        for (const std::string out_crs : {"source", "rfc7946", "EPSG:3857"}) {
          const std::string what = grid.name + (classes ? " classes" : " flood") + " min " +
                                   std::to_string(min_area) + " " + out_crs;
          SCOPED_TRACE(what);
          io::PolygonizeParams p{mask, proba, tmp.file("new.geojson"), min_area, out_crs, classes ? kWaterClasses : kNone,
                                 "flood"};
          const auto got = io::polygonize_labels(p);
          p.out_path = tmp.file("ref.geojson");
          const auto ref = legacy_reference::polygonize_flood(p);
          EXPECT_EQ(got.polygons, ref.polygons);
          EXPECT_EQ(got.dropped_small, ref.dropped_small);
          EXPECT_NEAR(got.area_m2, ref.area_m2, 1e-9 * ref.area_m2);
          EXPECT_EQ(got.class_polygons, ref.class_polygons);
          for (size_t k = 0; k < ref.class_area_m2.size(); ++k)
            EXPECT_NEAR(got.class_area_m2[k], ref.class_area_m2[k], 1e-9 * ref.class_area_m2[k]);
          if (classes && min_area == 0) {  // many pieces of both classes
            EXPECT_GT(ref.class_polygons[0], 500);
            EXPECT_GT(ref.class_polygons[1], 500);
          }
          if (min_area > 0) {
            EXPECT_GT(ref.dropped_small, 500);
          }
          // Every polygon's statistics came from the one-pass scan, none from rasterizing it.
          EXPECT_EQ(got.burned_for_stats, 0);
          std::set<int> got_ids, ref_ids;
          const auto g = features_by_geometry(tmp.file("new.geojson"), &got_ids);
          const auto r = features_by_geometry(tmp.file("ref.geojson"), &ref_ids);
          ASSERT_EQ(g.size(), r.size());
          ASSERT_EQ(int(g.size()), ref.polygons);
          // ids are 1..N (in any order)
          ASSERT_EQ(got_ids.size(), g.size());
          if (!got_ids.empty()) {
            EXPECT_EQ(*got_ids.begin(), 1);
            EXPECT_EQ(*got_ids.rbegin(), int(g.size()));
          }
          for (const auto& [key, want] : r) {
            auto it = g.find(key);
            ASSERT_NE(it, g.end()) << "a reference polygon is missing: " << key.substr(0, 200);
            EXPECT_EQ(it->second.cls, want.cls);
            EXPECT_NEAR(it->second.area_m2, want.area_m2, 1e-9 * want.area_m2) << key.substr(0, 200);
            EXPECT_NEAR(it->second.mean_proba, want.mean_proba, 1e-6 * std::max(1e-6, want.mean_proba))
                << key.substr(0, 200);
            ++compared;
          }
        }
  }
  EXPECT_GT(compared, 5000);
}
