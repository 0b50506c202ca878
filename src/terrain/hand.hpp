#pragma once
// Height above nearest drainage (HAND, Rennó et al. 2008, Nobre et al. 2011) on a DEM held in
// memory: depression filling by priority-flood with a small gradient across flats (Barnes et al.
// 2014, "Priority-Flood+ε"), D8 steepest-descent flow directions, flow accumulation in
// contributing area, a drainage network where that area reaches a threshold, and for every
// cell the height of its (filled) surface above the drainage cell its flow path first meets.
// Pure arithmetic on a grid: no GDAL, no CRS (the caller gives the cell size in metres).
//
//   terrain::DemGrid g{w, h, heights /* NaN = nodata */, 30.9, 23.0};
//   terrain::HandResult r = terrain::compute_hand(g, terrain::HandParams::default_params());
//   r.hand[i]  // metres, NaN where unknown (nodata, or the path leaves the grid before a river)
#include <cstdint>
#include <vector>

namespace drshym::terrain {

// Heights of a north-up grid, row-major, NaN where the DEM has no data.
struct DemGrid {
  int width = 0;
  int height = 0;
  std::vector<float> z;   // metres
  double dx_m = 1.0;      // cell width on the ground (metres)
  double dy_m = 1.0;      // cell height on the ground (metres)
};

struct HandParams {
  // Cells whose contributing area (their own included) reaches this many km² are drainage.
  // 0.5 km² (~550 cells of a 1" DEM): first- and second-order streams and the main rivers; see
  // docs/terrain.md for why and what changes with it.
  double drainage_min_km2 = 0.5;
  // Height added per cell across a filled flat so that every cell has a lower neighbour
  // (Barnes' ε). Small against DEM precision (1 m), large against double rounding.
  double flat_epsilon_m = 1e-4;
  static HandParams default_params() { return {}; }
};

// D8 neighbour codes 0..7 (E, SE, S, SW, W, NW, N, NE); kOutlet: drains out of the grid (an
// edge cell, or one beside nodata, with no lower neighbour); kNoFlow: nodata.
inline constexpr int8_t kOutlet = -1;
inline constexpr int8_t kNoFlow = -2;
inline constexpr int kDx[8] = {1, 1, 0, -1, -1, -1, 0, 1};
inline constexpr int kDy[8] = {0, 1, 1, 1, 0, -1, -1, -1};

// Depressions filled: every valid cell ends up with a path of strictly decreasing height to the
// grid's edge or to a nodata cell (each cell at least flat_epsilon_m above the one that floods
// it). Nodata stays NaN. Doubles, so that ε survives on top of hundreds of metres.
std::vector<double> priority_flood_fill(const DemGrid& g, double flat_epsilon_m);

// Steepest descent (drop / ground distance) among the 8 neighbours of each cell of a filled
// surface; kOutlet where no neighbour is lower, kNoFlow on nodata.
std::vector<int8_t> d8_directions(const std::vector<double>& filled, int width, int height, double dx_m, double dy_m);

// Contributing area of each cell in km² (its own cell included), accumulated downstream along
// dirs; 0 on nodata. `order`, when given, receives the valid cells upstream-first (every cell
// before the one it drains to).
std::vector<double> flow_accumulation(const std::vector<int8_t>& dirs, int width, int height, double cell_km2,
                                      std::vector<int32_t>* order = nullptr);

struct HandResult {
  std::vector<double> filled;
  std::vector<int8_t> dirs;
  std::vector<double> accumulation_km2;
  std::vector<uint8_t> drainage;  // 1 on the drainage network
  std::vector<float> hand;        // metres above the drainage cell the flow path meets; NaN unknown
  int64_t valid_cells = 0;
  int64_t drainage_cells = 0;
  int64_t unknown_cells = 0;      // valid cells whose path leaves the grid before any drainage
};

HandResult compute_hand(const DemGrid& g, const HandParams& p);

}  // namespace drshym::terrain
