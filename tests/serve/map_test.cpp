// The map page of `drshym serve` (issue 28): tiles coloured as the overlay colours the COG values
// under them (the pixel centres reprojected here, independently of the server's tile math), a
// headless-Chromium screenshot of /map/{id} with the flood on it, hostile tile and download
// requests, the pages' Content-Security-Policy. One server and one finished job serve the suite.
#include <gdal_priv.h>
#include <ogr_spatialref.h>
#include <cpl_vsi.h>

#include <unistd.h>

#include <atomic>
#include <functional>
#include <set>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <regex>
#include <thread>

#include "explain/overlay.hpp"
#include "ingest/scene.hpp"
#include "ingest/synthetic_scene.hpp"
#include "serve/job_store.hpp"
#include "serve/map_info.hpp"
#include "serve/pages.hpp"
#include "serve/tiles.hpp"
#include "serve_fixture.hpp"

namespace drshym::serve {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kEarthRadius = 6378137.0;  // EPSG:3857 sphere
constexpr int kAlphaTolerance = 4;          // bilinear layers: 1.5% of opacity
constexpr int kGreyTolerance = 3;

struct Rgba {
  int w = 0, h = 0;
  std::vector<uint8_t> px;  // interleaved RGBA
  const uint8_t* at(int x, int y) const { return px.data() + (size_t(y) * w + x) * 4; }
};

// A PNG (bytes or a file) decoded with GDAL's PNG driver; 3-band pictures get alpha 255.
Rgba decode_png_file(const std::string& path) {
  const char* drivers[] = {"PNG", nullptr};
  std::unique_ptr<GDALDataset> ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER, drivers));
  if (!ds) return {};
  Rgba out;
  out.w = ds->GetRasterXSize();
  out.h = ds->GetRasterYSize();
  out.px.assign(size_t(out.w) * out.h * 4, 255);
  const int bands = std::min(4, ds->GetRasterCount());
  for (int b = 1; b <= bands; ++b)
    if (ds->GetRasterBand(b)->RasterIO(GF_Read, 0, 0, out.w, out.h, out.px.data() + (b - 1), out.w, out.h, GDT_Byte, 4,
                                       4 * out.w) != CE_None)
      return {};
  return out;
}

Rgba decode_png(const std::string& bytes) {
  static std::atomic<int> n{0};
  const std::string name = "/vsimem/map_test_" + std::to_string(n++) + ".png";
  VSIFCloseL(VSIFileFromMemBuffer(name.c_str(), reinterpret_cast<GByte*>(const_cast<char*>(bytes.data())),
                                  vsi_l_offset(bytes.size()), FALSE));
  Rgba out = decode_png_file(name);
  VSIUnlink(name.c_str());
  return out;
}

// A raster band in memory with its grid, read with GDAL directly.
struct Band {
  int w = 0, h = 0;
  double gt[6] = {};
  std::vector<float> v;
  OGRSpatialReference srs;
  float at(int c, int r) const { return (c < 0 || r < 0 || c >= w || r >= h) ? NAN : v[size_t(r) * w + c]; }
};

Band read_band(const std::string& path, int band) {
  std::unique_ptr<GDALDataset> ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER));
  Band b;
  if (!ds) return b;
  b.w = ds->GetRasterXSize();
  b.h = ds->GetRasterYSize();
  ds->GetGeoTransform(b.gt);
  b.srs = *ds->GetSpatialRef();
  b.srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  b.v.resize(size_t(b.w) * b.h);
  GDALRasterBand* rb = ds->GetRasterBand(band);
  EXPECT_EQ(rb->RasterIO(GF_Read, 0, 0, b.w, b.h, b.v.data(), b.w, b.h, GDT_Float32, 0, 0), CE_None);
  int has_nd = 0;
  const double nd = rb->GetNoDataValue(&has_nd);
  if (has_nd && std::isfinite(nd))
    for (float& x : b.v)
      if (x == float(nd)) x = NAN;
  return b;
}

// Lon/lat of a tile pixel's centre (XYZ scheme, spherical Web Mercator).
void tile_pixel_lonlat(int z, int tx, int ty, int px, int py, double& lon, double& lat) {
  const double n = std::pow(2.0, z);
  const double fx = (tx + (px + 0.5) / kTileSize) / n, fy = (ty + (py + 0.5) / kTileSize) / n;
  lon = fx * 360.0 - 180.0;
  lat = std::atan(std::sinh(kPi * (1 - 2 * fy))) * 180.0 / kPi;
}

// Continuous pixel coordinates (col, row) in the raster of each tile pixel centre.
struct TileToRaster {
  std::vector<double> col, row;
};
TileToRaster tile_to_raster(const Band& b, int z, int tx, int ty) {
  OGRSpatialReference wgs84;
  wgs84.importFromEPSG(4326);
  wgs84.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  std::unique_ptr<OGRCoordinateTransformation> ct(OGRCreateCoordinateTransformation(&wgs84, &b.srs));
  TileToRaster m;
  std::vector<double> xs, ys;
  for (int py = 0; py < kTileSize; ++py)
    for (int px = 0; px < kTileSize; ++px) {
      double lon, lat;
      tile_pixel_lonlat(z, tx, ty, px, py, lon, lat);
      xs.push_back(lon);
      ys.push_back(lat);
    }
  EXPECT_TRUE(ct->Transform(int(xs.size()), xs.data(), ys.data()));
  const double det = b.gt[1] * b.gt[5] - b.gt[2] * b.gt[4];
  for (size_t i = 0; i < xs.size(); ++i) {
    const double dx = xs[i] - b.gt[0], dy = ys[i] - b.gt[3];
    m.col.push_back((dx * b.gt[5] - dy * b.gt[2]) / det);
    m.row.push_back((dy * b.gt[1] - dx * b.gt[4]) / det);
  }
  return m;
}

// The tile (x, y) at zoom z that holds the raster's centre.
std::pair<int, int> tile_of_centre(const Band& b, int z) {
  OGRSpatialReference wgs84;
  wgs84.importFromEPSG(4326);
  wgs84.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  std::unique_ptr<OGRCoordinateTransformation> ct(OGRCreateCoordinateTransformation(&b.srs, &wgs84));
  double x = b.gt[0] + b.w / 2.0 * b.gt[1] + b.h / 2.0 * b.gt[2], y = b.gt[3] + b.w / 2.0 * b.gt[4] + b.h / 2.0 * b.gt[5];
  EXPECT_TRUE(ct->Transform(1, &x, &y));
  const double n = std::pow(2.0, z), lat = y * kPi / 180;
  return {int((x + 180) / 360 * n), int((1 - std::asinh(std::tan(lat)) / kPi) / 2 * n)};
}

// Expected colours: nullopt where the check is skipped (near an edge or a colour boundary).
// (gx, gy): the pixel in the whole zoom level's picture (tile * 256 + pixel), for the hatching.
using Expect = std::function<std::optional<explain::Paint>(const Band&, double col, double row, int64_t gx, int64_t gy)>;

// Nearest (classes): the value under the centre, only where its 3x3 neighbourhood agrees.
Expect nearest_classes(double thr) {
  return [thr](const Band& b, double col, double row, int64_t, int64_t) -> std::optional<explain::Paint> {
    const int c = int(std::floor(col)), r = int(std::floor(row));
    const float v = b.at(c, r);
    for (int dr = -1; dr <= 1; ++dr)
      for (int dc = -1; dc <= 1; ++dc) {
        const float n = b.at(c + dc, r + dr);
        if (!(n == v) && !(std::isnan(n) && std::isnan(v))) return std::nullopt;
      }
    if (std::isnan(v)) return explain::Paint{};
    return explain::class_paint(int(v), 1.0, thr);
  };
}

// Bilinear over pixel centres (as GDAL's warper), only where all four neighbours are valid.
std::optional<double> bilinear(const Band& b, double col, double row) {
  const double fx = col - 0.5, fy = row - 0.5;
  const int c0 = int(std::floor(fx)), r0 = int(std::floor(fy));
  const double ax = fx - c0, ay = fy - r0;
  const float v00 = b.at(c0, r0), v10 = b.at(c0 + 1, r0), v01 = b.at(c0, r0 + 1), v11 = b.at(c0 + 1, r0 + 1);
  if (!std::isfinite(v00) || !std::isfinite(v10) || !std::isfinite(v01) || !std::isfinite(v11)) return std::nullopt;
  return (1 - ay) * ((1 - ax) * v00 + ax * v10) + ay * ((1 - ax) * v01 + ax * v11);
}

// Nearest (exclusion flags): hatched purple on excluded ground, where the 3x3 neighbourhood agrees.
Expect nearest_exclusion() {
  return [](const Band& b, double col, double row, int64_t gx, int64_t gy) -> std::optional<explain::Paint> {
    const int c = int(std::floor(col)), r = int(std::floor(row));
    const float v = b.at(c, r);
    for (int dr = -1; dr <= 1; ++dr)
      for (int dc = -1; dc <= 1; ++dc)
        if (!(b.at(c + dc, r + dr) == v)) return std::nullopt;  // NaN (no data) skipped too
    return explain::exclusion_paint(int(v), gx, gy);
  };
}

Expect bilinear_proba(double thr) {
  return [thr](const Band& b, double col, double row, int64_t, int64_t) -> std::optional<explain::Paint> {
    const auto p = bilinear(b, col, row);
    if (!p || std::abs(*p - thr) < 0.02 || std::abs(*p - 0.2) < 0.02) return std::nullopt;  // colour boundary
    return *p >= thr ? explain::flood_paint(*p, thr) : explain::uncertain_paint(*p, thr, false);
  };
}

Expect bilinear_backdrop() {
  return [](const Band& b, double col, double row, int64_t, int64_t) -> std::optional<explain::Paint> {
    const auto v = bilinear(b, col, row);
    if (!v) return std::nullopt;
    const uint8_t g = explain::backdrop_grey(float(*v));
    return explain::Paint{{g, g, g}, 1.0};
  };
}

struct Compared {
  int opaque = 0, transparent = 0, outside = 0;
};

// Every 3rd tile pixel: its colour is the expected paint of the COG value at its centre, and
// pixels clearly off the raster are transparent.
Compared compare_tile(const Rgba& tile, const Band& b, int z, int tx, int ty, const Expect& expect, int tolerance,
                      const std::string& what) {
  const TileToRaster m = tile_to_raster(b, z, tx, ty);
  Compared n;
  int failures = 0;
  for (int py = 1; py < kTileSize; py += 3)
    for (int px = 1; px < kTileSize; px += 3) {
      const size_t i = size_t(py) * kTileSize + px;
      const double col = m.col[i], row = m.row[i];
      const uint8_t* got = tile.at(px, py);
      if (col < -1 || row < -1 || col > b.w + 1 || row > b.h + 1) {
        EXPECT_EQ(got[3], 0) << what << ": pixel (" << px << ", " << py << ") lies off the raster but is painted";
        ++n.outside;
        continue;
      }
      const auto e = expect(b, col, row, int64_t(tx) * kTileSize + px, int64_t(ty) * kTileSize + py);
      if (!e) continue;
      const int alpha = int(std::lround(e->alpha * 255));
      // Colours are exact (one colour per class); only the backdrop's grey level interpolates.
      const bool grey = e->rgb.r == e->rgb.g && e->rgb.g == e->rgb.b;
      const int rgb_tol = grey ? tolerance : 0;
      const bool ok = alpha == 0 ? got[3] == 0
                                 : std::abs(int(got[3]) - alpha) <= tolerance &&
                                       std::abs(int(got[0]) - e->rgb.r) <= rgb_tol &&
                                       std::abs(int(got[1]) - e->rgb.g) <= rgb_tol &&
                                       std::abs(int(got[2]) - e->rgb.b) <= rgb_tol;
      if (!ok && ++failures <= 5)
        ADD_FAILURE() << what << ": tile pixel (" << px << ", " << py << ") at raster (" << col << ", " << row << ") is rgba("
                      << int(got[0]) << "," << int(got[1]) << "," << int(got[2]) << "," << int(got[3]) << "), expected rgba("
                      << int(e->rgb.r) << "," << int(e->rgb.g) << "," << int(e->rgb.b) << "," << alpha << ")";
      (alpha == 0 ? n.transparent : n.opaque) += 1;
    }
  return n;
}

json wait_done(httplib::Client& c, const std::string& id) {
  for (int i = 0; i < 600; ++i) {
    auto r = c.Get(("/v1/jobs/" + id).c_str());
    if (r && r->status == 200) {
      json j = json::parse(r->body);
      if (j["status"] == "done" || j["status"] == "failed") return j;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return json::object();
}

// The server's input and output folders must never appear in what a client gets.
void expect_no_server_path(const std::string& body, const Dirs& d, const std::string& what) {
  for (const std::string& p : {d.tmp.path(), fs::canonical(d.tmp.path()).string(), std::string("/usr/share/javascript")})
    EXPECT_EQ(body.find(p), std::string::npos) << what << " leaks a server path: " << body;
}

class MapTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    GDALAllRegister();
    dirs_ = new Dirs(192);
    server_ = new LiveServer(dirs_->options());
    auto c = server_->client();
    auto r = post(c, "/v1/jobs", body_for(dirs_->scene, {{"tile", 128}, {"overlap", 16}}));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 202) << r->body;
    id_ = json::parse(r->body)["id"];
    const json done = wait_done(c, id_);
    ASSERT_EQ(done.value("status", ""), "done") << done.dump();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dirs_;
    server_ = nullptr;
    dirs_ = nullptr;
  }
  void SetUp() override {
    if (!server_ || id_.empty()) GTEST_SKIP() << "the suite's job did not finish";
  }
  static std::string tile_url(const std::string& id, const std::string& layer, int z, int x, int y) {
    return "/v1/jobs/" + id + "/tiles/" + layer + "/" + std::to_string(z) + "/" + std::to_string(x) + "/" +
           std::to_string(y) + ".png";
  }
  static JobFiles files() { return *server_->service().job_files(id_); }

  static Dirs* dirs_;
  static LiveServer* server_;
  static std::string id_;
};
Dirs* MapTest::dirs_ = nullptr;
LiveServer* MapTest::server_ = nullptr;
std::string MapTest::id_;

// Fetches the three layers' tiles at zoom z around the raster's centre and compares them. When
// the tile's pixels are larger than the raster's, GDAL's bilinear kernel widens to the source
// footprint (anti-aliasing): only the nearest layer's values and every layer's edges are compared.
void check_layers_at(httplib::Client& c, const std::string& id, const JobFiles& f, int z, Compared& classes,
                     Compared& proba, Compared& backdrop) {
  const Expect none = [](const Band&, double, double, int64_t, int64_t) { return std::optional<explain::Paint>(); };
  const Band cls = read_band(f.outputs.at("classes"), 1);
  const Band pr = read_band(f.outputs.at("proba"), 1);
  const Band vv = read_band(f.scene, ingest::open_scene(f.scene, false).bands.vv);
  const auto [tx, ty] = tile_of_centre(pr, z);
  const TileToRaster m = tile_to_raster(pr, z, tx, ty);
  const bool upsampled = std::hypot(m.col[1] - m.col[0], m.row[1] - m.row[0]) < 1.0;
  auto fetch = [&](const std::string& layer) {
    auto r = c.Get(("/v1/jobs/" + id + "/tiles/" + layer + "/" + std::to_string(z) + "/" + std::to_string(tx) + "/" +
                    std::to_string(ty) + ".png")
                       .c_str());
    EXPECT_TRUE(r && r->status == 200) << layer << " z" << z << ": " << (r ? r->body : "no answer");
    EXPECT_EQ(r ? r->get_header_value("Content-Type") : "", "image/png");
    Rgba t = r ? decode_png(r->body) : Rgba{};
    EXPECT_EQ(t.w, kTileSize);
    EXPECT_EQ(t.h, kTileSize);
    return t;
  };
  const std::string at = " z" + std::to_string(z);
  auto add = [](Compared& total, const Compared& n) {
    total.opaque += n.opaque, total.transparent += n.transparent, total.outside += n.outside;
  };
  Rgba t = fetch("classes");
  if (t.w == kTileSize) add(classes, compare_tile(t, cls, z, tx, ty, nearest_classes(f.threshold), 0, "classes" + at));
  t = fetch("proba");
  if (t.w == kTileSize)
    add(proba, compare_tile(t, pr, z, tx, ty, upsampled ? bilinear_proba(f.threshold) : none, kAlphaTolerance, "proba" + at));
  t = fetch("backdrop");
  if (t.w == kTileSize)
    add(backdrop, compare_tile(t, vv, z, tx, ty, upsampled ? bilinear_backdrop() : none, kGreyTolerance, "backdrop" + at));
}

TEST_F(MapTest, TilePixelsHaveTheOverlayColourOfTheCogValueAtTheirLonLat) {
  auto c = server_->client();
  const JobFiles f = files();
  Compared classes, proba, backdrop;
  // z15: ~4 m tile pixels inside the 1.9 km scene; z13: the whole scene with its edges in one tile.
  for (int z : {15, 13}) check_layers_at(c, id_, f, z, classes, proba, backdrop);
  EXPECT_GT(classes.opaque, 100);
  EXPECT_GT(classes.transparent, 100);
  EXPECT_GT(proba.opaque, 100);
  EXPECT_GT(backdrop.opaque, 1000);
  EXPECT_GT(backdrop.outside, 100) << "the z13 tile should reach past the scene";
}

TEST_F(MapTest, TilesOfASharedSentinel1ChipInLonLatMatchToo) {
  DRSHYM_REQUIRE_SHARED(chip, "sen1floods11/v1.1/data/flood_events/HandLabeled/S1Hand/USA_905409_S1Hand.tif");
  const std::string scene = dirs_->in + "/USA_905409_S1Hand.tif";
  fs::copy_file(chip, scene, fs::copy_options::overwrite_existing);
  auto c = server_->client();
  auto r = post(c, "/v1/jobs", body_for(scene, {{"tile", 256}, {"overlap", 32}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 202) << r->body;
  const std::string id = json::parse(r->body)["id"];
  ASSERT_EQ(wait_done(c, id).value("status", ""), "done");
  const JobFiles f = *server_->service().job_files(id);
  Compared classes, proba, backdrop;
  check_layers_at(c, id, f, 14, classes, proba, backdrop);
  EXPECT_GT(classes.opaque + classes.transparent, 100);
  EXPECT_GT(proba.opaque + proba.transparent, 100);
  EXPECT_GT(backdrop.opaque, 1000);
}

TEST_F(MapTest, ExclusionTilesHatchTerrainExcludedGroundAsTheOverlayDoes) {
  DRSHYM_REQUIRE_SHARED(dem, "dem/Rome-30m-DEM.tif");
  // A demo scene over Rome (UTM 33N, inside the DEM) mapped with that DEM.
  ingest::SyntheticSceneParams sp;
  sp.width = sp.height = 192;
  sp.epsg = 32633;
  sp.origin_x = 289500;
  sp.origin_y = 4654600;
  const std::string scene = dirs_->in + "/rome.tif", dem_copy = dirs_->in + "/rome_dem.tif";
  ingest::write_synthetic_scene(sp, scene);
  fs::copy_file(dem, dem_copy, fs::copy_options::overwrite_existing);
  auto c = server_->client();
  auto r = post(c, "/v1/jobs", body_for(scene, {{"tile", 128}, {"overlap", 16}, {"dem_uri", "file://" + dem_copy}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 202) << r->body;
  const std::string id = json::parse(r->body)["id"];
  ASSERT_EQ(wait_done(c, id).value("status", ""), "done");
  const JobFiles f = *server_->service().job_files(id);
  ASSERT_TRUE(f.outputs.count("exclusion"));
  const Band ex = read_band(f.outputs.at("exclusion"), 1);
  int flagged = 0;
  for (float v : ex.v) flagged += std::isfinite(v) && v != 255 && (int(v) & 3) != 0;
  const int z = 16;
  const auto [tx, ty] = tile_of_centre(ex, z);
  auto t = c.Get(tile_url(id, "exclusion", z, tx, ty).c_str());
  ASSERT_TRUE(t);
  ASSERT_EQ(t->status, 200) << t->body;
  const Compared n = compare_tile(decode_png(t->body), ex, z, tx, ty, nearest_exclusion(), 0, "exclusion");
  EXPECT_GT(n.opaque + n.transparent, 1000);
  if (flagged > 0) {
    EXPECT_GT(n.opaque, 0) << "the DEM flags ground here, but the tile hatches none";
  }
  auto m = c.Get(("/v1/jobs/" + id + "/map").c_str());
  ASSERT_TRUE(m && m->status == 200);
  const json info = json::parse(m->body);
  bool layer = false;
  for (const auto& l : info["layers"]) layer = layer || l["name"] == "exclusion";
  EXPECT_TRUE(layer) << "a job with a DEM has an exclusion layer on its map";
  std::cout << "exclusion: " << flagged << " flagged pixels; tile: " << n.opaque << " hatched, " << n.transparent
            << " clear\n";
}

TEST_F(MapTest, TilesOffTheSceneAre204AndRenderedTilesAreCachedBounded) {
  auto c = server_->client();
  auto far = c.Get(tile_url(id_, "proba", 10, 0, 0).c_str());
  ASSERT_TRUE(far);
  EXPECT_EQ(far->status, 204);
  EXPECT_TRUE(far->body.empty());
  const Band pr = read_band(files().outputs.at("proba"), 1);
  const auto [tx, ty] = tile_of_centre(pr, 14);
  auto a = c.Get(tile_url(id_, "classes", 14, tx, ty).c_str());
  auto b = c.Get(tile_url(id_, "classes", 14, tx, ty).c_str());
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->status, 200);
  EXPECT_EQ(a->body, b->body);
  const std::string cached = files().folder + "/" + kTileCacheFolder + "/classes-14-" + std::to_string(tx) + "-" +
                             std::to_string(ty) + ".png";
  EXPECT_TRUE(fs::exists(cached));
  // A cache of 3 tiles keeps the 3 newest.
  TileOptions o;
  o.cache_tiles = 3;
  TileService tiles(o);
  const JobFiles f = files();
  fs::remove_all(f.folder + "/" + kTileCacheFolder);
  for (int dx = 0; dx < 5; ++dx) tiles.tile(f, TileLayer::proba, {16, tx * 4 + dx, ty * 4});
  int kept = 0;
  for (const auto& e : fs::directory_iterator(f.folder + "/" + kTileCacheFolder)) kept += e.path().extension() == ".png";
  EXPECT_EQ(kept, 3);
  EXPECT_FALSE(fs::exists(f.folder + "/" + kTileCacheFolder + "/proba-16-" + std::to_string(tx * 4) + "-" +
                          std::to_string(ty * 4) + ".png"))
      << "the oldest tile should have gone first";
}

TEST_F(MapTest, HostileTileAndDownloadRequestsGet400Or404WithoutAServerPath) {
  auto c = server_->client();
  const std::string j = "/v1/jobs/" + id_;
  struct Case {
    std::string path;
    std::vector<int> statuses;
  };
  const std::vector<Case> cases = {
      {j + "/tiles/../../jobs.sqlite", {400, 404}},
      {j + "/tiles/%2e%2e/1/1/1.png", {404}},
      {j + "/tiles/proba/%2e%2e/1/1.png", {400}},
      {j + "/tiles/..%2f..%2fproba/1/1/1.png", {400, 404}},
      {j + "/tiles/mask/1/1/1.png", {404}},
      {j + "/tiles/exclusion/1/1/1.png", {404}},  // this job has no DEM
      {j + "/tiles/PROBA/1/1/1.png", {404}},
      {"/v1/jobs/00000000000000000000000000000000/tiles/proba/1/1/1.png", {404}},
      {"/v1/jobs/..%2f..%2fetc/tiles/proba/1/1/1.png", {400, 404}},
      {j + "/tiles/proba/25/0/0.png", {400}},
      {j + "/tiles/proba/-1/0/0.png", {400}},
      {j + "/tiles/proba/99999999999999999999/0/0.png", {400}},
      {j + "/tiles/proba/3/8/0.png", {400}},
      {j + "/tiles/proba/3/0/8.png", {400}},
      {j + "/tiles/proba/3/-1/0.png", {400}},
      {j + "/tiles/proba/z/x/y.png", {400}},
      {j + "/tiles/proba/1.5/0/0.png", {400}},
      {j + "/tiles/proba/1/0/0.jpg", {404}},
      {j + "/outputs/jobs.sqlite", {404}},
      {j + "/outputs/..%2f..%2fjobs.sqlite", {404}},
      {j + "/outputs/%2e%2e", {404}},
      {j + "/outputs/demo_mask.tif", {404}},
      {j + "/outputs/exclusion", {404}},
      {j + "/outputs/map_tiles", {404}},
      {"/v1/jobs/00000000000000000000000000000000/outputs/mask", {404}},
      {"/v1/jobs/%2e%2e/outputs/mask", {404}},
      {"/static/leaflet/..%2f..%2fleaflet%2fleaflet.js", {404}},
      {"/static/leaflet/images/..%2fleaflet.css", {404}},
      {"/static/leaflet/leaflet.txt", {404}},
      {"/static/index.html", {404}},
      {"/static/%2e%2e%2fpages.cpp", {404}},
      {"/map/%2e%2e", {404}},
      {"/v1/jobs?limit=100000", {400}},
  };
  for (const auto& k : cases) {
    auto r = c.Get(k.path.c_str());
    ASSERT_TRUE(r) << k.path;
    EXPECT_NE(std::find(k.statuses.begin(), k.statuses.end(), r->status), k.statuses.end())
        << k.path << " answered " << r->status << ": " << r->body;
    EXPECT_FALSE(error_code(r).empty()) << k.path;
    expect_no_server_path(r->body, *dirs_, k.path);
  }
  // The job's own outputs do download, each named after its file.
  for (const auto& [key, path] : files().outputs) {
    auto r = c.Get((j + "/outputs/" + key).c_str());
    ASSERT_TRUE(r) << key;
    EXPECT_EQ(r->status, 200) << key << ": " << r->body;
    EXPECT_EQ(r->body.size(), fs::file_size(path)) << key;
    EXPECT_NE(r->get_header_value("Content-Disposition").find(fs::path(path).filename().string()), std::string::npos);
  }
  auto stac = c.Get((j + "/outputs/stac").c_str());
  ASSERT_TRUE(stac);
  ASSERT_EQ(stac->status, 200);
  const json item = json::parse(stac->body);
  EXPECT_EQ(item["stac_version"], "1.0.0");
  EXPECT_EQ(item["assets"]["mask"]["href"], j + "/outputs/mask");
  expect_no_server_path(stac->body, *dirs_, "the STAC item");
}

TEST_F(MapTest, PagesCarryAContentSecurityPolicyThatAllowsThisServerOnly) {
  auto c = server_->client();
  for (const std::string& path : {std::string("/"), "/map/" + id_, std::string("/static/map.js"), std::string("/static/leaflet/leaflet.js")}) {
    auto r = c.Get(path.c_str());
    ASSERT_TRUE(r) << path;
    ASSERT_EQ(r->status, 200) << path << ": " << r->body;
    const std::string csp = r->get_header_value("Content-Security-Policy");
    EXPECT_NE(csp.find("default-src 'self'"), std::string::npos) << path << ": " << csp;
    EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe-eval"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("http"), std::string::npos) << "no other origin: " << csp;
    EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");
  }
  // The pages' own files name no other origin and have no inline script (CSP forbids it).
  for (const char* name : {"index.html", "map.html", "index.js", "map.js", "app.css"}) {
    const std::string body = web_asset(name);
    EXPECT_EQ(body.find("http://"), std::string::npos) << name;
    EXPECT_EQ(body.find("https://"), std::string::npos) << name;
    EXPECT_EQ(body.find("//cdn"), std::string::npos) << name;
    if (std::string(name).find(".html") != std::string::npos) {
      const std::regex inline_script(R"(<script(?![^>]*\bsrc=)[^>]*>)");
      EXPECT_FALSE(std::regex_search(body, inline_script)) << name << " has an inline script";
      EXPECT_FALSE(std::regex_search(body, std::regex(R"(\son[a-z]+\s*=)"))) << name << " has an inline handler";
      EXPECT_EQ(body.find("style=\""), std::string::npos) << name << " has an inline style";
    }
  }
}

TEST_F(MapTest, ListsInputsInsideTheRootsAndJobsNewestFirst) {
  auto c = server_->client();
  // A hidden file and a link out of the root are not listed.
  fs::copy_file(dirs_->scene, dirs_->in + "/.hidden.tif", fs::copy_options::overwrite_existing);
  const std::string outside = dirs_->tmp.file("outside.tif");
  fs::copy_file(dirs_->scene, outside, fs::copy_options::overwrite_existing);
  std::error_code ec;
  fs::create_symlink(outside, dirs_->in + "/link_out.tif", ec);
  fs::create_directories(dirs_->in + "/a/b");
  fs::copy_file(dirs_->scene, dirs_->in + "/a/b/nested.TIF", fs::copy_options::overwrite_existing);
  auto r = c.Get("/v1/inputs");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const json in = json::parse(r->body);
  std::set<std::string> names;
  for (const auto& f : in["files"]) names.insert(f["name"].get<std::string>());
  EXPECT_TRUE(names.count("demo.tif")) << r->body;
  EXPECT_TRUE(names.count("a/b/nested.TIF")) << r->body;
  EXPECT_FALSE(names.count(".hidden.tif")) << r->body;
  EXPECT_FALSE(names.count("link_out.tif")) << r->body;
  EXPECT_EQ(in["truncated"], false);
  const json spec = openapi_spec();
  expect_documented(spec, "/v1/inputs", "get", r);
  auto l = c.Get("/v1/jobs?limit=1");
  ASSERT_TRUE(l);
  ASSERT_EQ(l->status, 200);
  expect_documented(spec, "/v1/jobs", "get", l);
  expect_documented(spec, "/v1/jobs", "get", c.Get("/v1/jobs?limit=x"));
  const json jobs = json::parse(l->body)["jobs"];
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["image_uri"].get<std::string>().substr(0, 7), "file://");
  EXPECT_FALSE(jobs[0].contains("result")) << "the list is polled: rows carry a summary, not the result";
  if (jobs[0]["status"] == "done") {
    EXPECT_GT(jobs[0]["summary"]["tiles"].get<int>(), 0);
  }
  auto m = c.Get(("/v1/jobs/" + id_ + "/map").c_str());
  ASSERT_TRUE(m);
  ASSERT_EQ(m->status, 200) << m->body;
  expect_documented(spec, "/v1/jobs/{id}/map", "get", m);
  expect_documented(spec, "/v1/jobs/{id}/map", "get", c.Get("/v1/jobs/0123/map"));
  const json info = json::parse(m->body);
  ASSERT_TRUE(info["bounds"].is_array());
  EXPECT_NEAR(info["bounds"][0].get<double>(), 81.0, 0.1);  // the demo scene lies near 81 E, 26 N
  EXPECT_NEAR(info["bounds"][1].get<double>(), 26.2, 0.1);
  std::set<std::string> layers;
  for (const auto& l2 : info["layers"]) layers.insert(l2["name"].get<std::string>());
  EXPECT_EQ(layers, (std::set<std::string>{"backdrop", "proba", "classes"}));
  EXPECT_TRUE(info["areas"].contains("likely_km2"));
  bool legend_blue = false;
  for (const auto& row : info["legend"]) legend_blue = legend_blue || row.value("color", "") == "#0072b2";
  EXPECT_TRUE(legend_blue) << "the legend takes the overlay's flood blue";
}

// Pixels that look like the overlay's flood blue over a grey backdrop.
int flood_blue_pixels(const Rgba& shot) {
  int n = 0;
  for (int y = 0; y < shot.h; ++y)
    for (int x = 0; x < shot.w; ++x) {
      const uint8_t* p = shot.at(x, y);
      n += p[2] > 120 && p[2] > p[0] + 70 && p[2] > p[1] + 25;
    }
  return n;
}

bool on_path(const std::string& exe) {
  const char* path = std::getenv("PATH");
  std::string rest = path ? path : "";
  for (size_t at = 0; at <= rest.size();) {
    const size_t end = std::min(rest.find(':', at), rest.size());
    if (end > at && ::access((rest.substr(at, end - at) + "/" + exe).c_str(), X_OK) == 0) return true;
    at = end + 1;
  }
  return false;
}

// The page's DOM after its scripts ran in headless Chromium ("" when chromium failed).
std::string chromium_dom(const std::string& url, const TempDir& tmp) {
  const std::string out = tmp.file("dom.html");
  const std::string cmd = "timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --user-data-dir=" + tmp.file("profile") +
                          " --virtual-time-budget=4000 --dump-dom " + url + " > " + out + " 2> " + tmp.file("chromium.log");
  if (std::system(cmd.c_str()) != 0) return "";
  std::ifstream in(out);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST_F(MapTest, HeadlessChromiumJobListShowsTheInputsAndTheFinishedJob) {
  if (!on_path("chromium")) GTEST_SKIP() << "chromium is not installed (scripts/install_deps.sh installs it)";
  TempDir tmp;
  const std::string dom = chromium_dom("http://127.0.0.1:" + std::to_string(server_->port()) + "/", tmp);
  ASSERT_FALSE(dom.empty()) << "chromium failed";
  // The scripts ran under the page's CSP: the scene list and the job list were fetched and drawn.
  EXPECT_NE(dom.find("<option value=\"file://" + dirs_->scene), std::string::npos) << dom;
  EXPECT_NE(dom.find("href=\"/map/" + id_ + "\""), std::string::npos) << dom;
  EXPECT_NE(dom.find("km² flooded"), std::string::npos) << dom;
}

TEST_F(MapTest, HeadlessChromiumScreenshotOfTheMapShowsTheFlood) {
  if (!on_path("chromium")) GTEST_SKIP() << "chromium is not installed (scripts/install_deps.sh installs it)";
  if (!leaflet_available(kDefaultLeafletDir)) GTEST_SKIP() << "libjs-leaflet is not installed";
  TempDir tmp;
  const std::string shot = tmp.file("map.png");
  const std::string cmd = "timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars "
                          "--user-data-dir=" + tmp.file("profile") + " --screenshot=" + shot +
                          " --window-size=1024,768 --virtual-time-budget=5000 http://127.0.0.1:" +
                          std::to_string(server_->port()) + "/map/" + id_ + " > " + tmp.file("chromium.log") + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const Rgba png = decode_png_file(shot);
  ASSERT_EQ(png.w, 1024);
  ASSERT_EQ(png.h, 768);
  if (const char* keep = std::getenv("DRSHYM_MAP_SCREENSHOT")) fs::copy_file(shot, keep, fs::copy_options::overwrite_existing);
  EXPECT_GT(flood_blue_pixels(png), 2000) << "no flood blue on the map page's screenshot";
}

}  // namespace
}  // namespace drshym::serve

namespace drshym::serve {
namespace {

TEST(MapRenderGate, RefusesBeyondItsSlotsAndQueueWithUnavailable) {
  RenderGate gate(1, 1, 0.05);
  RenderGate::Slot held(gate);
  // One caller may wait; it gives up after wait_s.
  drshym::testing::expect_error([&] { RenderGate::Slot s(gate); }, ErrorKind::Unavailable, {"busy", "retry"});
  // With the queue full, the next is refused at once.
  RenderGate full(1, 0, 10);
  RenderGate::Slot h2(full);
  const auto t0 = std::chrono::steady_clock::now();
  drshym::testing::expect_error([&] { RenderGate::Slot s(full); }, ErrorKind::Unavailable, {"busy"});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
}

TEST(MapRenderGate, AWaiterGetsTheSlotWhenItIsReleased) {
  RenderGate gate(1, 4, 5);
  std::atomic<bool> got{false};
  std::thread t;
  {
    RenderGate::Slot held(gate);
    t = std::thread([&] {
      RenderGate::Slot s(gate);
      got = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_FALSE(got);
  }
  t.join();
  EXPECT_TRUE(got);
}

TEST(MapJobList, TheStoreListsTheNewestJobsFirst) {
  auto store = open_sqlite_job_store(":memory:");
  for (const char* id : {"a", "b", "c"}) store->create(id, {{"image_uri", std::string("file:///in/") + id + ".tif"}});
  const auto two = store->list(2);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].id, "c");  // same second: insertion order decides
  EXPECT_EQ(two[1].id, "b");
  EXPECT_EQ(two[0].request["image_uri"], "file:///in/c.tif");
  EXPECT_EQ(store->list(10).size(), 3u);
}

TEST(MapTiles, KeysOutsideTheirZoomsRangeAreUsageErrors) {
  EXPECT_EQ(tile_bounds_3857({0, 0, 0})[0], -20037508.342789244);
  const auto b = tile_bounds_3857({1, 1, 0});  // north-east quarter
  EXPECT_EQ(b[0], 0.0);
  EXPECT_EQ(b[1], 0.0);
  const TileKey k = parse_tile_key("24", "16777215", "0");
  EXPECT_EQ(k.x, 16777215);
  for (auto [z, x, y] : std::vector<std::array<const char*, 3>>{
           {"25", "0", "0"}, {"1", "2", "0"}, {"1", "0", "2"}, {"-1", "0", "0"}, {"", "0", "0"}, {"+1", "0", "0"},
           {"1e3", "0", "0"}, {"0x1", "0", "0"}, {"1234567890", "0", "0"}, {" 1", "0", "0"}})
    drshym::testing::expect_error([&] { parse_tile_key(z, x, y); }, ErrorKind::Usage, {"tile"});
  EXPECT_FALSE(parse_tile_layer(".."));
  EXPECT_FALSE(parse_tile_layer("mask"));
  EXPECT_EQ(parse_tile_layer("exclusion"), TileLayer::exclusion);
}

}  // namespace
}  // namespace drshym::serve
