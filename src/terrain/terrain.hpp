#pragma once
// Terrain layers of a scene from a DEM (segment --dem): GDAL reads the DEM around the scene on
// the DEM's own grid (with a margin, so that a river just outside the scene still drains it),
// computes slope with its DEM processing (GDALDEMProcessing "slope"), this module computes
// HAND there (terrain/hand.hpp), and GDAL warps height, slope and HAND onto the scene's output
// grid (bilinear). GDAL headers stay in the .cpp.
//
//   terrain::DemWindow w = terrain::check_dem("dem.tif", out_grid, terrain::TerrainParams::default_params());
//   terrain::TerrainLayers l = terrain::compute_layers(w, out_grid, tp, "out/.s_terrain");
//   // l.slope, l.hand, l.dem: Float32 rasters on out_grid, NaN unknown
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/geo.hpp"
#include "io/raster.hpp"
#include "io/warp.hpp"
#include "terrain/hand.hpp"

namespace drshym::terrain {

struct TerrainParams {
  double margin_m = 2000.0;      // DEM read this far around the scene (ground metres)
  // A DEM whose cells are more than this many times the scene's pixel size (ground metres,
  // geometric mean of x and y) is refused: a 10 m scene takes a 30 m or a 90 m DEM (3x, 9x),
  // not a 250 m one, whose slopes and streams are too smooth to mean anything at 10 m.
  double max_cell_ratio = 10.0;
  HandParams hand;
  static TerrainParams default_params() { return {}; }
};

// What check_dem found out about a DEM, before any pixel is read.
struct DemWindow {
  std::string uri;
  io::RasterInfo info;
  Window scene_part;       // DEM pixels under the scene (no margin)
  Window window;           // DEM pixels read: scene_part widened by the margin, inside the DEM
  bool geographic = false;
  double cell_x_m = 0, cell_y_m = 0;  // DEM cell on the ground at the window's centre
  double scene_cell_m = 0;            // the scene's pixel (geometric mean), for the ratio
  double centre_lat = 0;              // geographic DEMs: latitude of the window's centre
  double linear_unit_m = 1.0;         // projected DEMs: metres per horizontal unit
  double vertical_to_m = 1.0;         // metres per DEM height unit
  std::string vertical_unit;          // as the DEM names it ("" when it does not)
};

// Every check on a DEM that needs no pixels, each error naming the file (InvalidInput unless
// the file is missing): no CRS or no geotransform, no overlap with the scene's grid, cells more
// than max_cell_ratio times coarser than the scene's, a vertical unit that is not a length.
DemWindow check_dem(const std::string& dem_uri, const io::Grid& scene, const TerrainParams& p);

// Heights of w.window in metres (NaN = nodata), read from the DEM.
std::vector<float> read_heights(const DemWindow& w);

// Slope in degrees of a north-up DEM (heights in metres, NaN nodata) with GDAL's DEM processing
// (Horn's method, edges computed). Geographic grids: scale 111120 m per degree, with the cell
// width first shrunk by cos(latitude at the centre) so that east-west gradients are not
// underestimated (by 26% at 42°N without it). NaN where the slope is unknown.
std::vector<float> slope_degrees(const std::vector<float>& heights, int width, int height, const GeoTransform& gt,
                                 bool geographic, double centre_lat, double linear_unit_m);

struct TerrainLayers {
  std::string dem, slope, hand;  // Float32 rasters on the output grid, NaN unknown (scratch)
  nlohmann::json provenance;
};

// Heights, slope and HAND on the DEM window, warped onto `out` as <prefix>_{dem,slope,hand}.tif
// (plus <prefix>_window.tif, the layers on the DEM's grid): the caller removes them all
// (layer_paths). InvalidInput when the DEM has no data under the scene.
TerrainLayers compute_layers(const DemWindow& w, const io::Grid& out, const TerrainParams& p, const std::string& prefix);
std::vector<std::string> layer_paths(const std::string& prefix);

}  // namespace drshym::terrain
