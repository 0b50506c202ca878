#include "train/cross_validation.hpp"

#include <algorithm>
#include <cmath>

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "train/trainer.hpp"

namespace drshym::train {

SubsetDataset::SubsetDataset(data::DatasetPtr base, std::vector<size_t> indices, std::string name)
    : base_(std::move(base)), indices_(std::move(indices)), name_(std::move(name)) {}

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
    auto train_ds = std::make_shared<SubsetDataset>(train_all, tr, train_all->name() + " without " + held);
    auto test_ds = std::make_shared<SubsetDataset>(eval_all, te, eval_all->name() + " only " + held);
    TrainConfig fc = cfg;
    fc.out_dir = cfg.out_dir + "/fold_" + held;
    core::log().info("cv: fold '{}': train {} samples, held out {}", held, tr.size(), te.size());
    TrainResult r = run_training(fc, train_ds, test_ds, nullptr);
    const auto& v = r.summary["val_calibrated"];
    double iou = v["total"]["metrics"]["iou"].get<double>(), miou = v["mean_iou"].is_number() ? v["mean_iou"].get<double>() : 0.0,
           f1 = v["total"]["metrics"]["f1"].get<double>();
    ious.push_back(iou);
    mean_ious.push_back(miou);
    f1s.push_back(f1);
    folds.push_back({{"held_out", held}, {"train_samples", tr.size()}, {"test_samples", te.size()},
                     {"total_iou", iou}, {"mean_iou", miou}, {"f1", f1}, {"run", fc.out_dir}});
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
    core::log().info("cv: held out {:<32} total IoU {:.3f}  mean IoU {:.3f}  F1 {:.3f}", f["held_out"].get<std::string>(),
                     f["total_iou"].get<double>(), f["mean_iou"].get<double>(), f["f1"].get<double>());
  core::log().info("cv: total IoU {:.3f} ± {:.3f}, F1 {:.3f} ± {:.3f}", summary["total_iou"]["mean"].get<double>(),
                   summary["total_iou"]["std"].get<double>(), summary["f1"]["mean"].get<double>(),
                   summary["f1"]["std"].get<double>());
  return summary;
}

}  // namespace drshym::train
