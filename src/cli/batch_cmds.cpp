// drshym predict --ckpt CKPT --in DIR --out DIR
// drshym stitch --proba-dir DIR --scene-meta META --out DIR
// drshym eval [--ckpt CKPT] --dataset sen1floods11 --root DIR [--split all] [--dem DEM] [--landcover LC]
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "cli/command.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "eval/report.hpp"
#include "infer/batch.hpp"
#include "infer/predictor.hpp"
#include "assess/evaluate.hpp"

namespace drshym::cli {
namespace {

// --dataset/--root/--split/--scenes, shared by `eval` and `calibrate`, and the data section
// (as in a training config) they describe.
struct DatasetOptions {
  std::string type, root;
  std::vector<std::string> scenes;
  void declare(CLI::App* sub, std::string& split) {
    sub->add_option("--dataset", type, "sen1floods11 | etci | ombria | folder")->required();
    sub->add_option("--root", root, "Dataset root folder")->required();
    sub->add_option("--split", split, "Split / role (sen1floods11: train|valid|test|bolivia|all; ombria: train|test)")
        ->capture_default_str();
    sub->add_option("--scenes", scenes, "ETCI scenes to use (default: all)");
  }
  nlohmann::json spec(const std::string& split) const {
    nlohmann::json data = {{"type", type}, {"root", root}};
    if (type == "sen1floods11" || type == "folder" || type == "ombria") data["split"] = split;
    if (!scenes.empty()) data["scenes"] = scenes;
    return data;
  }
};

// The folder of an output file given by flag: created and checked writable before the work,
// so a bad path fails in a second, not after a whole evaluation.
void ensure_output_file_dir(const std::string& path, const char* stage, const char* flag) {
  if (std::filesystem::is_directory(path))
    throw Error(ErrorKind::Usage, stage, std::string(flag) + " " + quoted(path) + " is a folder; give a file name");
  const std::string dir = std::filesystem::path(path).parent_path().string();
  try {
    core::ensure_writable_dir(dir.empty() ? "." : dir);
  } catch (const Error& e) {
    throw Error(e.kind(), stage, std::string(flag) + " " + quoted(path) + ": " + e.what());
  }
}

class PredictCommand : public Command {
 public:
  CLI::App* declare(CLI::App& app) override {
    auto* sub = app.add_subcommand("predict",
                                   "Batch prediction over a folder of GeoTIFF tiles: <tile>_proba.tif and\n"
                                   "<tile>_mask.tif per tile on the same grid; unreadable files are skipped and\n"
                                   "listed at the end (exit code 1 if any was skipped). Tiles without any valid\n"
                                   "pixel (all nodata) have nothing to predict: counted, no output, not an error.");
    sub->add_option("--ckpt", pred_.checkpoint,
                    "Checkpoint (.pt or folder); default: the embedded model for the tiles' bands\n"
                    "(models/default for VV+VH, models/default_vv for VV only; chosen by the first tile)");
    sub->add_option("--in", p_.in_dir, "Folder of tiles (e.g. DIR/images from `drshym tile`)")->required();
    sub->add_option("--out", p_.out_dir, "Output folder")->required();
    sub->add_option("--batch", p_.batch_size, "Tiles per model batch")->capture_default_str()->check(CLI::Range(1, 256));
    sub->add_option("--threads", pred_.threads, "CPU threads (0 = all cores)")->capture_default_str();
    add_precision_option(sub, precision_);
    return sub;
  }
  int run() override {
    pred_.precision = infer::parse_precision(precision_);
    if (pred_.checkpoint.empty()) pred_.checkpoint = infer::default_model_for_folder(p_.in_dir);
    infer::Predictor predictor(pred_);
    auto r = infer::predict_folder(p_, predictor);
    return r.failed.empty() ? 0 : 1;
  }

 private:
  infer::PredictFolderParams p_;
  infer::PredictorParams pred_;
  std::string precision_ = "auto";
};

class StitchCommand : public Command {
 public:
  CLI::App* declare(CLI::App& app) override {
    auto* sub = app.add_subcommand("stitch",
                                   "Blend tile predictions (from `predict`) back into scene-level proba and mask\n"
                                   "COGs with the same weights as `segment`, using the scene_meta.json of `tile`.");
    sub->add_option("--proba-dir", p_.proba_dir, "Folder with <tile>_proba.tif files")->required();
    sub->add_option("--scene-meta", p_.scene_meta, "scene_meta.json written by `drshym tile`")->required()->check(CLI::ExistingFile);
    sub->add_option("--out", p_.out_dir, "Output folder")->required();
    add_threshold_option(sub, p_.threshold, "Threshold (default: from the tiles' records, else 0.5)");
    sub->add_flag("--allow-missing", p_.allow_missing,
                  "Stitch even when tiles with valid pixels have no prediction (their pixels become nodata;\n"
                  "a warning says how many). Without it that is an error (exit 1) and nothing is written.\n"
                  "Tiles that held no valid pixel when tiled never count as missing");
    return sub;
  }
  int run() override {
    infer::stitch_tiles(p_);
    return 0;
  }

 private:
  infer::StitchParams p_;
};

class EvalCommand : public Command {
 public:
  CLI::App* declare(CLI::App& app) override {
    auto* sub = app.add_subcommand("eval",
                                   "Score a checkpoint on a labelled dataset next to the per-chip Otsu baseline on\n"
                                   "VV dB (same valid pixels): total and mean per-chip IoU, F1, precision, recall.");
    sub->add_option("--ckpt", p_.checkpoint,
                    "Checkpoint (.pt or folder); default: the embedded model (models/change for ombria: flood\n"
                    "from before/after pairs, scored beside Otsu on after, on after-before, and both)");
    data_.declare(sub, p_.split);
    add_threshold_option(sub, p_.threshold, "Override the checkpoint's threshold");
    sub->add_option("--report", report_,
                    "Write the full JSON report here (per chip, and error slices: VV dB quintiles, regions,\n"
                    "water type; slope and land cover with --dem / --landcover)");
    sub->add_option("--report-dir", report_dir_,
                    "Write report.md (tables), report.json, reliability.png and slices.png into this folder");
    sub->add_option("--reliability-png", p_.reliability_png, "Write a reliability diagram here");
    sub->add_option("--threads", p_.threads, "CPU threads (0 = all cores)");
    sub->add_flag("--classes", p_.classes,
                  "Per-class report on data with permanent and flood water labels (etci): the model's water split\n"
                  "by the permanent-water head, scored per class beside 'every water pixel is flood'");
    sub->add_option("--type-ckpt", p_.type_checkpoint, "With --classes: a separate permanent-water network (default: the model's own\n"
                    "permanent_water head when it has one, else models/permanent_vv)");
    sub->add_flag("--tta", p_.tta, "Flip test-time augmentation: average the logits of the 4 flips of each chip (4x the time)");
    sub->add_option("--precision", p_.precision,
                    "Network arithmetic: fp32 (default: scores are exact), bf16 (to measure what BF16 costs in\n"
                    "accuracy) or auto (as segment's default)")
        ->capture_default_str()
        ->check(CLI::IsMember({"auto", "fp32", "bf16"}));
    sub->add_option("--offset-db", p_.offset_db,
                    "Stress test: add this many dB to every input band first (e.g. 2 = water reads 2 dB brighter)");
    sub->add_option("--dem", p_.dem,
                    "DEM (any GDAL raster with a CRS, elevation in metres) for a 'slope' error slice: warped\n"
                    "(bilinear) onto each chip's grid, slope in degrees by GDAL, bins 0-1, 1-3, 3-5, 5-10,\n"
                    "10-20, >=20 deg. Pixels it does not cover (or chips without georeferencing, e.g. ETCI /\n"
                    "OMBRIA PNGs) go to a 'not covered' bin");
    sub->add_option("--landcover", p_.landcover,
                    "Land-cover raster (any CRS; e.g. ESA WorldCover, whose codes are named) for a 'landcover'\n"
                    "error slice: nearest neighbour onto each chip's grid, one bin per class value, its\n"
                    "nodata and uncovered pixels in 'not covered'");
    return sub;
  }
  int run() override {
    p_.data = data_.spec(p_.split);
    // OMBRIA holds VV only: its default is the VV-only model.
    if (p_.checkpoint.empty() && data_.type == "ombria") p_.checkpoint = infer::default_model_path("change");
    if (!report_.empty()) ensure_output_file_dir(report_, "eval", "--report");
    if (!p_.reliability_png.empty()) ensure_output_file_dir(p_.reliability_png, "eval", "--reliability-png");
    if (!report_dir_.empty()) {
      core::ensure_writable_dir(report_dir_);
      if (p_.reliability_png.empty()) p_.reliability_png = report_dir_ + "/reliability.png";
    }
    auto r = assess::evaluate_checkpoint(p_);
    if (!report_.empty()) core::write_json_file(report_, r);
    if (!report_dir_.empty()) {
      core::write_json_file(report_dir_ + "/report.json", r);
      const std::string rel = report_dir_ + "/reliability.png";
      eval::write_report_dir(r, report_dir_, p_.reliability_png == rel && std::filesystem::exists(rel));
      core::log().info("eval: report in {}/report.md", report_dir_);
    }
    auto row = [](const char* name, const nlohmann::json& e) {
      const auto& m = e["total"]["metrics"];
      auto f = [](const nlohmann::json& v) { return v.is_number() ? v.get<double>() : std::nan(""); };
      // Land called water: the share of every labelled dry pixel (on any chip) marked water.
      const auto& c = e["total"]["confusion"];
      const double fp = f(c["fp"]), tn = f(c["tn"]);
      std::printf("%-12s total IoU %.4f  mean IoU %.4f  F1 %.4f  precision %.4f  recall %.4f  dry false alarm %.4f  "
                  "land as water %.4f\n",
                  name, f(m["iou"]), f(e["mean_iou"]), f(m["f1"]), f(m["precision"]), f(m["recall"]),
                  f(e["dry_chip_false_alarm"]), fp + tn > 0 ? fp / (fp + tn) : std::nan(""));
    };
    std::printf("data: %s (%zu samples), threshold %.3f, temperature %.3f%s\n", r["data"].get<std::string>().c_str(),
                r["samples"].get<size_t>(), r["threshold"].get<double>(), r["temperature"].get<double>(),
                p_.offset_db != 0.0 ? fmt::format(", inputs shifted by {:+.1f} dB", p_.offset_db).c_str() : "");
    row("model", r["model"]);
    if (r.contains("otsu_vv_db")) row(r.contains("otsu_change_db") ? "otsu_after" : "otsu_vv_db", r["otsu_vv_db"]);
    if (r.contains("segment_rule")) row("segment", r["segment_rule"]);
    if (r.contains("otsu_change_db")) row("otsu_change", r["otsu_change_db"]);
    if (r.contains("otsu_after_and_change")) row("otsu_both", r["otsu_after_and_change"]);
    if (r.contains("classes")) {
      const auto& c = r["classes"];
      row("permanent", c["permanent_water"]);
      row("flood", c["flood_water"]);
      row("flood_base", c["baseline_every_water_pixel_flood"]["flood_water"]);
    }
    return 0;
  }

 private:
  assess::EvaluateParams p_;
  DatasetOptions data_;
  std::string report_, report_dir_;
};

class CalibrateCommand : public Command {
 public:
  CLI::App* declare(CLI::App& app) override {
    auto* sub = app.add_subcommand(
        "calibrate",
        "Calibrate a checkpoint's confidence on labelled data: fit the temperature T (p = sigmoid(logit / T))\n"
        "by minimum negative log-likelihood, then choose the decision threshold on the calibrated probability.\n"
        "Writes thresholds.json (T, threshold, objective, ECE over 15 equal-width bins, Brier score and NLL\n"
        "before and after, the data used, the checkpoint's SHA-256) and reliability.png beside the checkpoint;\n"
        "segment and predict then use them for that checkpoint. Calibrate on data that is not your test set.");
    sub->add_option("--ckpt", p_.checkpoint, "Checkpoint (.pt or folder); the results are written beside it")->required();
    data_.declare(sub, p_.split);
    sub->add_option("--objective", p_.objective,
                    "What the threshold optimizes: f1, iou, or recall@precision>=P (the highest recall whose\n"
                    "precision is at least P, e.g. recall@precision>=0.8, when missed floods cost more than false alarms);\n"
                    "or fixed=T to keep threshold T (e.g. fixed=0.5, the fewest expected errors on calibrated\n"
                    "probabilities) and fit only the temperature")
        ->capture_default_str();
    sub->add_option("--threads", p_.threads, "CPU threads (0 = all cores)");
    return sub;
  }
  int run() override {
    p_.data = data_.spec(p_.split);
    auto r = assess::calibrate_checkpoint(p_);
    std::printf("calibrated %s on %s (%lld pixels)\n", r["checkpoint"].get<std::string>().c_str(),
                r["data"]["name"].get<std::string>().c_str(), (long long)r["data"]["pixels_used"].get<int64_t>());
    std::printf("temperature %.3f, threshold %.2f (%s)\n", r["temperature"].get<double>(), r["threshold"].get<double>(),
                r["objective"].get<std::string>().c_str());
    for (const char* k : {"before", "after"})
      std::printf("%-6s T=%.3f  ECE %.4f  Brier %.4f  NLL %.4f\n", k, r[k]["temperature"].get<double>(),
                  r[k]["ece"].get<double>(), r[k]["brier"].get<double>(), r[k]["nll"].get<double>());
    return 0;
  }

 private:
  assess::CalibrateParams p_;
  DatasetOptions data_;
};

}  // namespace

std::unique_ptr<Command> make_calibrate_command() { return std::make_unique<CalibrateCommand>(); }
std::unique_ptr<Command> make_predict_command() { return std::make_unique<PredictCommand>(); }
std::unique_ptr<Command> make_stitch_command() { return std::make_unique<StitchCommand>(); }
std::unique_ptr<Command> make_eval_command() { return std::make_unique<EvalCommand>(); }

}  // namespace drshym::cli
