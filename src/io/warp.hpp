#pragma once
// One band of any georeferenced raster resampled by GDAL (gdalwarp) onto another grid: the
// pre-event scene onto the post-event scene's grid (segment --before), a reference water
// raster onto the output grid (segment --reference-water). GDAL does the reprojection and
// resampling; nothing is hand-written. Memory stays bounded (GDAL warps in chunks to disk).
//
//   io::Grid g{info.crs_wkt, info.geotransform, info.width, info.height};
//   io::warp_band_to_grid(before_uri, vv_band, g, "out/.before.tif", "bilinear", "--before");
#include <array>
#include <string>
#include <vector>

#include "core/geo.hpp"
#include "io/raster.hpp"

namespace drshym::io {

// The grid a raster is resampled onto: CRS (WKT), geotransform and size in pixels.
struct Grid {
  std::string crs_wkt;
  GeoTransform geotransform;
  int width = 0;
  int height = 0;
};

// False when the grid lies outside the raster for sure: points along the grid's border and
// inside it, taken to the raster's CRS, make a box (widened 5%) that misses the raster's box,
// or none of them can be taken there. True means "may overlap": the warp decides.
bool may_overlap(const RasterInfo& src, const Grid& g);

// (steps + 1)² points evenly over the grid, its border included, in the grid's CRS (row by
// row): what may_overlap and the DEM check take to another CRS to bound a grid there.
void grid_sample_points(const Grid& g, int steps, std::vector<double>& x, std::vector<double>& y);

// The outline of a raster in WGS84 lon/lat (GeoJSON order): `per_side` points along each edge,
// closed, counter-clockwise (RFC 7946 exterior ring) whatever the grid's orientation. Throws
// InvalidInput naming the raster when it has no usable CRS or a point cannot be taken to WGS84.
std::vector<std::array<double, 2>> footprint_wgs84(const RasterInfo& info, int per_side = 8);

// Band `band` (1-based) of src warped onto g and written as a tiled Float32 GeoTIFF (ZSTD) at
// out_path, NaN where no source pixel contributed (outside its extent, or its nodata).
// `resampling` is a gdalwarp -r method ("near", "bilinear", "average", ...). Errors name `what`
// (the option the file came from) and the file: InvalidInput when src has no CRS or no
// geotransform, or GDAL cannot warp it.
void warp_band_to_grid(const std::string& src_uri, int band, const Grid& g, const std::string& out_path,
                       const char* resampling, const std::string& what);

// Finite pixels of band 1 of a raster read at reduced resolution (at most max_side pixels on a
// side, nearest): a cheap "is anything there" check for a warped raster.
int64_t finite_pixels_sampled(const std::string& uri, int max_side = 1024);

}  // namespace drshym::io
