#pragma once
// Auxiliary rasters for the error slices of `drshym eval`: a DEM (for terrain slope) or a land-
// cover map, in any CRS, resampled by GDAL onto each chip's grid so that every chip pixel gets a
// value, or NaN where the raster does not cover it (outside its extent, or its nodata).
//
//   AuxRaster dem = AuxRaster::open("dem.tif", "--dem");   // fails early: no file, no CRS
//   ChipGrid g{raw.crs_wkt, *raw.geotransform, raw.width, raw.height};
//   std::vector<float> slope = slope_on_grid(dem, g);      // degrees, NaN = not covered
//   std::vector<float> cls = classes_on_grid(lc, g);       // class values, NaN = not covered
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "core/geo.hpp"
#include "io/raster.hpp"
#include "io/warp.hpp"

namespace drshym::eval {

// The grid of a chip: CRS (WKT), geotransform and size in pixels.
using ChipGrid = io::Grid;

// Band 1 of a georeferenced raster, opened once and warped onto many chips (not thread-safe:
// one chip at a time).
class AuxRaster {
 public:
  // Errors name the file and the option it came from ("--dem"): NotFound when there is no such
  // file; InvalidInput when GDAL cannot read it, or it has no CRS or no geotransform.
  static AuxRaster open(const std::string& path, const std::string& option);

  const std::string& path() const;
  const io::RasterInfo& info() const;
  // Metres per unit of the band's values: 0.3048 when GDAL's unit type says feet, else 1.
  double vertical_unit_m() const;

  struct Source;  // the file and, for a multi-band file, a VRT of its band 1 (GDAL 3.6's
                  // gdalwarp has no -srcband)
  const Source& source() const { return *src_; }

 private:
  std::shared_ptr<Source> src_;
};

// Terrain slope in degrees on the grid (width * height, row-major): the DEM warped (bilinear)
// onto the grid widened by one pixel, then GDAL's slope (Horn) with -compute_edges, using the
// grid's pixel sizes in metres. NaN where the DEM does not cover the pixel.
std::vector<float> slope_on_grid(const AuxRaster& dem, const ChipGrid& grid);

// Class values on the grid (nearest neighbour); NaN where the raster does not cover the pixel.
std::vector<float> classes_on_grid(const AuxRaster& classes, const ChipGrid& grid);

// Pixel sizes of the grid along its columns and rows, in metres on the ground: linear units for
// a projected CRS; for a geographic CRS, the ellipsoid's metres per degree at the grid's centre
// (east-west scaled by cos(latitude)). Throws InvalidInput when the CRS has neither.
std::array<double, 2> ground_pixel_size_m(const ChipGrid& grid);

}  // namespace drshym::eval
