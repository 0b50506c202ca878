#include "ingest/scene.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include <gdal_priv.h>

#include "core/error.hpp"
#include "io/decimate.hpp"
#include "io/uri.hpp"

namespace drshym::ingest {

Scene open_scene(const std::string& uri, bool need_vh) {
  io::Raster r = io::Raster::open(uri);
  const auto& info = r.info();
  // A header can claim any size; a corrupt or hostile one must not make us allocate for it.
  if (info.width > kMaxSceneSide || info.height > kMaxSceneSide)
    throw Error(ErrorKind::InvalidInput, "ingest",
                quoted(uri) + " claims " + std::to_string(info.width) + " x " + std::to_string(info.height) +
                    " pixels; sides above " + std::to_string(kMaxSceneSide) +
                    " pixels (10,000 km at 10 m) are refused as corrupt or not a scene");
  if (info.crs_wkt.empty())
    throw Error(ErrorKind::InvalidInput, "ingest",
                quoted(uri) + " has no CRS; outputs could not be georeferenced (assign one, e.g. gdal_edit.py -a_srs)");
  if (!info.has_geotransform)
    throw Error(ErrorKind::InvalidInput, "ingest", quoted(uri) + " has no geotransform (pixels are not georeferenced)");
  SourceBands sb = detect_source_bands(info, need_vh);
  Scene scene{std::move(r), sb, io::stem_of(uri)};
  require_db_scale(scene);
  return scene;
}

namespace {
// Values of one band over a decimated, nearest-neighbour read of the whole scene (at most
// max_side pixels on the longer side), nodata as NaN. For scene-wide statistics.
std::vector<float> scene_band_sample(const Scene& scene, int band, int max_side) {
  return io::read_decimated(scene.raster, band, max_side).values;
}

const char* kToDb =
    "convert calibrated backscatter to dB first: 10*log10(sigma0), e.g. gdal_calc.py -A IN.tif --A_band=1 "
    "--outfile=VV_db.tif --type=Float32 --calc=\"10*log10(A)\" (amplitude: 20*log10(A)); "
    "digital numbers need radiometric calibration (SNAP, pyroSAR) before that";
}  // namespace

void require_db_scale(const Scene& scene) {
  const auto& info = scene.raster.info();
  for (auto [band, name] : {std::pair{scene.bands.vv, "VV"}, std::pair{scene.bands.vh, "VH"}}) {
    if (!band) continue;
    const std::string where = std::string(name) + " (band " + std::to_string(band) + ") of " + quoted(info.uri);
    const auto type = info.types.at(size_t(band - 1));
    if (type != io::DataType::Float32 && type != io::DataType::Float64)
      throw Error(ErrorKind::InvalidInput, "ingest",
                  where + " holds " + io::to_string(type) + " integers, not backscatter in dB; " + kToDb);
    // A decimated view is plenty to tell dB (mostly negative, median around -10 to -25)
    // from linear power or amplitude (all >= 0, median well below 1).
    std::vector<float> v = scene_band_sample(scene, band, 256);
    v.erase(std::remove_if(v.begin(), v.end(), [](float x) { return !std::isfinite(x); }), v.end());
    if (v.size() < 16) continue;  // too few pixels to judge (require_some_valid covers none)
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    const double median = v[v.size() / 2];
    const double nonneg = double(std::count_if(v.begin(), v.end(), [](float x) { return x >= 0; })) / double(v.size());
    char stats[96];
    std::snprintf(stats, sizeof stats, "median %.4g, %.0f%% of values >= 0", median, 100 * nonneg);
    if (nonneg > 0.98 && median < 2.0)
      throw Error(ErrorKind::InvalidInput, "ingest",
                  where + " looks like linear backscatter, not dB (" + stats + "); " + kToDb);
    if (median > 10.0 || median < -45.0)
      throw Error(ErrorKind::InvalidInput, "ingest",
                  where + " does not look like backscatter in dB (" + stats +
                      "; Sentinel-1 " + name + " lies roughly between -35 and +5 dB): check its units and nodata value; " +
                      kToDb);
  }
}

bool has_some_valid(const Scene& scene) {
  const auto& info = scene.raster.info();
  std::vector<int> bands{scene.bands.vv};
  if (scene.bands.vh) bands.push_back(scene.bands.vh);
  // Windows of at most 2048 x 2048 pixels: memory stays bounded whatever the scene's width.
  constexpr int kSide = 2048;
  for (int y = 0; y < info.height; y += kSide)
    for (int x = 0; x < info.width; x += kSide) {
      const Window w{x, y, std::min(kSide, info.width - x), std::min(kSide, info.height - y)};
      for (int b : bands) {
        io::Block blk = scene.raster.read(w, {b});
        if (blk.valid_count() > 0) return true;
      }
    }
  return false;
}

void require_some_valid(const Scene& scene) {
  if (has_some_valid(scene)) return;
  const auto& info = scene.raster.info();
  throw Error(ErrorKind::InvalidInput, "ingest",
              quoted(info.uri) + " holds no valid pixel: every pixel is nodata or NaN");
}

namespace {
std::string percentile_key(const char* prefix, float p) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s%g", prefix, double(p));
  return buf;
}

// The value of a metadata item that is a finite number; NaN when absent or not one.
float metadata_number(const Scene& scene, const std::string& key) {
  const char* v = scene.raster.handle()->GetMetadataItem(key.c_str());
  if (!v || !*v) return std::numeric_limits<float>::quiet_NaN();
  char* end = nullptr;
  const float x = std::strtof(v, &end);
  return (end && *end == '\0' && std::isfinite(x)) ? x : std::numeric_limits<float>::quiet_NaN();
}
}  // namespace

std::vector<std::pair<int, float>> scene_vv_percentiles(const Scene& scene, int max_side,
                                                        std::vector<std::pair<int, float>>* land) {
  std::vector<float> vv = scene_band_sample(scene, scene.bands.vv, max_side);
  vv.erase(std::remove_if(vv.begin(), vv.end(), [](float x) { return !std::isfinite(x); }), vv.end());
  std::sort(vv.begin(), vv.end());  // once, for all 19 percentiles
  std::vector<std::pair<int, float>> out;
  for (int p = 5; p <= 95; p += 5) out.emplace_back(p, percentile_of_sorted(vv, float(p)));
  if (land) {
    land->clear();
    Anchor a;
    a.enabled = true;
    const AnchorLevel test = a.level(vv);
    if (test.land_mode)
      for (int p = 5; p <= 95; p += 5) land->emplace_back(p, land_mode_percentile(vv, test.split_db, float(p)));
  }
  return out;
}

float scene_anchor_shift(const Scene& scene, const Anchor& anchor, float* vv_percentile_db, bool* from_metadata,
                         int max_side, AnchorLevel* level) {
  AnchorLevel lv;
  bool meta = false;
  if (anchor.enabled) {
    // A tile carries its scene's percentiles (and, for a mostly dark scene, its land mode's).
    const float whole = metadata_number(scene, percentile_key(kSceneVvPercentileKey, anchor.percentile));
    const float land = anchor.dark_scenes == "land_mode"
                           ? metadata_number(scene, percentile_key(kSceneVvLandPercentileKey, anchor.percentile))
                           : std::numeric_limits<float>::quiet_NaN();
    if (std::isfinite(whole)) {
      meta = true;
      lv.land_mode = std::isfinite(land);
      lv.db = lv.land_mode ? land : whole;
    } else {
      lv = anchor.level(scene_band_sample(scene, scene.bands.vv, max_side));
    }
    if (!std::isfinite(lv.db))
      throw Error(ErrorKind::InvalidInput, "ingest",
                  quoted(scene.raster.info().uri) +
                      ": the model anchors each scene on its VV dB percentiles, but a decimated read of the VV "
                      "band found no valid pixel (all nodata or NaN)");
  }
  if (vv_percentile_db) *vv_percentile_db = lv.db;
  if (from_metadata) *from_metadata = meta;
  if (level) *level = lv;
  return std::isfinite(lv.db) ? anchor.shift_for(lv.db) : 0.0f;
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

void LabelValueCheck::add(const io::Block& label) {
  const size_t n = size_t(label.window.w) * size_t(label.window.h);
  for (size_t i = 0; i < n; ++i) {
    if (!label.valid[i]) continue;  // nodata, NaN or outside the raster: unknown
    const float v = label.data[i];
    if (v == 0.0f || v == 1.0f || v == -1.0f) continue;
    ++other_pixels_;
    auto it = other_.find(v);
    if (it != other_.end()) ++it->second;
    else if (other_.size() < 64) other_.emplace(v, 1);
  }
}

void LabelValueCheck::check(const char* stage) const {
  if (other_pixels_ == 0) return;
  // The most frequent values first.
  std::vector<std::pair<float, int64_t>> vals(other_.begin(), other_.end());
  std::stable_sort(vals.begin(), vals.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string list;
  for (size_t i = 0; i < vals.size() && i < 5; ++i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s%g (%lld pixels)", i ? ", " : "", double(vals[i].first),
                  (long long)vals[i].second);
    list += buf;
  }
  if (vals.size() > 5) list += ", ...";
  char nd[64];
  if (nodata_) std::snprintf(nd, sizeof nd, "its nodata value %g", *nodata_);
  else std::snprintf(nd, sizeof nd, "no nodata value");
  throw Error(ErrorKind::InvalidInput, stage,
              "label " + quoted(uri_) + " (" + nd + ") holds " + std::to_string(other_pixels_) +
                  " pixel(s) with values other than 0, 1 and -1: " + list +
                  "; labels must be 0 dry, 1 water, -1 or nodata unknown (a 0/255 water mask: divide it by 255)");
}

void require_label_values(const io::Raster& label, const char* stage) {
  const auto& info = label.info();
  LabelValueCheck c(info.uri, info.nodata.empty() ? std::nullopt : info.nodata[0]);
  constexpr int kSide = 2048;  // memory stays bounded whatever the label's size
  for (int y = 0; y < info.height; y += kSide)
    for (int x = 0; x < info.width; x += kSide)
      c.add(label.read(Window{x, y, std::min(kSide, info.width - x), std::min(kSide, info.height - y)}, {1}));
  c.check(stage);
}

}  // namespace drshym::ingest
