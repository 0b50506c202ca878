#pragma once
// Training configuration: one YAML file (configs/*.yaml) → TrainConfig. Every field has a
// default; unknown architectures, losses or missing data folders fail before training starts.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ingest/preprocess.hpp"
#include "model/segnet.hpp"
#include "train/distill.hpp"
#include "train/losses.hpp"

namespace drshym::train {

struct TrainConfig {
  uint64_t seed = 42;
  int threads = 0;            // 0 = all cores
  std::string device = "cpu";
  std::string out_dir = "runs/train";
  std::string resume;         // checkpoint (.pt) of a previous run's last epoch
  // Multi-task training (model.heads): each head's loss is added to the
  // water loss with this weight (train.head_weight).
  double head_weight = 1.0;
  // train.init: a checkpoint whose weights start the network (every tensor it has must fit;
  // heads it lacks start fresh). Its preprocess and model must be this config's, heads aside.
  std::string init;
  // train.trainable: "all", or "heads": only model.heads learn; every other weight and
  // BatchNorm statistic stays as train.init gave it, so the water logits are init's, bit for bit
  // (its temperature is fitted again on data.calibration: the same data gives the same T).
  // Needs train.select: last (the water's validation score cannot choose an epoch), no distill.
  std::string trainable = "all";

  model::ModelConfig model;
  ingest::Preprocess preprocess;
  nlohmann::json data_train;  // data sections given to data::make_dataset
  nlohmann::json data_val;
  nlohmann::json data_calibration;  // optional; defaults to data_val

  int epochs = 10;
  int batch_size = 8;
  int steps_per_epoch = 0;    // 0 = one pass over the training set
  int val_batch_size = 4;
  int crop = 0;               // random training crop (0 = whole tiles)
  bool augment = true;
  double lr = 1e-3;
  double weight_decay = 1e-4;
  double min_lr = 1e-5;
  int restart_epochs = 0;     // cosine warm restarts: first period in epochs (0 = one cosine over all)
  int restart_mult = 2;
  int patience = 0;           // early stopping on validation IoU (0 = off)
  // Which epoch becomes best.pt: "best" = highest validation IoU (the validation data then
  // selected the model and is no test data), "last" = the final epoch of a fixed schedule
  // (validation is only watched). Cross-validation always uses "last".
  std::string select = "best";
  std::string threshold_metric = "f1";
  bool fit_threshold = true;  // false: keep 0.5 on calibrated probability (only T is fitted)
  LossConfig loss;
  DistillConfig distill;      // `distill:` section; off when absent (train/distill.hpp)

  nlohmann::json raw;         // the resolved config as loaded (recorded in checkpoints)

  static TrainConfig from_json(const nlohmann::json& j, const std::string& origin = "config");
  nlohmann::json to_json() const;
};

// Load a YAML config and apply "dotted.key=value" overrides (values parsed as YAML).
nlohmann::json load_config_with_overrides(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace drshym::train
