#include "io/warp.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <vector>

#include <cpl_string.h>
#include <gdal_priv.h>
#include <gdal_utils.h>
#include <ogr_spatialref.h>

#include "core/error.hpp"
#include "io/decimate.hpp"
#include "io/gdal_env.hpp"

namespace drshym::io {
namespace {

struct DatasetCloser {
  void operator()(void* h) const {
    if (h) GDALClose(static_cast<GDALDatasetH>(h));
  }
};
using DatasetPtr = std::unique_ptr<void, DatasetCloser>;

bool srs_from(const std::string& wkt, OGRSpatialReference& srs) {
  if (wkt.empty() || srs.importFromWkt(wkt.c_str()) != OGRERR_NONE) return false;
  srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);  // x = longitude, as in geotransforms
  return true;
}

}  // namespace

void grid_sample_points(const Grid& g, int steps, std::vector<double>& x, std::vector<double>& y) {
  x.clear();
  y.clear();
  for (int i = 0; i <= steps; ++i)
    for (int j = 0; j <= steps; ++j) {
      double gx, gy;
      g.geotransform.pixel_to_geo(double(g.width) * j / steps, double(g.height) * i / steps, gx, gy);
      x.push_back(gx);
      y.push_back(gy);
    }
}

bool may_overlap(const RasterInfo& src, const Grid& g) {
  OGRSpatialReference grid_srs, src_srs;
  if (!srs_from(g.crs_wkt, grid_srs) || !srs_from(src.crs_wkt, src_srs)) return true;  // the warp reports why
  QuietGdal quiet;  // points outside the target CRS's area fail to transform: expected
  std::unique_ptr<OGRCoordinateTransformation> ct(OGRCreateCoordinateTransformation(&grid_srs, &src_srs));
  if (!ct) return true;
  std::vector<double> x, y;
  grid_sample_points(g, 8, x, y);  // 9 x 9 points over the grid, its border included
  std::vector<int> ok(x.size(), 0);
  ct->Transform(x.size(), x.data(), y.data(), nullptr, ok.data());
  double lo_x = INFINITY, lo_y = INFINITY, hi_x = -INFINITY, hi_y = -INFINITY;
  for (size_t k = 0; k < x.size(); ++k)
    if (ok[k] && std::isfinite(x[k]) && std::isfinite(y[k])) {
      lo_x = std::min(lo_x, x[k]), hi_x = std::max(hi_x, x[k]);
      lo_y = std::min(lo_y, y[k]), hi_y = std::max(hi_y, y[k]);
    }
  if (!(lo_x <= hi_x)) return false;
  // Edges between the sampled points may bulge a little in another CRS: widen by 5%.
  const double mx = 0.05 * (hi_x - lo_x), my = 0.05 * (hi_y - lo_y);
  const auto b = src.geotransform.bounds(Window{0, 0, src.width, src.height});
  return lo_x - mx <= b[2] && hi_x + mx >= b[0] && lo_y - my <= b[3] && hi_y + my >= b[1];
}

void warp_band_to_grid(const std::string& src_uri, int band, const Grid& g, const std::string& out_path,
                       const char* resampling, const std::string& what) {
  gdal_init();
  Raster src = [&] {
    try {
      return Raster::open(src_uri);
    } catch (const Error& e) {
      throw Error(e.kind(), "io", what + ": " + e.what());
    }
  }();
  const RasterInfo& info = src.info();
  const std::string name = what + " " + quoted(src_uri);
  if (info.crs_wkt.empty())
    throw Error(ErrorKind::InvalidInput, "io",
                name + " has no CRS, so it cannot be matched to the scene's grid (assign one, e.g. gdal_edit.py "
                       "-a_srs EPSG:xxxx)");
  if (!info.has_geotransform)
    throw Error(ErrorKind::InvalidInput, "io", name + " has no geotransform (only GCPs or none); warp it to a grid first (gdalwarp)");
  if (band < 1 || band > info.bands)
    throw Error(ErrorKind::InvalidInput, "io", name + " has no band " + std::to_string(band));
  // GDAL 3.6's gdalwarp has no -srcband: a VRT of the one band is warped instead.
  CPLStringList targs;
  for (const std::string& a : {std::string("-of"), std::string("VRT"), std::string("-b"), std::to_string(band)})
    targs.AddString(a.c_str());
  std::unique_ptr<GDALTranslateOptions, void (*)(GDALTranslateOptions*)> topt(GDALTranslateOptionsNew(targs.List(), nullptr),
                                                                              GDALTranslateOptionsFree);
  reset_gdal_error();
  DatasetPtr one(GDALTranslate("", GDALDataset::ToHandle(src.handle()), topt.get(), nullptr));
  if (!one) throw Error(ErrorKind::InvalidInput, "io", name + ": cannot select band " + std::to_string(band) + ": " + last_gdal_error());

  GDALDriverH gtiff = GDALGetDriverByName("GTiff");
  char** co = nullptr;
  for (const char* kv : {"TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512", "COMPRESS=ZSTD", "ZSTD_LEVEL=1", "BIGTIFF=IF_SAFER"})
    co = CSLAddString(co, kv);
  std::error_code ec;
  std::filesystem::remove(out_path, ec);
  DatasetPtr dst(GDALCreate(gtiff, out_path.c_str(), g.width, g.height, 1, GDT_Float32, co));
  CSLDestroy(co);
  if (!dst) throw Error(ErrorKind::Io, "io", "cannot create " + quoted(out_path) + ": " + last_gdal_error());
  double gt[6];
  std::copy(g.geotransform.t.begin(), g.geotransform.t.end(), gt);
  GDALSetGeoTransform(dst.get(), gt);
  GDALSetProjection(dst.get(), g.crs_wkt.c_str());
  GDALRasterBandH db = GDALGetRasterBand(dst.get(), 1);
  GDALSetRasterNoDataValue(db, std::nan(""));
  CPLStringList args;
  for (const char* a : {"-r", resampling, "-dstnodata", "nan", "-wo", "INIT_DEST=NO_DATA", "-wm", "256"}) args.AddString(a);
  std::unique_ptr<GDALWarpAppOptions, void (*)(GDALWarpAppOptions*)> opt(GDALWarpAppOptionsNew(args.List(), nullptr),
                                                                         GDALWarpAppOptionsFree);
  reset_gdal_error();
  int usage_error = 0;
  GDALDatasetH srch = one.get();
  GDALDatasetH out;
  {
    QuietGdal quiet;
    out = GDALWarp(nullptr, dst.get(), 1, &srch, opt.get(), &usage_error);
  }
  if (!out) {
    dst.reset();
    std::filesystem::remove(out_path, ec);
    throw Error(ErrorKind::InvalidInput, "io", "cannot warp " + name + " onto the scene's grid: " + last_gdal_error());
  }
  GDALFlushCache(dst.get());
  dst.reset();
}

std::vector<std::array<double, 2>> footprint_wgs84(const RasterInfo& info, int per_side) {
  OGRSpatialReference src, dst;
  src.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  dst.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  if (info.crs_wkt.empty() || src.importFromWkt(info.crs_wkt.c_str()) != OGRERR_NONE)
    throw Error(ErrorKind::InvalidInput, "io", "raster " + quoted(info.uri) + " has no usable CRS");
  dst.importFromEPSG(4326);
  std::unique_ptr<OGRCoordinateTransformation> ct(OGRCreateCoordinateTransformation(&src, &dst));
  if (!ct) throw Error(ErrorKind::InvalidInput, "io", "cannot transform " + quoted(info.uri) + " to WGS84");
  std::vector<std::array<double, 2>> ring;
  const double W = info.width, H = info.height;
  auto edge = [&](double c0, double r0, double c1, double r1) {
    for (int k = 0; k < per_side; ++k) {
      const double f = double(k) / per_side;
      double x, y;
      info.geotransform.pixel_to_geo(c0 + f * (c1 - c0), r0 + f * (r1 - r0), x, y);
      ring.push_back({x, y});
    }
  };
  // Counter-clockwise in a north-up grid (RFC 7946 exterior rings): down the west edge first.
  edge(0, 0, 0, H);
  edge(0, H, W, H);
  edge(W, H, W, 0);
  edge(W, 0, 0, 0);
  for (auto& p : ring)
    if (!ct->Transform(1, &p[0], &p[1]))
      throw Error(ErrorKind::InvalidInput, "io", "cannot transform the outline of " + quoted(info.uri) + " to WGS84");
  ring.push_back(ring.front());
  // RFC 7946 wants exterior rings counter-clockwise; a south-up grid (or a flip in the
  // transform) walks the outline the other way.
  double twice_area = 0;
  for (size_t i = 0; i + 1 < ring.size(); ++i) twice_area += ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1];
  if (twice_area < 0) std::reverse(ring.begin(), ring.end());
  return ring;
}

int64_t finite_pixels_sampled(const std::string& uri, int max_side) {
  const DecimatedBand d = read_decimated(Raster::open(uri), 1, max_side);
  return std::count_if(d.values.begin(), d.values.end(), [](float x) { return std::isfinite(x); });
}

}  // namespace drshym::io
