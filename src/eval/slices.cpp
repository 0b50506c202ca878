#include "eval/slices.hpp"

#include <algorithm>
#include <cmath>

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

}  // namespace

size_t SliceEvaluator::intensity_bin(float db) {
  const double x = std::clamp(double(db), kIntensityLoDb, kIntensityHiDb - 1e-9);
  return size_t((x - kIntensityLoDb) / kIntensityStepDb);
}

void SliceEvaluator::add(const std::string& group, const float* vv_db, const uint8_t* valid, const uint8_t* label,
                         const uint8_t* model, const uint8_t* otsu, size_t n, const uint8_t* water_type) {
  if (!otsu) has_otsu_ = false;
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
  return out;
}

}  // namespace drshym::eval
