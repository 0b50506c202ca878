#include "train/trainer.hpp"

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

  std::optional<Teacher> teacher;
  if (cfg.distill.enabled()) {
    teacher = prepare_teacher(cfg.distill, *train_ds);
    teacher->net->to(device);
    core::log().info("train: distilling from {} (bands {}; weight {}, T {}{})", teacher->path,
                     data::first_names(teacher->preprocess.bands, 8), cfg.distill.weight, cfg.distill.temperature,
                     cfg.distill.confidence_weighting ? ", confidence-weighted" : "");
  }
  model::SegNet net = model::make_model(cfg.model);
  // Multi-task: a network with extra heads trained whole, every head on its own label.
  const bool joint = !cfg.model.heads.empty();
  net->to(device);
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay));

  TrainResult result;
  std::vector<EpochLog> logs;
  int start_epoch = 0;
  int since_best = 0;
  const std::string best_path = cfg.out_dir + "/best.pt", last_path = cfg.out_dir + "/last.pt",
                    optim_path = cfg.out_dir + "/last_optim.pt";
  if (!cfg.resume.empty()) {
    auto ck = model::load_checkpoint(cfg.resume);
    torch::NoGradGuard ng;
    auto src = ck.net->named_parameters(true);
    for (auto& p : net->named_parameters(true)) p.value().copy_(src[p.key()]);
    auto srcb = ck.net->named_buffers(true);
    for (auto& b : net->named_buffers(true)) b.value().copy_(srcb[b.key()]);
    std::string opt_file = fs::path(model::resolve_checkpoint_path(cfg.resume)).parent_path().string() + "/last_optim.pt";
    if (fs::exists(opt_file)) model::load_optimizer(opt_file, opt);
    const auto& st = ck.meta.value("trainer_state", nlohmann::json::object());
    start_epoch = st.value("epoch", -1) + 1;
    result.best_epoch = st.value("best_epoch", -1);
    result.best_val_iou = st.value("best_val_iou", 0.0);
    since_best = st.value("since_best", 0);
    for (const auto& e : st.value("logs", nlohmann::json::array()))
      logs.push_back(EpochLog{e["epoch"], e["lr"], e["train_loss"], e["train_iou"], e["train_f1"], e["val_loss"],
                              e["val_iou"], e["val_mean_iou"], e["val_f1"], e["seconds"]});
    core::log().info("train: resumed from {} at epoch {}", cfg.resume, start_epoch);
  }

  const size_t n_train = train_ds->size();
  const int steps = cfg.steps_per_epoch > 0 ? cfg.steps_per_epoch
                                            : int((n_train + size_t(cfg.batch_size) - 1) / size_t(cfg.batch_size));
  nlohmann::json meta_base = {{"model", cfg.model.to_json()},
                              {"preprocess", cfg.preprocess.to_json()},
                              {"tile_size", cfg.crop > 0 ? cfg.crop : 512},
                              {"threshold", 0.5},
                              {"temperature", 1.0},
                              {"train_config", cfg.to_json()},
                              {"seed", cfg.seed},
                              {"data", {{"train", train_ds->name()}, {"train_samples", n_train},
                                        {"val", val_ds->name()}, {"val_samples", val_ds->size()}}},
                              {"version", kVersion}};
  if (teacher) meta_base["distill"] = teacher->recipe;

  for (int epoch = start_epoch; epoch < cfg.epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    net->train();
    // Deterministic order per (seed, epoch).
    std::vector<size_t> order(n_train);
    std::iota(order.begin(), order.end(), size_t(0));
    std::mt19937_64 rng(cfg.seed * 1000003ULL + uint64_t(epoch));
    std::shuffle(order.begin(), order.end(), rng);
    eval::Confusion train_conf;
    double loss_sum = 0;
    core::Progress bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(cfg.epochs), steps);
    double lr = cfg.lr;
    for (int step = 0; step < steps; ++step) {
      core::check_interrupted("train");
      lr = cosine_lr(epoch + double(step) / steps, cfg.lr, cfg.min_lr, cfg.restart_epochs, cfg.restart_mult, cfg.epochs);
      for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
      std::vector<size_t> idx;
      for (int k = 0; k < cfg.batch_size; ++k) idx.push_back(order[(size_t(step) * cfg.batch_size + k) % n_train]);
      Batch b = collate(*train_ds, idx, uint64_t(epoch));
      torch::Tensor logits, loss;
      if (joint) {
        // Multi-task: the water logit and every head's, one pass, the losses summed.
        auto all = net->forward_heads(b.image.to(device));
        if (all.size(1) != b.label.size(1))
          throw Error(ErrorKind::Usage, "train",
                      "model.heads needs a label per head: the training data gives " +
                          std::to_string(b.label.size(1) - 1) + " head label(s) for " +
                          std::to_string(all.size(1) - 1) + " head(s) (etci: label: water+permanent_water)");
        auto label = b.label.to(device), valid = b.valid.to(device);
        logits = all.narrow(1, 0, 1);
        loss = masked_loss(cfg.loss, logits, label.narrow(1, 0, 1), valid);
        for (int64_t k = 1; k < all.size(1); ++k)
          loss = loss + cfg.head_weight * masked_loss(cfg.loss, all.narrow(1, k, 1), label.narrow(1, k, 1), valid);
      } else {
        logits = net->forward(b.image.to(device));
        loss = masked_loss(cfg.loss, logits, b.label.narrow(1, 0, 1).to(device), b.valid.to(device));
      }
      if (teacher) loss = with_distillation(cfg.distill, *teacher, loss, logits, b.teacher_image, b.teacher_valid);
      if (!std::isfinite(loss.item<double>()))
        throw Error(ErrorKind::Internal, "train", "non-finite loss at epoch " + std::to_string(epoch + 1) +
                                                      " step " + std::to_string(step) + " (batch " + b.ids[0] + ")");
      opt.zero_grad();
      loss.backward();
      opt.step();
      loss_sum += loss.item<double>();
      {
        auto lg = logits.detach().to(torch::kCPU).contiguous();
        auto lab = b.label.narrow(1, 0, 1).contiguous(), val = b.valid.contiguous();
        train_conf += eval::confusion_from_scores(lg.data_ptr<float>(), 0.0f, lab.data_ptr<float>(),
                                                  val.data_ptr<float>(), size_t(lg.numel()));
      }
      char suffix[64];
      std::snprintf(suffix, sizeof suffix, "loss %.4f", loss_sum / (step + 1));
      bar.advance(1, suffix);
    }
    bar.finish();
    auto v = evaluate_net(net, *val_ds, cfg.loss, 1.0, 0.5, cfg.val_batch_size, device);
    auto tm = eval::MetricSet::from(train_conf);
    auto vm = v.evaluator.total_metrics();
    EpochLog e{epoch + 1, lr, loss_sum / steps, tm.iou, tm.f1, v.loss, vm.iou, v.evaluator.mean_iou(), vm.f1,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
    logs.push_back(e);
    core::log().info("epoch {}/{}: train loss {:.4f} IoU {:.3f} | val loss {:.4f} IoU {:.3f} (mean {:.3f}) F1 {:.3f} | {:.0f}s",
                     e.epoch, cfg.epochs, e.train_loss, e.train_iou, e.val_loss, e.val_iou, e.val_mean_iou, e.val_f1,
                     e.seconds);
    const bool improved = cfg.select == "last" || result.best_epoch < 0 || vm.iou > result.best_val_iou;
    if (improved) {
      result.best_epoch = e.epoch;
      result.best_val_iou = vm.iou;
      since_best = 0;
    } else {
      ++since_best;
    }
    nlohmann::json logs_json = nlohmann::json::array();
    for (const auto& l : logs) logs_json.push_back(to_json(l));
    nlohmann::json meta = meta_base;
    meta["metrics"] = {{"epoch", e.epoch}, {"val", v.evaluator.to_json()}, {"train", tm.to_json()}};
    meta["created"] = now_iso();
    meta["trainer_state"] = {{"epoch", epoch}, {"best_epoch", result.best_epoch}, {"best_val_iou", result.best_val_iou},
                             {"since_best", since_best}, {"logs", logs_json}};
    model::save_checkpoint(last_path, net, meta);
    model::save_optimizer(optim_path, opt);
    if (improved) model::save_checkpoint(best_path, net, meta);
    write_logs(cfg.out_dir, logs);
    result.epochs_run = e.epoch;
    if (cfg.patience > 0 && since_best >= cfg.patience) {
      core::log().info("train: early stop, no validation IoU gain for {} epochs", since_best);
      result.stopped_early = true;
      break;
    }
  }

  // Calibrate the best checkpoint: temperature + threshold on the calibration set, per output
  // (the water, and in multi-task training every head on its own label).
  auto best = model::load_checkpoint(best_path);
  best.net->to(device);
  auto calibrate_output = [&](const std::string& head) {
    best.net->set_output_head(head.empty() ? "water" : head);
    auto cal_out = evaluate_net(best.net, *cal_ds, cfg.loss, 1.0, 0.5, cfg.val_batch_size, device);
    eval::CalibrationParams cp;
    cp.threshold_metric = eval::parse_threshold_metric(cfg.threshold_metric);
    eval::CalibrationResult cal = eval::calibrate(cal_out.sample, cp);
    if (!cfg.fit_threshold) {
      cal.threshold.threshold = 0.5;
      cal.threshold.score = std::numeric_limits<double>::quiet_NaN();
    }
    auto final_val = evaluate_net(best.net, *val_ds, cfg.loss, cal.temperature, cal.threshold.threshold,
                                  cfg.val_batch_size, device);
    if (head.empty()) {
      best.meta["temperature"] = cal.temperature;
      best.meta["threshold"] = cal.threshold.threshold;
      best.meta["calibration"] = {{"data", cal_ds->name()}, {"result", cal.to_json()}};
      best.meta["metrics"]["val_calibrated"] = final_val.evaluator.to_json(true);
    } else {
      best.meta["heads"][head] = {{"temperature", cal.temperature},
                                  {"threshold", cal.threshold.threshold},
                                  {"calibration", {{"data", cal_ds->name()}, {"result", cal.to_json()}}},
                                  {"metrics", {{"val_calibrated", final_val.evaluator.to_json(true)}}}};
      core::log().info("train: head {}: val IoU {:.3f} at T {:.3f}", head, final_val.evaluator.total_metrics().iou,
                       cal.temperature);
    }
    // A head's calibration is its own file: thresholds.json beside a checkpoint is the water's.
    const std::string suffix = head.empty() ? "" : "_" + head;
    core::write_json_file(cfg.out_dir + "/calibration" + suffix + ".json", cal.to_json());
    core::write_json_file(cfg.out_dir + "/thresholds" + suffix + ".json", cal.thresholds_json());
    eval::write_reliability_png(cfg.out_dir + "/reliability" + suffix + ".png", cal);
    return std::make_tuple(cal, final_val.evaluator.to_json(false), final_val.evaluator.total_metrics().iou,
                           final_val.evaluator.mean_iou());
  };
  std::vector<std::string> outputs{""};
  if (joint) outputs.insert(outputs.end(), cfg.model.heads.begin(), cfg.model.heads.end());
  auto [cal, val_calibrated, val_iou, val_mean_iou] = calibrate_output(outputs[0]);
  nlohmann::json heads_summary = nlohmann::json::object();
  for (size_t k = 1; k < outputs.size(); ++k) {
    auto [hc, hv, hiou, hmean] = calibrate_output(outputs[k]);
    heads_summary[outputs[k]] = {{"temperature", hc.temperature}, {"val_calibrated", hv}};
  }
  best.net->set_output_head("water");
  model::save_checkpoint(best_path, best.net, best.meta);

  result.best_checkpoint = best_path;
  result.last_checkpoint = last_path;
  result.summary = {{"best_epoch", result.best_epoch},
                    {"best_val_iou_at_0.5", result.best_val_iou},
                    {"epochs_run", result.epochs_run},
                    {"stopped_early", result.stopped_early},
                    {"temperature", cal.temperature},
                    {"threshold", cal.threshold.threshold},
                    {"val_calibrated", val_calibrated},
                    {"best_checkpoint", best_path}};
  if (!heads_summary.empty()) result.summary["heads"] = heads_summary;
  core::write_json_file(cfg.out_dir + "/summary.json", result.summary);
  core::log().info("train: best epoch {} | calibrated T={:.3f} threshold={:.2f} | val total IoU {:.3f} mean IoU {:.3f}",
                   result.best_epoch, cal.temperature, cal.threshold.threshold,
                   val_iou, val_mean_iou);
  return result;
}

}  // namespace drshym::train
