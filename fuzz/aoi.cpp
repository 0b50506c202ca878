// fuzz_aoi: an area of interest as the server and `segment --aoi` read it.
//   bytes → <scratch>/aoi.geojson → io::Aoi::read(path, WKT of EPSG:32633)
//   → window_on and rasterize on a 256x256 grid of 1 km pixels (x 400-656 km, y 4844-5100 km,
//     about 13.7-16.9 E, 43.7-46 N)
// Expected: drshym::Error. Bugs: any other exception, a window outside the grid, a mask of the
// wrong size, and any network access by GDAL (trapped in fuzz/common.cpp: a GeoJSON "crs"
// link must not make the server fetch a URL).
#include <ogr_spatialref.h>

#include <cpl_conv.h>

#include "core/error.hpp"
#include "core/geo.hpp"
#include "harness.hpp"
#include "io/vector.hpp"

namespace {

const std::string& utm33n_wkt() {
  static const std::string wkt = [] {
    OGRSpatialReference srs;
    if (srs.importFromEPSG(32633) != OGRERR_NONE) drshym::fuzz::bug("EPSG:32633 is unknown (proj.db missing?)");
    char* w = nullptr;
    srs.exportToWkt(&w);
    std::string s = w;
    CPLFree(w);
    return s;
  }();
  return wkt;
}

}  // namespace

int drshym_fuzz_aoi(const uint8_t* data, size_t size) {
  using drshym::fuzz::bug;
  drshym::fuzz::setup();
  const std::string path = drshym::fuzz::scratch_dir() + "/aoi.geojson";
  drshym::fuzz::write_file(path, data, size);
  constexpr int kSize = 256;
  drshym::GeoTransform gt;
  gt.t = {400000, 1000, 0, 5100000, 0, -1000};
  try {
    const auto aoi = drshym::io::Aoi::read(path, utm33n_wkt());
    (void)aoi.bounds();
    const drshym::Window w = aoi.window_on(gt, kSize, kSize);
    if (w.empty()) return 0;
    if (w.x < 0 || w.y < 0 || w.x + w.w > kSize || w.y + w.h > kSize) bug("AOI window " + w.str() + " is outside the grid");
    const auto mask = aoi.rasterize(gt, w);
    if (int64_t(mask.size()) != w.area()) bug("AOI mask has " + std::to_string(mask.size()) + " pixels for " + w.str());
  } catch (const drshym::Error&) {
  }
  return 0;
}
