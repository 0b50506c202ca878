#pragma once
// The training loop: AdamW + cosine annealing with warm restarts, masked losses, validation
// IoU/F1 every epoch, early stopping, best/last checkpoints with full metadata, resume,
// JSONL/CSV metrics logs and a PNG of the curves; then temperature + threshold calibration.
// Deterministic: same config + seed on the same machine gives bit-identical weights.
//
//   auto cfg = train::TrainConfig::from_json(train::load_config_with_overrides("configs/etci.yaml", {}));
//   train::TrainResult r = train::run_training(cfg);
#include <nlohmann/json.hpp>
#include <string>

#include "data/dataset.hpp"
#include "eval/calibration.hpp"
#include "eval/metrics.hpp"
#include "model/segnet.hpp"
#include "train/train_config.hpp"

namespace drshym::train {

struct TrainResult {
  int best_epoch = -1;
  double best_val_iou = 0;
  int epochs_run = 0;
  bool stopped_early = false;
  std::string best_checkpoint;
  std::string last_checkpoint;
  nlohmann::json summary;
};

// Build the datasets named in cfg.data and train.
TrainResult run_training(const TrainConfig& cfg);
// Train on given datasets (cross-validation passes subsets); cal may be null (= val).
TrainResult run_training(const TrainConfig& cfg, data::DatasetPtr train, data::DatasetPtr val,
                         data::DatasetPtr cal);
// Build one dataset from a config data section (a training set with cfg.distill carries the
// teacher's inputs).
data::DatasetPtr build_dataset(const nlohmann::json& section, const TrainConfig& cfg, bool training,
                               const char* what);

// Outputs of a network over a dataset: metrics at a threshold on calibrated probability,
// plus a pixel sample for calibration.
struct EvalOutput {
  eval::SegmentationEvaluator evaluator;
  eval::PixelSample sample;
  double loss = 0;
};
EvalOutput evaluate_net(const model::SegNet& net, const data::Dataset& ds, const LossConfig& loss,
                        double temperature, double threshold, int batch_size, torch::Device device);

// Stack samples [indices] of a dataset into a batch.
struct Batch {
  torch::Tensor image, label, valid;
  torch::Tensor teacher_image, teacher_valid;  // distillation only, else undefined
  std::vector<std::string> ids;
};
Batch collate(const data::Dataset& ds, const std::vector<size_t>& indices, uint64_t epoch = 0);

// Learning rate of cosine annealing with warm restarts at a fractional epoch.
double cosine_lr(double epoch, double lr_max, double lr_min, int first_period, int mult, int total_epochs);

}  // namespace drshym::train
