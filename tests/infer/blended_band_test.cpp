// BlendedBand streams finished rows to its staged GeoTIFF in whole blocks: each write starts on
// a block boundary of the output and fills whole blocks (the last one excepted), for any tile
// stride and any crop offset. A block written in parts is compressed and appended again each
// time GDAL's cache evicts it half done, which once took a wide scene's stage past 4 GB.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "infer/proba_writer.hpp"
#include "io/raster.hpp"
#include "tiling/window_grid.hpp"

namespace drshym::infer {
namespace {

TEST(BlendedBand, WritesWholeStagedBlocksAtAnyStrideAndCrop) {
  // Stride 160 - 2 * 23 = 114 (not a multiple of 64) and a crop starting at row 37.
  const int W = 300, H = 700;
  tiling::WindowGrid grid(W, H, tiling::GridParams{160, 23});
  OutputCrop crop{Window{11, 37, 250, 600}, {}};
  io::CreateOptions geo;
  geo.width = crop.region.w;
  geo.height = crop.region.h;
  geo.has_geotransform = false;
  std::vector<Window> written;
  const std::string out = ::testing::TempDir() + "/blended_band_test_proba.tif";
  BlendedBand band(geo, grid, out, "p", crop, [&](const Window& w, std::vector<float>&) { written.push_back(w); });
  const int T = 160;
  std::vector<float> v(size_t(T) * T);
  std::vector<uint8_t> ok(v.size(), 1);
  for (const auto& t : grid.tiles()) {
    for (int y = 0; y < T; ++y)
      for (int x = 0; x < T; ++x) v[size_t(y) * T + x] = float(t.window.y + y) + 0.001f * float(t.window.x + x);
    band.add(t, v.data(), ok.data());
  }
  band.close_staging();

  ASSERT_FALSE(written.empty());
  int next = 0;
  for (size_t k = 0; k < written.size(); ++k) {
    const Window& w = written[k];
    EXPECT_EQ(w.y, next) << "block " << k << " does not follow the previous one";
    EXPECT_EQ(w.y % BlendedBand::kFlushRows, 0) << "block " << k << " starts mid-block at row " << w.y;
    if (k + 1 < written.size()) {
      EXPECT_EQ(w.h, BlendedBand::kFlushRows) << "block " << k;
    }
    next = w.y + w.h;
  }
  EXPECT_EQ(next, crop.region.h);

  // The staged raster holds the blend: every tile gave each pixel its own coordinates.
  auto stage = io::Raster::open(band.stage());
  std::vector<float> got(size_t(geo.width) * geo.height);
  stage.read_band(1, Window{0, 0, geo.width, geo.height}, got.data());
  for (int y = 0; y < geo.height; y += 53)
    for (int x = 0; x < geo.width; x += 31)
      EXPECT_NEAR(got[size_t(y) * geo.width + x], float(y + 37) + 0.001f * float(x + 11), 1e-3) << x << "," << y;
}

TEST(ProbaWriter, TallyCountsPixelsOutsideTheAoiPolygonApartFromNoData) {
  // The caption must not call the pixels outside an AOI polygon "no valid data": the tally says
  // how many there are. A 64 x 64 output whose polygon covers its left 40 columns.
  tiling::WindowGrid grid(64, 64, tiling::GridParams{64, 0});
  OutputCrop crop{Window{0, 0, 64, 64}, [](const Window& w) {
                    std::vector<uint8_t> in(size_t(w.w) * w.h);
                    for (int y = 0; y < w.h; ++y)
                      for (int x = 0; x < w.w; ++x) in[size_t(y) * w.w + x] = w.x + x < 40;
                    return in;
                  }};
  io::CreateOptions geo;
  geo.width = geo.height = 64;
  geo.has_geotransform = false;
  const std::string dir = ::testing::TempDir();
  ProbaWriter writer(geo, grid, 0.5f, dir + "/aoi_tally_proba.tif", dir + "/aoi_tally_mask.tif", crop);
  std::vector<float> p(64 * 64, 0.1f);
  std::vector<uint8_t> ok(p.size(), 1);
  for (int i = 0; i < 64 * 10; ++i) ok[size_t(i)] = 0;  // the top 10 rows: no data
  writer.add(grid.tiles().at(0), p.data(), ok.data());
  writer.close_staging();
  const FloodTally& t = writer.tally();
  EXPECT_EQ(t.pixels, 64 * 64);
  EXPECT_EQ(t.outside_aoi_pixels, 24 * 64);
  EXPECT_EQ(t.valid_pixels, 40 * 54);
}

}  // namespace
}  // namespace drshym::infer
