#include "tiling/window_grid.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.hpp"
#include "support/test_support.hpp"

using namespace drshym;
using namespace drshym::tiling;

namespace {
constexpr float kEps5 = 1e-5f;

// A smooth-but-varied synthetic scene value at (x, y, c).
float scene_value(int x, int y, int c) { return std::sin(0.13f * x + c) * std::cos(0.07f * y) + 0.01f * x; }

// Tile a w x h scene, cut every window, stitch back with the grid weights; return max error.
float round_trip_error(int w, int h, GridParams p, bool streaming) {
  WindowGrid grid(w, h, p);
  const int ch = 2;
  float max_err = 0;
  std::vector<float> out(size_t(w) * h * ch, NAN);
  Accumulator acc(w, h, ch);
  StripAccumulator strip(w, h, ch);
  auto check_rows = [&](const std::vector<float>& rows, const Window& win) {
    for (int c = 0; c < ch; ++c)
      for (int y = 0; y < win.h; ++y)
        for (int x = 0; x < w; ++x) {
          float got = rows[size_t(c) * win.h * w + size_t(y) * w + x];
          max_err = std::max(max_err, std::fabs(got - scene_value(x, win.y + y, c)));
        }
  };
  for (const auto& t : grid.tiles()) {
    const Window& win = t.window;
    std::vector<float> vals(size_t(win.w) * win.h * ch, NAN);
    std::vector<uint8_t> valid(size_t(win.w) * win.h, 0);
    for (int c = 0; c < ch; ++c)
      for (int y = 0; y < win.h; ++y)
        for (int x = 0; x < win.w; ++x) {
          int sx = win.x + x, sy = win.y + y;
          if (sx >= w || sy >= h) continue;  // overhang: out of scene
          vals[size_t(c) * win.w * win.h + size_t(y) * win.w + x] = scene_value(sx, sy, c);
          valid[size_t(y) * win.w + x] = 1;
        }
    auto wts = grid.weights(t);
    if (streaming) {
      // Rows above this tile's grid row start are final once a new grid row begins.
      if (t.col == 0 && t.row > 0) {
        Window taken;
        auto rows = strip.take_ready(win.y, NAN, &taken);
        check_rows(rows, taken);
      }
      strip.add(win, vals.data(), wts.data(), valid.data());
    } else {
      acc.add(win, vals.data(), wts.data(), valid.data());
    }
  }
  if (streaming) {
    Window taken;
    auto rows = strip.take_ready(h, NAN, &taken);
    check_rows(rows, taken);
    EXPECT_EQ(strip.first_row(), h);
  } else {
    auto res = acc.result(Window{0, 0, w, h}, NAN);
    check_rows(res, Window{0, 0, w, h});
  }
  return max_err;
}
}  // namespace

TEST(AxisPositions, CoverAndOverlap) {
  for (int len = 1; len < 700; len += 7) {
    for (auto [tile, ov] : {std::pair{64, 8}, std::pair{128, 0}, std::pair{100, 49}}) {
      auto pos = axis_positions(len, tile, ov);
      ASSERT_FALSE(pos.empty());
      EXPECT_EQ(pos.front(), 0);
      EXPECT_GE(pos.back() + tile, len) << "last window must reach the end";
      for (size_t i = 1; i < pos.size(); ++i) {
        EXPECT_GE(pos[i - 1] + tile - pos[i], ov) << "overlap below minimum at len " << len;
        EXPECT_GT(pos[i], pos[i - 1]);
      }
      if (len >= tile) {
        EXPECT_LE(pos.back() + tile, len) << "no overhang when the scene is large enough";
      }
    }
  }
}

TEST(WindowGrid, RejectsBadParams) {
  using drshym::testing::expect_error;
  expect_error([] { WindowGrid(100, 100, {64, 32}); }, ErrorKind::Usage, {"tile size 64", "2 x overlap (64)"});
  expect_error([] { WindowGrid(100, 100, {64, -1}); }, ErrorKind::Usage, {"overlap must be >= 0"});
  expect_error([] { WindowGrid(0, 100, {64, 8}); }, ErrorKind::InvalidInput, {"empty scene (0x100)"});
}

TEST(WindowGrid, WeightsPositiveAndFlatInside) {
  WindowGrid g(300, 300, {128, 16});
  for (const auto& t : g.tiles()) {
    auto w = g.weights(t);
    for (float v : w) {
      EXPECT_GT(v, 0.0f);
      EXPECT_LE(v, 1.0f);
    }
    EXPECT_FLOAT_EQ(w[64 * 128 + 64], 1.0f);
  }
}

TEST(WindowGrid, NormalizedWeightsSumToOne) {
  WindowGrid g(250, 190, {96, 20});
  Accumulator acc(250, 190, 1);
  for (const auto& t : g.tiles()) {
    auto w = g.weights(t);
    std::vector<float> ones(w.size(), 1.0f);
    acc.add(t.window, ones.data(), w.data());
  }
  auto r = acc.result(Window{0, 0, 250, 190}, NAN);
  for (float v : r) EXPECT_NEAR(v, 1.0f, kEps5);
}

TEST(WindowGrid, TileBordersAreDownWeightedWhereNeighboursOverlap) {
  // Weights summing to one holds for any positive weights; what blending needs is that a tile
  // trusts its centre over its borders where a neighbour overlaps, and keeps full weight on
  // borders that are the scene's edge (no neighbour there to take over).
  WindowGrid g(250, 190, {96, 20});
  ASSERT_GE(g.cols(), 3);
  ASSERT_GE(g.rows(), 2);
  const int n = 96;
  for (const auto& t : g.tiles()) {
    auto w = g.weights(t);
    auto at = [&](int x, int y) { return w[size_t(y) * n + x]; };
    EXPECT_FLOAT_EQ(at(n / 2, n / 2), 1.0f);
    const bool left = t.col > 0, right = t.col + 1 < g.cols(), top = t.row > 0, bottom = t.row + 1 < g.rows();
    // The outermost pixel of an overlapped side is nearly ignored; ramps rise monotonically.
    EXPECT_EQ(at(0, n / 2) < 0.05f, left) << "tile " << t.index;
    EXPECT_EQ(at(n - 1, n / 2) < 0.05f, right) << "tile " << t.index;
    EXPECT_EQ(at(n / 2, 0) < 0.05f, top) << "tile " << t.index;
    EXPECT_EQ(at(n / 2, n - 1) < 0.05f, bottom) << "tile " << t.index;
    for (int x = 1; x < 20; ++x) EXPECT_GE(at(x, n / 2), at(x - 1, n / 2));
    if (!left) {
      EXPECT_FLOAT_EQ(at(0, n / 2), 1.0f);
    }
  }
}

// Property: for many scene sizes (smaller than a tile, exact multiples, ragged edges) and grid
// parameters, tiling then stitching reproduces the scene exactly, in memory and streaming.
TEST(WindowGrid, RoundTripManySizes) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> size(1, 400);
  std::vector<std::pair<int, int>> sizes = {{1, 1}, {63, 64}, {64, 64}, {65, 64}, {128, 512}, {512, 512}, {513, 129}};
  for (int i = 0; i < 25; ++i) sizes.emplace_back(size(rng), size(rng));
  for (auto [w, h] : sizes) {
    for (GridParams p : {GridParams{64, 8}, GridParams{100, 33}, GridParams{128, 0}}) {
      EXPECT_LT(round_trip_error(w, h, p, false), kEps5) << w << "x" << h << " tile " << p.tile;
      EXPECT_LT(round_trip_error(w, h, p, true), kEps5) << w << "x" << h << " tile " << p.tile << " streaming";
    }
  }
}

TEST(StripAccumulator, MemoryStaysBounded) {
  const int w = 64, h = 4096;
  WindowGrid g(w, h, {64, 8});
  StripAccumulator strip(w, h, 1);
  int max_rows = 0;
  for (const auto& t : g.tiles()) {
    if (t.col == 0 && t.row > 0) strip.take_ready(t.window.y, 0, nullptr);
    auto wts = g.weights(t);
    std::vector<float> v(wts.size(), 1.0f);
    strip.add(t.window, v.data(), wts.data());
    max_rows = std::max(max_rows, strip.buffered_rows());
  }
  EXPECT_LE(max_rows, 2 * 64);
}

TEST(WindowGrid, ReflectIndexMirrorsWithoutRepeatingTheEdge) {
  const std::vector<int> want{0, 1, 2, 1, 0, 1, 2, 1, 0};
  for (int i = 0; i < int(want.size()); ++i) EXPECT_EQ(tiling::reflect_index(i, 3), want[size_t(i)]) << i;
  EXPECT_EQ(tiling::reflect_index(7, 1), 0);
  EXPECT_EQ(tiling::reflect_index(5, 2), 1);
}

TEST(WindowGrid, MirrorOverhangFillsOutOfScenePixelsWithMirroredSceneContent) {
  // A 3x2 scene in a 5x4 window: columns 3, 4 mirror columns 1, 0; rows 2, 3 mirror rows 0, 1.
  const Window win{0, 0, 5, 4};
  std::vector<float> d(size_t(2) * 20, -1.0f);  // two bands; -1 where nothing is read
  std::vector<uint8_t> valid(20, 0);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x) {
      d[size_t(y) * 5 + x] = float(10 * y + x);
      d[20 + size_t(y) * 5 + x] = float(100 + 10 * y + x);
      valid[size_t(y) * 5 + x] = x == 2 ? 0 : 1;  // an in-scene nodata column mirrors as nodata
    }
  EXPECT_EQ(tiling::mirror_overhang(d.data(), 2, valid.data(), win, 3, 2), 20 - 6);
  const int col_of[5] = {0, 1, 2, 1, 0}, row_of[4] = {0, 1, 0, 1};
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 5; ++x) {
      EXPECT_EQ(d[size_t(y) * 5 + x], float(10 * row_of[y] + col_of[x])) << x << "," << y;
      EXPECT_EQ(d[20 + size_t(y) * 5 + x], float(100 + 10 * row_of[y] + col_of[x])) << x << "," << y;
      EXPECT_EQ(valid[size_t(y) * 5 + x], col_of[x] == 2 ? 0 : 1) << x << "," << y;
    }
  // A window inside the scene is left alone.
  std::vector<float> inside(4, 7.0f);
  EXPECT_EQ(tiling::mirror_overhang(inside.data(), 1, nullptr, Window{1, 1, 2, 2}, 3, 3), 0);
  EXPECT_THROW(tiling::mirror_overhang(inside.data(), 1, nullptr, Window{3, 0, 2, 2}, 3, 3), Error);
}
