// Overlays of small synthetic scenes whose every pixel is known: colours at known map places,
// the layout against max_side, the scale bar against the geotransform, errors leaving no PNG.
#include "explain/overlay.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include "core/error.hpp"
#include "io/raster.hpp"
#include "support/test_support.hpp"

namespace drshym::explain {
namespace {

using drshym::testing::TempDir;
using eval::Rgb;
namespace fs = std::filesystem;

constexpr int kMargin = 10;  // the map's top-left corner in the PNG (overlay.cpp's border)
constexpr int kK = 5;        // a 100x60 region is enlarged 5x (round(480 / 100))

// Set DRSHYM_KEEP_PLOTS=/some/dir to keep the PNGs for a look.
void keep(const std::string& path) {
  const char* dir = std::getenv("DRSHYM_KEEP_PLOTS");
  if (!dir || !*dir) return;
  std::error_code ec;
  fs::copy_file(path, fs::path(dir) / fs::path(path).filename(), fs::copy_options::overwrite_existing, ec);
}

void write_raster(const std::string& path, int w, int h, io::DataType type, const std::string& crs,
                  const GeoTransform& gt, const std::function<float(int, int)>& value) {
  io::CreateOptions o;
  o.width = w;
  o.height = h;
  o.type = type;
  o.geotransform = gt;
  o.crs_wkt = crs.empty() ? "" : io::crs_wkt_of(crs);
  auto r = io::Raster::create_geotiff(path, o);
  std::vector<float> v(size_t(w) * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) v[size_t(y) * w + x] = value(x, y);
  r.write_band(1, Window{0, 0, w, h}, v.data());
  r.close();
}

// A scene of dry land (-8 dB) with a dark water rectangle (-20 dB) and a region inside it.
// On the region grid: flood where the water is (p 0.95), an uncertain strip (p 0.35), dry
// elsewhere (p 0.05), nodata in the last `nodata_cols` columns.
struct Scene {
  OverlayInputs in;
  std::function<bool(int, int)> flood, uncertain, nodata;
};

Scene make_scene(const TempDir& tmp, int rw, int rh, const std::string& crs, const GeoTransform& scene_gt,
                 int nodata_cols) {
  Scene s;
  const Window region{5, 4, rw, rh};
  s.flood = [=](int x, int y) { return x >= rw / 4 && x < rw / 2 && y >= rh / 4 && y < 3 * rh / 4; };
  s.uncertain = [=](int x, int y) { return x >= rw / 2 + rw / 10 && x < rw / 2 + rw / 5 && !(y < 2); };
  s.nodata = [=](int x, int) { return x >= rw - nodata_cols; };
  auto f = s.flood, u = s.uncertain, nd = s.nodata;
  const std::string scene = tmp.file("scene.tif"), proba = tmp.file("proba.tif"), mask = tmp.file("mask.tif");
  write_raster(scene, rw + 10, rh + 8, io::DataType::Float32, crs, scene_gt, [&](int x, int y) {
    return f(x - region.x, y - region.y) ? -20.0f : -8.0f;
  });
  const GeoTransform gt = scene_gt.shifted(region.x, region.y);
  write_raster(proba, rw, rh, io::DataType::Float32, crs, gt, [&](int x, int y) {
    return nd(x, y) ? std::nanf("") : f(x, y) ? 0.95f : u(x, y) ? 0.35f : 0.05f;
  });
  write_raster(mask, rw, rh, io::DataType::Byte, crs, gt,
               [&](int x, int y) { return nd(x, y) ? 255.0f : f(x, y) ? 1.0f : 0.0f; });
  s.in.scene_uri = scene;
  s.in.vv_band = 1;
  s.in.region = region;
  s.in.proba_path = proba;
  s.in.mask_path = mask;
  s.in.crs_wkt = crs.empty() ? "" : io::crs_wkt_of(crs);
  s.in.geotransform = gt;
  return s;
}

const GeoTransform kUtm{{500000, 20, 0, 5000000, 0, -20}};                // EPSG:32631, 20 m
const GeoTransform kLonLat60{{10.0, 1e-4, 0, 60.0 + 1e-4 * 52, 0, -1e-4}};  // centre near 60°N

struct Png {
  int w = 0, h = 0;
  io::Block px;
  Rgb at(int x, int y) const {
    const size_t i = size_t(y) * w + x;
    return {uint8_t(px.band(0)[i]), uint8_t(px.band(1)[i]), uint8_t(px.band(2)[i])};
  }
};

Png read_png(const std::string& path) {
  auto r = io::Raster::open(path);
  EXPECT_EQ(r.info().bands, 3);
  Png p;
  p.w = r.width();
  p.h = r.height();
  p.px = r.read(Window{0, 0, p.w, p.h}, {1, 2, 3});
  return p;
}

// The map's size, from its frame: a line one pixel outside the map on every side.
std::pair<int, int> map_size(const Png& p) {
  const Rgb frame = p.at(kMargin, kMargin - 1);
  int w = 0, h = 0;
  while (kMargin + w < p.w && p.at(kMargin + w, kMargin - 1) == frame) ++w;
  while (kMargin + h < p.h && p.at(kMargin - 1, kMargin + h) == frame) ++h;
  EXPECT_EQ(p.at(kMargin - 1, kMargin - 1), frame);  // square corners
  return {w - 1, h - 1};  // the last frame pixel is the right (bottom) edge's
}

// Centre of region pixel (x, y) in the PNG, for a map enlarged `k` times.
Rgb region_px(const Png& p, double k, int x, int y) {
  return p.at(kMargin + int((x + 0.5) * k), kMargin + int((y + 0.5) * k));
}

bool grey(Rgb c) { return c.r == c.g && c.g == c.b; }
bool bluish(Rgb c) { return c.b > c.r + 60 && c.b > c.g + 20; }

// Length of the longest horizontal run of text-ink pixels right of x0 (the scale bar's edge).
int longest_ink_run(const Png& p, int x0) {
  int best = 0;
  for (int y = 0; y < p.h; ++y) {
    int run = 0;
    for (int x = x0; x < p.w; ++x) {
      const Rgb c = p.at(x, y);
      const bool ink = std::abs(c.r - eval::kInk.r) <= 8 && std::abs(c.g - eval::kInk.g) <= 8 &&
                       std::abs(c.b - eval::kInk.b) <= 8;
      run = ink ? run + 1 : 0;
      best = std::max(best, run);
    }
  }
  return best;
}

int dark_pixels(const Png& p, int x0) {
  int n = 0;
  for (int y = 0; y < p.h; ++y)
    for (int x = x0; x < p.w; ++x) n += p.at(x, y).r < 100 && p.at(x, y).g < 100;
  return n;
}

}  // namespace

TEST(Overlay, ScaleBarIsARoundLengthThatFits) {
  auto a = choose_scale_bar(20.0, 150);  // 3 km fit: 2 km
  EXPECT_DOUBLE_EQ(a.metres, 2000);
  EXPECT_DOUBLE_EQ(a.pixels, 100);
  EXPECT_EQ(a.label, "2 km");
  auto b = choose_scale_bar(1.0, 150);
  EXPECT_DOUBLE_EQ(b.metres, 100);
  EXPECT_EQ(b.label, "100 m");
  auto c = choose_scale_bar(0.3, 100);  // 30 m fit: 20 m
  EXPECT_DOUBLE_EQ(c.metres, 20);
  EXPECT_NEAR(c.pixels, 66.67, 0.01);
  auto d = choose_scale_bar(250.0, 150);  // 37.5 km fit: 20 km
  EXPECT_EQ(d.label, "20 km");
  EXPECT_EQ(choose_scale_bar(0.0, 100).metres, 0);
  EXPECT_EQ(choose_scale_bar(std::nan(""), 100).metres, 0);
  EXPECT_EQ(choose_scale_bar(5.0, 0).metres, 0);
}

TEST(Overlay, MetresPerPixelInEveryKindOfCrs) {
  EXPECT_NEAR(*metres_per_pixel_along_row(io::crs_wkt_of("EPSG:32631"), kUtm, 10, 10), 20.0, 1e-9);
  // New York Long Island State Plane, US survey feet: 10 ft pixels.
  EXPECT_NEAR(*metres_per_pixel_along_row(io::crs_wkt_of("EPSG:2263"), GeoTransform{{0, 10, 0, 0, 0, -10}}, 0, 0),
              10 * 1200.0 / 3937.0, 1e-6);
  // A degree of longitude at 60°N on WGS 84 is ~55.8 km.
  const GeoTransform at60{{10.0, 1e-4, 0, 60.0, 0, -1e-4}};
  const double mpp = *metres_per_pixel_along_row(io::crs_wkt_of("EPSG:4326"), at60, 0, 0);
  EXPECT_NEAR(mpp / 1e-4, 55800, 60);
  auto sb = choose_scale_bar(mpp, 200);  // 1.116 km fit: 1 km
  EXPECT_EQ(sb.label, "1 km");
  EXPECT_NEAR(sb.pixels, 1000 / mpp, 1e-9);
  EXPECT_FALSE(metres_per_pixel_along_row("", kUtm, 0, 0).has_value());
}

TEST(Overlay, ViridisEnds) {
  EXPECT_EQ(viridis(0.0), (Rgb{68, 1, 84}));
  EXPECT_EQ(viridis(1.0), (Rgb{253, 231, 37}));
  EXPECT_EQ(viridis(2.0), viridis(1.0));
  const Rgb mid = viridis(0.05);  // halfway between the first two entries
  EXPECT_EQ(mid.r, 70);
  EXPECT_NEAR(mid.b, 100, 1);
}

TEST(Overlay, FloodColoursLegendAndScaleBarInUtm) {
  TempDir tmp;
  Scene s = make_scene(tmp, 100, 60, "EPSG:32631", kUtm, 10);
  const std::string out = tmp.file("overlay.png");
  write_flood_overlay_png(s.in, out, 1600);
  keep(out);
  EXPECT_EQ(drshym::testing::files_in(tmp.path()).size(), 4u);  // no temporary left
  const Png p = read_png(out);
  const int k = kK;
  EXPECT_EQ(map_size(p), (std::pair<int, int>{500, 300}));
  EXPECT_EQ(p.w, 500 + 2 * kMargin + kLegendPanelWidth);
  EXPECT_GE(p.h, 300 + 2 * kMargin);
  EXPECT_LE(p.h, 1600);
  for (int y = 0; y < 60; y += 3)
    for (int x = 0; x < 100; x += 3) {
      const Rgb c = region_px(p, k, x, y);
      if (s.nodata(x, y)) {
        EXPECT_EQ(c, kNodataGrey) << x << "," << y;
      } else if (s.flood(x, y)) {
        EXPECT_TRUE(bluish(c)) << x << "," << y;
      } else if (s.uncertain(x, y)) {
        EXPECT_TRUE(c.r > c.b + 40) << x << "," << y;  // orange tint
      } else {
        EXPECT_TRUE(grey(c) && c.r > 150) << x << "," << y;  // dry land, -8 dB
      }
    }
  // The legend panel: text, and a scale bar: 4 m a map pixel (20 m / 5), at most 150 px, so
  // 500 m = 125 px.
  const int panel = 500 + 2 * kMargin;
  EXPECT_GT(dark_pixels(p, panel), 300);
  EXPECT_NEAR(longest_ink_run(p, panel), 125, 2);
}

// A scene whose anchor found no land: the legend ends with a caution in red; otherwise none.
TEST(Overlay, AnUntrustedAnchorAddsACautionToTheLegend) {
  TempDir tmp;
  Scene s = make_scene(tmp, 100, 60, "EPSG:32631", kUtm, 10);
  auto reddish = [](const Png& p) {
    int n = 0;
    for (int y = 0; y < p.h; ++y)
      for (int x = 500 + 2 * kMargin; x < p.w; ++x) {
        const Rgb c = p.at(x, y);
        n += c.r > 120 && c.g < 70 && c.b < 70;
      }
    return n;
  };
  write_flood_overlay_png(s.in, tmp.file("plain.png"), 1600);
  s.in.anchor_caution = "the scene's VV level is as dark as open water";
  write_flood_overlay_png(s.in, tmp.file("caution.png"), 1600);
  keep(tmp.file("caution.png"));
  const Png plain = read_png(tmp.file("plain.png")), caution = read_png(tmp.file("caution.png"));
  EXPECT_EQ(reddish(plain), 0);
  EXPECT_GT(reddish(caution), 100);
  EXPECT_GT(caution.h, plain.h);  // three more legend rows
}

TEST(Overlay, WaterClassesGetTheirOwnColours) {
  // README: with classes, permanent water navy, flood water vermillion (#D55E00), uncertain
  // dry ground yellow (#F0E442) instead of the orange of a map without classes.
  TempDir tmp;
  Scene s = make_scene(tmp, 100, 60, "EPSG:32631", kUtm, 10);
  // The water's left half permanent (1), its right half flood water (2).
  auto permanent = [&](int x, int y) { return s.flood(x, y) && x < 37; };
  s.in.classes_path = tmp.file("classes.tif");
  s.in.classes_source = "permanent_head";
  write_raster(s.in.classes_path, 100, 60, io::DataType::Byte, "EPSG:32631", s.in.geotransform, [&](int x, int y) {
    return s.nodata(x, y) ? 255.0f : permanent(x, y) ? 1.0f : s.flood(x, y) ? 2.0f : 0.0f;
  });
  const std::string out = tmp.file("overlay_classes.png");
  write_flood_overlay_png(s.in, out, 1600);
  keep(out);
  const Png p = read_png(out);
  auto navy = [](Rgb c) { return c.b > c.r + 30 && c.b > c.g + 30 && c.r < 60; };
  auto vermillion = [](Rgb c) { return c.r > c.g + 50 && c.r > c.b + 80; };
  auto yellow = [](Rgb c) { return c.r > c.b + 40 && c.g > c.b + 40 && std::abs(c.r - c.g) < 40; };
  int checked[3] = {0, 0, 0};
  for (int y = 0; y < 60; y += 2)
    for (int x = 0; x < 100; x += 2) {
      const Rgb c = region_px(p, kK, x, y);
      if (s.nodata(x, y)) continue;
      if (permanent(x, y)) {
        EXPECT_TRUE(navy(c)) << x << "," << y << ": " << int(c.r) << " " << int(c.g) << " " << int(c.b);
        ++checked[0];
      } else if (s.flood(x, y)) {
        EXPECT_TRUE(vermillion(c)) << x << "," << y << ": " << int(c.r) << " " << int(c.g) << " " << int(c.b);
        ++checked[1];
      } else if (s.uncertain(x, y)) {
        EXPECT_TRUE(yellow(c)) << x << "," << y << ": " << int(c.r) << " " << int(c.g) << " " << int(c.b);
        ++checked[2];
      }
    }
  for (int n : checked) EXPECT_GT(n, 20);
}

TEST(Overlay, TerrainExcludedGroundIsHatchedAndOtherGroundIsNot) {
  TempDir tmp;
  Scene s = make_scene(tmp, 100, 60, "EPSG:32631", kUtm, 10);
  // Flags on the region grid: the top-right quarter excluded (2), a no-DEM strip (255) below it.
  auto excluded = [](int x, int y) { return x >= 60 && x < 90 && y < 30; };
  s.in.exclusion_path = tmp.file("exclusion.tif");
  write_raster(s.in.exclusion_path, 100, 60, io::DataType::Byte, "EPSG:32631", s.in.geotransform,
               [&](int x, int y) { return excluded(x, y) ? 2.0f : (y >= 30 && y < 40) ? 255.0f : 0.0f; });
  const std::string out = tmp.file("overlay.png");
  write_flood_overlay_png(s.in, out, 1600);
  keep(out);
  const Png p = read_png(out);
  // Map pixels of each kind that are purple-tinted (red and blue well above green).
  auto purple = [](Rgb c) { return c.r > c.g + 40 && c.b > c.g + 20; };
  int in_ex = 0, n_ex = 0, out_ex = 0, n_out = 0;
  for (int y = 0; y < 60 * kK; ++y)
    for (int x = 0; x < 100 * kK; ++x) {
      const int rx = x / kK, ry = y / kK;
      if (s.nodata(rx, ry) || s.uncertain(rx, ry)) continue;
      const bool hit = purple(p.at(kMargin + x, kMargin + y));
      if (excluded(rx, ry)) in_ex += hit, ++n_ex;
      else out_ex += hit, ++n_out;
    }
  // Hatching: 2 of every 7 diagonals, not a fill.
  EXPECT_GT(double(in_ex) / n_ex, 0.2);
  EXPECT_LT(double(in_ex) / n_ex, 0.4);
  EXPECT_EQ(out_ex, 0);
  // A flags raster of another size is refused.
  write_raster(s.in.exclusion_path, 50, 60, io::DataType::Byte, "EPSG:32631", s.in.geotransform, [](int, int) { return 0.0f; });
  EXPECT_THROW(write_flood_overlay_png(s.in, tmp.file("bad.png"), 1600), Error);
  EXPECT_FALSE(fs::exists(tmp.file("bad.png")));
}

TEST(Overlay, GeographicScaleBarAndDownsampling) {
  TempDir tmp;
  // 1000x250 region in EPSG:4326 near 60°N, max_side 600: the map is downsampled to fit.
  GeoTransform gt = kLonLat60;
  gt.t[3] = 60.0 + 1e-4 * 129;  // region centre row at 60°N
  Scene s = make_scene(tmp, 1000, 250, "EPSG:4326", gt, 50);
  const std::string out = tmp.file("overlay.png");
  write_flood_overlay_png(s.in, out, 600);
  keep(out);
  const Png p = read_png(out);
  EXPECT_EQ(p.w, 600);
  EXPECT_LE(p.h, 600);
  const auto [mw, mh] = map_size(p);
  EXPECT_EQ(mw, 600 - 2 * kMargin - kLegendPanelWidth);
  EXPECT_NEAR(double(mw) / mh, 1000.0 / 250.0, 0.05);
  const double k = double(mw) / 1000;
  EXPECT_TRUE(bluish(region_px(p, k, 370, 125)));
  EXPECT_EQ(region_px(p, k, 990, 125), kNodataGrey);
  // Ground metres of a map pixel: 1000 / mw region pixels of 1e-4° at 60°N.
  const double mpp = 1e-4 * 55800 * 1000 / mw;
  const ScaleBar sb = choose_scale_bar(mpp, 150);
  EXPECT_EQ(sb.label, "2 km");
  EXPECT_NEAR(longest_ink_run(p, mw + 2 * kMargin), sb.pixels, 2);
}

TEST(Overlay, CamHotRegionGetsTheHotEnd) {
  TempDir tmp;
  Scene s = make_scene(tmp, 100, 60, "EPSG:32631", kUtm, 10);
  const std::string cam = tmp.file("cam.tif");
  // Hot inside the flood's left half, a gentle ramp elsewhere, NaN in one corner.
  write_raster(cam, 100, 60, io::DataType::Float32, "EPSG:32631", s.in.geotransform, [&](int x, int y) {
    if (x < 5 && y < 5) return std::nanf("");
    return s.flood(x, y) && x < 37 ? 7.5f : 0.01f * float(x) / 100.0f;
  });
  const std::string out = tmp.file("cam.png");
  write_cam_overlay_png(s.in, cam, out, 1600);
  keep(out);
  const Png p = read_png(out);
  const int k = kK;
  EXPECT_EQ(map_size(p), (std::pair<int, int>{500, 300}));
  // Hot: viridis' yellow end over the dark water backdrop.
  const Rgb hot = region_px(p, k, 32, 30);
  EXPECT_GT(hot.r, 200);
  EXPECT_GT(hot.g, 180);
  EXPECT_LT(hot.b, 80);
  // Cold (near zero) dry land stays close to its grey; NaN heat shows the bare backdrop.
  const Rgb cold = region_px(p, k, 2, 40);
  EXPECT_NEAR(cold.r, cold.b, 25);
  EXPECT_TRUE(grey(region_px(p, k, 2, 2)));
  EXPECT_EQ(region_px(p, k, 95, 30), kNodataGrey);
  // The flood outline: its top-left corner pixel is white, the pixel inside it is not.
  EXPECT_EQ(p.at(kMargin + 25 * k, kMargin + 15 * k), kOutlineWhite);
  EXPECT_NE(region_px(p, k, 30, 30), kOutlineWhite);
  EXPECT_GT(dark_pixels(p, 500 + 2 * kMargin), 300);
}

TEST(Overlay, SparseHeatIsScaledToItsMaximum) {
  // 4 hot pixels of 6000: the 99th percentile is 0, so the scale falls back to the maximum.
  TempDir tmp;
  Scene s = make_scene(tmp, 100, 60, "EPSG:32631", kUtm, 10);
  const std::string cam = tmp.file("cam.tif");
  write_raster(cam, 100, 60, io::DataType::Float32, "EPSG:32631", s.in.geotransform,
               [](int x, int y) { return x >= 70 && x < 72 && y >= 50 && y < 52 ? 0.02f : 0.0f; });
  const std::string out = tmp.file("sparse.png");
  write_cam_overlay_png(s.in, cam, out, 1600);
  const Png p = read_png(out);
  const Rgb hot = region_px(p, kK, 70, 50);
  EXPECT_GT(hot.r, 200);
  EXPECT_LT(hot.b, 100);
  EXPECT_TRUE(grey(region_px(p, kK, 75, 50)));
}

TEST(Overlay, AllZeroHeatDrawsTheBackdrop) {
  TempDir tmp;
  Scene s = make_scene(tmp, 100, 60, "", kUtm, 0);  // no CRS either: no scale bar
  const std::string cam = tmp.file("cam.tif");
  write_raster(cam, 100, 60, io::DataType::Float32, "", s.in.geotransform, [](int, int) { return 0.0f; });
  const std::string out = tmp.file("cam.png");
  write_cam_overlay_png(s.in, cam, out, 1600);
  keep(out);
  const Png p = read_png(out);
  EXPECT_TRUE(grey(region_px(p, kK, 80, 30)));
  EXPECT_TRUE(grey(region_px(p, kK, 30, 30)));  // flood water: dark, no heat
  EXPECT_GT(dark_pixels(p, 500 + 2 * kMargin), 300);
}

TEST(Overlay, MissingOrMismatchedInputsThrowAndLeaveNoPng) {
  TempDir tmp;
  Scene s = make_scene(tmp, 100, 60, "EPSG:32631", kUtm, 10);
  const std::string out = tmp.file("out/overlay.png");
  fs::create_directories(tmp.file("out"));
  auto expect_error = [&](const OverlayInputs& in, ErrorKind kind, const std::string& names) {
    try {
      write_flood_overlay_png(in, out);
      ADD_FAILURE() << "expected an Error naming " << names;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), kind) << e.what();
      EXPECT_NE(std::string(e.what()).find(names), std::string::npos) << e.what();
    }
    EXPECT_TRUE(drshym::testing::files_in(tmp.file("out")).empty());
  };
  OverlayInputs in = s.in;
  in.proba_path = tmp.file("nope_proba.tif");
  expect_error(in, ErrorKind::NotFound, "nope_proba.tif");
  in = s.in;
  in.scene_uri = tmp.file("nope_scene.tif");
  expect_error(in, ErrorKind::NotFound, "nope_scene.tif");
  in = s.in;
  in.region.w = 90;  // the products are 100 wide
  expect_error(in, ErrorKind::InvalidInput, "proba.tif");
  in = s.in;
  in.vv_band = 2;
  expect_error(in, ErrorKind::InvalidInput, "scene.tif");
  try {
    write_cam_overlay_png(s.in, tmp.file("nope_cam.tif"), out);
    ADD_FAILURE() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope_cam.tif"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(drshym::testing::files_in(tmp.file("out")).empty());
  // A write that fails names the PNG and leaves nothing.
  try {
    write_flood_overlay_png(s.in, tmp.file("no_such_dir/overlay.png"));
    ADD_FAILURE() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Io);
    EXPECT_NE(std::string(e.what()).find("no_such_dir/overlay.png"), std::string::npos) << e.what();
  }
}

}  // namespace drshym::explain
