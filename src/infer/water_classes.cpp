#include "infer/water_classes.hpp"

#include "model/segnet.hpp"

#include <algorithm>
#include <optional>
#include <cmath>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/error.hpp"
#include "infer/predictor.hpp"
#include "infer/proba_writer.hpp"
#include "infer/segment.hpp"
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

std::string type_model_name(const SegmentParams& p) {
  if (!p.write_classes || !p.reference_water.empty()) return "";
  return p.before_uri.empty() ? "permanent_vv" : "change";
}

bool classes_from_main_head(const SegmentParams& p, const Predictor& main) {
  return type_model_name(p) == "permanent_vv" && main.head_index("permanent_water") > 0;
}

std::shared_ptr<const Predictor> load_type_model(const SegmentParams& p, const PredictorParams& base,
                                                 const std::string& checkpoint) {
  const std::string name = type_model_name(p);
  if (name.empty()) {
    if (!checkpoint.empty())
      throw Error(ErrorKind::Usage, "segment",
                  p.write_classes ? "a reference water raster decides the classes: no water type model is used"
                                  : "no water classes are made: no water type model is used");
    return nullptr;
  }
  PredictorParams tp = base;
  tp.checkpoint = checkpoint.empty() ? default_model_path(name) : checkpoint;
  tp.threshold.reset();
  tp.tta = false;
  return std::make_shared<const Predictor>(tp);
}


const Predictor* checked_type_model(const SegmentParams& p, const Predictor& main, const Predictor* given,
                                    std::shared_ptr<const Predictor>& own) {
  const Predictor* type_model = given;
  if (p.write_classes) {
    const std::string want = type_model_name(p);
    if (!p.before_uri.empty() && !p.reference_water.empty())
      throw Error(ErrorKind::Usage, "segment",
                  "give a pre-event scene (--before) or a reference water raster (--reference-water), not both");
    // A main network with a permanent-water head splits the water itself: no second network.
    if (!want.empty() && !type_model && !classes_from_main_head(p, main)) {
      // The embedded model, on the main model's device, leaving the caller's thread count alone.
      PredictorParams base;
      base.threads = at::get_num_threads();
      base.device = main.on_cpu() ? "cpu" : "cuda";
      own = load_type_model(p, base);
      type_model = own.get();
    }
    if (type_model && type_model->preprocess().needs_before() != !p.before_uri.empty())
      throw Error(ErrorKind::Usage, "segment",
                  p.before_uri.empty() ? "model " + type_model->describe() +
                                              " is a change model: it needs a pre-event scene (--before)"
                                        : "model " + type_model->describe() +
                                              " is not a change model (its bands have no VV_BEFORE): it cannot use --before");
    if (!p.reference_water.empty() && !(p.reference_water_min > 0.0 && p.reference_water_min <= 100.0))
      throw Error(ErrorKind::Usage, "segment",
                  fmt::format("reference water occurrence must be in (0, 100] %, got {:g}", p.reference_water_min));
    if (type_model && p.grid.tile % type_model->net()->config().input_multiple() != 0)
      throw Error(ErrorKind::Usage, "segment",
                  "tile size " + std::to_string(p.grid.tile) + " does not suit the water type model " +
                      type_model->describe());
  } else if (!p.before_uri.empty() || !p.reference_water.empty()) {
    throw Error(ErrorKind::Usage, "segment", "--before and --reference-water make the water classes: not with --no-classes");
  }
  return type_model;
}

}  // namespace drshym::infer
