#include "train/train_config.hpp"

#include "core/config.hpp"
#include "core/error.hpp"

namespace drshym::train {

using core::get_or;

nlohmann::json load_config_with_overrides(const std::string& path, const std::vector<std::string>& overrides) {
  nlohmann::json j = core::load_yaml(path);
  if (!j.is_object()) throw Error(ErrorKind::InvalidInput, "train", quoted(path) + " is not a YAML mapping");
  for (const auto& o : overrides) {
    auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(ErrorKind::Usage, "train", "override " + quoted(o) + " must look like key.sub=value");
    std::string key = o.substr(0, eq);
    nlohmann::json value = core::parse_yaml(o.substr(eq + 1), "override " + key);
    nlohmann::json* cur = &j;
    size_t start = 0;
    while (true) {
      size_t dot = key.find('.', start);
      std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (dot == std::string::npos) {
        (*cur)[part] = value;
        break;
      }
      if (!(*cur)[part].is_object()) (*cur)[part] = nlohmann::json::object();
      cur = &(*cur)[part];
      start = dot + 1;
    }
  }
  return j;
}

TrainConfig TrainConfig::from_json(const nlohmann::json& j, const std::string& origin) {
  TrainConfig c;
  c.raw = j;
  c.seed = uint64_t(get_or<int64_t>(j, "seed", 42, origin));
  c.threads = get_or<int>(j, "threads", 0, origin);
  c.device = get_or<std::string>(j, "device", "cpu", origin);
  c.out_dir = get_or<std::string>(j, "out_dir", c.out_dir, origin);
  c.resume = get_or<std::string>(j, "resume", "", origin);
  c.head_weight = get_or<double>(j, "train.head_weight", 1.0, origin);
  if (!(c.head_weight > 0) || c.head_weight > 100)
    throw Error(ErrorKind::InvalidInput, "train", origin + ": 'train.head_weight' must be in (0, 100]");
  c.init = get_or<std::string>(j, "train.init", "", origin);
  c.trainable = get_or<std::string>(j, "train.trainable", "all", origin);
  if (c.trainable != "all" && c.trainable != "heads")
    throw Error(ErrorKind::InvalidInput, "train",
                origin + ": 'train.trainable' must be 'all' or 'heads', got " + quoted(c.trainable));
  if (j.contains("model")) c.model = model::ModelConfig::from_json(j["model"]);
  if (j.contains("preprocess")) c.preprocess = ingest::Preprocess::from_json(j["preprocess"]);
  c.model.in_channels = int(c.preprocess.bands.size());
  if (!j.contains("data") || !j["data"].contains("train"))
    throw Error(ErrorKind::InvalidInput, "train", origin + ": missing required section 'data.train'");
  if (!j["data"].contains("val"))
    throw Error(ErrorKind::InvalidInput, "train", origin + ": missing required section 'data.val'");
  c.data_train = j["data"]["train"];
  c.data_val = j["data"]["val"];
  c.data_calibration = j["data"].value("calibration", c.data_val);
  c.epochs = get_or<int>(j, "train.epochs", c.epochs, origin);
  c.batch_size = get_or<int>(j, "train.batch_size", c.batch_size, origin);
  c.steps_per_epoch = get_or<int>(j, "train.steps_per_epoch", 0, origin);
  c.val_batch_size = get_or<int>(j, "train.val_batch_size", c.val_batch_size, origin);
  c.crop = get_or<int>(j, "train.crop", 0, origin);
  c.augment = get_or<bool>(j, "train.augment", true, origin);
  c.lr = get_or<double>(j, "train.lr", c.lr, origin);
  c.weight_decay = get_or<double>(j, "train.weight_decay", c.weight_decay, origin);
  c.min_lr = get_or<double>(j, "train.min_lr", c.min_lr, origin);
  c.restart_epochs = get_or<int>(j, "train.restart_epochs", 0, origin);
  c.restart_mult = get_or<int>(j, "train.restart_mult", 2, origin);
  c.patience = get_or<int>(j, "train.patience", 0, origin);
  c.select = get_or<std::string>(j, "train.select", "best", origin);
  if (c.select != "best" && c.select != "last")
    throw Error(ErrorKind::InvalidInput, "train", origin + ": train.select must be 'best' or 'last', got " + quoted(c.select));
  if (c.select == "last" && c.patience > 0)
    throw Error(ErrorKind::InvalidInput, "train",
                origin + ": train.select 'last' trains a fixed schedule; train.patience (early stopping) must be 0");
  c.threshold_metric = get_or<std::string>(j, "train.threshold_metric", "f1", origin);
  c.fit_threshold = get_or<bool>(j, "train.fit_threshold", true, origin);
  if (j.contains("train") && j["train"].contains("loss")) c.loss = LossConfig::from_json(j["train"]["loss"]);
  if (j.contains("distill") && !j["distill"].is_null()) c.distill = DistillConfig::from_json(j["distill"], origin + ": distill");
  auto positive = [&](const char* key, double v) {
    if (!(v > 0)) throw Error(ErrorKind::InvalidInput, "train", origin + ": '" + key + "' must be > 0");
  };
  if (c.trainable == "heads" && (c.init.empty() || c.model.heads.empty()))
    throw Error(ErrorKind::InvalidInput, "train",
                origin + ": 'train.trainable: heads' trains only model.heads on a network from train.init; " +
                    (c.model.heads.empty() ? "model.heads is empty" : "train.init is not set"));
  if (c.trainable == "heads" && (c.select != "last" || c.distill.enabled()))
    throw Error(ErrorKind::InvalidInput, "train",
                origin + ": 'train.trainable: heads' keeps the water output fixed, so " +
                    (c.distill.enabled() ? std::string("a water teacher (distill) has nothing to teach")
                                         : std::string("validation on it cannot choose an epoch: set train.select: last")));
  positive("train.epochs", c.epochs);
  positive("train.batch_size", c.batch_size);
  positive("train.lr", c.lr);
  positive("train.val_batch_size", c.val_batch_size);
  if (c.crop < 0 || (c.crop > 0 && c.crop % 16 != 0))
    throw Error(ErrorKind::InvalidInput, "train", origin + ": 'train.crop' must be 0 or a multiple of 16");
  return c;
}

nlohmann::json TrainConfig::to_json() const {
  nlohmann::json j = {{"seed", seed},
          {"threads", threads},
          {"device", device},
          {"out_dir", out_dir},
          {"model", model.to_json()},
          {"preprocess", preprocess.to_json()},
          {"data", {{"train", data_train}, {"val", data_val}, {"calibration", data_calibration}}},
          {"train",
           {{"epochs", epochs}, {"batch_size", batch_size}, {"steps_per_epoch", steps_per_epoch},
            {"val_batch_size", val_batch_size}, {"crop", crop}, {"augment", augment}, {"lr", lr},
            {"weight_decay", weight_decay}, {"min_lr", min_lr}, {"restart_epochs", restart_epochs},
            {"restart_mult", restart_mult}, {"patience", patience}, {"select", select}, {"threshold_metric", threshold_metric}, {"fit_threshold", fit_threshold},
            {"head_weight", head_weight}, {"init", init}, {"trainable", trainable},
            {"loss", loss.to_json()}}}};
  if (distill.enabled()) j["distill"] = distill.to_json();
  return j;
}

}  // namespace drshym::train
