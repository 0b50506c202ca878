#pragma once
// Areas in square metres whatever a raster's CRS: projected CRSs are scaled by their linear
// unit (metre, foot, US survey foot, ...); geographic CRSs are measured on their ellipsoid.
// Used for flood areas in records, --min-area and polygon areas, so that a scene in
// EPSG:4326, EPSG:4269 or a State Plane CRS in feet reports the same km² as one in UTM.
#include <memory>
#include <optional>
#include <string>

#include "core/geo.hpp"

class OGRSpatialReference;
class OGRCoordinateTransformation;
class OGRGeometry;

namespace drshym::io {

// Ground area of the pixels of one grid.
class PixelArea {
 public:
  // nullopt when the grid has no CRS (areas cannot be known); throws InvalidInput when the CRS
  // cannot be parsed or has neither a linear unit nor an ellipsoid.
  static std::optional<PixelArea> for_grid(const std::string& crs_wkt, const GeoTransform& gt);
  // Area in m² of the pixel at (col, row) of the grid.
  double at(int col, int row) const;
  // True when every pixel of a row has the same area (north-up geographic grids, every
  // projected grid), so callers may count a row's pixels and multiply once.
  bool same_along_rows() const { return same_along_rows_; }
  // How areas are computed, for records: e.g. "projected, metre", "ellipsoidal, WGS 84".
  const std::string& method() const { return method_; }

 private:
  GeoTransform gt_;
  bool geographic_ = false, same_along_rows_ = true;
  double constant_m2_ = 0;           // projected: |det| × unit²
  double a_ = 0, e2_ = 0;            // geographic: semi-major axis (m), first eccentricity²
  double cell_rad2_ = 0;             // geographic: |det| of the transform in radians²
  std::string method_;
};

// Polygon areas in m²: transforms geometries of `source` into a CRS where planar area is
// ground area (the source itself scaled by its unit, or a Lambert azimuthal equal-area
// projection on the source's ellipsoid centred at (lon, lat) for geographic sources; equal-area
// projections preserve areas exactly, only shapes distort away from the centre).
class AreaMeter {
 public:
  AreaMeter(const OGRSpatialReference& source, double centre_lon, double centre_lat);
  ~AreaMeter();
  AreaMeter(AreaMeter&&) noexcept;
  // Area of a polygon or multipolygon in the source CRS, in m².
  double area_m2(const OGRGeometry& g) const;
  const std::string& method() const { return method_; }

 private:
  std::unique_ptr<OGRCoordinateTransformation> to_equal_area_;
  double unit_m2_ = 1.0;
  std::string method_;
};

}  // namespace drshym::io
