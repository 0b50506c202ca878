#include "pipeline/options.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"
#include "pipeline/limits.hpp"

namespace drshym::pipeline {
namespace {

// A table row, built field by field (C++17 has no designated initializers).
struct Def {
  JobOption o;
  Def(const char* name, const char* flag, const char* key, unsigned fronts, OptionType type, const char* help) {
    o.name = name;
    o.flag = flag;
    o.key = key;
    o.fronts = fronts;
    o.type = type;
    o.help = help;
    o.api_note = "";
    o.needs = "";
  }
  Def& range(std::optional<Bound> lo, std::optional<Bound> hi) {
    o.lo = lo;
    o.hi = hi;
    return *this;
  }
  Def& api_range(Bound lo, Bound hi) {
    o.api_lo = lo;
    o.api_hi = hi;
    return *this;
  }
  Def& needs(const char* name) {
    o.needs = name;
    return *this;
  }
  Def& note(const char* text) {
    o.api_note = text;
    return *this;
  }
  Def& choices(std::vector<std::string> c) {
    o.choices = std::move(c);
    return *this;
  }
  Def& max_length(size_t n) {
    o.max_length = n;
    return *this;
  }
  Def& form(ApiForm f) {
    o.api_form = f;
    return *this;
  }
  Def& echo() {
    o.echo = true;
    return *this;
  }
  Def& at(int* (*r)(SceneJob&)) {
    o.integer = r;
    return *this;
  }
  Def& at(double* (*r)(SceneJob&)) {
    o.number = r;
    return *this;
  }
  Def& at(std::optional<double>* (*r)(SceneJob&)) {
    o.maybe_number = r;
    return *this;
  }
  Def& at(std::string* (*r)(SceneJob&)) {
    o.text = r;
    return *this;
  }
  Def& at(bool* (*r)(SceneJob&)) {
    o.flag_value = r;
    return *this;
  }
};

constexpr unsigned kAll = kSegment | kBatch | kApi;
constexpr Bound closed(double v) { return {v, false}; }
constexpr Bound open(double v) { return {v, true}; }
using T = OptionType;

// Each row's `at` names the SceneJob field: the job's default is the option's default.
// The table in groups, in --help order.
void tiling_options(std::vector<Def>& d) {
  d.push_back(Def("tile", "--tile", "tile", kAll, T::Integer, "Tile size in pixels")
                  .range(closed(kMinTile), closed(kMaxTile))
                  .api_range(closed(kApiMinTile), closed(kApiMaxTile))
                  .note("a multiple of what the networks accept (16); at most 512 with explain: true (Grad-CAM memory "
                        "grows with tile², about 4 GB at 2048)")
                  .echo()
                  .at([](SceneJob& j) { return &j.segment.grid.tile; }));
  d.push_back(Def("overlap", "--overlap", "overlap", kAll, T::Integer, "Overlap between tiles in pixels")
                  .range(closed(0), closed(kMaxTile))
                  .api_range(closed(0), closed(kApiMaxTile))
                  .note("less than tile/2")
                  .echo()
                  .at([](SceneJob& j) { return &j.segment.grid.overlap; }));
  d.push_back(Def("threshold", "--threshold", "threshold", kAll, T::MaybeNumber,
                  "Decision threshold on calibrated probability (default: the checkpoint's)")
                  .range(open(0), open(1))
                  .at([](SceneJob& j) { return &j.segment.threshold; }));
  d.push_back(Def("batch", "--batch", "", kSegment, T::Integer, "Tiles per model call, per worker")
                  .range(closed(1), closed(256))
                  .at([](SceneJob& j) { return &j.segment.batch_size; }));
  d.push_back(Def("workers", "--workers", "", kSegment, T::Integer,
                  "Model workers (0 = one single-threaded worker per CPU thread; 1 = one multi-threaded network)")
                  .range(closed(0), closed(256))
                  .at([](SceneJob& j) { return &j.segment.model_workers; }));
  d.push_back(Def("aoi", "--aoi", "aoi", kSegment | kApi, T::Text,
                  "Area of interest: polygon GeoJSON (any CRS); only windows touching it run and outputs are\n"
                  "cropped to it (probabilities inside equal an uncropped run's)")
                  .note("in the API a GeoJSON geometry, Feature or FeatureCollection (a named CRS, EPSG code or OGC "
                        "URN, or none: RFC 7946 lon/lat; linked CRSs are refused)")
                  .form(ApiForm::GeoJson)
                  .at([](SceneJob& j) { return &j.segment.aoi_path; }));
}

void output_options(std::vector<Def>& d) {
  d.push_back(Def("min_area", "--min-area", "", kSegment | kBatch, T::Number,
                  "Drop flood polygons smaller than this many m² of ground (any CRS: lon/lat on the ellipsoid)")
                  .range(closed(0), std::nullopt)
                  .at([](SceneJob& j) { return &j.segment.min_area_m2; }));
  d.push_back(Def("geojson_crs", "--geojson-crs", "", kSegment | kBatch, T::Text,
                  "CRS of the GeoJSON: rfc7946 (WGS84 lon/lat, no crs member), source (the scene's CRS)\n"
                  "or any CRS GDAL knows, e.g. EPSG:3857; anything else is refused before work starts")
                  .at([](SceneJob& j) { return &j.segment.geojson_crs; }));
  d.push_back(Def("overlay", "--no-overlay", "", kSegment | kBatch, T::Switch, "Skip the overlay PNG")
                  .at([](SceneJob& j) { return &j.segment.write_overlay; }));
  d.push_back(Def("polygons", "--no-polygons", "", kSegment | kBatch, T::Switch, "Skip the GeoJSON polygons")
                  .at([](SceneJob& j) { return &j.segment.write_polygons; }));
}

void explain_options(std::vector<Def>& d) {
  d.push_back(Def("explain", "--explain", "explain", kAll, T::Switch,
                  "Explain the flood call with Grad-CAM: per tile, the gradient of the mean flood logit over the\n"
                  "tile's predicted flood pixels w.r.t. a layer's activations, blended like the probabilities\n"
                  "(<scene>_cam.tif, <scene>_cam_overlay.png). Costs about one more forward and a partial\n"
                  "backward pass per tile")
                  .at([](SceneJob& j) { return &j.explain.enabled; }));
  d.push_back(Def("explain_method", "--explain-method", "explain_method", kSegment | kApi, T::Text, "gradcam or gradcam++")
                  .choices({"gradcam", "gradcam++"})
                  .needs("explain")
                  .echo()
                  .at([](SceneJob& j) { return &j.explain.method; }));
  d.push_back(Def("explain_layer", "--explain-layer", "explain_layer", kSegment | kApi, T::Text,
                  "Layer to explain (unet_compact: enc0..enc4, dec3..dec0); default: the last decoder block")
                  .note("one of the model's explain_layers (GET /v1/models)")
                  .max_length(32)
                  .needs("explain")
                  .at([](SceneJob& j) { return &j.explain.layer; }));
  d.push_back(Def("explain_region", "--explain-region", "explain_region", kSegment | kApi, T::Text,
                  "Explain the mean flood logit over this polygon (GeoJSON, any CRS) instead of over the\n"
                  "predicted flood pixels; tiles that miss it get zeros")
                  .note("in the API a GeoJSON polygon (a named CRS or none: RFC 7946 lon/lat; linked CRSs are refused)")
                  .form(ApiForm::GeoJson)
                  .needs("explain")
                  .at([](SceneJob& j) { return &j.explain.region_path; }));
}

void class_options(std::vector<Def>& d) {
  d.push_back(Def("classes", "--no-classes", "", kSegment | kBatch, T::Switch,
                  "Skip the flood/permanent water classes (no second model runs)")
                  .at([](SceneJob& j) { return &j.segment.write_classes; }));
  d.push_back(Def("before", "--before", "before_uri", kSegment | kApi, T::Text,
                  "Pre-event scene of the same area (VV or VV+VH in dB, any grid or CRS: GDAL warps it onto the\n"
                  "scene's grid). The change model then tells flood water (new) from permanent water")
                  .note("same rules as image_uri; provenance.classes.source says which model split the water")
                  .form(ApiForm::Uri)
                  .at([](SceneJob& j) { return &j.segment.before_uri; }));
  d.push_back(Def("reference_water", "--reference-water", "", kSegment, T::Text,
                  "Without --before: a water occurrence raster in % (e.g. a JRC Global Surface Water occurrence\n"
                  "tile; any CRS, GDAL warps it): water where occurrence >= --reference-water-min is permanent")
                  .at([](SceneJob& j) { return &j.segment.reference_water; }));
  d.push_back(Def("reference_water_min", "--reference-water-min", "", kSegment, T::Number,
                  "Occurrence (%) from which water is permanent")
                  .range(closed(0), closed(100))
                  .needs("reference_water")
                  .at([](SceneJob& j) { return &j.segment.reference_water_min; }));
}

void terrain_options(std::vector<Def>& d) {
  d.push_back(Def("dem", "--dem", "dem_uri", kAll, T::Text,
                  "Digital elevation model (any CRS and resolution, heights in metres or feet; at most\n"
                  "--dem-max-ratio times coarser than the scene). Slope (GDAL's DEM processing) and height above\n"
                  "nearest drainage (HAND: priority-flood fill, D8, flow accumulation) flag ground where SAR water\n"
                  "is not believed (radar shadow and dark slopes look like water): <scene>_exclusion.tif, and water\n"
                  "there is removed. A model whose bands include DEM, SLOPE or HAND reads them from it too")
                  .note("same rules as image_uri; exclusion_uri, stats.exclusion")
                  .form(ApiForm::Uri)
                  .at([](SceneJob& j) { return &j.segment.dem_uri; }));
  d.push_back(Def("slope_max", "--slope-max", "slope_max_deg", kAll, T::Number,
                  "With a DEM: ground steeper than this (degrees) is excluded (flag 1)")
                  .range(open(0), open(90))
                  .needs("dem")
                  .at([](SceneJob& j) { return &j.segment.exclusion.slope_max_deg; }));
  d.push_back(Def("hand_max", "--hand-max", "hand_max_m", kAll, T::Number,
                  "With a DEM: ground more than this many metres above its drainage (HAND) is excluded (flag 2)")
                  .range(open(0), open(10000))
                  .needs("dem")
                  .at([](SceneJob& j) { return &j.segment.exclusion.hand_max_m; }));
  d.push_back(Def("drainage_area", "--drainage-area", "", kSegment | kBatch, T::Number,
                  "With a DEM: contributing area (km²) from which a DEM cell is drainage for HAND")
                  .range(open(0), std::nullopt)
                  .needs("dem")
                  .at([](SceneJob& j) { return &j.segment.terrain.hand.drainage_min_km2; }));
  d.push_back(Def("dem_margin", "--dem-margin", "", kSegment | kBatch, T::Number,
                  "With a DEM: ground (m) read around the scene, so that a river just outside still drains it")
                  .range(closed(0), std::nullopt)
                  .needs("dem")
                  .at([](SceneJob& j) { return &j.segment.terrain.margin_m; }));
  d.push_back(Def("dem_max_ratio", "--dem-max-ratio", "", kSegment | kBatch, T::Number,
                  "With a DEM: a DEM whose cells are more than this many times the scene's pixel is refused")
                  .range(closed(1), std::nullopt)
                  .needs("dem")
                  .at([](SceneJob& j) { return &j.segment.terrain.max_cell_ratio; }));
  d.push_back(Def("exclusion", "--no-exclusion", "exclusion", kAll, T::Switch,
                  "With a DEM: write <scene>_exclusion.tif and count water on excluded ground, but remove nothing")
                  .needs("dem")
                  .echo()
                  .at([](SceneJob& j) { return &j.segment.exclusion.apply; }));
}

std::vector<JobOption> build_table() {
  std::vector<Def> d;
  tiling_options(d);
  output_options(d);
  explain_options(d);
  class_options(d);
  terrain_options(d);
  d.push_back(Def("model", "", "model", kApi, T::Text, "A name from GET /v1/models; default: by the scene's bands")
                  .at([](SceneJob& j) { return &j.model; }));
  std::vector<JobOption> t;
  for (auto& x : d) t.push_back(std::move(x.o));
  return t;
}

std::string fmt_bound(double v) { return fmt::format("{:g}", v); }

}  // namespace

const std::vector<JobOption>& job_options() {
  static const std::vector<JobOption> table = build_table();
  return table;
}

const JobOption& option_named(const std::string& name) {
  for (const auto& o : job_options())
    if (name == o.name) return o;
  throw Error(ErrorKind::Internal, "options", "no job option named " + quoted(name));
}

std::string option_label(const JobOption& o, Front f) {
  return f == kApi ? std::string("options.") + o.key : std::string(o.flag);
}

nlohmann::json JobOption::value(const SceneJob& job) const {
  auto& j = const_cast<SceneJob&>(job);  // the accessors only read here
  if (integer) return *integer(j);
  if (number) return *number(j);
  if (maybe_number) return *maybe_number(j) ? nlohmann::json(**maybe_number(j)) : nlohmann::json(nullptr);
  if (text) return *text(j);
  return *flag_value(j);
}

nlohmann::json JobOption::default_value() const { return value(SceneJob{}); }

bool JobOption::is_set(const SceneJob& job) const {
  const nlohmann::json v = value(job);
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) return !v.get<std::string>().empty();
  return !v.is_null();
}

std::string JobOption::rule(Front f) const {
  if (!choices.empty()) {
    std::string s;
    for (const auto& c : choices) s += (s.empty() ? "" : ", ") + c;
    return "must be one of " + s;
  }
  const auto l = low(f), h = high(f);
  if (l && h)
    return fmt::format("must be in {}{}, {}{}", l->open ? '(' : '[', fmt_bound(l->value), fmt_bound(h->value),
                       h->open ? ')' : ']');
  if (l) return fmt::format("must be {} {}", l->open ? ">" : ">=", fmt_bound(l->value));
  if (h) return fmt::format("must be {} {}", h->open ? "<" : "<=", fmt_bound(h->value));
  return "";
}

std::string JobOption::check_number(double x, Front f) const {
  const auto l = low(f), h = high(f);
  const bool ok = std::isfinite(x) && (!l || (l->open ? x > l->value : x >= l->value)) &&
                  (!h || (h->open ? x < h->value : x <= h->value));
  return ok ? "" : rule(f);
}

std::string JobOption::check_text(const std::string& s, Front f) const {
  if (!choices.empty() && std::find(choices.begin(), choices.end(), s) == choices.end()) return rule(f);
  if (f == kApi && max_length > 0 && s.size() > max_length) return fmt::format("must be at most {} characters", max_length);
  return "";
}

void throw_needs(const JobOption& o, const JobOption& needed, Front f) {
  const std::string what = needed.type == OptionType::Switch && f == kApi ? option_label(needed, f) + ": true"
                                                                          : option_label(needed, f);
  throw Error(ErrorKind::Usage, f == kApi ? "request" : (f == kBatch ? "batch" : "segment"),
              option_label(o, f) + " needs " + what);
}

nlohmann::json api_options_schema() {
  nlohmann::json props = nlohmann::json::object();
  for (const auto& o : job_options()) {
    if (!o.offered_on(kApi)) continue;
    nlohmann::json s;
    switch (o.type) {
      case OptionType::Integer: s["type"] = "integer"; break;
      case OptionType::Number:
      case OptionType::MaybeNumber: s["type"] = "number"; break;
      case OptionType::Switch: s["type"] = "boolean"; break;
      case OptionType::Text: s["type"] = o.api_form == ApiForm::GeoJson ? "object" : "string"; break;
    }
    const auto bound = [&](const Bound& b) {
      return o.type == OptionType::Integer ? nlohmann::json(int64_t(b.value)) : nlohmann::json(b.value);
    };
    if (const auto l = o.low(kApi)) s[l->open ? "exclusiveMinimum" : "minimum"] = bound(*l);
    if (const auto h = o.high(kApi)) s[h->open ? "exclusiveMaximum" : "maximum"] = bound(*h);
    if (!o.choices.empty()) s["enum"] = o.choices;
    if (o.max_length > 0) s["maxLength"] = o.max_length;
    const nlohmann::json def = o.default_value();
    if (!def.is_null() && !(def.is_string() && def.get<std::string>().empty()) && o.api_form == ApiForm::Value)
      s["default"] = def;
    // The help of a default-on switch describes its --no- flag: in the API that is `false`.
    const bool negated = o.type == OptionType::Switch && def.is_boolean() && def.get<bool>();
    std::string desc = (negated ? "false: " : "") + std::string(o.help);
    std::replace(desc.begin(), desc.end(), '\n', ' ');
    if (*o.api_note) desc += std::string("; ") + o.api_note;
    if (*o.needs) desc += std::string("; needs ") + option_named(o.needs).key;
    s["description"] = desc;
    props[o.key] = s;
  }
  return props;
}

}  // namespace drshym::pipeline
