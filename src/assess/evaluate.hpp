#pragma once
// `drshym eval`: score a checkpoint on a dataset with its own preprocessing, temperature and
// threshold, next to the classical baseline (per-chip Otsu threshold on VV dB) on exactly the
// same valid pixels. Reports total (pooled) and mean per-chip IoU, F1, precision, recall.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace drshym::assess {

struct EvaluateParams {
  std::string checkpoint;      // "" = embedded default model
  nlohmann::json data;         // a data section, e.g. {type: sen1floods11, root: ..., split: all}
  std::string split = "test";
  std::optional<double> threshold;  // in (0, 1); unset: the checkpoint's
  int threads = 0;
  bool tta = false;            // flip test-time augmentation (infer::PredictorParams::tta)
  std::string precision = "fp32";  // fp32 | bf16 | auto (infer/precision.hpp)
  std::string reliability_png;  // optional: reliability diagram of the model on this data
  // Stress test: add this many dB to every input band (VV and VH) before preprocessing, e.g.
  // +2 to mimic a scene whose water reads 2 dB brighter than the training data. The Otsu
  // baseline sees the same shifted pixels.
  double offset_db = 0.0;
  // Optional rasters (any CRS) for the slope and landcover error slices, warped by GDAL onto
  // each georeferenced chip: a DEM (elevation in metres) and a land-cover map (class values).
  // Opened and checked (exists, readable, has a CRS) before the model loads.
  std::string dem;
  std::string landcover;
  // Per-class report (permanent / flood water) on data that tells them apart (ETCI): each
  // water pixel of the model is split by the permanent-water head (type_checkpoint, "" = the
  // embedded models/permanent_vv), scored per class beside "every water pixel is flood".
  bool classes = false;
  std::string type_checkpoint;
};

// Returns {"model": {...}, "otsu": {...}, "data": ..., "checkpoint": ...}.
nlohmann::json evaluate_checkpoint(const EvaluateParams& p);

// `drshym calibrate`: fit the temperature of a checkpoint on labelled data by minimum NLL
// (golden-section search on log T), then choose the threshold on the calibrated probability for
// an objective: "f1" (default), "iou", "fixed=T" (keep T), or "recall@precision>=P" (the highest recall whose
// precision is at least P, for users who fear missed floods more than false alarms).
// Writes, beside the checkpoint (replacing earlier ones, atomically):
//   thresholds.json  temperature, threshold, objective, ECE (15 equal-width probability bins)
//                    and Brier score and NLL before (T = 1) and after, the data used and the
//                    checkpoint's SHA-256 (the Predictor applies it only to that checkpoint);
//   reliability.png  reliability diagrams before and after, ECE in the title.
struct CalibrateParams {
  std::string checkpoint;      // required: the folder or .pt file the results go beside
  nlohmann::json data;         // a data section, as for evaluate_checkpoint
  std::string split = "valid";
  std::string objective = "f1";
  int threads = 0;
};
// Returns the thresholds.json content.
nlohmann::json calibrate_checkpoint(const CalibrateParams& p);

}  // namespace drshym::assess
