#pragma once
// `drshym eval`: score a checkpoint on a dataset with its own preprocessing, temperature and
// threshold, next to the classical baseline (per-chip Otsu threshold on VV dB) on exactly the
// same valid pixels. Reports total (pooled) and mean per-chip IoU, F1, precision, recall.
#include <nlohmann/json.hpp>
#include <string>

namespace drshym::train {

struct EvaluateParams {
  std::string checkpoint;      // "" = embedded default model
  nlohmann::json data;         // a data section, e.g. {type: sen1floods11, root: ..., split: all}
  std::string split = "test";
  double threshold = -1;       // < 0: the checkpoint's
  int threads = 0;
  std::string reliability_png;  // optional: reliability diagram of the model on this data
  // Stress test: add this many dB to every input band (VV and VH) before preprocessing, e.g.
  // +2 to mimic a scene whose water reads 2 dB brighter than the training data. The Otsu
  // baseline sees the same shifted pixels.
  double offset_db = 0.0;
};

// Returns {"model": {...}, "otsu": {...}, "data": ..., "checkpoint": ...}.
nlohmann::json evaluate_checkpoint(const EvaluateParams& p);

}  // namespace drshym::train
