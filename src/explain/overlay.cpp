#include "explain/overlay.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "infer/overlay.hpp"
#include "io/raster.hpp"

namespace drshym::explain {

void write_flood_overlay_png(const OverlayInputs& in, const std::string& out_png, int max_side) {
  infer::write_overlay_png(in.scene_uri, in.vv_band, in.region, in.proba_path, in.mask_path, out_png, max_side);
}

void write_cam_overlay_png(const OverlayInputs& in, const std::string& cam_path, const std::string& out_png,
                           int max_side) {
  const Window& region = in.region;
  const double scale = std::min(1.0, double(max_side) / double(std::max(region.w, region.h)));
  const int W = std::max(1, int(std::lround(region.w * scale))), H = std::max(1, int(std::lround(region.h * scale)));
  auto read_small = [&](const std::string& uri, int band, const Window& win) {
    std::vector<float> out(size_t(W) * H);
    io::Raster::open(uri).read_band_resampled(band, win, W, H, out.data());
    return out;
  };
  const std::vector<float> vv = read_small(in.scene_uri, in.vv_band, region);
  const std::vector<float> heat = read_small(cam_path, 1, Window{0, 0, region.w, region.h});
  std::vector<float> finite;
  for (float h : heat)
    if (std::isfinite(h)) finite.push_back(h);
  float top = 0;
  if (!finite.empty()) {
    auto k = finite.begin() + ptrdiff_t(0.99 * double(finite.size() - 1));
    std::nth_element(finite.begin(), k, finite.end());
    top = *k;
  }
  // viridis at 0, 0.25, 0.5, 0.75, 1
  static constexpr std::array<std::array<float, 3>, 5> kStops{
      {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}}};
  const size_t plane = size_t(W) * H;
  std::vector<uint8_t> rgb(plane * 3);
  for (size_t i = 0; i < plane; ++i) {
    const float g = std::isfinite(vv[i]) ? std::clamp((vv[i] + 25.0f) / 25.0f, 0.0f, 1.0f) * 255.0f : 0.0f;
    std::array<float, 3> c{g, g, g};
    if (std::isfinite(heat[i]) && top > 0) {
      const float t = std::clamp(heat[i] / top, 0.0f, 1.0f);
      const float u = t * 4.0f;
      const int k = std::min(3, int(u));
      const float f = u - float(k), a = 0.15f + 0.7f * t;
      for (int ch = 0; ch < 3; ++ch)
        c[size_t(ch)] = (1 - a) * g + a * ((1 - f) * kStops[size_t(k)][size_t(ch)] + f * kStops[size_t(k) + 1][size_t(ch)]);
    } else if (!std::isfinite(heat[i])) {
      c = {0.5f * g, 0.5f * g, 0.5f * g};
    }
    for (int ch = 0; ch < 3; ++ch) rgb[size_t(ch) * plane + i] = uint8_t(std::clamp(c[size_t(ch)], 0.0f, 255.0f));
  }
  io::write_png(out_png, W, H, 3, rgb.data());
}

}  // namespace drshym::explain
