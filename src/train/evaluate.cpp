#include "train/evaluate.hpp"

#include <cmath>
#include <optional>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/log.hpp"
#include "data/make_dataset.hpp"
#include "data/raw_dataset.hpp"
#include "eval/calibration.hpp"
#include "eval/metrics.hpp"
#include "eval/otsu.hpp"
#include "eval/plot.hpp"
#include "infer/predictor.hpp"

namespace drshym::train {

nlohmann::json evaluate_checkpoint(const EvaluateParams& p) {
  infer::PredictorParams pp;
  pp.checkpoint = p.checkpoint;
  pp.threads = p.threads;
  if (p.threshold >= 0) pp.threshold = p.threshold;
  infer::Predictor predictor(pp);
  auto ds = data::make_dataset(p.data, p.split, predictor.preprocess(), false, 42);
  const bool has_raw = data::raw_sample_of(*ds, 0).has_value();
  eval::SegmentationEvaluator model_eval, otsu_eval;
  eval::PixelSample sample;
  const float thr = float(predictor.threshold());
  if (p.offset_db != 0.0 && !has_raw)
    throw Error(ErrorKind::Usage, "eval", "--offset-db needs a dataset with raw dB pixels (" + ds->name() + ")");
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
    }
  }
  nlohmann::json out = {{"checkpoint", predictor.checkpoint_path()},
                        {"checkpoint_sha256", predictor.checkpoint_sha256()},
                        {"data", ds->name()},
                        {"samples", ds->size()},
                        {"threshold", predictor.threshold()},
                        {"temperature", predictor.temperature()},
                        {"offset_db", p.offset_db},
                        {"model", model_eval.to_json(true)}};
  if (has_raw) out["otsu_vv_db"] = otsu_eval.to_json(true);
  // Calibration quality on this data at the checkpoint's temperature (reliability / ECE).
  if (sample.size() > 0) {
    eval::CalibrationParams cp;
    auto cal = eval::calibrate(sample, cp);
    auto at_ckpt = eval::reliability(sample.logits().data(), sample.labels().data(), sample.size(),
                                     predictor.temperature(), cp.reliability_bins);
    out["calibration_on_this_data"] = {{"ece_at_checkpoint_temperature", at_ckpt.ece},
                                       {"ece_uncalibrated", cal.before.ece},
                                       {"temperature_that_would_fit_here", cal.temperature}};
    if (!p.reliability_png.empty()) eval::write_reliability_png(p.reliability_png, cal);
  }
  return out;
}

}  // namespace drshym::train
