#include "infer/predictor.hpp"

#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/sha256.hpp"
#include "core/log.hpp"
#include "ingest/scene.hpp"
#include "model/checkpoint.hpp"
#include "model/runtime.hpp"
#include "model/segnet.hpp"

namespace fs = std::filesystem;

#ifndef DRSHYM_SOURCE_MODELS_DIR
#define DRSHYM_SOURCE_MODELS_DIR ""
#endif

namespace drshym::infer {

std::string default_model_path(const std::string& name) {
  const fs::path rel = fs::path("models") / name;
  std::error_code ec;
  // $DRSHYM_MODEL_DIR: a models folder (DIR/<name>/model.pt), or one model folder that stands in
  // for both scene models (default, default_vv) but never for the water type models.
  if (const char* env = std::getenv("DRSHYM_MODEL_DIR"); env && *env) {
    if (fs::exists(fs::path(env) / name / "model.pt", ec)) return (fs::path(env) / name).string();
    if (name == "default" || name == "default_vv") return env;
  }
  // Next to the binary (installed layouts), then the source tree this binary was built from.
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (auto p = exe.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path()) {
      if (fs::exists(p / rel / "model.pt")) return (p / rel).string();
    }
  }
  return (fs::path(DRSHYM_SOURCE_MODELS_DIR) / name).string();
}

int Predictor::head_index(const std::string& name) const { return net_->head_index(name); }
std::string Predictor::arch() const { return net_->config().arch; }
int Predictor::input_multiple() const { return net_->config().input_multiple(); }
std::vector<std::string> Predictor::explain_layers() const { return net_->tap_points(); }

std::string default_model_for_scene(const std::string& scene_uri) {
  auto scene = ingest::open_scene(scene_uri, false);
  return default_model_path(scene.bands.vh ? "default" : "default_vv");
}

Predictor::Predictor(const PredictorParams& p) {
  model::set_threads(p.threads);
  device_ = std::make_shared<const torch::Device>(model::parse_device(p.device));
  on_cpu_ = device_->is_cpu();
  std::string ck = p.checkpoint.empty() ? default_model_path() : p.checkpoint;
  if (ck.empty())
    throw Error(ErrorKind::NotFound, "infer", "no checkpoint given and no embedded default model found");
  path_ = model::resolve_checkpoint_path(ck);
  auto loaded = model::load_checkpoint(path_);
  net_ = loaded.net;
  meta_ = loaded.meta;
  sha256_ = core::file_sha256(path_);
  if (!meta_.contains("preprocess"))
    throw Error(ErrorKind::InvalidInput, "infer", quoted(path_) + ": metadata has no 'preprocess' recipe");
  preprocess_ = ingest::Preprocess::from_json(meta_["preprocess"]);
  temperature_ = meta_.value("temperature", 1.0);
  double threshold = meta_.value("threshold", 0.5);
  calibration_source_ = "checkpoint metadata";
  // thresholds.json beside the checkpoint (written by `drshym calibrate`) supersedes the
  // metadata, but only for the checkpoint it was fitted for.
  const std::string cal_path = (fs::path(path_).parent_path() / kThresholdsFile).string();
  if (fs::exists(cal_path)) {
    const auto cal = core::read_json_file(cal_path);
    const std::string for_sha = cal.value("checkpoint_sha256", std::string());
    if (for_sha == sha256_) {
      temperature_ = cal.at("temperature").get<double>();
      threshold = cal.at("threshold").get<double>();
      calibration_source_ = cal_path;
    } else if (!for_sha.empty()) {
      core::log().warn("infer: ignoring {}: it was fitted for another checkpoint (SHA-256 {}…)", cal_path,
                       for_sha.substr(0, 12));
    }
  }
  // Extra heads carry their own calibration (the trainer fits it when it trains the head).
  head_temperature_ = {temperature_};
  head_threshold_ = {threshold};
  const auto& heads_meta = meta_.value("heads", nlohmann::json::object());
  for (const auto& name : net_->config().heads) {
    if (!heads_meta.contains(name) || !heads_meta[name].contains("temperature"))
      throw Error(ErrorKind::InvalidInput, "infer",
                  quoted(path_) + ": head " + quoted(name) + " has no calibration in its metadata (heads." + name + ")");
    head_temperature_.push_back(heads_meta[name]["temperature"].get<double>());
    head_threshold_.push_back(heads_meta[name].value("threshold", 0.5));
  }
  if (!p.head.empty()) {
    net_->set_output_head(p.head);  // InvalidInput naming the heads it has
    const int k = net_->output_head();
    temperature_ = head_temperature_[size_t(k)];
    threshold = head_threshold_[size_t(k)];
    calibration_source_ = "checkpoint metadata (heads." + p.head + ")";
  }
  threshold_ = p.threshold ? *p.threshold : threshold;
  tile_size_ = meta_.value("tile_size", 512);
  if (!(temperature_ > 0)) throw Error(ErrorKind::InvalidInput, "infer", quoted(path_) + ": temperature must be > 0");
  require_threshold(threshold_, "infer");
  net_->eval();
  if (p.fuse) net_->fuse_for_inference();
  net_->to(*device_);
  channels_last_ = p.channels_last && on_cpu_;
  tta_ = p.tta;
  if (channels_last_) {
    torch::NoGradGuard ng;
    for (auto& param : net_->parameters())
      if (param.dim() == 4) param.set_data(param.contiguous(torch::MemoryFormat::ChannelsLast));
  }
  precision_ = choose_precision(p.precision, net_, net_->config().in_channels, *device_, channels_last_);
  if (p.precision != Precision::fp32) core::log().info("infer: precision {} ({})", precision_.bf16 ? "bf16" : "fp32", precision_.reason);
}

torch::Tensor Predictor::forward_raw(const torch::Tensor& in, bool heads) const {
  Bf16Autocast scope(precision_.bf16);
  auto out = heads ? net_->forward_heads(in) : net_->forward(in);
  return precision_.bf16 ? out.to(torch::kFloat) : out;
}

torch::Tensor Predictor::logits(const torch::Tensor& x) const { return averaged_logits(x, false); }

torch::Tensor Predictor::averaged_logits(const torch::Tensor& x, bool heads) const {
  torch::NoGradGuard ng;
  auto in = x.to(*device_);
  if (channels_last_) in = in.contiguous(torch::MemoryFormat::ChannelsLast);
  torch::Tensor sum = forward_raw(in, heads);
  if (!tta_) return sum.to(torch::kCPU).contiguous();
  // Flips are their own inverse: flip the input, run, flip the logits back, average.
  for (const std::vector<int64_t>& dims : {std::vector<int64_t>{3}, std::vector<int64_t>{2}, std::vector<int64_t>{2, 3}})
    sum = sum + forward_raw(in.flip(dims), heads).flip(dims);
  return (sum / 4.0).to(torch::kCPU).contiguous();
}

torch::Tensor Predictor::logits_with_grad(const torch::Tensor& x) const {
  auto in = x.to(*device_);
  if (channels_last_) in = in.contiguous(torch::MemoryFormat::ChannelsLast);
  return forward_raw(in, false);
}

torch::Tensor Predictor::predict(const torch::Tensor& x) const {
  return torch::sigmoid(logits(x) / temperature_).contiguous();
}

torch::Tensor Predictor::predict_heads(const torch::Tensor& x) const {
  auto t = torch::tensor(std::vector<float>(head_temperature_.begin(), head_temperature_.end())).view({1, -1, 1, 1});
  return torch::sigmoid(averaged_logits(x, true) / t).contiguous();
}

std::string Predictor::describe() const {
  const auto& m = meta_.value("model", nlohmann::json::object());
  return m.value("arch", std::string("?")) + "(base " + std::to_string(m.value("base_width", 0)) + ")" +
         (tta_ ? " with flip TTA" : "") + " from " + path_;
}

}  // namespace drshym::infer
