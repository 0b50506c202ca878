#include "ingest/synthetic_scene.hpp"

#include <cmath>
#include <limits>

#include "core/fs.hpp"
#include "core/interrupt.hpp"
#include "io/raster.hpp"

namespace drshym::ingest {
namespace {

uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Uniform in (0, 1) from (seed, x, y, stream).
double uniform(uint64_t seed, int x, int y, int stream) {
  uint64_t h = mix(seed ^ mix((uint64_t(uint32_t(x)) << 32) ^ uint32_t(y)) ^ mix(uint64_t(stream) * 0x632be59bd9b4e019ULL));
  return (double(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

// Smooth value noise on a coarse lattice (bilinear), in [0, 1].
double value_noise(uint64_t seed, double x, double y, double cell, int stream) {
  double gx = x / cell, gy = y / cell;
  int x0 = int(std::floor(gx)), y0 = int(std::floor(gy));
  double fx = gx - x0, fy = gy - y0;
  fx = fx * fx * (3 - 2 * fx);
  fy = fy * fy * (3 - 2 * fy);
  double a = uniform(seed, x0, y0, stream), b = uniform(seed, x0 + 1, y0, stream);
  double c = uniform(seed, x0, y0 + 1, stream), d = uniform(seed, x0 + 1, y0 + 1, stream);
  return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy;
}

// 4-look speckle: mean of 4 unit exponentials (gamma, mean 1), in dB.
double speckle_db(uint64_t seed, int x, int y, int stream) {
  double s = 0;
  for (int k = 0; k < 4; ++k) s += -std::log(uniform(seed, x, y, stream * 8 + k));
  return 10.0 * std::log10(s / 4.0);
}

}  // namespace

void synthesize_window(const SyntheticSceneParams& p, const Window& win, std::vector<float>& vv,
                       std::vector<float>& vh, std::vector<uint8_t>& water, std::vector<uint8_t>* water_class) {
  const size_t n = size_t(win.w) * win.h;
  vv.assign(n, 0.0f);
  vh.assign(n, 0.0f);
  water.assign(n, 0);
  if (water_class) water_class->assign(n, 0);
  // Another acquisition: independent speckle (streams 6, 7 instead of 4, 5).
  const int speckle_stream = p.pre_event ? 6 : 4;
  const double W = p.width, H = p.height;
  const double pi = 3.14159265358979323846;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int r = 0; r < win.h; ++r) {
    const int y = win.y + r;
    // River centre line meanders down the scene; its x position depends on y only.
    const double cx = W * (0.45 + 0.18 * std::sin(2 * pi * y / (H * 0.7)) + 0.05 * std::sin(2 * pi * y / (H * 0.13)));
    const double half_width = std::max(3.0, W * 0.012);
    for (int c = 0; c < win.w; ++c) {
      const int x = win.x + c;
      const size_t i = size_t(r) * win.w + c;
      if (p.nodata_border && (x + 0.35 * y < W * 0.06 || x >= p.width || y >= p.height)) {
        vv[i] = vh[i] = nan;
        water[i] = 255;
        if (water_class) (*water_class)[i] = 255;
        continue;
      }
      const double d = std::fabs(x - cx);
      // Flooded plain: land within a noisy distance of the river, on a stretch of its course.
      const double plain = W * 0.10 * value_noise(p.seed, x, y, W * 0.08, 1) *
                           (0.5 + 0.5 * std::sin(2 * pi * y / (H * 0.9) + 1.0));
      const bool river = d < half_width;
      const bool flood = !river && d < half_width + plain && !p.pre_event;
      const double texture = 3.0 * (value_noise(p.seed, x, y, 40.0, 2) - 0.5);  // fields, urban
      double vv_db, vh_db;
      if (river) {
        vv_db = -21.0;
        vh_db = -28.0;
      } else if (flood) {
        vv_db = -18.5 + 1.5 * value_noise(p.seed, x, y, 16.0, 3);  // wind-roughened shallow water
        vh_db = -26.0;
      } else {
        vv_db = -8.5 + texture;
        vh_db = -15.0 + texture;
      }
      vv[i] = float(vv_db + speckle_db(p.seed, x, y, speckle_stream));
      vh[i] = float(vh_db + speckle_db(p.seed, x, y, speckle_stream + 1));
      water[i] = (river || flood) ? 1 : 0;
      if (water_class) (*water_class)[i] = river ? 1 : flood ? 2 : 0;
    }
  }
}

void write_synthetic_scene(const SyntheticSceneParams& p, const std::string& path, const std::string& label_path,
                           const std::string& before_path) {
  io::CreateOptions o;
  o.width = p.width;
  o.height = p.height;
  o.bands = 2;
  o.type = io::DataType::Float32;
  o.geotransform = GeoTransform{{p.origin_x, p.pixel_size, 0, p.origin_y, 0, -p.pixel_size}};
  o.crs_wkt = io::crs_wkt_of("EPSG:" + std::to_string(p.epsg));
  o.nodata = std::numeric_limits<double>::quiet_NaN();
  o.descriptions = {"VV", "VH"};
  core::OutputSet outs;
  auto img = io::Raster::create_geotiff(outs.temp(path), o);
  img.set_metadata_item("DRSHYM_SYNTHETIC", "seed=" + std::to_string(p.seed));
  std::optional<io::Raster> lab, before;
  const bool classes = !before_path.empty();
  if (!label_path.empty()) {
    io::CreateOptions lo = o;
    lo.bands = 1;
    lo.type = io::DataType::Byte;
    lo.nodata = 255;
    lo.descriptions = {classes ? "water_class" : "water"};
    lab = io::Raster::create_geotiff(outs.temp(label_path), lo);
    if (classes) lab->set_metadata_item("DRSHYM_CLASSES", "0=dry,1=permanent_water,2=flood_water,255=nodata");
  }
  SyntheticSceneParams pre = p;
  pre.pre_event = true;
  if (classes) {
    before = io::Raster::create_geotiff(outs.temp(before_path), o);
    before->set_metadata_item("DRSHYM_SYNTHETIC", "seed=" + std::to_string(p.seed) + ",pre_event");
  }
  std::vector<float> vv, vh;
  std::vector<uint8_t> water, water_class;
  const int strip = std::max(1, (1 << 22) / std::max(1, p.width));  // ~4 M pixels per strip
  for (int y = 0; y < p.height; y += strip) {
    core::check_interrupted("demo-scene");  // nothing is left: outs removes the staged files
    Window w{0, y, p.width, std::min(strip, p.height - y)};
    synthesize_window(p, w, vv, vh, water, classes ? &water_class : nullptr);
    img.write_band(1, w, vv.data());
    img.write_band(2, w, vh.data());
    if (lab) lab->write_band(1, w, classes ? water_class.data() : water.data());
    if (before) {
      synthesize_window(pre, w, vv, vh, water);
      before->write_band(1, w, vv.data());
      before->write_band(2, w, vh.data());
    }
  }
  img.close();
  outs.commit(path);
  if (before) {
    before->close();
    outs.commit(before_path);
  }
  if (lab) {
    lab->close();
    outs.commit(label_path);
  }
  outs.finish();
}

}  // namespace drshym::ingest
