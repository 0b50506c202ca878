// drshym train --config configs/etci.yaml [--set key=value ...]
// drshym cv    --config configs/etci.yaml [--set key=value ...] [--fold GROUP ...]
#include "cli/command.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "train/cross_validation.hpp"
#include "train/trainer.hpp"

namespace drshym::cli {
namespace {

class TrainCommand : public Command {
 public:
  explicit TrainCommand(bool cv) : cv_(cv) {}

  CLI::App* declare(CLI::App& app) override {
    auto* sub = cv_ ? app.add_subcommand("cv",
                                         "Hold-out cross-validation: for each region (Sen1Floods11), scene (ETCI) or\n"
                                         "split (OMBRIA) of the training data, train on the others and evaluate on it,\n"
                                         "per-sample Otsu on VV dB beside on the same pixels; report every fold and the\n"
                                         "mean ± std (OUT/cv_summary.json). The held-out group chooses nothing: each\n"
                                         "fold keeps its last epoch and threshold 0.5.")
                    : app.add_subcommand("train",
                                         "Train a segmentation model from a YAML config: best/last checkpoints with\n"
                                         "metadata, metrics.jsonl/csv, curves.png, calibration (temperature +\n"
                                         "threshold) and summary.json under the config's out_dir. A `distill:`\n"
                                         "section trains on a teacher checkpoint's soft targets as well\n"
                                         "(configs/ombria_change_distill.yaml; README, \"with a teacher\").");
    sub->add_option("--config", config_, "YAML training config (see configs/)")->required()->check(CLI::ExistingFile);
    sub->add_option("--set", overrides_, "Override a config value: dotted.key=value (repeatable), e.g. train.epochs=2");
    sub->add_option("--out", out_dir_, "Output folder (overrides the config's out_dir)");
    sub->add_option("--resume", resume_, "Resume from a checkpoint written by an earlier run (its last.pt)");
    if (cv_) sub->add_option("--fold", folds_, "Only run these held-out groups (repeatable)");
    return sub;
  }

  int run() override {
    auto j = train::load_config_with_overrides(config_, overrides_);
    if (!out_dir_.empty()) j["out_dir"] = out_dir_;
    if (!resume_.empty()) j["resume"] = resume_;
    auto cfg = train::TrainConfig::from_json(j, config_);
    try {
      if (cv_) {
        train::run_cross_validation(cfg, folds_);
      } else {
        auto r = train::run_training(cfg);
        core::log().info("train: best checkpoint {}", r.best_checkpoint);
      }
    } catch (const Error& e) {
      // What an interrupted run keeps: checkpoints of complete epochs only (each written
      // atomically), and for cv the summary of the folds that finished.
      if (e.kind() == ErrorKind::Interrupted)
        core::log().warn("{}: interrupted; {}/last.pt (the last complete epoch, if any) is kept: --resume it{}",
                         cv_ ? "cv" : "train", cfg.out_dir, cv_ ? "; finished folds are in cv_partial.json" : "");
      throw;
    }
    return 0;
  }

 private:
  bool cv_;
  std::string config_, out_dir_, resume_;
  std::vector<std::string> overrides_, folds_;
};

}  // namespace

std::unique_ptr<Command> make_train_command() { return std::make_unique<TrainCommand>(false); }
std::unique_ptr<Command> make_cv_command() { return std::make_unique<TrainCommand>(true); }

}  // namespace drshym::cli
