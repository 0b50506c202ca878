#include "terrain/terrain.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>

#include <cpl_string.h>
#include <fmt/format.h>
#include <gdal_priv.h>
#include <gdal_utils.h>
#include <ogr_spatialref.h>

#include "core/error.hpp"
#include "io/gdal_env.hpp"

namespace drshym::terrain {
namespace {

constexpr double kMetresPerDegree = 111120.0;  // gdaldem's scale for DEMs in degrees (60 nmi)
constexpr double kPi = 3.14159265358979323846;
constexpr float kMemNodata = -32768.0f;  // GDAL's DEM processing takes nodata as a value

std::string dem_name(const std::string& uri) { return "DEM " + quoted(uri); }

bool srs_from(const std::string& wkt, OGRSpatialReference& srs) {
  if (wkt.empty() || srs.importFromWkt(wkt.c_str()) != OGRERR_NONE) return false;
  srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  return true;
}

// Ground size (metres) of a grid's cell at latitude `lat` (geographic grids) or in its unit.
void cell_size_m(const OGRSpatialReference& srs, const GeoTransform& gt, double lat, double& cx, double& cy) {
  const auto s = gt.pixel_spacing();
  if (srs.IsGeographic()) {
    const double m_per_deg = kPi / 180.0 * 6371008.8;  // mean Earth radius: a size check, not a survey
    cx = s[0] * m_per_deg * std::cos(lat * kPi / 180.0);
    cy = s[1] * m_per_deg;
  } else {
    const double unit = srs.GetLinearUnits();
    cx = s[0] * unit;
    cy = s[1] * unit;
  }
}

// Metres per height unit from a band's unit name; nullopt when it is not a length.
std::optional<double> metres_per(std::string unit) {
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (unit.empty() || unit == "m" || unit == "metre" || unit == "meter" || unit == "metres" || unit == "meters")
    return 1.0;
  if (unit == "ft" || unit == "foot" || unit == "feet" || unit == "international foot") return 0.3048;
  if (unit == "us survey foot" || unit == "ftus" || unit == "us_survey_foot") return 1200.0 / 3937.0;
  return std::nullopt;
}

struct DatasetCloser {
  void operator()(GDALDatasetH h) const {
    if (h) GDALClose(h);
  }
};
using DatasetPtr = std::unique_ptr<void, DatasetCloser>;

}  // namespace

DemWindow check_dem(const std::string& dem_uri, const io::Grid& scene, const TerrainParams& p) {
  io::gdal_init();
  const std::string name = dem_name(dem_uri);
  io::Raster dem = [&] {
    try {
      return io::Raster::open(dem_uri);
    } catch (const Error& e) {
      throw Error(e.kind(), "terrain", std::string("--dem: ") + e.what());
    }
  }();
  DemWindow w;
  w.uri = dem_uri;
  w.info = dem.info();
  const auto& gt = w.info.geotransform;
  if (w.info.crs_wkt.empty())
    throw Error(ErrorKind::InvalidInput, "terrain",
                name + " has no CRS, so it cannot be placed under the scene (assign one, e.g. gdal_edit.py -a_srs EPSG:4326)");
  if (!w.info.has_geotransform)
    throw Error(ErrorKind::InvalidInput, "terrain", name + " has no geotransform; warp it to a grid first (gdalwarp)");
  if (gt.t[2] != 0 || gt.t[4] != 0 || gt.t[1] <= 0 || gt.t[5] >= 0)
    throw Error(ErrorKind::InvalidInput, "terrain", name + " is not north-up; warp it first (gdalwarp)");
  OGRSpatialReference dem_srs, scene_srs;
  if (!srs_from(w.info.crs_wkt, dem_srs))
    throw Error(ErrorKind::InvalidInput, "terrain", name + " has a CRS GDAL cannot read");
  if (!srs_from(scene.crs_wkt, scene_srs))
    throw Error(ErrorKind::InvalidInput, "terrain", "the scene has no CRS: " + name + " cannot be placed under it");
  w.geographic = dem_srs.IsGeographic();
  w.linear_unit_m = w.geographic ? 1.0 : dem_srs.GetLinearUnits();
  const char* unit = GDALGetRasterUnitType(GDALGetRasterBand(GDALDataset::ToHandle(dem.handle()), 1));
  w.vertical_unit = unit ? unit : "";
  const auto to_m = metres_per(w.vertical_unit);
  if (!to_m)
    throw Error(ErrorKind::InvalidInput, "terrain",
                name + " gives heights in '" + w.vertical_unit + "', not a length (metres or feet)");
  w.vertical_to_m = *to_m;

  // The scene's footprint in the DEM's CRS: 9 x 9 points over its grid, border included.
  std::unique_ptr<OGRCoordinateTransformation> ct;
  {
    io::QuietGdal quiet;
    ct.reset(OGRCreateCoordinateTransformation(&scene_srs, &dem_srs));
  }
  if (!ct) throw Error(ErrorKind::InvalidInput, "terrain", name + ": no transformation from the scene's CRS to the DEM's");
  std::vector<double> x, y;
  io::grid_sample_points(scene, 8, x, y);
  std::vector<int> ok(x.size(), 0);
  {
    io::QuietGdal quiet;
    ct->Transform(x.size(), x.data(), y.data(), nullptr, ok.data());
  }
  double c0 = INFINITY, c1 = -INFINITY, r0 = INFINITY, r1 = -INFINITY;
  for (size_t k = 0; k < x.size(); ++k) {
    if (!ok[k] || !std::isfinite(x[k]) || !std::isfinite(y[k])) continue;
    double col, row;
    gt.geo_to_pixel(x[k], y[k], col, row);
    c0 = std::min(c0, col), c1 = std::max(c1, col), r0 = std::min(r0, row), r1 = std::max(r1, row);
  }
  const Window all{0, 0, w.info.width, w.info.height};
  if (c0 <= c1) {
    const int x0 = int(std::floor(c0)), y0 = int(std::floor(r0));
    w.scene_part = Window{x0, y0, int(std::ceil(c1)) - x0, int(std::ceil(r1)) - y0}.intersect(all);
  }
  if (!(c0 <= c1) || w.scene_part.empty())
    throw Error(ErrorKind::InvalidInput, "terrain", name + " does not overlap the scene");

  // Cell sizes on the ground, at the centre of what is read.
  double cx, cy;
  gt.pixel_to_geo(w.scene_part.x + w.scene_part.w / 2.0, w.scene_part.y + w.scene_part.h / 2.0, cx, cy);
  w.centre_lat = w.geographic ? cy : 0.0;
  cell_size_m(dem_srs, gt, w.centre_lat, w.cell_x_m, w.cell_y_m);
  double sx, scene_lat;
  scene.geotransform.pixel_to_geo(scene.width / 2.0, scene.height / 2.0, sx, scene_lat);
  double scx, scy;
  cell_size_m(scene_srs, scene.geotransform, scene_lat, scx, scy);
  w.scene_cell_m = std::sqrt(scx * scy);
  const double dem_cell = std::sqrt(w.cell_x_m * w.cell_y_m);
  if (!(dem_cell <= p.max_cell_ratio * w.scene_cell_m))
    throw Error(ErrorKind::InvalidInput, "terrain",
                fmt::format("{} has cells of about {:.0f} m, {:.1f} times the scene's {:.1f} m pixels (at most {:g} "
                            "times is used: slopes and streams that coarse mean little at the scene's scale)",
                            name, dem_cell, dem_cell / w.scene_cell_m, w.scene_cell_m, p.max_cell_ratio));
  const int mx = int(std::ceil(p.margin_m / w.cell_x_m)), my = int(std::ceil(p.margin_m / w.cell_y_m));
  w.window = Window{w.scene_part.x - mx, w.scene_part.y - my, w.scene_part.w + 2 * mx, w.scene_part.h + 2 * my}.intersect(all);
  return w;
}

std::vector<float> read_heights(const DemWindow& w) {
  auto dem = io::Raster::open(w.uri);
  io::Block b = dem.read(w.window, {1});
  std::vector<float> z(b.data.begin(), b.data.end());
  for (size_t i = 0; i < z.size(); ++i)
    z[i] = b.valid[i] ? float(double(z[i]) * w.vertical_to_m) : std::numeric_limits<float>::quiet_NaN();
  return z;
}

std::vector<float> slope_degrees(const std::vector<float>& heights, int width, int height, const GeoTransform& gt,
                                 bool geographic, double centre_lat, double linear_unit_m) {
  io::gdal_init();
  GDALDriverH mem = GDALGetDriverByName("MEM");
  DatasetPtr src(GDALCreate(mem, "", width, height, 1, GDT_Float32, nullptr));
  if (!src) throw Error(ErrorKind::Internal, "terrain", "cannot create an in-memory DEM: " + io::last_gdal_error());
  double t[6];
  std::copy(gt.t.begin(), gt.t.end(), t);
  // Degrees east are shorter than degrees north by cos(latitude): GDAL 3.6 takes one scale
  // for both axes, so the cell width is shrunk to make the grid's axes equal on the ground.
  if (geographic) t[1] *= std::cos(centre_lat * kPi / 180.0);
  GDALSetGeoTransform(src.get(), t);
  GDALRasterBandH band = GDALGetRasterBand(src.get(), 1);
  GDALSetRasterNoDataValue(band, kMemNodata);
  std::vector<float> z(heights);
  for (float& v : z)
    if (!std::isfinite(v)) v = kMemNodata;
  if (GDALRasterIO(band, GF_Write, 0, 0, width, height, z.data(), width, height, GDT_Float32, 0, 0) != CE_None)
    throw Error(ErrorKind::Internal, "terrain", "cannot fill the in-memory DEM: " + io::last_gdal_error());
  // -s: vertical units (metres) per horizontal unit, as gdaldem's 111120 for degrees.
  const double scale = geographic ? kMetresPerDegree : linear_unit_m;
  CPLStringList args;
  for (const std::string& a : {std::string("-of"), std::string("MEM"), std::string("-s"), fmt::format("{:.17g}", scale),
                              std::string("-compute_edges"), std::string("-alg"), std::string("Horn")})
    args.AddString(a.c_str());
  std::unique_ptr<GDALDEMProcessingOptions, void (*)(GDALDEMProcessingOptions*)> opt(
      GDALDEMProcessingOptionsNew(args.List(), nullptr), GDALDEMProcessingOptionsFree);
  io::reset_gdal_error();
  int usage = 0;
  DatasetPtr out;
  {
    io::QuietGdal quiet;
    out.reset(GDALDEMProcessing("", src.get(), "slope", nullptr, opt.get(), &usage));
  }
  if (!out) throw Error(ErrorKind::Internal, "terrain", "GDAL's slope failed: " + io::last_gdal_error());
  GDALRasterBandH ob = GDALGetRasterBand(out.get(), 1);
  int has_nd = 0;
  const double nd = GDALGetRasterNoDataValue(ob, &has_nd);
  std::vector<float> s(size_t(width) * size_t(height));
  if (GDALRasterIO(ob, GF_Read, 0, 0, width, height, s.data(), width, height, GDT_Float32, 0, 0) != CE_None)
    throw Error(ErrorKind::Internal, "terrain", "cannot read GDAL's slope: " + io::last_gdal_error());
  for (float& v : s)
    if (!std::isfinite(v) || (has_nd && v == float(nd))) v = std::numeric_limits<float>::quiet_NaN();
  return s;
}

std::vector<std::string> layer_paths(const std::string& prefix) {
  return {prefix + "_window.tif", prefix + "_dem.tif", prefix + "_slope.tif", prefix + "_hand.tif"};
}

TerrainLayers compute_layers(const DemWindow& w, const io::Grid& out, const TerrainParams& p, const std::string& prefix) {
  const std::string name = dem_name(w.uri);
  const int W = w.window.w, H = w.window.h;
  std::vector<float> z = read_heights(w);
  // No data under the scene itself (the margin does not count).
  int64_t under = 0;
  for (int r = w.scene_part.y; r < w.scene_part.y + w.scene_part.h; ++r)
    for (int c = w.scene_part.x; c < w.scene_part.x + w.scene_part.w; ++c)
      under += std::isfinite(z[size_t(r - w.window.y) * W + (c - w.window.x)]);
  if (under == 0) throw Error(ErrorKind::InvalidInput, "terrain", name + " is all nodata over the scene");
  const GeoTransform gt = w.info.geotransform.shifted(w.window.x, w.window.y);
  std::vector<float> slope = slope_degrees(z, W, H, gt, w.geographic, w.centre_lat, w.linear_unit_m);
  DemGrid g{W, H, z, w.cell_x_m, w.cell_y_m};
  HandResult hr = compute_hand(g, p.hand);

  // The three layers on the DEM's grid, then each warped onto the output grid.
  const auto paths = layer_paths(prefix);
  OGRSpatialReference srs;
  srs_from(w.info.crs_wkt, srs);
  srs.StripVertical();  // heights are already metres: only the horizontal CRS is warped
  char* wkt = nullptr;
  srs.exportToWkt(&wkt);
  io::CreateOptions co;
  co.width = W;
  co.height = H;
  co.bands = 3;
  co.type = io::DataType::Float32;
  co.geotransform = gt;
  co.crs_wkt = wkt ? wkt : "";
  CPLFree(wkt);
  co.nodata = std::numeric_limits<double>::quiet_NaN();
  co.descriptions = {"height_m", "slope_deg", "hand_m"};
  co.compress = "ZSTD";
  co.compress_level = 1;
  {
    auto r = io::Raster::create_geotiff(paths[0], co);
    r.write_band(1, Window{0, 0, W, H}, z.data());
    r.write_band(2, Window{0, 0, W, H}, slope.data());
    r.write_band(3, Window{0, 0, W, H}, hr.hand.data());
    r.close();
  }
  TerrainLayers l{paths[1], paths[2], paths[3], nullptr};
  io::warp_band_to_grid(paths[0], 1, out, l.dem, "bilinear", "--dem");
  io::warp_band_to_grid(paths[0], 2, out, l.slope, "bilinear", "--dem");
  io::warp_band_to_grid(paths[0], 3, out, l.hand, "bilinear", "--dem");
  l.provenance = {
      {"dem_crs", w.info.crs_code.empty() ? std::string("(unnamed)") : w.info.crs_code},
      {"dem_window", {w.window.x, w.window.y, w.window.w, w.window.h}},
      {"dem_cell_m", {w.cell_x_m, w.cell_y_m}},
      {"scene_cell_m", w.scene_cell_m},
      {"margin_m", p.margin_m},
      {"vertical_unit", w.vertical_unit.empty() ? std::string("assumed metre (the DEM names no unit)") : w.vertical_unit},
      {"vertical_to_m", w.vertical_to_m},
      {"slope", w.geographic ? fmt::format("GDALDEMProcessing slope (Horn, -s {:g}, cell width x cos({:.4f}°))",
                                           kMetresPerDegree, w.centre_lat)
                             : fmt::format("GDALDEMProcessing slope (Horn, -s {:g})", w.linear_unit_m)},
      {"hand",
       {{"method", "priority-flood+epsilon fill, D8 steepest descent, accumulation in km², HAND above the "
                   "drainage cell the flow path meets (on the DEM's grid)"},
        {"drainage_min_km2", p.hand.drainage_min_km2},
        {"drainage_cells", hr.drainage_cells},
        {"valid_cells", hr.valid_cells},
        {"unknown_cells", hr.unknown_cells}}},
      {"warp", "gdalwarp -r bilinear onto the output grid"}};
  return l;
}

}  // namespace drshym::terrain
