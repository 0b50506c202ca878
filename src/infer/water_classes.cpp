#include "infer/water_classes.hpp"

#include <algorithm>
#include <optional>
#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "infer/proba_writer.hpp"
#include "io/raster.hpp"

namespace drshym::infer {

const char* to_string(ClassSource s) {
  switch (s) {
    case ClassSource::change_model: return "change_model";
    case ClassSource::reference_water: return "reference_water";
    case ClassSource::permanent_head: return "permanent_head";
  }
  return "?";
}

nlohmann::json ClassesTally::to_json() const {
  nlohmann::json j{{"permanent_water_pixels", permanent_pixels},
                   {"flood_water_pixels", flood_pixels},
                   {"flood_water_type_unknown_pixels", flood_type_unknown_pixels}};
  if (has_area) {
    j["permanent_water_km2"] = permanent_m2 / 1e6;
    j["flood_water_km2"] = flood_m2 / 1e6;
  }
  return j;
}

ClassesTally write_classes_stage(const std::string& mask_stage, const ClassesRule& rule, const std::string& out_stage,
                                 const std::optional<io::PixelArea>& area) {
  auto mask = io::Raster::open(mask_stage);
  auto type = io::Raster::open(rule.type_path);
  if (type.width() != mask.width() || type.height() != mask.height())
    throw Error(ErrorKind::Internal, "infer", "water type layer " + quoted(rule.type_path) + " is not on the mask's grid");
  io::CreateOptions geo = io::like(mask.info(), 1, io::DataType::Byte, 255.0);
  auto out = io::Raster::create_geotiff(out_stage, staged_band(geo, io::DataType::Byte, 255.0, "water_class"));
  ClassesTally t;
  t.has_area = area.has_value();
  const int w = mask.width(), h = mask.height();
  constexpr int kRows = 256;
  std::optional<io::Raster> before;
  if (!rule.before_path.empty()) before.emplace(io::Raster::open(rule.before_path));
  std::vector<float> m, v, b;
  std::vector<uint8_t> c;
  const bool type_is_flood = rule.source == ClassSource::change_model;
  for (int y = 0; y < h; y += kRows) {
    const Window win{0, y, w, std::min(kRows, h - y)};
    const size_t n = size_t(win.w) * size_t(win.h);
    m.resize(n);
    v.resize(n);
    c.resize(n);
    mask.read_band(1, win, m.data());
    type.read_band(1, win, v.data());
    if (before) {
      b.resize(n);
      before->read_band(1, Window{rule.before_x0, rule.before_y0 + win.y, win.w, win.h}, b.data());
    }
    for (size_t i = 0; i < n; ++i) {
      if (m[i] != 1.0f) {
        c[i] = m[i] == 0.0f ? 0 : 255;
        continue;
      }
      const bool known = std::isfinite(v[i]);
      const bool above = known && double(v[i]) >= rule.cut;
      bool flood = !known || (type_is_flood ? above : !above);
      // Not dark before the event: whatever the change model says, it was not water then.
      if (!flood && before && !(std::isfinite(b[i]) && b[i] + rule.before_shift_db < rule.before_dark_db)) flood = true;
      c[i] = flood ? 2 : 1;
      const double a = area ? area->at(int(i % size_t(w)), win.y + int(i / size_t(w))) : 0.0;
      if (flood) {
        ++t.flood_pixels;
        t.flood_m2 += a;
        t.flood_type_unknown_pixels += !known;
      } else {
        ++t.permanent_pixels;
        t.permanent_m2 += a;
      }
    }
    out.write_band(1, win, c.data());
  }
  out.close();
  return t;
}

}  // namespace drshym::infer
