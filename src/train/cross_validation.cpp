#include "train/cross_validation.hpp"

#include <algorithm>
#include <cmath>

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "data/concat_dataset.hpp"
#include "data/raw_dataset.hpp"
#include "eval/otsu.hpp"
#include "model/checkpoint.hpp"
#include "model/runtime.hpp"
#include "train/trainer.hpp"

namespace drshym::train {
namespace {

// Scores of one method on the held-out fold.
nlohmann::json fold_scores(const eval::SegmentationEvaluator& ev) {
  const auto m = ev.total_metrics();
  nlohmann::json j = {{"total_iou", m.iou}, {"mean_iou", ev.mean_iou()}, {"f1", m.f1},
                      {"precision", m.precision}, {"recall", m.recall}, {"dry_samples", ev.dry_chip_count()},
                      {"dry_false_alarm", ev.dry_chip_false_alarm()}};
  for (auto& [k, v] : j.items())
    if (v.is_number_float() && !std::isfinite(v.get<double>())) v = nullptr;
  return j;
}

// Per-sample Otsu on VV dB over the same valid pixels as the model.
eval::SegmentationEvaluator otsu_on(const data::Dataset& ds) {
  eval::SegmentationEvaluator ev;
  for (size_t i = 0; i < ds.size(); ++i) {
    data::Sample s = ds.get(i);
    auto raw = data::raw_sample_of(ds, i);
    if (!raw) throw Error(ErrorKind::Internal, "cv", "no raw pixels behind " + ds.name());
    auto label = s.label.contiguous(), valid = s.valid.contiguous();
    const size_t n = size_t(label.numel());
    if (raw->pixels() != n) throw Error(ErrorKind::Internal, "cv", "raw and sample sizes differ for " + s.id);
    std::vector<uint8_t> v(n), l(n);
    for (size_t k = 0; k < n; ++k) {
      v[k] = valid.data_ptr<float>()[k] > 0.5f ? 1 : 0;
      l[k] = label.data_ptr<float>()[k] > 0.5f ? 1 : 0;
    }
    auto water = eval::otsu_water_mask(raw->vv.data(), v.data(), n);
    ev.add(s.id, eval::confusion(water.data(), l.data(), v.data(), n));
  }
  return ev;
}

}  // namespace

std::vector<std::string> groups_of(const data::Dataset& ds) {
  std::vector<std::string> g;
  for (size_t i = 0; i < ds.size(); ++i) {
    std::string x = ds.group_of(i);
    if (std::find(g.begin(), g.end(), x) == g.end()) g.push_back(x);
  }
  return g;
}

nlohmann::json run_cross_validation(const TrainConfig& cfg, const std::vector<std::string>& only) {
  auto train_all = build_dataset(cfg.data_train, cfg, true, "cv training");
  // Held-out folds are evaluated without augmentation or crops.
  TrainConfig eval_cfg = cfg;
  eval_cfg.crop = 0;
  auto eval_all = build_dataset(cfg.data_train, eval_cfg, false, "cv evaluation");
  auto groups = groups_of(*train_all);
  if (groups.size() < 2)
    throw Error(ErrorKind::InvalidInput, "cv",
                "cross-validation needs at least 2 groups (regions/scenes); the training data has " +
                    std::to_string(groups.size()));
  for (const auto& g : only)
    if (std::find(groups.begin(), groups.end(), g) == groups.end())
      throw Error(ErrorKind::Usage, "cv", "unknown group " + quoted(g));
  core::ensure_writable_dir(cfg.out_dir);
  nlohmann::json folds = nlohmann::json::array();
  std::vector<double> ious, mean_ious, f1s;
  for (const auto& held : groups) {
    if (!only.empty() && std::find(only.begin(), only.end(), held) == only.end()) continue;
    std::vector<size_t> tr, te;
    for (size_t i = 0; i < train_all->size(); ++i) (train_all->group_of(i) == held ? te : tr).push_back(i);
    auto train_ds = std::make_shared<data::SubsetDataset>(train_all, tr, "without " + held);
    auto test_ds = std::make_shared<data::SubsetDataset>(eval_all, te, "only " + held);
    TrainConfig fc = cfg;
    fc.out_dir = cfg.out_dir + "/fold_" + held;
    fc.select = "last";  // the held-out group chooses no epoch ...
    fc.patience = 0;
    fc.fit_threshold = false;  // ... and no threshold
    core::log().info("cv: fold '{}': train {} samples, held out {}", held, tr.size(), te.size());
    // Per-epoch curves watch an evenly spread subset of at most 64 held-out samples (cheaper;
    // nothing is selected on it), the fold is then scored on all of them.
    std::vector<size_t> watch;
    for (size_t k = 0; k < te.size() && watch.size() < 64; k += std::max<size_t>(1, te.size() / 64)) watch.push_back(k);
    auto watch_ds = std::make_shared<data::SubsetDataset>(test_ds, watch, "watched");
    TrainResult r = run_training(fc, train_ds, watch_ds, nullptr);
    auto ck = model::load_checkpoint(r.best_checkpoint);
    const torch::Device device = model::parse_device(fc.device);
    ck.net->to(device);
    auto out = evaluate_net(ck.net, *test_ds, fc.loss, 1.0, 0.5, fc.val_batch_size, device);
    nlohmann::json model_scores = fold_scores(out.evaluator), otsu_scores = fold_scores(otsu_on(*test_ds));
    double iou = model_scores["total_iou"].get<double>(), f1 = model_scores["f1"].get<double>();
    double miou = model_scores["mean_iou"].is_number() ? model_scores["mean_iou"].get<double>() : 0.0;
    ious.push_back(iou);
    mean_ious.push_back(miou);
    f1s.push_back(f1);
    folds.push_back({{"held_out", held}, {"train_samples", tr.size()}, {"test_samples", te.size()},
                     {"total_iou", iou}, {"mean_iou", miou}, {"f1", f1}, {"model", model_scores},
                     {"otsu_vv_db", otsu_scores}, {"epochs", r.epochs_run}, {"run", fc.out_dir}});
    core::write_json_file(cfg.out_dir + "/cv_partial.json", folds);
  }
  auto stats = [](const std::vector<double>& v) {
    double m = 0, s = 0;
    for (double x : v) m += x;
    m /= double(std::max<size_t>(1, v.size()));
    for (double x : v) s += (x - m) * (x - m);
    s = v.size() > 1 ? std::sqrt(s / double(v.size() - 1)) : 0.0;
    return nlohmann::json{{"mean", m}, {"std", s}};
  };
  nlohmann::json summary = {{"folds", folds},
                            {"total_iou", stats(ious)},
                            {"mean_iou", stats(mean_ious)},
                            {"f1", stats(f1s)}};
  core::write_json_file(cfg.out_dir + "/cv_summary.json", summary);
  for (const auto& f : folds)
    core::log().info("cv: held out {:<28} total IoU {:.3f} (Otsu {:.3f})  mean IoU {:.3f} (Otsu {:.3f})  F1 {:.3f}",
                     f["held_out"].get<std::string>(), f["total_iou"].get<double>(),
                     f["otsu_vv_db"]["total_iou"].get<double>(), f["mean_iou"].get<double>(),
                     f["otsu_vv_db"]["mean_iou"].is_number() ? f["otsu_vv_db"]["mean_iou"].get<double>() : 0.0,
                     f["f1"].get<double>());
  core::log().info("cv: total IoU {:.3f} ± {:.3f}, F1 {:.3f} ± {:.3f}", summary["total_iou"]["mean"].get<double>(),
                   summary["total_iou"]["std"].get<double>(), summary["f1"]["mean"].get<double>(),
                   summary["f1"]["std"].get<double>());
  return summary;
}

}  // namespace drshym::train
