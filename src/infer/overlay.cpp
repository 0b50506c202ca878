#include "infer/overlay.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "io/raster.hpp"

namespace drshym::infer {

void write_overlay_png(const std::string& scene_uri, int vv_band, const Window& region, const std::string& proba_path,
                       const std::string& mask_path, const std::string& out_png, int max_side) {
  const double scale = std::min(1.0, double(max_side) / double(std::max(region.w, region.h)));
  const int W = std::max(1, int(std::lround(region.w * scale))), H = std::max(1, int(std::lround(region.h * scale)));
  // GDAL resamples (nearest; overviews when the file has them) straight into the small buffer.
  auto read_small = [&](const std::string& uri, int band, const Window& win) {
    std::vector<float> out(size_t(W) * H);
    io::Raster::open(uri).read_band_resampled(band, win, W, H, out.data());
    return out;
  };
  const Window out_grid{0, 0, region.w, region.h};
  std::vector<float> vv = read_small(scene_uri, vv_band, region);
  std::vector<float> prob = read_small(proba_path, 1, out_grid);
  std::vector<float> mask = read_small(mask_path, 1, out_grid);
  std::vector<uint8_t> rgb(size_t(W) * H * 3);
  const size_t plane = size_t(W) * H;
  for (size_t i = 0; i < plane; ++i) {
    float v = vv[i];
    float g = std::isfinite(v) ? std::clamp((v + 25.0f) / 25.0f, 0.0f, 1.0f) * 255.0f : 0.0f;
    float r = g, gr = g, b = g;
    if (mask[i] == 1.0f) {
      // Flood: blue, more opaque where the model is more confident.
      float a = 0.35f + 0.6f * std::clamp(std::isfinite(prob[i]) ? prob[i] : 0.0f, 0.0f, 1.0f);
      r = (1 - a) * g + a * 20;
      gr = (1 - a) * g + a * 110;
      b = (1 - a) * g + a * 255;
    } else if (mask[i] == 0.0f && std::isfinite(prob[i]) && prob[i] > 0.25f) {
      // Dry but uncertain: a faint amber tint so analysts see where to double-check.
      float a = 0.5f * (prob[i] - 0.25f) / 0.25f;
      a = std::clamp(a, 0.0f, 0.5f);
      r = (1 - a) * g + a * 255;
      gr = (1 - a) * g + a * 190;
      b = (1 - a) * g + a * 0;
    } else if (mask[i] == 255.0f) {
      r = gr = b = 0.5f * g;  // no data: darkened
    }
    rgb[i] = uint8_t(r);
    rgb[plane + i] = uint8_t(gr);
    rgb[2 * plane + i] = uint8_t(b);
  }
  io::write_png(out_png, W, H, 3, rgb.data());
}

}  // namespace drshym::infer
