#include "eval/aux_layers.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include <cpl_string.h>
#include <fmt/format.h>
#include <gdal_priv.h>
#include <gdal_utils.h>
#include <ogr_spatialref.h>

#include "core/error.hpp"
#include "io/gdal_env.hpp"
#include "io/warp.hpp"

namespace drshym::eval {
namespace {

// What a warp leaves where nothing was resampled: exactly representable in Float32, and
// neither a plausible elevation nor a class value.
constexpr double kNoData = -1.0e9;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct DatasetCloser {
  void operator()(void* h) const {
    if (h) GDALClose(static_cast<GDALDatasetH>(h));
  }
};
using DatasetPtr = std::unique_ptr<void, DatasetCloser>;

OGRSpatialReference srs_of(const std::string& wkt, const std::string& what) {
  OGRSpatialReference srs;
  if (wkt.empty() || srs.importFromWkt(wkt.c_str()) != OGRERR_NONE)
    throw Error(ErrorKind::InvalidInput, "eval", what + ": CRS not understood by GDAL");
  srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);  // x = longitude, as in geotransforms
  return srs;
}

void check_grid(const ChipGrid& g) {
  if (g.width <= 0 || g.height <= 0 || g.crs_wkt.empty())
    throw Error(ErrorKind::Internal, "eval", "chip grid without size or CRS");
}

std::vector<float> not_covered(const ChipGrid& g) { return std::vector<float>(size_t(g.width) * size_t(g.height), kNaN); }

// Band 1 of the source warped by GDAL onto the grid (a Float32 MEM raster), kNoData where no
// source pixel contributed (outside its extent, or its nodata).
DatasetPtr warp_onto(GDALDatasetH src, const std::string& src_name, const ChipGrid& g, const char* resampling) {
  GDALDriverH mem = GDALGetDriverByName("MEM");
  DatasetPtr dst(GDALCreate(mem, "", g.width, g.height, 1, GDT_Float32, nullptr));
  if (!dst) throw Error(ErrorKind::Internal, "eval", "cannot create an in-memory raster: " + io::last_gdal_error());
  double gt[6];
  std::copy(g.geotransform.t.begin(), g.geotransform.t.end(), gt);
  GDALSetGeoTransform(dst.get(), gt);
  GDALSetProjection(dst.get(), g.crs_wkt.c_str());
  GDALRasterBandH band = GDALGetRasterBand(dst.get(), 1);
  GDALSetRasterNoDataValue(band, kNoData);
  GDALFillRaster(band, kNoData, 0);
  CPLStringList args;
  for (const char* a : {"-r", resampling, "-dstnodata", "-1000000000", "-wo", "INIT_DEST=NO_DATA"}) args.AddString(a);
  std::unique_ptr<GDALWarpAppOptions, void (*)(GDALWarpAppOptions*)> opt(GDALWarpAppOptionsNew(args.List(), nullptr),
                                                                         GDALWarpAppOptionsFree);
  io::reset_gdal_error();
  int usage_error = 0;
  GDALDatasetH out;
  {
    io::QuietGdal quiet;
    out = GDALWarp(nullptr, dst.get(), 1, &src, opt.get(), &usage_error);
  }
  if (!out)
    throw Error(ErrorKind::InvalidInput, "eval",
                "cannot warp " + quoted(src_name) + " onto a chip's grid: " + io::last_gdal_error());
  return dst;
}

// A window of band 1 as floats, NaN where the band holds its nodata value.
std::vector<float> read_band(GDALDatasetH ds, int x, int y, int w, int h) {
  GDALRasterBandH band = GDALGetRasterBand(ds, 1);
  std::vector<float> v(size_t(w) * size_t(h));
  if (GDALRasterIO(band, GF_Read, x, y, w, h, v.data(), w, h, GDT_Float32, 0, 0) != CE_None)
    throw Error(ErrorKind::Internal, "eval", "cannot read an in-memory raster: " + io::last_gdal_error());
  int has_nodata = 0;
  const double nodata = GDALGetRasterNoDataValue(band, &has_nodata);
  if (has_nodata)
    for (float& x : v)
      if (x == float(nodata)) x = kNaN;
  return v;
}

double vertical_unit_of(GDALRasterBandH band) {
  std::string u = GDALGetRasterUnitType(band);
  for (auto& c : u) c = char(std::tolower(static_cast<unsigned char>(c)));
  const bool feet = u == "ft" || u.find("foot") != std::string::npos || u.find("feet") != std::string::npos;
  if (!feet) return 1.0;
  return u.find("us") != std::string::npos ? 1200.0 / 3937.0 : 0.3048;
}

}  // namespace

struct AuxRaster::Source {
  explicit Source(io::Raster r) : file(std::move(r)) {}
  io::Raster file;
  DatasetPtr band1_vrt;  // declared after file: closed before it
  double vertical_unit_m = 1.0;
  GDALDatasetH band1() const { return band1_vrt ? band1_vrt.get() : GDALDataset::ToHandle(file.handle()); }
};

AuxRaster AuxRaster::open(const std::string& path, const std::string& option) {
  io::gdal_init();
  std::shared_ptr<Source> src;
  try {
    src = std::make_shared<Source>(io::Raster::open(path));
  } catch (const Error& e) {
    throw Error(e.kind(), "eval", option + ": " + e.what());
  }
  const io::RasterInfo& info = src->file.info();
  const std::string what = option + " " + quoted(path);
  if (info.crs_wkt.empty())
    throw Error(ErrorKind::InvalidInput, "eval",
                what + " has no CRS, so it cannot be matched to the chips' grids (assign one, e.g. gdal_edit.py "
                       "-a_srs EPSG:xxxx)");
  if (!info.has_geotransform)
    throw Error(ErrorKind::InvalidInput, "eval",
                what + " has no geotransform (only GCPs or none); warp it to a grid first (gdalwarp)");
  if (info.bands > 1) {
    CPLStringList args;
    for (const char* a : {"-of", "VRT", "-b", "1"}) args.AddString(a);
    std::unique_ptr<GDALTranslateOptions, void (*)(GDALTranslateOptions*)> opt(
        GDALTranslateOptionsNew(args.List(), nullptr), GDALTranslateOptionsFree);
    io::reset_gdal_error();
    src->band1_vrt.reset(GDALTranslate("", GDALDataset::ToHandle(src->file.handle()), opt.get(), nullptr));
    if (!src->band1_vrt)
      throw Error(ErrorKind::InvalidInput, "eval", what + ": cannot select band 1: " + io::last_gdal_error());
  }
  src->vertical_unit_m = vertical_unit_of(GDALGetRasterBand(src->band1(), 1));
  AuxRaster r;
  r.src_ = std::move(src);
  return r;
}

const std::string& AuxRaster::path() const { return src_->file.info().uri; }
const io::RasterInfo& AuxRaster::info() const { return src_->file.info(); }
double AuxRaster::vertical_unit_m() const { return src_->vertical_unit_m; }

std::array<double, 2> ground_pixel_size_m(const ChipGrid& g) {
  check_grid(g);
  const OGRSpatialReference srs = srs_of(g.crs_wkt, "chip");
  if (srs.IsProjected()) {
    const double unit = srs.GetLinearUnits(nullptr);
    const auto s = g.geotransform.pixel_spacing();
    if (unit > 0) return {s[0] * unit, s[1] * unit};
  } else if (srs.IsGeographic()) {
    // Metres per unit of longitude and latitude at the grid's centre, on the CRS's ellipsoid.
    // A chip spans a few km: the east-west scale (cos(latitude)) varies by < 0.1% across it.
    double lon, lat;
    g.geotransform.pixel_to_geo(g.width / 2.0, g.height / 2.0, lon, lat);
    const double rad = srs.GetAngularUnits(nullptr), a = srs.GetSemiMajor(nullptr), b = srs.GetSemiMinor(nullptr);
    const double e2 = 1.0 - (b * b) / (a * a), phi = lat * rad, s = std::sin(phi), w = 1.0 - e2 * s * s;
    const double east = a / std::sqrt(w) * std::cos(phi) * rad, north = a * (1.0 - e2) / (w * std::sqrt(w)) * rad;
    const auto& t = g.geotransform.t;
    if (rad > 0 && a > 0) return {std::hypot(t[1] * east, t[4] * north), std::hypot(t[2] * east, t[5] * north)};
  }
  throw Error(ErrorKind::InvalidInput, "eval", "a chip's CRS has neither linear nor angular units");
}

std::vector<float> slope_on_grid(const AuxRaster& dem, const ChipGrid& g) {
  check_grid(g);
  if (!io::may_overlap(dem.info(), g)) return not_covered(g);
  // Slope needs horizontal distances in the elevation's unit. Two ways were possible: slope on
  // the DEM in a metric CRS, then warp the slope; or warp the DEM onto the chip's grid, then
  // slope there with the grid's pixel sizes in metres. The second is used: a single resampling
  // (of elevation, where bilinear is exact on planes; resampling a slope map averages angles),
  // the slope is that of the chip's own pixels, and any DEM CRS works, geographic included,
  // without choosing a metric CRS. "-s 111120" would not do for the geographic chips of
  // Sen1Floods11: a degree of longitude is 111 km x cos(latitude), so that scale alone would
  // shrink east-west gradients by cos(latitude) (by a third at 48 degrees).
  // A DEM coarser than the chip (the usual 30 m one) is interpolated; a finer one is averaged
  // over each chip pixel (GDAL widens the bilinear kernel when downsampling), smoothing relief
  // below the chip's resolution as the radar's pixels do.
  ChipGrid wide = g;  // one more pixel on every side: the chip's edge pixels get real neighbours
  wide.geotransform = g.geotransform.shifted(-1, -1);
  wide.width += 2;
  wide.height += 2;
  DatasetPtr elev = warp_onto(dem.source().band1(), dem.path(), wide, "bilinear");
  const auto px = ground_pixel_size_m(g);
  // GDAL's slope takes the geotransform's pixel sizes as the horizontal distances; with the CRS
  // removed no degree handling can apply. -s: vertical units in one metre (3.28 for feet).
  double gt[6] = {0.0, px[0], 0.0, 0.0, 0.0, -px[1]};
  GDALSetGeoTransform(elev.get(), gt);
  GDALDataset::FromHandle(elev.get())->SetSpatialRef(nullptr);
  CPLStringList args;
  for (const char* a : {"-of", "MEM", "-compute_edges", "-s"}) args.AddString(a);
  args.AddString(fmt::format("{:.17g}", 1.0 / dem.vertical_unit_m()).c_str());
  std::unique_ptr<GDALDEMProcessingOptions, void (*)(GDALDEMProcessingOptions*)> opt(
      GDALDEMProcessingOptionsNew(args.List(), nullptr), GDALDEMProcessingOptionsFree);
  io::reset_gdal_error();
  DatasetPtr slope;
  {
    io::QuietGdal quiet;
    slope.reset(GDALDEMProcessing("", elev.get(), "slope", nullptr, opt.get(), nullptr));
  }
  if (!slope)
    throw Error(ErrorKind::Internal, "eval", "GDAL slope of " + quoted(dem.path()) + " failed: " + io::last_gdal_error());
  return read_band(slope.get(), 1, 1, g.width, g.height);
}

std::vector<float> classes_on_grid(const AuxRaster& classes, const ChipGrid& g) {
  check_grid(g);
  if (!io::may_overlap(classes.info(), g)) return not_covered(g);
  DatasetPtr v = warp_onto(classes.source().band1(), classes.path(), g, "near");
  return read_band(v.get(), 0, 0, g.width, g.height);
}

}  // namespace drshym::eval
