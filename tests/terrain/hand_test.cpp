// HAND on synthetic grids whose answer is known: a pit that must be filled, a V-shaped valley
// whose hillsides drain straight to the channel, nodata holes and grids without a river.
#include "terrain/hand.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.hpp"
#include "support/test_support.hpp"

using namespace drshym;
using terrain::DemGrid;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr double kEps = 1e-6;

// A valley along rows: z = a·|x − xc| + b·y (metres), channel at column xc, lowest at row 0.
DemGrid valley(int w, int h, double a, double b, double cell = 30.0) {
  DemGrid g{w, h, std::vector<float>(size_t(w) * h), cell, cell};
  const int xc = w / 2;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) g.z[size_t(y) * w + x] = float(a * std::abs(x - xc) + b * y);
  return g;
}

// True when every valid non-outlet cell drains to a strictly lower valid cell.
bool drains_downhill(const std::vector<double>& f, const std::vector<int8_t>& d, int w, int h) {
  for (int i = 0; i < w * h; ++i) {
    if (d[size_t(i)] < 0) continue;
    const int x = i % w + terrain::kDx[d[size_t(i)]], y = i / w + terrain::kDy[d[size_t(i)]];
    if (x < 0 || y < 0 || x >= w || y >= h) return false;
    if (!(f[size_t(y) * w + x] < f[size_t(i)])) return false;
  }
  return true;
}

}  // namespace

TEST(PriorityFlood, FillsAPitToItsSpillHeightAndLeavesNoFlat) {
  // A 7 x 7 bowl: rim at 10 m, a lower notch at 6 m on the west edge, floor at 1 m.
  DemGrid g{7, 7, std::vector<float>(49, 10.0f), 30, 30};
  for (int y = 1; y < 6; ++y)
    for (int x = 1; x < 6; ++x) g.z[size_t(y) * 7 + x] = 1.0f;
  g.z[3 * 7 + 0] = 6.0f;
  const double eps = 1e-3;
  auto f = terrain::priority_flood_fill(g, eps);
  for (size_t i = 0; i < f.size(); ++i) EXPECT_GE(f[i], double(g.z[i]));
  // Every floor cell is raised above the notch, the one beside it by exactly ε.
  EXPECT_NEAR(f[3 * 7 + 1], 6.0 + eps, kEps);
  for (int y = 1; y < 6; ++y)
    for (int x = 1; x < 6; ++x) {
      EXPECT_GT(f[size_t(y) * 7 + x], 6.0);
      EXPECT_LT(f[size_t(y) * 7 + x], 6.0 + 10 * eps);
    }
  EXPECT_EQ(f[0], 10.0);  // edges are never raised
  auto d = terrain::d8_directions(f, 7, 7, 30, 30);
  EXPECT_TRUE(drains_downhill(f, d, 7, 7));
  for (int y = 1; y < 6; ++y)
    for (int x = 1; x < 6; ++x) EXPECT_GE(d[size_t(y) * 7 + x], 0) << "interior cell without an outflow";
}

TEST(D8, SteepestDescentUsesTheGroundCellSize) {
  // z rises 1 m per column eastwards and 1 m per row southwards; with cells 100 m wide and 10 m
  // high the steepest way down is north (1 m / 10 m), not west (1 m / 100 m) nor NW.
  DemGrid g{5, 5, std::vector<float>(25), 100, 10};
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 5; ++x) g.z[size_t(y) * 5 + x] = float(x + y);
  auto f = terrain::priority_flood_fill(g, 1e-4);
  auto d = terrain::d8_directions(f, 5, 5, 100, 10);
  EXPECT_EQ(d[2 * 5 + 2], 6);  // N
  auto d2 = terrain::d8_directions(f, 5, 5, 10, 100);
  EXPECT_EQ(d2[2 * 5 + 2], 4);  // W
  EXPECT_EQ(d[0], terrain::kOutlet);  // the lowest corner has nowhere to go
}

TEST(FlowAccumulation, ChannelCollectsTheWholeValleyAndAreaIsConserved) {
  const int w = 21, h = 30;
  DemGrid g = valley(w, h, 1.0, 0.05);
  auto f = terrain::priority_flood_fill(g, 1e-4);
  auto d = terrain::d8_directions(f, w, h, g.dx_m, g.dy_m);
  const double cell = 30.0 * 30.0 / 1e6;
  std::vector<int32_t> order;
  auto acc = terrain::flow_accumulation(d, w, h, cell, &order);
  EXPECT_EQ(order.size(), size_t(w * h));
  // Everything leaves through the outlets; their accumulations add up to the whole grid.
  double out = 0;
  for (int i = 0; i < w * h; ++i)
    if (d[size_t(i)] == terrain::kOutlet) out += acc[size_t(i)];
  EXPECT_NEAR(out, w * h * cell, 1e-9);
  // The channel at row 0 drains all but the bottom row's edge cells (which drain off-grid).
  EXPECT_GT(acc[size_t(w / 2)], 0.9 * w * h * cell);
  // A hillside cell next to the grid's side edge collects only itself.
  EXPECT_NEAR(acc[size_t(10 * w + 0)], cell, 1e-12);
  // Upstream first: each cell comes before the one it drains to.
  std::vector<int> pos(size_t(w * h));
  for (size_t k = 0; k < order.size(); ++k) pos[size_t(order[k])] = int(k);
  for (int i = 0; i < w * h; ++i)
    if (d[size_t(i)] >= 0) {
      const int j = (i / w + terrain::kDy[d[size_t(i)]]) * w + i % w + terrain::kDx[d[size_t(i)]];
      EXPECT_LT(pos[size_t(i)], pos[size_t(j)]);
    }
}

TEST(Hand, HillsideHeightIsItsHeightAboveTheChannelBesideIt) {
  const int w = 21, h = 30;
  const double a = 2.0, b = 0.05;
  DemGrid g = valley(w, h, a, b);
  terrain::HandParams p;
  p.drainage_min_km2 = 2.0 * w * 30.0 * 30.0 / 1e6;  // the channel from the second row down
  auto r = terrain::compute_hand(g, p);
  EXPECT_EQ(r.valid_cells, w * h);
  EXPECT_EQ(r.unknown_cells, 0);
  for (int y = 0; y < h - 2; ++y) {
    EXPECT_EQ(r.drainage[size_t(y) * w + w / 2], 1) << "row " << y;
    for (int x = 0; x < w; ++x) {
      if (x != w / 2) {
        EXPECT_EQ(r.drainage[size_t(y) * w + x], 0);
      }
      EXPECT_NEAR(r.hand[size_t(y) * w + x], a * std::abs(x - w / 2), 1e-4) << x << "," << y;
    }
  }
  // A higher threshold than the whole valley: no river, so no height above one.
  p.drainage_min_km2 = 1.0;
  auto none = terrain::compute_hand(g, p);
  EXPECT_EQ(none.drainage_cells, 0);
  EXPECT_EQ(none.unknown_cells, w * h);
  EXPECT_TRUE(std::isnan(none.hand[0]));
}

TEST(Hand, NodataDrainsLikeAnEdgeAndStaysUnknown) {
  const int w = 21, h = 30;
  DemGrid g = valley(w, h, 1.0, 0.05);
  for (int y = 12; y < 15; ++y)
    for (int x = 2; x < 5; ++x) g.z[size_t(y) * w + x] = kNaN;
  terrain::HandParams p;
  p.drainage_min_km2 = 2.0 * w * 30.0 * 30.0 / 1e6;
  auto r = terrain::compute_hand(g, p);
  EXPECT_EQ(r.valid_cells, w * h - 9);
  EXPECT_EQ(r.dirs[size_t(13) * w + 3], terrain::kNoFlow);
  EXPECT_TRUE(std::isnan(r.hand[size_t(13) * w + 3]));
  EXPECT_TRUE(drains_downhill(r.filled, r.dirs, w, h));
  // Cells far from the hole are as without it.
  EXPECT_NEAR(r.hand[size_t(5) * w + 15], 5.0, 1e-4);
  // The same input gives the same answer, bit for bit.
  auto again = terrain::compute_hand(g, p);
  EXPECT_EQ(std::memcmp(again.hand.data(), r.hand.data(), r.hand.size() * sizeof(float)), 0);
}

TEST(Hand, RejectsABadGridOrThreshold) {
  DemGrid g{3, 3, std::vector<float>(8), 30, 30};
  drshym::testing::expect_error([&] { terrain::compute_hand(g, {}); }, ErrorKind::Internal, {"terrain", "3 x 3", "8 heights"});
  g.z.resize(9);
  terrain::HandParams p;
  p.drainage_min_km2 = 0;
  drshym::testing::expect_error([&] { terrain::compute_hand(g, p); }, ErrorKind::Usage, {"drainage threshold"});
}
