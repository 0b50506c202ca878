#include "io/area.hpp"

#include <ogr_geometry.h>
#include <ogr_spatialref.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "io/gdal_env.hpp"

namespace drshym::io {
namespace {

constexpr double kPi = 3.14159265358979323846;

std::string unit_name(const OGRSpatialReference& srs, bool angular) {
  const char* name = nullptr;
  if (angular) srs.GetAngularUnits(&name);
  else srs.GetLinearUnits(&name);
  return name ? name : "unknown unit";
}

std::string ellipsoid_name(const OGRSpatialReference& srs) {
  const char* datum = srs.GetAttrValue("DATUM");
  return datum ? datum : "ellipsoid";
}

}  // namespace

std::optional<PixelArea> PixelArea::for_grid(const std::string& crs_wkt, const GeoTransform& gt) {
  if (crs_wkt.empty()) return std::nullopt;
  gdal_init();
  OGRSpatialReference srs;
  if (srs.importFromWkt(crs_wkt.c_str()) != OGRERR_NONE)
    throw Error(ErrorKind::InvalidInput, "io", "cannot parse the raster's CRS to measure areas");
  PixelArea pa;
  pa.gt_ = gt;
  const auto& t = gt.t;
  const double det = std::abs(t[1] * t[5] - t[2] * t[4]);
  if (srs.IsGeographic()) {
    pa.geographic_ = true;
    pa.a_ = srs.GetSemiMajor();
    const double inv_f = srs.GetInvFlattening();
    const double f = inv_f > 0 ? 1.0 / inv_f : 0.0;
    pa.e2_ = f * (2 - f);
    const double to_rad = srs.GetAngularUnits(nullptr);  // radians per CRS unit
    if (!(pa.a_ > 0) || !(to_rad > 0))
      throw Error(ErrorKind::InvalidInput, "io", "the raster's geographic CRS has no usable ellipsoid or angular unit");
    // Areas integrate in radians: convert the transform's units once.
    pa.cell_rad2_ = det * to_rad * to_rad;
    for (double& v : pa.gt_.t) v *= to_rad;
    pa.same_along_rows_ = t[4] == 0.0;  // latitude does not change along a row
    pa.method_ = "ellipsoidal (" + ellipsoid_name(srs) + ", " + unit_name(srs, true) + ")";
  } else {
    const double unit = srs.GetLinearUnits(nullptr);  // metres per CRS unit
    if (!(unit > 0)) throw Error(ErrorKind::InvalidInput, "io", "the raster's CRS has no usable linear unit");
    pa.constant_m2_ = det * unit * unit;
    pa.method_ = "projected (" + unit_name(srs, false) + ")";
  }
  return pa;
}

double PixelArea::at(int col, int row) const {
  if (!geographic_) return constant_m2_;
  // Area between two parallels per radian of longitude on the ellipsoid (the authalic
  // integral of M·N·cos φ): exact for a north-up pixel, whose edges are two parallels and two
  // meridians. A rotated pixel uses the same element at its centre (error O(pixel²)).
  auto band = [&](double phi) {
    phi = std::clamp(phi, -kPi / 2, kPi / 2);
    const double s = std::sin(phi);
    if (e2_ < 1e-15) return a_ * a_ * s;
    const double e = std::sqrt(e2_);
    return 0.5 * a_ * a_ * (1 - e2_) * (s / (1 - e2_ * s * s) + std::log((1 + e * s) / (1 - e * s)) / (2 * e));
  };
  const auto& t = gt_.t;  // in radians
  if (same_along_rows_ && t[2] == 0.0) {
    const double phi0 = t[3] + row * t[5], phi1 = t[3] + (row + 1) * t[5];
    return std::abs(t[1]) * std::abs(band(phi1) - band(phi0));
  }
  double lon, phi;
  gt_.pixel_to_geo(col + 0.5, row + 0.5, lon, phi);
  const double s = std::sin(phi);
  const double q = 1 - e2_ * s * s;
  return cell_rad2_ * a_ * a_ * (1 - e2_) * std::cos(phi) / (q * q);
}

AreaMeter::AreaMeter(const OGRSpatialReference& source, double centre_lon, double centre_lat) {
  gdal_init();
  if (source.IsGeographic()) {
    OGRSpatialReference src(source), laea;
    src.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    laea.CopyGeogCSFrom(&src);
    laea.SetLAEA(std::clamp(centre_lat, -90.0, 90.0), centre_lon, 0, 0);
    laea.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    to_equal_area_.reset(OGRCreateCoordinateTransformation(&src, &laea));
    if (!to_equal_area_)
      throw Error(ErrorKind::InvalidInput, "io", "cannot build an equal-area projection to measure polygon areas");
    method_ = "equal-area (Lambert azimuthal on " + ellipsoid_name(source) + ")";
  } else {
    const double unit = source.GetLinearUnits(nullptr);
    if (!(unit > 0)) throw Error(ErrorKind::InvalidInput, "io", "the CRS has no usable linear unit to measure areas");
    unit_m2_ = unit * unit;
    method_ = "projected (" + unit_name(source, false) + ")";
  }
}

AreaMeter::~AreaMeter() = default;
AreaMeter::AreaMeter(AreaMeter&&) noexcept = default;

double AreaMeter::area_m2(const OGRGeometry& g) const {
  const auto type = wkbFlatten(g.getGeometryType());
  if (type != wkbPolygon && type != wkbMultiPolygon) return 0.0;
  auto planar = [&](const OGRGeometry& x) {
    return type == wkbPolygon ? x.toPolygon()->get_Area() : x.toMultiPolygon()->get_Area();
  };
  if (!to_equal_area_) return unit_m2_ * planar(g);
  std::unique_ptr<OGRGeometry> m(g.clone());
  if (m->transform(to_equal_area_.get()) != OGRERR_NONE)
    throw Error(ErrorKind::InvalidInput, "io", "cannot project a polygon to measure its area");
  return planar(*m);
}

}  // namespace drshym::io
