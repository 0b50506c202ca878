#include "train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <optional>
#include <tuple>
#include <random>

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "data/make_dataset.hpp"
#include "drshym/version.hpp"
#include "eval/plot.hpp"
#include "model/checkpoint.hpp"
#include "model/runtime.hpp"

namespace fs = std::filesystem;

namespace drshym::train {

Batch collate(const data::Dataset& ds, const std::vector<size_t>& indices, uint64_t epoch) {
  std::vector<torch::Tensor> im, lb, va, ti, tv;
  Batch b;
  for (size_t i : indices) {
    data::Sample s = ds.get(i, epoch);
    im.push_back(s.image);
    lb.push_back(s.label);
    va.push_back(s.valid);
    if (s.teacher_image.defined()) {
      ti.push_back(s.teacher_image);
      tv.push_back(s.teacher_valid);
    }
    b.ids.push_back(s.id);
  }
  b.image = torch::stack(im);
  b.label = torch::stack(lb);
  b.valid = torch::stack(va);
  if (!ti.empty()) {
    if (ti.size() != im.size()) throw Error(ErrorKind::Internal, "train", "a batch mixes samples with and without teacher input");
    b.teacher_image = torch::stack(ti);
    b.teacher_valid = torch::stack(tv);
  }
  return b;
}

double cosine_lr(double epoch, double lr_max, double lr_min, int first_period, int mult, int total_epochs) {
  const double pi = 3.14159265358979323846;
  double period = first_period > 0 ? first_period : std::max(1, total_epochs);
  double t = epoch;
  while (t >= period && first_period > 0) {
    t -= period;
    period *= std::max(1, mult);
  }
  return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + std::cos(pi * std::min(t / period, 1.0)));
}

torch::Tensor head_label(const torch::Tensor& label, int head) {
  if (label.size(1) == 1) return label.contiguous();  // the dataset's one label is this head's
  if (head >= label.size(1))
    throw Error(ErrorKind::Usage, "train",
                "the data has " + std::to_string(label.size(1)) + " label channels, no label for head " + std::to_string(head));
  return label.narrow(1, head, 1).contiguous();
}

EvalOutput evaluate_net(const model::SegNet& net, const data::Dataset& ds, const LossConfig& loss,
                        double temperature, double threshold, int batch_size, torch::Device device) {
  torch::NoGradGuard no_grad;
  net->eval();
  EvalOutput out;
  double loss_sum = 0;
  int64_t loss_n = 0;
  const float logit_threshold = float(temperature * std::log(threshold / (1.0 - threshold)));
  for (size_t start = 0; start < ds.size(); start += size_t(batch_size)) {
    core::check_interrupted("train");
    std::vector<size_t> idx;
    for (size_t i = start; i < std::min(ds.size(), start + size_t(batch_size)); ++i) idx.push_back(i);
    Batch b = collate(ds, idx);
    auto logits = net->forward(b.image.to(device)).to(torch::kCPU).contiguous();
    auto label = head_label(b.label, net->output_head()), valid = b.valid.contiguous();
    auto l = masked_loss(loss, logits, label, b.valid);
    loss_sum += l.item<double>() * double(idx.size());
    loss_n += int64_t(idx.size());
    const int64_t plane = logits.size(2) * logits.size(3);
    for (size_t k = 0; k < idx.size(); ++k) {
      const float* lg = logits.data_ptr<float>() + k * plane;
      const float* lab = label.data_ptr<float>() + k * plane;
      const float* val = valid.data_ptr<float>() + k * plane;
      out.evaluator.add(b.ids[k], eval::confusion_from_scores(lg, logit_threshold, lab, val, size_t(plane)));
      out.sample.add(lg, lab, val, size_t(plane));
    }
  }
  out.loss = loss_n ? loss_sum / double(loss_n) : 0.0;
  return out;
}

namespace {

struct EpochLog {
  int epoch;
  double lr, train_loss, train_iou, train_f1, val_loss, val_iou, val_mean_iou, val_f1, seconds;
};

nlohmann::json to_json(const EpochLog& e) {
  return {{"epoch", e.epoch}, {"lr", e.lr}, {"train_loss", e.train_loss}, {"train_iou", e.train_iou},
          {"train_f1", e.train_f1}, {"val_loss", e.val_loss}, {"val_iou", e.val_iou},
          {"val_mean_iou", e.val_mean_iou}, {"val_f1", e.val_f1}, {"seconds", e.seconds}};
}

std::string now_iso() { return core::utc_now_iso(); }

void write_logs(const std::string& dir, const std::vector<EpochLog>& logs) {
  std::string jsonl, csv = "epoch,lr,train_loss,train_iou,train_f1,val_loss,val_iou,val_mean_iou,val_f1,seconds\n";
  std::vector<eval::MetricRow> rows;
  for (const auto& e : logs) {
    jsonl += to_json(e).dump() + "\n";
    char line[512];
    std::snprintf(line, sizeof line, "%d,%.6g,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.1f\n", e.epoch, e.lr,
                  e.train_loss, e.train_iou, e.train_f1, e.val_loss, e.val_iou, e.val_mean_iou, e.val_f1, e.seconds);
    csv += line;
    rows.push_back({{"epoch", e.epoch}, {"train_loss", e.train_loss}, {"val_loss", e.val_loss},
                    {"train_iou", e.train_iou}, {"val_iou", e.val_iou}, {"train_f1", e.train_f1},
                    {"val_f1", e.val_f1}});
  }
  core::write_text_file_atomic(dir + "/metrics.jsonl", jsonl);
  core::write_text_file_atomic(dir + "/metrics.csv", csv);
  eval::write_training_curves_png(dir + "/curves.png", rows);
}

}  // namespace

data::DatasetPtr build_dataset(const nlohmann::json& section, const TrainConfig& cfg, bool training,
                               const char* what) {
  nlohmann::json s = section;
  if (training && cfg.crop > 0) {
    if (!s.contains("augment") || !s["augment"].is_object()) s["augment"] = nlohmann::json::object();
    if (!s["augment"].contains("crop")) s["augment"]["crop"] = cfg.crop;
  }
  std::optional<ingest::Preprocess> teacher;
  if (training && cfg.distill.enabled()) teacher = teacher_preprocess(cfg.distill);
  auto ds = data::make_dataset(s, training ? "train" : "valid", cfg.preprocess, training && cfg.augment, cfg.seed,
                               teacher ? &*teacher : nullptr);
  if (ds->size() == 0)
    throw Error(ErrorKind::InvalidInput, "train", std::string(what) + " dataset is empty: " + section.dump());
  core::log().info("train: {} set: {} ({} samples)", what, ds->name(), ds->size());
  return ds;
}

namespace {

// The checkpoint files a run writes into its output folder.
struct RunPaths {
  std::string best, last, optim;
};

// Where training stands: what a resume restores and every epoch moves on.
struct TrainState {
  TrainResult result;
  std::vector<EpochLog> logs;
  int start_epoch = 0;
  int since_best = 0;
};

// What the steps of one training run share.
struct TrainRun {
  const TrainConfig& cfg;
  torch::Device device;
  model::SegNet& net;
  torch::optim::AdamW& opt;
  const std::optional<Teacher>& teacher;
  bool joint;  // multi-task: every head trained on its own label
  const data::Dataset& train_ds;
  const data::Dataset& val_ds;
  const data::Dataset& cal_ds;
  size_t n_train;
  int steps;  // optimizer steps per epoch
  RunPaths paths;
  nlohmann::json meta_base;  // checkpoint metadata every epoch shares
};

// An epoch's pass over the training set.
struct EpochPass {
  eval::Confusion conf;
  double loss_sum = 0;
  double lr = 0;  // at the last step
};

// The water logits and the loss of one training batch.
struct BatchLoss {
  torch::Tensor logits, loss;
};

// The calibration of one output of the best checkpoint, as the summary reports it.
struct CalibratedOutput {
  eval::CalibrationResult cal;
  nlohmann::json val_calibrated;
  double val_iou, val_mean_iou;
};

// The calibrated best checkpoint: the water's calibration, and every extra head's summary.
struct Calibrated {
  CalibratedOutput water;
  nlohmann::json heads_summary;
};

// The distillation teacher (cfg.distill), on the device; none without distillation.
std::optional<Teacher> setup_teacher(const TrainConfig& cfg, const data::Dataset& train_ds, torch::Device device) {
  std::optional<Teacher> teacher;
  if (cfg.distill.enabled()) {
    teacher = prepare_teacher(cfg.distill, train_ds);
    teacher->net->to(device);
    core::log().info("train: distilling from {} (bands {}; weight {}, T {}{})", teacher->path,
                     data::first_names(teacher->preprocess.bands, 8), cfg.distill.weight, cfg.distill.temperature,
                     cfg.distill.confidence_weighting ? ", confidence-weighted" : "");
  }
  return teacher;
}

// Resume from cfg.resume: weights and buffers, the optimizer state beside it, the trainer state and logs.
void resume_from(const TrainConfig& cfg, model::SegNet& net, torch::optim::AdamW& opt, TrainState& state) {
  auto ck = model::load_checkpoint(cfg.resume);
  const auto missing = model::copy_state(*ck.net, *net, "resume checkpoint " + quoted(cfg.resume));
  if (!missing.empty())
    throw Error(ErrorKind::InvalidInput, "train",
                "resume checkpoint " + quoted(cfg.resume) + " lacks tensor " + quoted(missing.front()) +
                    " of this config's network (a run resumes with the model it started with)");
  std::string opt_file = fs::path(model::resolve_checkpoint_path(cfg.resume)).parent_path().string() + "/last_optim.pt";
  if (fs::exists(opt_file)) model::load_optimizer(opt_file, opt);
  const auto& st = ck.meta.value("trainer_state", nlohmann::json::object());
  state.start_epoch = st.value("epoch", -1) + 1;
  state.result.best_epoch = st.value("best_epoch", -1);
  state.result.best_val_iou = st.value("best_val_iou", 0.0);
  state.since_best = st.value("since_best", 0);
  for (const auto& e : st.value("logs", nlohmann::json::array()))
    state.logs.push_back(EpochLog{e["epoch"], e["lr"], e["train_loss"], e["train_iou"], e["train_f1"], e["val_loss"],
                                  e["val_iou"], e["val_mean_iou"], e["val_f1"], e["seconds"]});
  core::log().info("train: resumed from {} at epoch {}", cfg.resume, state.start_epoch);
}

// The model config without its heads: what a train.init checkpoint must share with the run.
nlohmann::json without_heads(nlohmann::json model) {
  model.erase("heads");
  model.erase("head_width");
  model.erase("head_reads");
  return model;
}

// Start the network from cfg.init (train.init): its preprocess and model (heads aside) must be
// this run's, or its weights would read inputs they were not trained on. Returns the record
// of where the weights came from (checkpoint metadata "init").
nlohmann::json init_from(const TrainConfig& cfg, model::SegNet& net) {
  auto ck = model::load_checkpoint(cfg.init);
  const std::string what = "train.init " + quoted(cfg.init);
  const nlohmann::json pre = ck.meta.value("preprocess", nlohmann::json());
  if (pre != cfg.preprocess.to_json())
    throw Error(ErrorKind::InvalidInput, "train",
                what + " was trained with preprocess " + pre.dump() + ", this config has " +
                    cfg.preprocess.to_json().dump());
  if (without_heads(ck.net->config().to_json()) != without_heads(cfg.model.to_json()))
    throw Error(ErrorKind::InvalidInput, "train",
                what + " is model " + without_heads(ck.net->config().to_json()).dump() + ", this config's is " +
                    without_heads(cfg.model.to_json()).dump() + " (heads aside, they must be the same)");
  const auto fresh = model::copy_state(*ck.net, *net, what);
  core::log().info("train: weights from {} ({} tensors start fresh)", cfg.init, fresh.size());
  return {{"checkpoint", cfg.init}, {"weights_sha256", ck.meta.value("weights_sha256", "")},
          {"trainable", cfg.trainable}};
}

// Whether a parameter (dotted name) belongs to one of the model's heads (its top-level module).
bool is_head_tensor(const TrainConfig& cfg, const std::string& name) {
  const std::string top = name.substr(0, name.find('.'));
  return std::find(cfg.model.heads.begin(), cfg.model.heads.end(), top) != cfg.model.heads.end();
}

// The parameters the optimizer moves: all, or with train.trainable: heads only the heads' (the
// rest no longer requires gradients, so the pass through it builds no graph).
std::vector<torch::Tensor> trainable_parameters(const TrainConfig& cfg, model::SegNet& net) {
  if (cfg.trainable == "all") return net->parameters();
  std::vector<torch::Tensor> out;
  for (auto& p : net->named_parameters(true)) {
    const bool head = is_head_tensor(cfg, p.key());
    p.value().set_requires_grad(head);
    if (head) out.push_back(p.value());
  }
  if (out.empty())
    throw Error(ErrorKind::InvalidInput, "train",
                "train.trainable: heads, but " + cfg.model.arch + " has no parameters under model.heads");
  core::log().info("train: only the heads learn ({} of {} parameter tensors)", out.size(),
                   net->parameters().size());
  return out;
}

// Training mode for what learns: with train.trainable: heads everything else stays in eval mode,
// so its BatchNorm statistics stay train.init's.
void set_training_mode(const TrainConfig& cfg, model::SegNet& net) {
  net->train();
  if (cfg.trainable != "heads") return;
  for (auto& c : net->named_children())
    if (!is_head_tensor(cfg, c.key())) c.value()->eval();
}

// The checkpoint metadata every epoch shares.
nlohmann::json checkpoint_meta_base(const TrainConfig& cfg, const data::Dataset& train_ds, size_t n_train,
                                    const data::Dataset& val_ds, const std::optional<Teacher>& teacher,
                                    const nlohmann::json& init) {
  nlohmann::json meta_base = {{"model", cfg.model.to_json()},
                              {"preprocess", cfg.preprocess.to_json()},
                              {"tile_size", cfg.crop > 0 ? cfg.crop : 512},
                              {"threshold", 0.5},
                              {"temperature", 1.0},
                              {"train_config", cfg.to_json()},
                              {"seed", cfg.seed},
                              {"data", {{"train", train_ds.name()}, {"train_samples", n_train},
                                        {"val", val_ds.name()}, {"val_samples", val_ds.size()}}},
                              {"version", kVersion}};
  if (teacher) meta_base["distill"] = teacher->recipe;
  if (!init.is_null()) meta_base["init"] = init;
  return meta_base;
}

// The forward pass and loss of one training batch (with distillation when there is a teacher).
BatchLoss batch_loss(const TrainRun& run, const Batch& b) {
  const TrainConfig& cfg = run.cfg;
  torch::Tensor logits, loss;
  if (run.joint) {
    // Multi-task: the water logit and every head's, one pass, the losses summed.
    auto all = run.net->forward_heads(b.image.to(run.device));
    if (all.size(1) != b.label.size(1))
      throw Error(ErrorKind::Usage, "train",
                  "model.heads needs a label per head: the training data gives " +
                      std::to_string(b.label.size(1) - 1) + " head label(s) for " +
                      std::to_string(all.size(1) - 1) + " head(s) (etci: label: water+permanent_water)");
    auto label = b.label.to(run.device), valid = b.valid.to(run.device);
    logits = all.narrow(1, 0, 1);
    loss = masked_loss(cfg.loss, logits, label.narrow(1, 0, 1), valid);
    for (int64_t k = 1; k < all.size(1); ++k)
      loss = loss + cfg.head_weight * masked_loss(cfg.loss, all.narrow(1, k, 1), label.narrow(1, k, 1), valid);
  } else {
    logits = run.net->forward(b.image.to(run.device));
    loss = masked_loss(cfg.loss, logits, b.label.narrow(1, 0, 1).to(run.device), b.valid.to(run.device));
  }
  if (run.teacher) loss = with_distillation(cfg.distill, *run.teacher, loss, logits, b.teacher_image, b.teacher_valid);
  return {logits, loss};
}

// One epoch of optimizer steps over the training set, with the learning rate of the cosine schedule.
EpochPass train_epoch(const TrainRun& run, int epoch) {
  const TrainConfig& cfg = run.cfg;
  const size_t n_train = run.n_train;
  const int steps = run.steps;
  set_training_mode(cfg, run.net);
  // Deterministic order per (seed, epoch).
  std::vector<size_t> order(n_train);
  std::iota(order.begin(), order.end(), size_t(0));
  std::mt19937_64 rng(cfg.seed * 1000003ULL + uint64_t(epoch));
  std::shuffle(order.begin(), order.end(), rng);
  EpochPass pass;
  core::Progress bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(cfg.epochs), steps);
  pass.lr = cfg.lr;
  for (int step = 0; step < steps; ++step) {
    core::check_interrupted("train");
    pass.lr = cosine_lr(epoch + double(step) / steps, cfg.lr, cfg.min_lr, cfg.restart_epochs, cfg.restart_mult,
                        cfg.epochs);
    for (auto& g : run.opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(pass.lr);
    std::vector<size_t> idx;
    for (int k = 0; k < cfg.batch_size; ++k) idx.push_back(order[(size_t(step) * cfg.batch_size + k) % n_train]);
    Batch b = collate(run.train_ds, idx, uint64_t(epoch));
    auto [logits, loss] = batch_loss(run, b);
    if (!std::isfinite(loss.item<double>()))
      throw Error(ErrorKind::Internal, "train", "non-finite loss at epoch " + std::to_string(epoch + 1) +
                                                    " step " + std::to_string(step) + " (batch " + b.ids[0] + ")");
    run.opt.zero_grad();
    loss.backward();
    run.opt.step();
    pass.loss_sum += loss.item<double>();
    {
      auto lg = logits.detach().to(torch::kCPU).contiguous();
      auto lab = b.label.narrow(1, 0, 1).contiguous(), val = b.valid.contiguous();
      pass.conf += eval::confusion_from_scores(lg.data_ptr<float>(), 0.0f, lab.data_ptr<float>(),
                                               val.data_ptr<float>(), size_t(lg.numel()));
    }
    char suffix[64];
    std::snprintf(suffix, sizeof suffix, "loss %.4f", pass.loss_sum / (step + 1));
    bar.advance(1, suffix);
  }
  bar.finish();
  return pass;
}

// Whether epoch (1-based, as logged) with this validation IoU is the best so far (every epoch with select: last);
// counts the epochs since the best for early stopping.
bool update_best(const TrainConfig& cfg, int epoch, double val_iou, TrainState& state) {
  const bool improved = cfg.select == "last" || state.result.best_epoch < 0 || val_iou > state.result.best_val_iou;
  if (improved) {
    state.result.best_epoch = epoch;
    state.result.best_val_iou = val_iou;
    state.since_best = 0;
  } else {
    ++state.since_best;
  }
  return improved;
}

// Save an epoch's checkpoints (last, its optimizer state, best when improved) and rewrite the metrics logs.
void save_epoch(const TrainRun& run, int epoch, const nlohmann::json& metrics, bool improved,
                const TrainState& state) {
  nlohmann::json logs_json = nlohmann::json::array();
  for (const auto& l : state.logs) logs_json.push_back(to_json(l));
  nlohmann::json meta = run.meta_base;
  meta["metrics"] = metrics;
  meta["created"] = now_iso();
  meta["trainer_state"] = {{"epoch", epoch}, {"best_epoch", state.result.best_epoch},
                           {"best_val_iou", state.result.best_val_iou}, {"since_best", state.since_best},
                           {"logs", logs_json}};
  model::save_checkpoint(run.paths.last, run.net, meta);
  model::save_optimizer(run.paths.optim, run.opt);
  if (improved) model::save_checkpoint(run.paths.best, run.net, meta);
  write_logs(run.cfg.out_dir, state.logs);
}

// Validate after an epoch's pass, log it, keep the checkpoints and logs. True: stop early.
bool end_epoch(const TrainRun& run, int epoch, const EpochPass& pass, std::chrono::steady_clock::time_point t0,
               TrainState& state) {
  const TrainConfig& cfg = run.cfg;
  auto v = evaluate_net(run.net, run.val_ds, cfg.loss, 1.0, 0.5, cfg.val_batch_size, run.device);
  auto tm = eval::MetricSet::from(pass.conf);
  auto vm = v.evaluator.total_metrics();
  EpochLog e{epoch + 1, pass.lr, pass.loss_sum / run.steps, tm.iou, tm.f1, v.loss, vm.iou, v.evaluator.mean_iou(),
             vm.f1, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
  state.logs.push_back(e);
  core::log().info("epoch {}/{}: train loss {:.4f} IoU {:.3f} | val loss {:.4f} IoU {:.3f} (mean {:.3f}) F1 {:.3f} | {:.0f}s",
                   e.epoch, cfg.epochs, e.train_loss, e.train_iou, e.val_loss, e.val_iou, e.val_mean_iou, e.val_f1,
                   e.seconds);
  const bool improved = update_best(cfg, e.epoch, vm.iou, state);
  save_epoch(run, epoch, {{"epoch", e.epoch}, {"val", v.evaluator.to_json()}, {"train", tm.to_json()}}, improved,
             state);
  state.result.epochs_run = e.epoch;
  if (cfg.patience > 0 && state.since_best >= cfg.patience) {
    core::log().info("train: early stop, no validation IoU gain for {} epochs", state.since_best);
    state.result.stopped_early = true;
    return true;
  }
  return false;
}

// Calibrate one output of the best checkpoint ("" = the water, else a head on its own label): temperature +
// threshold on the calibration set, then the validation set at them; recorded in best.meta and written as files.
CalibratedOutput calibrate_output(const TrainRun& run, model::Checkpoint& best, const std::string& head) {
  const TrainConfig& cfg = run.cfg;
  best.net->set_output_head(head.empty() ? "water" : head);
  auto cal_out = evaluate_net(best.net, run.cal_ds, cfg.loss, 1.0, 0.5, cfg.val_batch_size, run.device);
  eval::CalibrationParams cp;
  cp.threshold_metric = eval::parse_threshold_metric(cfg.threshold_metric);
  eval::CalibrationResult cal = eval::calibrate(cal_out.sample, cp);
  if (!cfg.fit_threshold) {
    cal.threshold.threshold = 0.5;
    cal.threshold.score = std::numeric_limits<double>::quiet_NaN();
  }
  auto final_val = evaluate_net(best.net, run.val_ds, cfg.loss, cal.temperature, cal.threshold.threshold,
                                cfg.val_batch_size, run.device);
  if (head.empty()) {
    best.meta["temperature"] = cal.temperature;
    best.meta["threshold"] = cal.threshold.threshold;
    best.meta["calibration"] = {{"data", run.cal_ds.name()}, {"result", cal.to_json()}};
    best.meta["metrics"]["val_calibrated"] = final_val.evaluator.to_json(true);
  } else {
    best.meta["heads"][head] = {{"temperature", cal.temperature},
                                {"threshold", cal.threshold.threshold},
                                {"calibration", {{"data", run.cal_ds.name()}, {"result", cal.to_json()}}},
                                {"metrics", {{"val_calibrated", final_val.evaluator.to_json(true)}}}};
    core::log().info("train: head {}: val IoU {:.3f} at T {:.3f}", head, final_val.evaluator.total_metrics().iou,
                     cal.temperature);
  }
  // A head's calibration is its own file: thresholds.json beside a checkpoint is the water's.
  const std::string suffix = head.empty() ? "" : "_" + head;
  core::write_json_file(cfg.out_dir + "/calibration" + suffix + ".json", cal.to_json());
  core::write_json_file(cfg.out_dir + "/thresholds" + suffix + ".json", cal.thresholds_json());
  eval::write_reliability_png(cfg.out_dir + "/reliability" + suffix + ".png", cal);
  return {cal, final_val.evaluator.to_json(false), final_val.evaluator.total_metrics().iou,
          final_val.evaluator.mean_iou()};
}

// Calibrate the best checkpoint: temperature + threshold on the calibration set, per output
// (the water, and in multi-task training every head on its own label).
Calibrated calibrate_best(const TrainRun& run) {
  auto best = model::load_checkpoint(run.paths.best);
  best.net->to(run.device);
  std::vector<std::string> outputs{""};
  if (run.joint) outputs.insert(outputs.end(), run.cfg.model.heads.begin(), run.cfg.model.heads.end());
  Calibrated calibrated{calibrate_output(run, best, outputs[0]), nlohmann::json::object()};
  for (size_t k = 1; k < outputs.size(); ++k) {
    CalibratedOutput h = calibrate_output(run, best, outputs[k]);
    calibrated.heads_summary[outputs[k]] = {{"temperature", h.cal.temperature}, {"val_calibrated", h.val_calibrated}};
  }
  best.net->set_output_head("water");
  model::save_checkpoint(run.paths.best, best.net, best.meta);
  return calibrated;
}

// Complete the result with the checkpoints and the summary; write summary.json and log the outcome.
void write_summary(const TrainRun& run, const Calibrated& calibrated, TrainResult& result) {
  const CalibratedOutput& water = calibrated.water;
  result.best_checkpoint = run.paths.best;
  result.last_checkpoint = run.paths.last;
  result.summary = {{"best_epoch", result.best_epoch},
                    {"best_val_iou_at_0.5", result.best_val_iou},
                    {"epochs_run", result.epochs_run},
                    {"stopped_early", result.stopped_early},
                    {"temperature", water.cal.temperature},
                    {"threshold", water.cal.threshold.threshold},
                    {"val_calibrated", water.val_calibrated},
                    {"best_checkpoint", run.paths.best}};
  if (!calibrated.heads_summary.empty()) result.summary["heads"] = calibrated.heads_summary;
  core::write_json_file(run.cfg.out_dir + "/summary.json", result.summary);
  core::log().info("train: best epoch {} | calibrated T={:.3f} threshold={:.2f} | val total IoU {:.3f} mean IoU {:.3f}",
                   result.best_epoch, water.cal.temperature, water.cal.threshold.threshold,
                   water.val_iou, water.val_mean_iou);
}

}  // namespace

TrainResult run_training(const TrainConfig& cfg) {
  model::set_threads(cfg.threads);
  auto train_ds = build_dataset(cfg.data_train, cfg, true, "training");
  auto val_ds = build_dataset(cfg.data_val, cfg, false, "validation");
  data::DatasetPtr cal_ds;
  if (cfg.data_calibration != cfg.data_val) cal_ds = build_dataset(cfg.data_calibration, cfg, false, "calibration");
  return run_training(cfg, train_ds, val_ds, cal_ds);
}

TrainResult run_training(const TrainConfig& cfg, data::DatasetPtr train_ds, data::DatasetPtr val_ds,
                         data::DatasetPtr cal_ds) {
  model::set_threads(cfg.threads);
  const torch::Device device = model::parse_device(cfg.device);
  model::seed_everything(cfg.seed);
  core::ensure_writable_dir(cfg.out_dir);
  if (!cal_ds) cal_ds = val_ds;

  const std::optional<Teacher> teacher = setup_teacher(cfg, *train_ds, device);
  model::SegNet net = model::make_model(cfg.model);
  const nlohmann::json init = cfg.init.empty() ? nlohmann::json() : init_from(cfg, net);
  // Multi-task: a network with extra heads, every head on its own label (trained whole, or
  // only the heads on train.init's network).
  const bool joint = !cfg.model.heads.empty();
  net->to(device);
  torch::optim::AdamW opt(trainable_parameters(cfg, net),
                          torch::optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay));

  TrainState state;
  const RunPaths paths{cfg.out_dir + "/best.pt", cfg.out_dir + "/last.pt", cfg.out_dir + "/last_optim.pt"};
  if (!cfg.resume.empty()) resume_from(cfg, net, opt, state);

  const size_t n_train = train_ds->size();
  const int steps = cfg.steps_per_epoch > 0 ? cfg.steps_per_epoch
                                            : int((n_train + size_t(cfg.batch_size) - 1) / size_t(cfg.batch_size));
  const TrainRun run{cfg, device, net, opt, teacher, joint, *train_ds, *val_ds, *cal_ds, n_train, steps,
                     paths, checkpoint_meta_base(cfg, *train_ds, n_train, *val_ds, teacher, init)};

  for (int epoch = state.start_epoch; epoch < cfg.epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    const EpochPass pass = train_epoch(run, epoch);
    if (end_epoch(run, epoch, pass, t0, state)) break;
  }

  const Calibrated calibrated = calibrate_best(run);
  write_summary(run, calibrated, state.result);
  return state.result;
}

}  // namespace drshym::train
