#pragma once
// Flood water vs permanent water: the 3-class map <scene>_classes.tif (0 dry, 1 permanent
// water, 2 flood water, 255 nodata) derived from the binary water mask and one "water type"
// layer on the same grid, whichever decided:
//   change_model     P(flood) of the bi-temporal change model (segment --before): water where
//                    the change model says new water is flood; other water is permanent only
//                    where the pre-event scene was dark too (anchored VV < -15 dB), else flood
//   reference_water  water occurrence % of a reference raster (segment --reference-water, e.g.
//                    JRC Global Surface Water): water where occurrence >= min is permanent
//   permanent_head   P(permanent water) of the single-date head trained on ETCI's water bodies
// The mask is never changed: class 1 or 2 exactly where the mask says water. Water whose type
// layer is unknown there (the pre-event scene or the reference raster does not cover it) is
// flood water, counted apart: nothing proves it was there before.
//
//   ClassesRule rule{ClassSource::change_model, "out/.s_type.tif", 0.5};
//   ClassesTally t = write_classes_stage(mask_stage, rule, "out/.s_classes.tif", area);
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/area.hpp"

namespace drshym::infer {

enum class ClassSource { change_model, reference_water, permanent_head };

// The names of the classes raster's water values (1, 2), as the GeoJSON's `class` field writes them.
inline const std::vector<std::string>& water_class_names() {
  static const std::vector<std::string> names{"permanent_water", "flood_water"};
  return names;
}
const char* to_string(ClassSource s);

struct ClassesRule {
  ClassSource source = ClassSource::change_model;
  std::string type_path;  // Float32 on the mask's grid, NaN = unknown
  double cut = 0.5;       // threshold on the probability, or the minimum occurrence (%)
  // change_model: the pre-event VV (dB, on a grid whose pixel (x0, y0) is the mask's (0, 0))
  // vetoes "permanent": water is permanent only where the pre-event scene was dark too
  // (anchored VV below before_dark_db). Empty: no veto.
  std::string before_path;
  int before_x0 = 0, before_y0 = 0;
  float before_shift_db = 0;
  float before_dark_db = kPermanentMaxBeforeDb;
  static constexpr float kPermanentMaxBeforeDb = -15.0f;
};

struct ClassesTally {
  int64_t permanent_pixels = 0, flood_pixels = 0;
  int64_t flood_type_unknown_pixels = 0;  // water called flood because the type layer had no value
  double permanent_m2 = 0, flood_m2 = 0;  // 0 without a CRS
  bool has_area = false;
  nlohmann::json to_json() const;
};

// Staged classes raster (Byte, nodata 255, the mask's grid) from the staged mask and the rule's
// type layer, read and written in strips of rows.
ClassesTally write_classes_stage(const std::string& mask_stage, const ClassesRule& rule, const std::string& out_stage,
                                 const std::optional<io::PixelArea>& area);

// ---- Which model splits a run's water (segment, the server and the batch choose the same) ----
struct SegmentParams;    // infer/segment.hpp
class Predictor;         // infer/predictor.hpp
struct PredictorParams;  // infer/predictor.hpp

// The embedded model that decides the water classes of a run with these params: "change" with
// a before scene, "permanent_vv" with neither a before scene nor a reference raster, "" when no
// model is needed (a reference raster decides, or write_classes is off).
std::string type_model_name(const SegmentParams& p);
// Whether `main`'s own permanent-water head splits the water (classes wanted, neither a
// before scene nor a reference raster, and the network has the head): then no water type
// model is loaded or run, and the classes cost one head.
bool classes_from_main_head(const SegmentParams& p, const Predictor& main);

// Loads the model type_model_name(p) names: `checkpoint` when given, else the embedded one
// (default_model_path), with base's device and threads; null when none is needed.
std::shared_ptr<const Predictor> load_type_model(const SegmentParams& p, const PredictorParams& base,
                                                 const std::string& checkpoint = "");

// Checks the water class options of p before any work (usage errors: --before with
// --reference-water, a change model without --before or the reverse, a bad occurrence, a tile
// the type model cannot take) and returns the model to use: `given`, else the embedded one
// loaded into `own` (on main's device, with the current thread count), or null.
const Predictor* checked_type_model(const SegmentParams& p, const Predictor& main, const Predictor* given,
                                    std::shared_ptr<const Predictor>& own);

}  // namespace drshym::infer
