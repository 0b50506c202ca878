#pragma once
// Region / scene hold-out cross-validation (`drshym cv`): for each group (Sen1Floods11 region,
// ETCI scene, OMBRIA split) train on every other group and evaluate on the held-out one; report
// each fold and the mean ± std of the held-out metrics, with per-sample Otsu on VV dB scored
// on the same pixels beside every figure.
//
// Honest by construction: the held-out group chooses nothing. Each fold trains the config's
// fixed schedule and keeps its final epoch (train.select is forced to "last", early stopping
// off), and the decision threshold stays at 0.5 (temperature does not move a 0.5 decision).
#include <nlohmann/json.hpp>
#include <vector>

#include "data/dataset.hpp"
#include "train/train_config.hpp"

namespace drshym::train {

// Groups of a dataset in first-seen order.
std::vector<std::string> groups_of(const data::Dataset& ds);

// Runs one training per held-out group of cfg.data.train (folds may be limited to `groups`).
// Writes <out_dir>/fold_<group>/ runs and <out_dir>/cv_summary.json; returns the summary.
nlohmann::json run_cross_validation(const TrainConfig& cfg, const std::vector<std::string>& groups = {});

}  // namespace drshym::train
