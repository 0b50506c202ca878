#include "assess/evaluate.hpp"

#include <algorithm>

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

namespace {

// The optional rasters of the slope and land-cover error slices (--dem, --landcover).
struct AuxRasters {
  std::optional<eval::AuxRaster> dem, landcover;
};

// What an evaluation accumulates over the samples.
struct Scores {
  eval::SliceEvaluator slices;
  eval::SegmentationEvaluator perm_eval, flood_eval, flood_base_eval;
  eval::SegmentationEvaluator model_eval, otsu_eval;
  // Classical change detection on bi-temporal samples, on the same pixels: per-image Otsu on
  // the after-minus-before difference (flood = darkened), and both (dark after AND darkened).
  eval::SegmentationEvaluator change_eval, both_eval, rule_eval;
  bool has_before = false;
  eval::PixelSample sample;
};

// What scoring every sample shares: the request, the data, the models and the auxiliary rasters.
struct EvalContext {
  const EvaluateParams& p;
  const data::Dataset& ds;
  bool has_raw;
  const infer::Predictor& predictor;
  const std::optional<infer::Predictor>& head;         // the permanent-water head (--classes)
  const std::optional<infer::Predictor>& water_model;  // the VV water model of `segment --before`
  const AuxRasters& aux;
  float thr;  // the model's threshold on its calibrated probability
};

// A raw chip being scored: its pixels, the model's probability and the 0/1 masks made from them.
struct RawChip {
  const data::RawSample& raw;
  const std::string& id;
  size_t n;
  const float* prob;           // the model's calibrated water probability
  std::vector<uint8_t> v, l;   // valid, label
  std::vector<uint8_t> water;  // per-image Otsu water on the VV dB
  std::vector<uint8_t> pred;   // the model's water at its threshold
};

// A sample's pixels as the model scored them.
struct ScoredPixels {
  const std::string& id;
  size_t n;
  const float* label;
  const float* valid;
  const float* prob;  // the model's calibrated water probability
};

// Slope and land cover of one chip; the slice pixels point into the vectors.
struct ChipAux {
  std::vector<float> slope, classes;
  eval::SliceEvaluator::AuxPixels pixels;
};

// Open the --dem and --landcover rasters and enable their error slices.
void open_aux_rasters(const EvaluateParams& p, AuxRasters& aux, eval::SliceEvaluator& slices) {
  if (!p.dem.empty()) {
    aux.dem = eval::AuxRaster::open(p.dem, "--dem");
    slices.enable_slope(p.dem);
  }
  if (!p.landcover.empty()) {
    aux.landcover = eval::AuxRaster::open(p.landcover, "--landcover");
    slices.enable_landcover(p.landcover);
  }
}

// The evaluated model's predictor parameters.
infer::PredictorParams predictor_params(const EvaluateParams& p) {
  infer::PredictorParams pp;
  pp.checkpoint = p.checkpoint;
  pp.threads = p.threads;
  pp.tta = p.tta;
  pp.precision = infer::parse_precision(p.precision);
  pp.threshold = p.threshold;
  return pp;
}

// The dataset to evaluate on, with the model's own preprocessing.
data::DatasetPtr make_eval_dataset(const EvaluateParams& p, const infer::Predictor& predictor) {
  nlohmann::json data = p.data;
  // OMBRIA serves bi-temporal samples (flood labels) to a change model, all-water ones otherwise.
  if (data.value("type", "") == "ombria") data["change"] = predictor.preprocess().needs_before();
  return data::make_dataset(data, p.split, predictor.preprocess(), false, 42);
}

// The permanent-water head of --classes, on data that tells permanent from flood water.
infer::PredictorParams type_head_params(const EvaluateParams& p, const infer::Predictor& predictor,
                                        const data::Dataset& ds) {
  const auto first = data::raw_sample_of(ds, 0);
  if (!first || first->water_type.empty())
    throw Error(ErrorKind::Usage, "eval",
                "--classes needs data that tells permanent from flood water (etci); " + ds.name() + " does not");
  infer::PredictorParams hp;
  if (p.type_checkpoint.empty() && predictor.head_index("permanent_water") > 0) {
    hp.checkpoint = predictor.checkpoint_path();  // the model's own head, as segment uses it
    hp.head = "permanent_water";
  } else {
    hp.checkpoint = p.type_checkpoint.empty() ? infer::default_model_path("permanent_vv") : p.type_checkpoint;
  }
  hp.threads = p.threads;
  return hp;
}

// Options that need a dataset with raw dB pixels.
void check_raw_options(const EvaluateParams& p, const AuxRasters& aux, bool has_raw, const data::Dataset& ds) {
  if (p.offset_db != 0.0 && !has_raw)
    throw Error(ErrorKind::Usage, "eval", "--offset-db needs a dataset with raw dB pixels (" + ds.name() + ")");
  if ((aux.dem || aux.landcover) && !has_raw)
    throw Error(ErrorKind::Usage, "eval",
                "--dem / --landcover add error slices, which need a dataset with raw dB pixels (" + ds.name() +
                    ")");
}

// Sample i's raw dB pixels, shifted by --offset-db; none for a dataset without them.
std::optional<data::RawSample> raw_sample(const EvalContext& ctx, size_t i) {
  std::optional<data::RawSample> raw;
  if (ctx.has_raw) {
    raw = data::raw_sample_of(ctx.ds, i);
    if (ctx.p.offset_db != 0.0) {
      for (float& x : raw->vv) x += float(ctx.p.offset_db);  // NaN stays NaN
      for (float& x : raw->vh) x += float(ctx.p.offset_db);
    }
  }
  return raw;
}

// What `segment --before` makes of a pair: the water model on the post-event image, split by the change model
// with the pre-event darkness veto.
void score_segment_rule(const EvalContext& ctx, const RawChip& c, Scores& scores) {
  const data::RawSample& raw = c.raw;
  const size_t n = c.n;
  data::RawSample after_only = raw;
  after_only.before.clear();
  data::Sample ws = data::to_sample(after_only, ctx.water_model->preprocess());
  auto wprob = ctx.water_model->predict(ws.image.unsqueeze(0)).contiguous();
  const float* wpp = wprob.data_ptr<float>();
  const float* cp = c.prob;
  const float bshift = ctx.predictor.preprocess().anchor.shift(raw.before.data(), nullptr, n);  // as to_sample
  const float wt = float(ctx.water_model->threshold());
  std::vector<uint8_t> rule(n);
  for (size_t k = 0; k < n; ++k) {
    const bool dark_before = std::isfinite(raw.before[k]) &&
                             raw.before[k] + bshift < infer::ClassesRule::kPermanentMaxBeforeDb;
    rule[k] = wpp[k] >= wt && (cp[k] >= ctx.thr || !dark_before);
  }
  scores.rule_eval.add(c.id, eval::confusion(rule.data(), c.l.data(), c.v.data(), n));
}

// The classical change baselines on a before/after chip, and the rule of `segment --before`.
void score_change(const EvalContext& ctx, const RawChip& c, Scores& scores) {
  const data::RawSample& raw = c.raw;
  const size_t n = c.n;
  scores.has_before = true;
  std::vector<float> diff(n);
  for (size_t k = 0; k < n; ++k) diff[k] = raw.vv[k] - raw.before[k];
  auto darker = eval::otsu_water_mask(diff.data(), c.v.data(), n);
  scores.change_eval.add(c.id, eval::confusion(darker.data(), c.l.data(), c.v.data(), n));
  for (size_t k = 0; k < n; ++k) darker[k] = darker[k] && c.water[k];
  scores.both_eval.add(c.id, eval::confusion(darker.data(), c.l.data(), c.v.data(), n));
  if (ctx.water_model) score_segment_rule(ctx, c, scores);
}

// Slope and land cover on this chip's grid (none when the chip is not georeferenced).
void aux_on_grid(const AuxRasters& rasters, const data::RawSample& raw, ChipAux& aux) {
  if (raw.has_grid()) {
    const eval::ChipGrid grid{raw.crs_wkt, *raw.geotransform, raw.width, raw.height};
    if (rasters.dem) aux.pixels.slope_deg = (aux.slope = eval::slope_on_grid(*rasters.dem, grid)).data();
    if (rasters.landcover)
      aux.pixels.landcover = (aux.classes = eval::classes_on_grid(*rasters.landcover, grid)).data();
  }
}

// The model's water split by the permanent-water head, scored per class beside "every water pixel is flood".
void score_classes(const EvalContext& ctx, const RawChip& c, Scores& scores) {
  const size_t n = c.n;
  data::Sample hs = data::to_sample(c.raw, ctx.head->preprocess());
  auto hprob = ctx.head->predict(hs.image.unsqueeze(0)).contiguous();
  const float* hp = hprob.data_ptr<float>();
  const float ht = float(ctx.head->threshold());
  std::vector<uint8_t> pk(n), tk(n), pf(n), tf(n), hv(n);
  for (size_t k = 0; k < n; ++k) {
    hv[k] = c.v[k];
    const uint8_t cls = c.pred[k] ? (hp[k] >= ht ? 1 : 2) : 0;
    pk[k] = cls == 1, pf[k] = cls == 2;
    tk[k] = c.raw.water_type[k] == 1, tf[k] = c.raw.water_type[k] == 2;
  }
  scores.perm_eval.add(c.id, eval::confusion(pk.data(), tk.data(), hv.data(), n));
  scores.flood_eval.add(c.id, eval::confusion(pf.data(), tf.data(), hv.data(), n));
  scores.flood_base_eval.add(c.id, eval::confusion(c.pred.data(), tf.data(), hv.data(), n));
}

// The Otsu baseline, the change baselines, the classes and the error slices of a sample with raw dB pixels.
void score_raw_sample(const EvalContext& ctx, size_t i, const data::RawSample& raw, const ScoredPixels& px,
                      Scores& scores) {
  const size_t n = px.n;
  RawChip c{raw, px.id, n, px.prob, std::vector<uint8_t>(n), std::vector<uint8_t>(n), {}, {}};
  for (size_t k = 0; k < n; ++k) {
    c.v[k] = px.valid[k] > 0.5f ? 1 : 0;
    c.l[k] = px.label[k] > 0.5f ? 1 : 0;
  }
  c.water = eval::otsu_water_mask(raw.vv.data(), c.v.data(), n);
  scores.otsu_eval.add(c.id, eval::confusion(c.water.data(), c.l.data(), c.v.data(), n));
  if (raw.has_before()) score_change(ctx, c, scores);
  c.pred.resize(n);
  for (size_t k = 0; k < n; ++k) c.pred[k] = c.prob[k] >= ctx.thr ? 1 : 0;
  std::string group = ctx.ds.group_of(i);
  if (group.empty()) group = c.id.substr(0, c.id.find('_'));
  ChipAux aux;
  aux_on_grid(ctx.aux, raw, aux);
  if (ctx.head && raw.water_type.size() == n) score_classes(ctx, c, scores);
  scores.slices.add(group, raw.vv.data(), c.v.data(), c.l.data(), c.pred.data(), c.water.data(), n,
                    raw.water_type.size() == n ? raw.water_type.data() : nullptr, aux.pixels);
}

// Score the model on sample i; on raw dB pixels also the baselines, the classes and the error slices.
void score_sample(const EvalContext& ctx, size_t i, Scores& scores) {
  const std::optional<data::RawSample> raw = raw_sample(ctx, i);
  data::Sample s = raw ? data::to_sample(*raw, ctx.predictor.preprocess()) : ctx.ds.get(i);
  auto logits = ctx.predictor.logits(s.image.unsqueeze(0));
  auto prob = torch::sigmoid(logits / ctx.predictor.temperature()).contiguous();
  auto label = s.label.contiguous(), valid = s.valid.contiguous();
  const size_t n = size_t(label.numel());
  const float* lab = label.data_ptr<float>();
  const float* val = valid.data_ptr<float>();
  scores.model_eval.add(s.id, eval::confusion_from_scores(prob.data_ptr<float>(), ctx.thr, lab, val, n));
  scores.sample.add(logits.data_ptr<float>(), lab, val, n);
  if (raw) score_raw_sample(ctx, i, *raw, {s.id, n, lab, val, prob.data_ptr<float>()}, scores);
}

// The per-class report of --classes.
nlohmann::json classes_report(const infer::Predictor& head, const Scores& scores) {
  return {
      {"what", "water of the model split by the permanent-water head; truth: ETCI water_body_label (permanent) "
               "and flood_label outside it (flood)"},
      {"type_checkpoint", head.checkpoint_path()},
      {"type_checkpoint_sha256", head.checkpoint_sha256()},
      {"permanent_water", scores.perm_eval.to_json(false)},
      {"flood_water", scores.flood_eval.to_json(false)},
      {"baseline_every_water_pixel_flood", {{"flood_water", scores.flood_base_eval.to_json(false)}}}};
}

// The change-detection baselines of bi-temporal data, and the rule of `segment --before`.
void add_change_report(const Scores& scores, const std::optional<infer::Predictor>& water_model, nlohmann::json& out) {
  out["task"] = "flood (new water) from a before/after pair: model.total_iou is flood IoU";
  out["otsu_vv_db"]["what"] = "per-image Otsu on the after image's VV dB";
  out["otsu_change_db"] = scores.change_eval.to_json(true);
  out["otsu_change_db"]["what"] = "per-image Otsu on after minus before VV dB (flood = darkened)";
  out["otsu_after_and_change"] = scores.both_eval.to_json(true);
  out["otsu_after_and_change"]["what"] = "both: dark after (Otsu) and darkened (Otsu on the difference)";
  if (water_model) {
    out["segment_rule"] = scores.rule_eval.to_json(true);
    out["segment_rule"]["what"] = "segment --before: water of " + water_model->checkpoint_path() +
                                  " that the change model calls flood or that was not dark before";
  }
}

// The report: the model beside the baselines, the classes and the error slices.
nlohmann::json make_report(const EvalContext& ctx, const Scores& scores) {
  const infer::Predictor& predictor = ctx.predictor;
  const data::Dataset& ds = ctx.ds;
  nlohmann::json out = {{"checkpoint", predictor.checkpoint_path()},
                        {"checkpoint_sha256", predictor.checkpoint_sha256()},
                        {"tta", predictor.tta()},
                        {"data", ds.name()},
                        {"samples", ds.size()},
                        {"threshold", predictor.threshold()},
                        {"temperature", predictor.temperature()},
                        {"offset_db", ctx.p.offset_db},
                        {"model", scores.model_eval.to_json(true)}};
  if (ctx.has_raw) out["otsu_vv_db"] = scores.otsu_eval.to_json(true);
  if (ctx.head) out["classes"] = classes_report(*ctx.head, scores);
  if (scores.has_before) add_change_report(scores, ctx.water_model, out);
  // Error slices need the pixels' dB (datasets of normalized tiles have none).
  out["slices"] = ctx.has_raw
                      ? scores.slices.to_json()
                      : nlohmann::json{{"unavailable", "this dataset has no raw dB pixels (" + ds.name() + ")"}};
  return out;
}

// Calibration quality on this data at the checkpoint's temperature (reliability / ECE).
void add_calibration_report(const EvalContext& ctx, const eval::PixelSample& sample, nlohmann::json& out) {
  const infer::Predictor& predictor = ctx.predictor;
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
    if (!ctx.p.reliability_png.empty()) eval::write_reliability_png(ctx.p.reliability_png, cal);
  }
}

}  // namespace

nlohmann::json evaluate_checkpoint(const EvaluateParams& p) {
  if (p.threshold) require_threshold(*p.threshold, "eval", "--threshold");  // before any work
  // Auxiliary rasters first: a wrong path or a raster without CRS fails before any model work.
  AuxRasters aux;
  Scores scores;
  open_aux_rasters(p, aux, scores.slices);
  infer::Predictor predictor(predictor_params(p));
  auto ds = make_eval_dataset(p, predictor);
  const bool has_raw = data::raw_sample_of(*ds, 0).has_value();
  std::optional<infer::Predictor> head;
  if (p.classes) head.emplace(type_head_params(p, predictor, *ds));
  // What `segment --before` makes of a pair: the VV water model on the post-event image, split
  // by the change model with the pre-event darkness veto (infer/water_classes.hpp).
  std::optional<infer::Predictor> water_model;
  if (predictor.preprocess().needs_before()) {
    infer::PredictorParams wp;
    wp.checkpoint = infer::default_model_path("default_vv");
    wp.threads = p.threads;
    water_model.emplace(wp);
  }
  const float thr = float(predictor.threshold());
  check_raw_options(p, aux, has_raw, *ds);
  const EvalContext ctx{p, *ds, has_raw, predictor, head, water_model, aux, thr};
  for (size_t i = 0; i < ds->size(); ++i) {
    core::check_interrupted("eval");
    score_sample(ctx, i, scores);
  }
  nlohmann::json out = make_report(ctx, scores);
  add_calibration_report(ctx, scores.sample, out);
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
  // Both classes are needed: on one class alone the temperature runs off to fit it and no
  // threshold separates anything (score 0), a thresholds.json segment and predict would apply.
  const int64_t water = std::count_if(sample.labels().begin(), sample.labels().end(), [](uint8_t l) { return l != 0; });
  const int64_t dry = int64_t(sample.size()) - water;
  if (water == 0 || dry == 0)
    throw Error(ErrorKind::InvalidInput, "calibrate",
                "no " + std::string(water == 0 ? "water" : "dry") + " pixel in the calibration data (" + ds->name() +
                    ", " + std::to_string(sample.size()) + " labelled valid pixels, all " +
                    (water == 0 ? "dry" : "water") +
                    "): temperature and threshold cannot be fitted; calibrate on data holding both water and "
                    "dry pixels (nothing written)");
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
