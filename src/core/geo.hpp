#pragma once
// Small geometry types shared by every module: pixel windows and affine geotransforms.
#include <array>
#include <cstdint>
#include <string>

namespace drshym {

// A rectangle of pixels: column x, row y, width w, height h.
struct Window {
  int x = 0;
  int y = 0;
  int w = 0;
  int h = 0;
  int64_t area() const { return int64_t(w) * h; }
  bool empty() const { return w <= 0 || h <= 0; }
  bool operator==(const Window& o) const { return x == o.x && y == o.y && w == o.w && h == o.h; }
  bool operator!=(const Window& o) const { return !(*this == o); }
  // Intersection (empty if none).
  Window intersect(const Window& o) const;
  std::string str() const;
};

// GDAL's affine geotransform: Xgeo = t[0] + col*t[1] + row*t[2]; Ygeo = t[3] + col*t[4] + row*t[5].
struct GeoTransform {
  std::array<double, 6> t{0, 1, 0, 0, 0, -1};

  void pixel_to_geo(double col, double row, double& gx, double& gy) const {
    gx = t[0] + col * t[1] + row * t[2];
    gy = t[3] + col * t[4] + row * t[5];
  }
  // Inverse of pixel_to_geo; throws InvalidInput if the transform is singular.
  void geo_to_pixel(double gx, double gy, double& col, double& row) const;
  // The transform of a sub-window: origin moved to the window's upper-left pixel.
  GeoTransform shifted(int col, int row) const;
  // [minx, miny, maxx, maxy] of a window's outer pixel edges (handles rotation and flips).
  std::array<double, 4> bounds(const Window& w) const;
  // Pixel size along x and y as positive numbers (norms of the column and row vectors).
  std::array<double, 2> pixel_spacing() const;
  bool operator==(const GeoTransform& o) const { return t == o.t; }
};

}  // namespace drshym
