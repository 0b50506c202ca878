#include "ingest/scene.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include <gdal_priv.h>

#include "core/error.hpp"
#include "io/uri.hpp"

namespace drshym::ingest {

Scene open_scene(const std::string& uri, bool need_vh) {
  io::Raster r = io::Raster::open(uri);
  const auto& info = r.info();
  if (info.bands > 2) {
    bool described = std::any_of(info.descriptions.begin(), info.descriptions.end(), [](const std::string& d) {
      return d.find("VV") != std::string::npos || d.find("vv") != std::string::npos;
    });
    if (!described)
      throw Error(ErrorKind::InvalidInput, "ingest",
                  quoted(uri) + " has " + std::to_string(info.bands) +
                      " bands; expected a Sentinel-1 scene with 1 band (VV) or 2 bands (VV, VH) in dB");
  }
  if (info.crs_wkt.empty())
    throw Error(ErrorKind::InvalidInput, "ingest",
                quoted(uri) + " has no CRS; outputs could not be georeferenced (assign one, e.g. gdal_edit.py -a_srs)");
  if (!info.has_geotransform)
    throw Error(ErrorKind::InvalidInput, "ingest", quoted(uri) + " has no geotransform (pixels are not georeferenced)");
  SourceBands sb = detect_source_bands(info, need_vh);
  return Scene{std::move(r), sb, io::stem_of(uri)};
}

void require_some_valid(const Scene& scene) {
  const auto& info = scene.raster.info();
  std::vector<int> bands{scene.bands.vv};
  if (scene.bands.vh) bands.push_back(scene.bands.vh);
  const int strip = std::max(1, int((1 << 22) / std::max(1, info.width)));
  for (int y = 0; y < info.height; y += strip) {
    Window w{0, y, info.width, std::min(strip, info.height - y)};
    for (int b : bands) {
      io::Block blk = scene.raster.read(w, {b});
      if (blk.valid_count() > 0) return;
    }
  }
  throw Error(ErrorKind::InvalidInput, "ingest",
              quoted(info.uri) + " holds no valid pixel: every pixel is nodata or NaN");
}

namespace {
// Valid VV values of a decimated read of the whole scene.
std::vector<float> scene_vv_sample(const Scene& scene, int max_side) {
  const auto& info = scene.raster.info();
  const double f = std::min(1.0, double(max_side) / double(std::max(info.width, info.height)));
  const int w = std::max(1, int(std::lround(info.width * f))), h = std::max(1, int(std::lround(info.height * f)));
  std::vector<float> vv(size_t(w) * size_t(h));
  scene.raster.read_band_resampled(scene.bands.vv, Window{0, 0, info.width, info.height}, w, h, vv.data());
  const auto& nodata = info.nodata.at(size_t(scene.bands.vv - 1));
  if (nodata)
    for (float& x : vv)
      if (x == float(*nodata)) x = std::numeric_limits<float>::quiet_NaN();
  return vv;
}

std::string percentile_key(float p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%g", kSceneVvPercentileKey, double(p));
  return buf;
}
}  // namespace

std::vector<std::pair<int, float>> scene_vv_percentiles(const Scene& scene, int max_side) {
  std::vector<float> vv = scene_vv_sample(scene, max_side);
  vv.erase(std::remove_if(vv.begin(), vv.end(), [](float x) { return !std::isfinite(x); }), vv.end());
  std::sort(vv.begin(), vv.end());  // once, for all 19 percentiles
  std::vector<std::pair<int, float>> out;
  for (int p = 5; p <= 95; p += 5) out.emplace_back(p, percentile_of_sorted(vv, float(p)));
  return out;
}

float scene_anchor_shift(const Scene& scene, const Anchor& anchor, float* vv_percentile_db, bool* from_metadata,
                         int max_side) {
  float q = std::numeric_limits<float>::quiet_NaN();
  bool meta = false;
  if (anchor.enabled) {
    const char* v = scene.raster.handle()->GetMetadataItem(percentile_key(anchor.percentile).c_str());
    if (v && *v) {
      char* end = nullptr;
      const float x = std::strtof(v, &end);
      if (end && *end == '\0' && std::isfinite(x)) {
        q = x;
        meta = true;
      }
    }
    if (!meta) q = percentile_of(scene_vv_sample(scene, max_side), anchor.percentile);
    if (!std::isfinite(q))
      throw Error(ErrorKind::InvalidInput, "ingest",
                  quoted(scene.raster.info().uri) +
                      ": the model anchors each scene on its VV dB percentiles, but a decimated read of the VV "
                      "band found no valid pixel (all nodata or NaN)");
  }
  if (vv_percentile_db) *vv_percentile_db = q;
  if (from_metadata) *from_metadata = meta;
  return std::isfinite(q) ? anchor.shift_for(q) : 0.0f;
}

void require_same_grid(const io::Raster& scene, const io::Raster& label) {
  const auto& a = scene.info();
  const auto& b = label.info();
  auto mismatch = [&](const std::string& what) {
    throw Error(ErrorKind::InvalidInput, "ingest",
                "label " + quoted(b.uri) + " is not on the grid of " + quoted(a.uri) + ": " + what);
  };
  if (a.width != b.width || a.height != b.height)
    mismatch("size " + std::to_string(b.width) + "x" + std::to_string(b.height) + " vs " +
             std::to_string(a.width) + "x" + std::to_string(a.height));
  if (b.has_geotransform) {
    // Origins may differ by a thousandth of a pixel, pixel sizes by a millionth (float round-off).
    const double px = std::max(std::fabs(a.geotransform.t[1]), std::fabs(a.geotransform.t[5]));
    for (int i = 0; i < 6; ++i) {
      const double tol = (i == 0 || i == 3) ? 1e-3 * px : 1e-6 * px;
      if (std::fabs(a.geotransform.t[i] - b.geotransform.t[i]) > tol)
        mismatch("geotransform differs (coefficient " + std::to_string(i) + ")");
    }
  }
  if (!b.crs_wkt.empty() && !io::same_crs(a.crs_wkt, b.crs_wkt)) mismatch("CRS differs");
}

}  // namespace drshym::ingest
