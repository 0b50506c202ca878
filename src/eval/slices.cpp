#include "eval/slices.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

namespace drshym::eval {
namespace {

void tally(Confusion& c, uint8_t pred, uint8_t label) {
  if (pred && label) ++c.tp;
  else if (pred) ++c.fp;
  else if (label) ++c.fn;
  else ++c.tn;
}

nlohmann::json scores(const Confusion& c) {
  nlohmann::json j = MetricSet::from(c).to_json();
  j["confusion"] = c.to_json();
  return j;
}

nlohmann::json bin_json(const Confusion& model, const Confusion& otsu, bool has_otsu) {
  nlohmann::json j = {{"pixels", model.valid()}, {"water_pixels", model.tp + model.fn}, {"model", scores(model)}};
  if (has_otsu) j["otsu_vv_db"] = scores(otsu);
  return j;
}

// ESA WorldCover 10 m class codes (v100 / v200).
const char* worldcover_name(double v) {
  static const std::map<int, const char*> k{{10, "tree cover"}, {20, "shrubland"},   {30, "grassland"},
                                            {40, "cropland"},   {50, "built-up"},    {60, "bare / sparse vegetation"},
                                            {70, "snow and ice"}, {80, "permanent water bodies"},
                                            {90, "herbaceous wetland"}, {95, "mangroves"}, {100, "moss and lichen"}};
  if (v != std::floor(v)) return nullptr;
  auto it = k.find(int(v));
  return it == k.end() ? nullptr : it->second;
}

size_t slope_bin(float deg) {
  const auto& e = SliceEvaluator::kSlopeEdgesDeg;
  size_t k = 0;
  while (k + 1 < e.size() && double(deg) >= e[k + 1]) ++k;
  return k;
}

}  // namespace

void SliceEvaluator::enable_slope(const std::string& source) {
  slope_.enabled = true;
  slope_.source = source;
}

void SliceEvaluator::enable_landcover(const std::string& source) {
  landcover_.enabled = true;
  landcover_.source = source;
}

void SliceEvaluator::add_aux(AuxFamily& f, const float* values, bool slope, const float* vv_db, const uint8_t* valid,
                             const uint8_t* label, const uint8_t* model, const uint8_t* otsu, size_t n) {
  ++f.chips;
  if (!values) ++f.chips_without_grid;
  bool any = false;
  for (size_t i = 0; i < n; ++i) {
    const bool covered = values && std::isfinite(values[i]);
    any = any || covered;
    if (!valid[i] || !std::isfinite(vv_db[i])) continue;
    Cell& c = !covered ? f.not_covered : f.by_value[slope ? double(slope_bin(values[i])) : double(values[i])];
    tally(c.model, model[i], label[i]);
    if (otsu) tally(c.otsu, otsu[i], label[i]);
  }
  if (values && !any) ++f.chips_outside;
}

nlohmann::json SliceEvaluator::aux_json(const AuxFamily& f, bool slope) const {
  nlohmann::json bins = nlohmann::json::array();
  bool worldcover = false;
  if (slope) {
    const auto& e = kSlopeEdgesDeg;
    for (size_t k = 0; k < e.size(); ++k) {  // every bin, empty ones too: the edges are fixed
      auto it = f.by_value.find(double(k));
      const Cell c = it == f.by_value.end() ? Cell{} : it->second;
      nlohmann::json b = bin_json(c.model, c.otsu, has_otsu_);
      const bool last = k + 1 == e.size();
      b["name"] = last ? fmt::format(">={:g} deg", e[k]) : fmt::format("{:g}-{:g} deg", e[k], e[k + 1]);
      b["range_deg"] = {e[k], last ? nlohmann::json(nullptr) : nlohmann::json(e[k + 1])};
      bins.push_back(b);
    }
  } else {
    worldcover = !f.by_value.empty();
    for (const auto& [v, c] : f.by_value) worldcover = worldcover && worldcover_name(v);
    for (const auto& [v, c] : f.by_value) {
      nlohmann::json b = bin_json(c.model, c.otsu, has_otsu_);
      b["name"] = worldcover ? fmt::format("{:g} {}", v, worldcover_name(v)) : fmt::format("{:g}", v);
      b["value"] = v == std::floor(v) && std::abs(v) < 1e15 ? nlohmann::json(int64_t(v)) : nlohmann::json(v);
      bins.push_back(b);
    }
  }
  nlohmann::json nc = bin_json(f.not_covered.model, f.not_covered.otsu, has_otsu_);
  nc["name"] = "not covered";
  nc[slope ? "range_deg" : "value"] = nullptr;
  bins.push_back(nc);
  std::string def =
      slope ? fmt::format("terrain slope in degrees from the DEM '{}' (elevation in metres unless its band says feet): "
                          "GDAL's slope (Horn, -compute_edges) on the DEM warped (bilinear) onto each chip's grid, "
                          "with the chip's pixel sizes in metres; bins [low, high) degrees",
                          f.source)
            : fmt::format("land-cover class of '{}' at each pixel (nearest neighbour onto each chip's grid), one bin "
                          "per value present{}",
                          f.source,
                          worldcover ? "; named by ESA WorldCover, as every value present is a WorldCover code" : "");
  def += "; 'not covered': pixels outside the raster or on its nodata";
  if (f.chips_without_grid > 0)
    def += fmt::format("; {} of {} chips have no known grid (e.g. PNG chips of ETCI / OMBRIA carry no "
                       "georeferencing), so all their pixels are 'not covered'",
                       f.chips_without_grid, f.chips);
  if (f.chips_outside > 0) def += fmt::format("; {} of {} chips do not overlap the raster at all", f.chips_outside, f.chips);
  return {{"definition", def},
          {"chips", {{"scored", f.chips}, {"without_grid", f.chips_without_grid}, {"without_overlap", f.chips_outside}}},
          {"bins", bins}};
}

size_t SliceEvaluator::intensity_bin(float db) {
  const double x = std::clamp(double(db), kIntensityLoDb, kIntensityHiDb - 1e-9);
  return size_t((x - kIntensityLoDb) / kIntensityStepDb);
}

void SliceEvaluator::add(const std::string& group, const float* vv_db, const uint8_t* valid, const uint8_t* label,
                         const uint8_t* model, const uint8_t* otsu, size_t n, const uint8_t* water_type,
                         const AuxPixels& aux) {
  if (!otsu) has_otsu_ = false;
  if (slope_.enabled) add_aux(slope_, aux.slope_deg, true, vv_db, valid, label, model, otsu, n);
  if (landcover_.enabled) add_aux(landcover_, aux.landcover, false, vv_db, valid, label, model, otsu, n);
  if (water_type) has_types_ = true;
  Cell& g = groups_[group];
  for (size_t i = 0; i < n; ++i) {
    if (!valid[i] || !std::isfinite(vv_db[i])) continue;
    if (water_type) {
      Cell& t = types_[std::min<size_t>(2, water_type[i])];
      tally(t.model, model[i], label[i]);
      if (otsu) tally(t.otsu, otsu[i], label[i]);
    }
    Cell& f = fine_[std::min(fine_.size() - 1, intensity_bin(vv_db[i]))];
    tally(f.model, model[i], label[i]);
    tally(g.model, model[i], label[i]);
    if (otsu) {
      tally(f.otsu, otsu[i], label[i]);
      tally(g.otsu, otsu[i], label[i]);
    }
  }
}

nlohmann::json SliceEvaluator::to_json() const {
  int64_t total = 0;
  for (const auto& c : fine_) total += c.model.valid();
  nlohmann::json bins = nlohmann::json::array();
  // Quintiles: walk the fine bins, closing a slice once it holds its share of the pixels.
  size_t k = 0;
  int64_t seen = 0;
  for (int q = 1; q <= 5 && total > 0; ++q) {
    const int64_t target = total * q / 5;
    Cell acc;
    const size_t first = k;
    while (k < fine_.size() && (seen < target || q == 5)) {
      acc.model += fine_[k].model;
      acc.otsu += fine_[k].otsu;
      seen += fine_[k].model.valid();
      ++k;
    }
    if (acc.model.valid() == 0) continue;  // heavy ties: an earlier slice already took them
    const double lo = first == 0 ? -INFINITY : kIntensityLoDb + double(first) * kIntensityStepDb;
    const double hi = k >= fine_.size() ? INFINITY : kIntensityLoDb + double(k) * kIntensityStepDb;
    nlohmann::json b = bin_json(acc.model, acc.otsu, has_otsu_);
    auto edge = [](double v) {
      return std::isfinite(v) ? nlohmann::json(std::round(v * 10.0) / 10.0) : nlohmann::json(nullptr);
    };
    b["range_db"] = {edge(lo), edge(hi)};
    b["label"] = fmt::format("q{}", q);
    bins.push_back(b);
  }
  nlohmann::json regions = nlohmann::json::array();
  for (const auto& [name, c] : groups_) {
    nlohmann::json b = bin_json(c.model, c.otsu, has_otsu_);
    b["name"] = name;
    regions.push_back(b);
  }
  nlohmann::json out = {{"intensity",
           {{"definition", fmt::format("VV dB quintiles of the valid pixels (edges to {:g} dB; null = open end); "
                                       "pixels are the same as the totals'",
                                       kIntensityStepDb)},
            {"bins", bins}}},
          {"region",
           {{"definition", "the dataset's group of each chip (Sen1Floods11 region, ETCI scene, OMBRIA split), "
                           "else the chip id's first '_'-separated token"},
            {"bins", regions}}}};
  if (has_types_) {
    nlohmann::json types = nlohmann::json::array();
    const char* names[3] = {"dry", "permanent water", "flood water"};
    for (int k = 0; k < 3; ++k) {
      nlohmann::json b = bin_json(types_[size_t(k)].model, types_[size_t(k)].otsu, has_otsu_);
      b["name"] = names[k];
      const Confusion& m = types_[size_t(k)].model;
      if (k == 0) {
        b["false_alarm"] = m.valid() ? double(m.fp) / double(m.valid()) : 0.0;
        const Confusion& o = types_[0].otsu;
        if (has_otsu_) b["otsu_false_alarm"] = o.valid() ? double(o.fp) / double(o.valid()) : 0.0;
      }
      types.push_back(b);
    }
    out["water_type"] = {{"definition", "labelled dry land, permanent water (the data's reference water body) and "
                                        "flood water; water bins hold only water, so IoU = recall there"},
                         {"bins", types}};
  } else {
    out["water_type"] = {{"unavailable", "this dataset does not tell permanent from flood water"}};
  }
  if (slope_.enabled) out["slope"] = aux_json(slope_, true);
  if (landcover_.enabled) out["landcover"] = aux_json(landcover_, false);
  return out;
}

}  // namespace drshym::eval
