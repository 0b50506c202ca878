#include "core/geo.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace drshym {

Window Window::intersect(const Window& o) const {
  int x0 = std::max(x, o.x), y0 = std::max(y, o.y);
  int x1 = std::min(x + w, o.x + o.w), y1 = std::min(y + h, o.y + o.h);
  if (x1 <= x0 || y1 <= y0) return Window{x0, y0, 0, 0};
  return Window{x0, y0, x1 - x0, y1 - y0};
}

std::string Window::str() const {
  return "[x=" + std::to_string(x) + " y=" + std::to_string(y) + " w=" + std::to_string(w) +
         " h=" + std::to_string(h) + "]";
}

void GeoTransform::geo_to_pixel(double gx, double gy, double& col, double& row) const {
  double det = t[1] * t[5] - t[2] * t[4];
  if (det == 0.0) throw Error(ErrorKind::InvalidInput, "geo", "singular geotransform");
  double dx = gx - t[0], dy = gy - t[3];
  col = (t[5] * dx - t[2] * dy) / det;
  row = (-t[4] * dx + t[1] * dy) / det;
}

GeoTransform GeoTransform::shifted(int col, int row) const {
  GeoTransform g = *this;
  pixel_to_geo(col, row, g.t[0], g.t[3]);
  return g;
}

std::array<double, 4> GeoTransform::bounds(const Window& w) const {
  double xs[4], ys[4];
  pixel_to_geo(w.x, w.y, xs[0], ys[0]);
  pixel_to_geo(w.x + w.w, w.y, xs[1], ys[1]);
  pixel_to_geo(w.x, w.y + w.h, xs[2], ys[2]);
  pixel_to_geo(w.x + w.w, w.y + w.h, xs[3], ys[3]);
  return {*std::min_element(xs, xs + 4), *std::min_element(ys, ys + 4),
          *std::max_element(xs, xs + 4), *std::max_element(ys, ys + 4)};
}

std::array<double, 2> GeoTransform::pixel_spacing() const {
  return {std::hypot(t[1], t[4]), std::hypot(t[2], t[5])};
}

}  // namespace drshym
