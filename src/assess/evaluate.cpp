#include "assess/evaluate.hpp"

#include <cmath>
#include <filesystem>
#include <optional>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/interrupt.hpp"
#include "core/log.hpp"
#include "data/make_dataset.hpp"
#include "data/raw_dataset.hpp"
#include "eval/aux_layers.hpp"
#include "eval/calibration.hpp"
#include "eval/metrics.hpp"
#include "eval/otsu.hpp"
#include "eval/plot.hpp"
#include "eval/slices.hpp"
#include "infer/predictor.hpp"
#include "infer/water_classes.hpp"

namespace drshym::assess {

nlohmann::json evaluate_checkpoint(const EvaluateParams& p) {
  // Auxiliary rasters first: a wrong path or a raster without CRS fails before any model work.
  std::optional<eval::AuxRaster> dem, landcover;
  eval::SliceEvaluator slices;
  if (!p.dem.empty()) {
    dem = eval::AuxRaster::open(p.dem, "--dem");
    slices.enable_slope(p.dem);
  }
  if (!p.landcover.empty()) {
    landcover = eval::AuxRaster::open(p.landcover, "--landcover");
    slices.enable_landcover(p.landcover);
  }
  infer::PredictorParams pp;
  pp.checkpoint = p.checkpoint;
  pp.threads = p.threads;
  pp.tta = p.tta;
  pp.precision = infer::parse_precision(p.precision);
  if (p.threshold >= 0) pp.threshold = p.threshold;
  infer::Predictor predictor(pp);
  nlohmann::json data = p.data;
  // OMBRIA serves bi-temporal samples (flood labels) to a change model, all-water ones otherwise.
  if (data.value("type", "") == "ombria") data["change"] = predictor.preprocess().needs_before();
  auto ds = data::make_dataset(data, p.split, predictor.preprocess(), false, 42);
  const bool has_raw = data::raw_sample_of(*ds, 0).has_value();
  std::optional<infer::Predictor> head;
  eval::SegmentationEvaluator perm_eval, flood_eval, flood_base_eval;
  if (p.classes) {
    const auto first = data::raw_sample_of(*ds, 0);
    if (!first || first->water_type.empty())
      throw Error(ErrorKind::Usage, "eval",
                  "--classes needs data that tells permanent from flood water (etci); " + ds->name() + " does not");
    infer::PredictorParams hp;
    if (p.type_checkpoint.empty() && predictor.head_index("permanent_water") > 0) {
      hp.checkpoint = predictor.checkpoint_path();  // the model's own head, as segment uses it
      hp.head = "permanent_water";
    } else {
      hp.checkpoint = p.type_checkpoint.empty() ? infer::default_model_path("permanent_vv") : p.type_checkpoint;
    }
    hp.threads = p.threads;
    head.emplace(hp);
  }
  eval::SegmentationEvaluator model_eval, otsu_eval;
  // Classical change detection on bi-temporal samples, on the same pixels: per-image Otsu on
  // the after-minus-before difference (flood = darkened), and both (dark after AND darkened).
  eval::SegmentationEvaluator change_eval, both_eval, rule_eval;
  bool has_before = false;
  // What `segment --before` makes of a pair: the VV water model on the post-event image, split
  // by the change model with the pre-event darkness veto (infer/water_classes.hpp).
  std::optional<infer::Predictor> water_model;
  if (predictor.preprocess().needs_before()) {
    infer::PredictorParams wp;
    wp.checkpoint = infer::default_model_path("default_vv");
    wp.threads = p.threads;
    water_model.emplace(wp);
  }
  eval::PixelSample sample;
  const float thr = float(predictor.threshold());
  if (p.offset_db != 0.0 && !has_raw)
    throw Error(ErrorKind::Usage, "eval", "--offset-db needs a dataset with raw dB pixels (" + ds->name() + ")");
  if ((dem || landcover) && !has_raw)
    throw Error(ErrorKind::Usage, "eval",
                "--dem / --landcover add error slices, which need a dataset with raw dB pixels (" + ds->name() +
                    ")");
  for (size_t i = 0; i < ds->size(); ++i) {
    core::check_interrupted("eval");
    std::optional<data::RawSample> raw;
    if (has_raw) {
      raw = data::raw_sample_of(*ds, i);
      if (p.offset_db != 0.0) {
        for (float& x : raw->vv) x += float(p.offset_db);  // NaN stays NaN
        for (float& x : raw->vh) x += float(p.offset_db);
      }
    }
    data::Sample s = raw ? data::to_sample(*raw, predictor.preprocess()) : ds->get(i);
    auto logits = predictor.logits(s.image.unsqueeze(0));
    auto prob = torch::sigmoid(logits / predictor.temperature()).contiguous();
    auto label = s.label.contiguous(), valid = s.valid.contiguous();
    const size_t n = size_t(label.numel());
    const float* lab = label.data_ptr<float>();
    const float* val = valid.data_ptr<float>();
    model_eval.add(s.id, eval::confusion_from_scores(prob.data_ptr<float>(), thr, lab, val, n));
    sample.add(logits.data_ptr<float>(), lab, val, n);
    if (raw) {
      std::vector<uint8_t> v(n), l(n);
      for (size_t k = 0; k < n; ++k) {
        v[k] = val[k] > 0.5f ? 1 : 0;
        l[k] = lab[k] > 0.5f ? 1 : 0;
      }
      auto water = eval::otsu_water_mask(raw->vv.data(), v.data(), n);
      otsu_eval.add(s.id, eval::confusion(water.data(), l.data(), v.data(), n));
      if (raw->has_before()) {
        has_before = true;
        std::vector<float> diff(n);
        for (size_t k = 0; k < n; ++k) diff[k] = raw->vv[k] - raw->before[k];
        auto darker = eval::otsu_water_mask(diff.data(), v.data(), n);
        change_eval.add(s.id, eval::confusion(darker.data(), l.data(), v.data(), n));
        for (size_t k = 0; k < n; ++k) darker[k] = darker[k] && water[k];
        both_eval.add(s.id, eval::confusion(darker.data(), l.data(), v.data(), n));
        if (water_model) {
          data::RawSample after_only = *raw;
          after_only.before.clear();
          data::Sample ws = data::to_sample(after_only, water_model->preprocess());
          auto wprob = water_model->predict(ws.image.unsqueeze(0)).contiguous();
          const float* wpp = wprob.data_ptr<float>();
          const float* cp = prob.data_ptr<float>();
          const float bshift = predictor.preprocess().anchor.shift(raw->before.data(), raw->valid.data(), n);
          const float wt = float(water_model->threshold());
          std::vector<uint8_t> rule(n);
          for (size_t k = 0; k < n; ++k) {
            const bool dark_before = std::isfinite(raw->before[k]) &&
                                     raw->before[k] + bshift < infer::ClassesRule::kPermanentMaxBeforeDb;
            rule[k] = wpp[k] >= wt && (cp[k] >= thr || !dark_before);
          }
          rule_eval.add(s.id, eval::confusion(rule.data(), l.data(), v.data(), n));
        }
      }
      std::vector<uint8_t> pred(n);
      const float* pr = prob.data_ptr<float>();
      for (size_t k = 0; k < n; ++k) pred[k] = pr[k] >= thr ? 1 : 0;
      std::string group = ds->group_of(i);
      if (group.empty()) group = s.id.substr(0, s.id.find('_'));
      // Slope and land cover on this chip's grid (none when the chip is not georeferenced).
      std::vector<float> slope, classes;
      eval::SliceEvaluator::AuxPixels aux;
      if (raw->has_grid()) {
        const eval::ChipGrid grid{raw->crs_wkt, *raw->geotransform, raw->width, raw->height};
        if (dem) aux.slope_deg = (slope = eval::slope_on_grid(*dem, grid)).data();
        if (landcover) aux.landcover = (classes = eval::classes_on_grid(*landcover, grid)).data();
      }
      if (head && raw->water_type.size() == n) {
        data::Sample hs = data::to_sample(*raw, head->preprocess());
        auto hprob = head->predict(hs.image.unsqueeze(0)).contiguous();
        const float* hp = hprob.data_ptr<float>();
        const float ht = float(head->threshold());
        std::vector<uint8_t> pk(n), tk(n), pf(n), tf(n), hv(n);
        for (size_t k = 0; k < n; ++k) {
          hv[k] = v[k];
          const uint8_t cls = pred[k] ? (hp[k] >= ht ? 1 : 2) : 0;
          pk[k] = cls == 1, pf[k] = cls == 2;
          tk[k] = raw->water_type[k] == 1, tf[k] = raw->water_type[k] == 2;
        }
        perm_eval.add(s.id, eval::confusion(pk.data(), tk.data(), hv.data(), n));
        flood_eval.add(s.id, eval::confusion(pf.data(), tf.data(), hv.data(), n));
        flood_base_eval.add(s.id, eval::confusion(pred.data(), tf.data(), hv.data(), n));
      }
      slices.add(group, raw->vv.data(), v.data(), l.data(), pred.data(), water.data(), n,
                 raw->water_type.size() == n ? raw->water_type.data() : nullptr, aux);
    }
  }
  nlohmann::json out = {{"checkpoint", predictor.checkpoint_path()},
                        {"checkpoint_sha256", predictor.checkpoint_sha256()},
                        {"tta", predictor.tta()},
                        {"data", ds->name()},
                        {"samples", ds->size()},
                        {"threshold", predictor.threshold()},
                        {"temperature", predictor.temperature()},
                        {"offset_db", p.offset_db},
                        {"model", model_eval.to_json(true)}};
  if (has_raw) out["otsu_vv_db"] = otsu_eval.to_json(true);
  if (head)
    out["classes"] = {
        {"what", "water of the model split by the permanent-water head; truth: ETCI water_body_label (permanent) "
                 "and flood_label outside it (flood)"},
        {"type_checkpoint", head->checkpoint_path()},
        {"type_checkpoint_sha256", head->checkpoint_sha256()},
        {"permanent_water", perm_eval.to_json(false)},
        {"flood_water", flood_eval.to_json(false)},
        {"baseline_every_water_pixel_flood", {{"flood_water", flood_base_eval.to_json(false)}}}};
  if (has_before) {
    out["task"] = "flood (new water) from a before/after pair: model.total_iou is flood IoU";
    out["otsu_vv_db"]["what"] = "per-image Otsu on the after image's VV dB";
    out["otsu_change_db"] = change_eval.to_json(true);
    out["otsu_change_db"]["what"] = "per-image Otsu on after minus before VV dB (flood = darkened)";
    out["otsu_after_and_change"] = both_eval.to_json(true);
    out["otsu_after_and_change"]["what"] = "both: dark after (Otsu) and darkened (Otsu on the difference)";
    if (water_model) {
      out["segment_rule"] = rule_eval.to_json(true);
      out["segment_rule"]["what"] = "segment --before: water of " + water_model->checkpoint_path() +
                                    " that the change model calls flood or that was not dark before";
    }
  }
  // Error slices need the pixels' dB (datasets of normalized tiles have none).
  out["slices"] = has_raw ? slices.to_json()
                          : nlohmann::json{{"unavailable", "this dataset has no raw dB pixels (" + ds->name() + ")"}};
  // Calibration quality on this data at the checkpoint's temperature (reliability / ECE).
  if (sample.size() > 0) {
    eval::CalibrationParams cp;
    auto cal = eval::calibrate(sample, cp);
    auto at_ckpt = eval::reliability(sample.logits().data(), sample.labels().data(), sample.size(),
                                     predictor.temperature(), cp.reliability_bins);
    out["calibration_on_this_data"] = {
        {"ece_at_checkpoint_temperature", at_ckpt.ece},
        {"ece_uncalibrated", cal.before.ece},
        {"brier_at_checkpoint_temperature",
         eval::brier_score(sample.logits().data(), sample.labels().data(), sample.size(), predictor.temperature())},
        {"brier_uncalibrated", cal.brier_before},
        {"temperature_that_would_fit_here", cal.temperature}};
    if (!p.reliability_png.empty()) eval::write_reliability_png(p.reliability_png, cal);
  }
  return out;
}

nlohmann::json calibrate_checkpoint(const CalibrateParams& p) {
  eval::CalibrationParams cp;
  cp.set_objective(p.objective);  // a bad objective fails before the model loads
  if (p.checkpoint.empty()) throw Error(ErrorKind::Usage, "calibrate", "--ckpt is required (the results go beside it)");
  infer::PredictorParams pp;
  pp.checkpoint = p.checkpoint;
  pp.threads = p.threads;
  infer::Predictor predictor(pp);
  auto ds = data::make_dataset(p.data, p.split, predictor.preprocess(), false, 42);
  eval::PixelSample sample;
  for (size_t i = 0; i < ds->size(); ++i) {
    core::check_interrupted("calibrate");
    data::Sample s = ds->get(i);
    auto logits = predictor.logits(s.image.unsqueeze(0)).contiguous();
    auto label = s.label.contiguous(), valid = s.valid.contiguous();
    sample.add(logits.data_ptr<float>(), label.data_ptr<float>(), valid.data_ptr<float>(), size_t(label.numel()));
  }
  if (sample.size() == 0)
    throw Error(ErrorKind::InvalidInput, "calibrate", ds->name() + " has no labelled valid pixel to calibrate on");
  const eval::CalibrationResult cal = eval::calibrate(sample, cp);
  auto state = [](double t, const eval::Reliability& r, double brier, double nll) {
    return nlohmann::json{{"temperature", t}, {"ece", r.ece}, {"brier", brier}, {"nll", nll}};
  };
  nlohmann::json out = {
      {"temperature", cal.temperature},
      {"threshold", cal.threshold.threshold},
      {"objective", cp.objective()},
      {"score", std::isfinite(cal.threshold.score) ? nlohmann::json(cal.threshold.score) : nlohmann::json(nullptr)},
      {"checkpoint", predictor.checkpoint_path()},
      {"checkpoint_sha256", predictor.checkpoint_sha256()},
      {"before", state(1.0, cal.before, cal.brier_before, cal.nll_before)},
      {"after", state(cal.temperature, cal.after, cal.brier_after, cal.nll_after)},
      {"ece_definition", "15 equal-width bins of the predicted water probability; ECE = sum over bins of "
                         "(pixels in bin / pixels) x |observed water fraction - mean predicted probability|"},
      {"data", {{"name", ds->name()}, {"spec", p.data}, {"split", p.split}, {"samples", ds->size()},
                {"pixels_seen", cal.pixels_seen}, {"pixels_used", cal.pixels_used}}},
      {"threshold_curve", cal.threshold.to_json()["curve"]}};
  const std::filesystem::path dir = std::filesystem::path(predictor.checkpoint_path()).parent_path();
  const std::string json_path = (dir / infer::kThresholdsFile).string(), png_path = (dir / "reliability.png").string();
  core::OutputSet outs;
  eval::write_reliability_png(outs.temp(png_path), cal);
  core::write_text_file_atomic(outs.temp(json_path), out.dump(2) + "\n");
  core::check_interrupted("calibrate");
  outs.commit(json_path);
  outs.commit(png_path);
  outs.finish();
  return out;
}

}  // namespace drshym::assess
