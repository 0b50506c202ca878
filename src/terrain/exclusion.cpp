#include "terrain/exclusion.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "io/raster.hpp"
#include "terrain/terrain.hpp"

namespace drshym::terrain {

uint8_t exclusion_flags(float height, float slope_deg, float hand_m, const ExclusionRule& r) {
  if (!std::isfinite(height)) return kExclusionNodata;
  uint8_t f = 0;
  if (std::isfinite(slope_deg) && double(slope_deg) > r.slope_max_deg) f |= kSteepSlope;
  if (std::isfinite(hand_m) && double(hand_m) > r.hand_max_m) f |= kHighAboveDrainage;
  return f;
}

nlohmann::json ExclusionTally::to_json() const {
  nlohmann::json j{{"pixels", pixels},
                   {"excluded_pixels", excluded_pixels},
                   {"steep_slope_pixels", steep_pixels},
                   {"high_above_drainage_pixels", high_pixels},
                   {"dem_nodata_pixels", dem_nodata_pixels},
                   {"hand_unknown_pixels", hand_unknown_pixels}};
  if (has_area) {
    j["excluded_km2"] = excluded_m2 / 1e6;
    j["steep_slope_km2"] = steep_m2 / 1e6;
    j["high_above_drainage_km2"] = high_m2 / 1e6;
    j["dem_nodata_km2"] = dem_nodata_m2 / 1e6;
  }
  return j;
}

nlohmann::json ExclusionRemoval::to_json() const {
  nlohmann::json j{{"applied", applied},
                   {"water_on_excluded_pixels", pixels},
                   {"removed_pixels", applied ? pixels : 0}};
  if (has_area) {
    const double k = applied ? 1e-6 : 0.0;
    j["water_on_excluded_km2"] = m2 / 1e6;
    j["removed_km2"] = m2 * k;
    // Per reason: a pixel both steep and high counts under both.
    j["removed_km2_by_reason"] = {{"steep_slope", steep_m2 * k}, {"high_above_drainage", high_m2 * k}};
  }
  j["removed_pixels_by_reason"] = {{"steep_slope", applied ? steep_pixels : 0},
                                   {"high_above_drainage", applied ? high_pixels : 0}};
  return j;
}

ExclusionTally write_exclusion_stage(const TerrainLayers& layers, const ExclusionRule& rule, const std::string& out_stage,
                                     const std::optional<io::PixelArea>& area) {
  auto dem = io::Raster::open(layers.dem);
  auto slope = io::Raster::open(layers.slope);
  auto hand = io::Raster::open(layers.hand);
  const int w = dem.width(), h = dem.height();
  for (const auto* r : {&slope, &hand})
    if (r->width() != w || r->height() != h)
      throw Error(ErrorKind::Internal, "terrain", "terrain layers are not on one grid");
  io::CreateOptions co = io::like(dem.info(), 1, io::DataType::Byte, double(kExclusionNodata));
  co.descriptions = {"terrain_exclusion_flags"};
  co.compress = "ZSTD";
  co.compress_level = 1;
  auto out = io::Raster::create_geotiff(out_stage, co);
  out.set_band_description(1, "terrain_exclusion_flags");
  ExclusionTally t;
  t.has_area = area.has_value();
  constexpr int kRows = 256;
  std::vector<float> z, s, a;
  std::vector<uint8_t> f;
  for (int y = 0; y < h; y += kRows) {
    const Window win{0, y, w, std::min(kRows, h - y)};
    const size_t n = size_t(win.w) * size_t(win.h);
    z.resize(n), s.resize(n), a.resize(n), f.resize(n);
    dem.read_band(1, win, z.data());
    slope.read_band(1, win, s.data());
    hand.read_band(1, win, a.data());
    for (size_t i = 0; i < n; ++i) {
      f[i] = exclusion_flags(z[i], s[i], a[i], rule);
      const double m2 = area ? area->at(int(i % size_t(w)), win.y + int(i / size_t(w))) : 0.0;
      ++t.pixels;
      if (f[i] == kExclusionNodata) {
        ++t.dem_nodata_pixels;
        t.dem_nodata_m2 += m2;
        continue;
      }
      if (!std::isfinite(a[i])) ++t.hand_unknown_pixels;
      if (f[i] & kSteepSlope) ++t.steep_pixels, t.steep_m2 += m2;
      if (f[i] & kHighAboveDrainage) ++t.high_pixels, t.high_m2 += m2;
      if (f[i]) ++t.excluded_pixels, t.excluded_m2 += m2;
    }
    out.write_band(1, win, f.data());
  }
  out.close();
  return t;
}

}  // namespace drshym::terrain
