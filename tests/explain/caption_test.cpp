// Captions on synthetic masks of known geometry: every number in the text is checked.
#include "explain/caption.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "io/raster.hpp"
#include "support/test_support.hpp"

namespace drshym::explain {
namespace {

using drshym::testing::TempDir;

struct Scene {
  std::string path;
  CaptionInput in;
};

// A W x H mask (1 where flood(c, r), 0 elsewhere, 255 where nodata(c, r)) and the tally a
// ProbaWriter would have made with probability p_flood on flood pixels, p_dry elsewhere.
Scene make_mask(const TempDir& tmp, const std::string& crs, const GeoTransform& gt, int W, int H,
                const std::function<bool(int, int)>& flood, float p_flood = 0.95f, float p_dry = 0.02f,
                const std::function<bool(int, int)>& nodata = nullptr) {
  Scene s;
  s.path = tmp.file("mask.tif");
  io::CreateOptions o;
  o.width = W;
  o.height = H;
  o.type = io::DataType::Byte;
  o.geotransform = gt;
  o.crs_wkt = io::crs_wkt_of(crs);
  o.nodata = 255;
  auto r = io::Raster::create_geotiff(s.path, o);
  std::vector<uint8_t> row(static_cast<size_t>(W));
  const auto area = io::PixelArea::for_grid(o.crs_wkt, gt);
  infer::FloodTally& t = s.in.tally;
  t.has_area = true;
  for (int y = 0; y < H; ++y) {
    for (int x = 0; x < W; ++x) {
      ++t.pixels;
      if (nodata && nodata(x, y)) {
        row[size_t(x)] = 255;
        continue;
      }
      const bool f = flood(x, y);
      row[size_t(x)] = f ? 1 : 0;
      const double a = area->at(x, y), p = f ? p_flood : p_dry;
      ++t.valid_pixels;
      t.valid_m2 += a;
      t.expected_m2 += a * p;
      if (p >= t.kLikely) t.likely_m2 += a;
      if (p >= t.kPossible) t.possible_m2 += a;
      if (p >= t.kPossible && p < t.kLikely) t.ambiguous_m2 += a;
      if (f) {
        ++t.flood_pixels;
        t.flood_m2 += a;
        t.flood_p_sum += p;
      }
    }
    r.write_band(1, Window{0, y, W, 1}, row.data());
  }
  r.close();
  s.in.mask_path = s.path;
  s.in.crs_wkt = o.crs_wkt;
  s.in.geotransform = gt;
  return s;
}

const GeoTransform kUtm10{{500000, 10, 0, 2900000, 0, -10}};  // 10 m pixels, north up

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(Caption, EastWestBandInTheCentre) {
  TempDir tmp;
  // 360 x 20 px of 10 m: a 3.6 km x 0.2 km band across the middle of a 400 x 300 grid.
  auto s = make_mask(tmp, "EPSG:32644", kUtm10, 400, 300, [](int c, int r) { return c >= 20 && c < 380 && r >= 140 && r < 160; });
  const FloodSummary f = summarize_flood(s.in);
  EXPECT_EQ(f.verdict, "flooding");
  EXPECT_NEAR(f.flood_km2, 0.72, 1e-9);        // 7200 px x 100 m²
  EXPECT_NEAR(f.flood_share_of_valid, 0.06, 1e-12);
  EXPECT_NEAR(f.likely_km2, 0.72, 1e-9);       // every flood pixel at p = 0.95
  EXPECT_NEAR(f.possible_km2, 0.72, 1e-9);
  EXPECT_EQ(f.patches, 1);
  EXPECT_NEAR(f.largest.length_m, 3600, 1e-6);
  EXPECT_NEAR(f.largest.width_m, 200, 1e-6);
  EXPECT_NEAR(f.largest.axis_deg, 0, 1e-6);
  EXPECT_EQ(f.largest.direction, "east-west");
  EXPECT_EQ(f.largest.where, "centre");
  EXPECT_EQ(f.pattern, "contiguous band");
  EXPECT_EQ(f.confidence, "high");
  EXPECT_EQ(f.text,
            "Flooding detected over 0.72 km² (likely 0.72, possibly up to 0.72 km²), 6% of the valid area, mostly a "
            "contiguous band about 3.6 km long running east-west in the centre of the scene; confidence high.");
}

TEST(Caption, NorthEastDiagonalBandLengthAlongItsAxis) {
  TempDir tmp;
  // A 5-px-wide anti-diagonal from the bottom-left to the top-right corner of 600 x 600 px.
  auto s = make_mask(tmp, "EPSG:32644", kUtm10, 600, 600, [](int c, int r) { return std::abs((599 - r) - c) <= 2; });
  const FloodSummary f = summarize_flood(s.in);
  EXPECT_EQ(f.patches, 1);
  EXPECT_NEAR(f.largest.axis_deg, 45, 0.5);
  EXPECT_EQ(f.largest.direction, "north-east");
  EXPECT_NEAR(f.largest.length_m, 600 * 10 * std::sqrt(2.0), 60);  // 8.49 km, within a pixel or so
  EXPECT_EQ(f.pattern, "contiguous band");
  EXPECT_TRUE(has(f.text, "about 8.5 km long running north-east in the centre of the scene")) << f.text;
}

TEST(Caption, CompactAreaInTheSouthWestAndNodataShare) {
  TempDir tmp;
  // A 60 x 60 px square near the lower-left corner; the top 30 rows are nodata (10%).
  auto s = make_mask(
      tmp, "EPSG:32644", kUtm10, 300, 300, [](int c, int r) { return c >= 20 && c < 80 && r >= 220 && r < 280; },
      0.75f, 0.3f, [](int, int r) { return r < 30; });
  const FloodSummary f = summarize_flood(s.in);
  EXPECT_NEAR(f.nodata_share, 0.1, 1e-12);
  EXPECT_NEAR(f.flood_km2, 0.36, 1e-9);
  EXPECT_NEAR(f.flood_share_of_valid, 3600.0 / 81000.0, 1e-12);
  EXPECT_EQ(f.largest.where, "south-west");
  EXPECT_EQ(f.pattern, "compact area");
  EXPECT_NEAR(f.largest.length_m, 600, 1e-6);  // the square's side (axis along a side by symmetry)
  // p = 0.75 on flood, 0.3 on dry land: nothing likely (p >= 0.8), everything possible (p >= 0.2).
  EXPECT_NEAR(f.likely_km2, 0.0, 1e-12);
  EXPECT_NEAR(f.possible_km2, 8.1, 1e-9);
  EXPECT_EQ(f.confidence, "low");  // mean p 0.75 but the ambiguous ground is 22x the flood
  EXPECT_EQ(f.text,
            "Flooding detected over 0.36 km² (likely 0, possibly up to 8.10 km²), 4% of the valid area, mostly a "
            "compact area about 600 m across in the scene's south-west; confidence low. 10% of the scene had no "
            "valid data.");
}

TEST(Caption, ScatteredPatchesAreCounted) {
  TempDir tmp;
  // Nine 10 x 10 px squares on a 3 x 3 lattice, one of them 20 x 10 (the largest).
  auto s = make_mask(tmp, "EPSG:32644", kUtm10, 300, 300, [](int c, int r) {
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        const int x0 = 40 + 100 * i, y0 = 40 + 100 * j, wx = (i == 2 && j == 0) ? 20 : 10;
        if (c >= x0 && c < x0 + wx && r >= y0 && r < y0 + 10) return true;
      }
    return false;
  });
  const FloodSummary f = summarize_flood(s.in);
  EXPECT_EQ(f.patches, 9);
  EXPECT_EQ(f.pattern, "scattered patches");
  EXPECT_NEAR(f.largest.share_of_flood, 200.0 / 1000.0, 1e-12);
  EXPECT_EQ(f.largest.where, "north-east");
  EXPECT_NEAR(f.largest.length_m, 200, 1e-6);
  EXPECT_TRUE(has(f.text, "in 9 scattered patches, the largest about 200 m long in the scene's north-east")) << f.text;
}

TEST(Caption, GeographicGridLengthsAreGroundMetres) {
  TempDir tmp;
  // EPSG:4326, 0.0001° pixels at 45°N: a north-south band 1000 px (0.1° of latitude, 11.1 km)
  // long and 4 px wide.
  const GeoTransform gt{{10.0, 1e-4, 0, 45.05, 0, -1e-4}};
  auto s = make_mask(tmp, "EPSG:4326", gt, 200, 1000, [](int c, int) { return c >= 98 && c < 102; });
  const FloodSummary f = summarize_flood(s.in);
  EXPECT_EQ(f.largest.direction, "north-south");
  EXPECT_NEAR(f.largest.length_m, 0.1 * 6378137.0 * 3.14159265358979 / 180.0, 20);  // 11.13 km (to 0.2%)
  EXPECT_NEAR(f.flood_km2, s.in.tally.flood_m2 / 1e6, 1e-12);
  // Cross-check against a flat estimate (111.32 km per degree of longitude at the equator, 111.13 per degree
  // of latitude at 45°): 0.350 km², the ellipsoidal tally agrees to 0.2%.
  EXPECT_NEAR(f.flood_km2, 4000 * 1e-8 * 111320.0 * 111132.0 * std::cos(45 * 3.14159265358979 / 180) / 1e6, 0.001);
  EXPECT_TRUE(has(f.text, "about 11.1 km long running north-south")) << f.text;
}

TEST(Caption, LargeGridsAreShapedOnADecimatedGrid) {
  TempDir tmp;
  // 5000 x 60 px: decimated to 2048 x 25 for the shape; the length stays right to a pixel.
  auto s = make_mask(tmp, "EPSG:32644", kUtm10, 5000, 60, [](int, int r) { return r >= 20 && r < 40; });
  const FloodSummary f = summarize_flood(s.in);
  EXPECT_NEAR(f.largest.length_m, 50000, 30);
  EXPECT_NEAR(f.flood_km2, 10.0, 1e-9);  // areas are the full-resolution tally
  EXPECT_TRUE(has(f.text, "about 50.0 km long running east-west")) << f.text;
}

TEST(Caption, NoFloodingAndTooLittleData) {
  TempDir tmp;
  auto dry = make_mask(tmp, "EPSG:32644", kUtm10, 100, 100, [](int, int) { return false; }, 0.9f, 0.25f);
  FloodSummary f = summarize_flood(dry.in);
  EXPECT_EQ(f.verdict, "no_flooding");
  EXPECT_EQ(f.text, "No flooding detected in the valid area (1.00 km²); up to 1.00 km² is possibly flooded "
                    "(probability at least 0.2).");
  TempDir tmp2;
  auto empty = make_mask(
      tmp2, "EPSG:32644", kUtm10, 100, 100, [](int c, int r) { return c < 5 && r < 5; }, 0.9f, 0.02f,
      [](int c, int r) { return !(c < 8 && r < 8); });
  f = summarize_flood(empty.in);
  EXPECT_EQ(f.verdict, "too_little_data");
  EXPECT_EQ(f.text, "Too few valid pixels to judge: 64 valid of 10000 pixels in the scene (at least 100, and 1% of "
                    "them, are needed).");
  // A 1 x 1 scene: before, "Too little valid data to judge: 0% of the scene had no valid data".
  TempDir tmp3;
  auto one = make_mask(tmp3, "EPSG:32644", kUtm10, 1, 1, [](int, int) { return false; });
  f = summarize_flood(one.in);
  EXPECT_EQ(f.verdict, "too_little_data");
  EXPECT_EQ(f.text, "Too few valid pixels to judge: 1 valid of 1 pixel in the scene (at least 100, and 1% of them, "
                    "are needed).");
}

TEST(Caption, PixelsOutsideTheAoiPolygonAreNotNoData) {
  // An AOI polygon covering the left half of its 100 x 100 bounding box: the right half is nodata
  // in the outputs, but it was not asked about. Before, the caption said "50% of the scene had
  // no valid data".
  TempDir tmp;
  auto s = make_mask(tmp, "EPSG:32644", kUtm10, 100, 100, [](int c, int r) { return c < 10 && r < 10; }, 0.9f, 0.02f,
                     [](int c, int) { return c >= 50; });
  s.in.tally.outside_aoi_pixels = 5000;
  FloodSummary f = summarize_flood(s.in);
  EXPECT_EQ(f.verdict, "flooding");
  EXPECT_EQ(f.nodata_share, 0.0);
  EXPECT_FALSE(has(f.text, "no valid data")) << f.text;
  // Nodata inside the polygon is reported, as a share of the polygon.
  TempDir tmp2;
  auto gaps = make_mask(tmp2, "EPSG:32644", kUtm10, 100, 100, [](int c, int r) { return c < 10 && r < 10; }, 0.9f,
                        0.02f, [](int c, int r) { return c >= 50 || r >= 75; });
  gaps.in.tally.outside_aoi_pixels = 5000;
  f = summarize_flood(gaps.in);
  EXPECT_NEAR(f.nodata_share, 0.25, 1e-12);
  EXPECT_TRUE(has(f.text, " 25% of the area of interest had no valid data.")) << f.text;
  // Too few valid pixels inside the polygon: counted against the polygon, not its bounding box.
  TempDir tmp3;
  auto few = make_mask(tmp3, "EPSG:32644", kUtm10, 100, 100, [](int, int) { return false; }, 0.9f, 0.02f,
                       [](int c, int r) { return !(c < 5 && r < 5); });
  few.in.tally.outside_aoi_pixels = 9000;
  f = summarize_flood(few.in);
  EXPECT_EQ(f.text, "Too few valid pixels to judge: 25 valid of 1000 pixels in the area of interest (at least 100, "
                    "and 1% of them, are needed).");
}

TEST(Caption, Words) {
  EXPECT_EQ(direction_words(0), "east-west");
  EXPECT_EQ(direction_words(179), "east-west");
  EXPECT_EQ(direction_words(30), "north-east");
  EXPECT_EQ(direction_words(90), "north-south");
  EXPECT_EQ(direction_words(-45), "north-west");
  EXPECT_EQ(place_words(0.1, 0.1), "north-west");
  EXPECT_EQ(place_words(0.5, 0.9), "south");
  EXPECT_EQ(place_words(0.5, 0.5), "centre");
  EXPECT_EQ(place_words(0.9, 0.5), "east");
}

}  // namespace
}  // namespace drshym::explain

namespace drshym::explain {
namespace {

TEST(Caption, AMeanderingRiverIsABandNotACompactArea) {
  drshym::testing::TempDir tmp;
  // A 12-px-wide river meandering down a 500 x 500 grid with bends 150 px wide: its extent
  // across the axis is a third of its length, but its mean width is 12 px.
  auto s = make_mask(tmp, "EPSG:32644", kUtm10, 500, 500, [](int c, int r) {
    const double centre = 250 + 75 * std::sin(r / 40.0);
    return std::abs(c - centre) < 6;
  });
  const FloodSummary f = summarize_flood(s.in);
  EXPECT_EQ(f.largest.direction, "north-south");
  EXPECT_EQ(f.pattern, "contiguous band");
  EXPECT_GT(f.largest.elongation, 10);
  EXPECT_TRUE(has(f.text, "mostly a contiguous band about 5.0 km long running north-south")) << f.text;
}

}  // namespace
}  // namespace drshym::explain

namespace drshym::explain {
namespace {

// segment --dem: the caption says how much water-like ground the terrain removed, or would have.
TEST(Caption, TerrainExclusionIsNamed) {
  TempDir tmp;
  auto s = make_mask(tmp, "EPSG:32644", kUtm10, 200, 200, [](int c, int r) { return c >= 20 && c < 60 && r >= 20 && r < 60; });
  infer::SceneProducts p{s.in.mask_path, "", s.in.crs_wkt, s.in.geotransform, s.in.tally, 0.5, "", nullptr, "", nullptr, ""};
  p.exclusion = {{"applied", true},       {"water_on_excluded_pixels", 4100}, {"water_on_excluded_km2", 0.41},
                 {"slope_max_deg", 10.0}, {"hand_max_m", 15.0}};
  auto j = describe_scene(p);
  const std::string t = j["caption"];
  EXPECT_TRUE(has(t, " 0.41 km² of water-like dark ground on terrain where flooding is implausible (slope over 10° or "
                     "more than 15 m above the nearest drainage) was removed, likely radar shadow or dark slopes."))
      << t;
  EXPECT_EQ(j["flood_summary"]["exclusion"]["water_on_excluded_km2"], 0.41);
  p.exclusion["applied"] = false;
  EXPECT_TRUE(has(describe_scene(p)["caption"], "0.41 km² of that water lies on ground the DEM would exclude")) << t;
  p.exclusion["water_on_excluded_pixels"] = 0;
  EXPECT_TRUE(has(describe_scene(p)["caption"], "No water was found on ground the DEM excludes")) << t;
  p.exclusion = nullptr;
  EXPECT_FALSE(has(describe_scene(p)["caption"], "DEM"));
}

// A scene whose anchor level cannot be land: the caption ends with the caution, the summary keeps it.
TEST(Caption, AnUntrustedAnchorIsSaid) {
  TempDir tmp;
  auto s = make_mask(tmp, "EPSG:32644", kUtm10, 200, 200, [](int, int) { return false; });
  infer::SceneProducts p{s.in.mask_path, "", s.in.crs_wkt, s.in.geotransform, s.in.tally, 0.5, "", nullptr, "", nullptr, ""};
  EXPECT_FALSE(has(describe_scene(p)["caption"], "Caution"));
  p.anchor_caution = "the scene is dark";
  const auto j = describe_scene(p);
  const std::string t = j["caption"];
  EXPECT_EQ(t.rfind("No flooding detected", 0), 0u) << t;
  EXPECT_TRUE(has(t, ". Caution: the scene is dark.")) << t;
  EXPECT_EQ(j["flood_summary"]["anchor_caution"], "the scene is dark");
}

}  // namespace
}  // namespace drshym::explain
