#include "terrain/hand.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <deque>
#include <functional>
#include <limits>
#include <queue>
#include <tuple>

#include "core/error.hpp"

namespace drshym::terrain {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_grid(const DemGrid& g) {
  if (g.width <= 0 || g.height <= 0 || g.z.size() != size_t(g.width) * size_t(g.height))
    throw Error(ErrorKind::Internal, "terrain", "DEM grid of " + std::to_string(g.width) + " x " +
                                                    std::to_string(g.height) + " has " + std::to_string(g.z.size()) +
                                                    " heights");
  if (!(g.dx_m > 0) || !(g.dy_m > 0)) throw Error(ErrorKind::Internal, "terrain", "DEM cell size must be > 0");
}

// The cell a direction code leads to, or -1 off the grid.
inline int64_t neighbour(int64_t i, int k, int w, int h) {
  const int x = int(i % w) + kDx[k], y = int(i / w) + kDy[k];
  if (x < 0 || y < 0 || x >= w || y >= h) return -1;
  return int64_t(y) * w + x;
}

}  // namespace

std::vector<double> priority_flood_fill(const DemGrid& g, double flat_epsilon_m) {
  check_grid(g);
  const int w = g.width, h = g.height;
  const int64_t n = int64_t(w) * h;
  std::vector<double> filled(size_t(n), kNaN);
  std::vector<uint8_t> done(size_t(n), 0);
  // Lowest first; ties by the order cells entered the queue, so the result never depends on
  // the heap's internals.
  using Item = std::tuple<double, int64_t, int64_t>;  // height, sequence, cell
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> open;
  int64_t seq = 0;
  // Seeds: valid cells on the grid's edge or beside nodata, where water can leave.
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(g.z[size_t(i)])) {
      done[size_t(i)] = 1;
      continue;
    }
    bool edge = false;
    for (int k = 0; k < 8 && !edge; ++k) {
      const int64_t j = neighbour(i, k, w, h);
      edge = j < 0 || std::isnan(g.z[size_t(j)]);
    }
    if (!edge) continue;
    filled[size_t(i)] = double(g.z[size_t(i)]);
    done[size_t(i)] = 1;
    open.emplace(filled[size_t(i)], seq++, i);
  }
  while (!open.empty()) {
    const auto [zc, s, c] = open.top();
    open.pop();
    for (int k = 0; k < 8; ++k) {
      const int64_t j = neighbour(c, k, w, h);
      if (j < 0 || done[size_t(j)]) continue;
      done[size_t(j)] = 1;
      const double zj = double(g.z[size_t(j)]);
      // Not above the cell that reaches it: in a depression or on a flat, raised just above it.
      filled[size_t(j)] = zj > zc ? zj : zc + flat_epsilon_m;
      open.emplace(filled[size_t(j)], seq++, j);
    }
  }
  return filled;
}

std::vector<int8_t> d8_directions(const std::vector<double>& filled, int w, int h, double dx_m, double dy_m) {
  const int64_t n = int64_t(w) * h;
  std::vector<int8_t> dirs(size_t(n), kNoFlow);
  double dist[8];
  for (int k = 0; k < 8; ++k) dist[k] = std::hypot(kDx[k] * dx_m, kDy[k] * dy_m);
  for (int64_t i = 0; i < n; ++i) {
    const double zc = filled[size_t(i)];
    if (std::isnan(zc)) continue;
    int8_t best = kOutlet;
    double best_slope = 0.0;
    for (int k = 0; k < 8; ++k) {
      const int64_t j = neighbour(i, k, w, h);
      if (j < 0) continue;
      const double zj = filled[size_t(j)];
      if (std::isnan(zj) || !(zj < zc)) continue;
      const double s = (zc - zj) / dist[k];
      if (s > best_slope) best_slope = s, best = int8_t(k);
    }
    dirs[size_t(i)] = best;
  }
  return dirs;
}

std::vector<double> flow_accumulation(const std::vector<int8_t>& dirs, int w, int h, double cell_km2,
                                      std::vector<int32_t>* order) {
  const int64_t n = int64_t(w) * h;
  std::vector<double> acc(size_t(n), 0.0);
  std::vector<uint8_t> upstream(size_t(n), 0);  // at most 8 cells drain into one
  for (int64_t i = 0; i < n; ++i) {
    if (dirs[size_t(i)] == kNoFlow) continue;
    acc[size_t(i)] = cell_km2;
    if (dirs[size_t(i)] >= 0) ++upstream[size_t(neighbour(i, dirs[size_t(i)], w, h))];
  }
  // Kahn's order: a cell is done once everything draining into it is.
  std::deque<int64_t> ready;
  for (int64_t i = 0; i < n; ++i)
    if (dirs[size_t(i)] != kNoFlow && upstream[size_t(i)] == 0) ready.push_back(i);
  if (order) order->clear();
  while (!ready.empty()) {
    const int64_t c = ready.front();
    ready.pop_front();
    if (order) order->push_back(int32_t(c));
    if (dirs[size_t(c)] < 0) continue;
    const int64_t d = neighbour(c, dirs[size_t(c)], w, h);
    acc[size_t(d)] += acc[size_t(c)];
    if (--upstream[size_t(d)] == 0) ready.push_back(d);
  }
  return acc;
}

HandResult compute_hand(const DemGrid& g, const HandParams& p) {
  check_grid(g);
  if (!(p.drainage_min_km2 > 0)) throw Error(ErrorKind::Usage, "terrain", "drainage threshold must be > 0 km²");
  if (int64_t(g.width) * g.height > std::numeric_limits<int32_t>::max())
    throw Error(ErrorKind::InvalidInput, "terrain", "DEM window too large for HAND (over 2^31 cells)");
  const int w = g.width, h = g.height;
  HandResult r;
  r.filled = priority_flood_fill(g, p.flat_epsilon_m);
  r.dirs = d8_directions(r.filled, w, h, g.dx_m, g.dy_m);
  std::vector<int32_t> order;
  r.accumulation_km2 = flow_accumulation(r.dirs, w, h, g.dx_m * g.dy_m / 1e6, &order);
  const size_t n = r.filled.size();
  r.drainage.assign(n, 0);
  r.hand.assign(n, std::numeric_limits<float>::quiet_NaN());
  // Each cell's drainage height, downstream first: a drainage cell's own, else the one of the
  // cell it drains to (already known), NaN when the path leaves the grid first.
  std::vector<double> base(n, kNaN);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const size_t c = size_t(*it);
    ++r.valid_cells;
    if (r.accumulation_km2[c] >= p.drainage_min_km2) {
      r.drainage[c] = 1;
      ++r.drainage_cells;
      base[c] = r.filled[c];
    } else if (r.dirs[c] >= 0) {
      base[c] = base[size_t(neighbour(int64_t(c), r.dirs[c], w, h))];
    }
    if (std::isnan(base[c])) {
      ++r.unknown_cells;
      continue;
    }
    r.hand[c] = float(std::max(0.0, r.filled[c] - base[c]));
  }
  return r;
}

}  // namespace drshym::terrain
