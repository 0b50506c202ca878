#pragma once
// A loaded model ready for inference: the network (BatchNorm folded, channels-last), its
// preprocessing recipe, calibration (temperature) and decision threshold, all from the
// checkpoint metadata. predict() maps a batch of model inputs to calibrated probabilities.
#include <nlohmann/json.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "infer/precision.hpp"
#include "ingest/preprocess.hpp"
#include "model/segnet_fwd.hpp"

namespace drshym::infer {

struct PredictorParams {
  std::string checkpoint;        // .pt file or folder with model.pt; "" = embedded default model
  std::string device = "cpu";
  int threads = 0;               // 0 = all cores
  bool fuse = true;              // fold BatchNorm into convolutions
  bool channels_last = true;
  std::optional<double> threshold;  // overrides the checkpoint's threshold
  // Test-time augmentation: logits averaged over the four flips of each input (identity,
  // left-right, up-down, both), mapped back. Costs 4 network passes. Not with Grad-CAM.
  bool tta = false;
  // Which head of the checkpoint is this predictor's output: "" = water; an extra head
  // ("permanent_water") uses that head's calibration (checkpoint meta "heads").
  std::string head;
  // Arithmetic of the network (infer/precision.hpp): fp32 (exact; the library default), bf16,
  // or auto (a timed trial per machine, cached). The front-ends default to auto.
  Precision precision = Precision::fp32;
  static PredictorParams default_params() { return {}; }
};

// Calibration file `drshym calibrate` writes beside a checkpoint; the Predictor applies it when
// its checkpoint_sha256 is the checkpoint's.
inline constexpr const char* kThresholdsFile = "thresholds.json";

class Predictor {
 public:
  explicit Predictor(const PredictorParams& p);

  // x: [N, C, H, W] normalized inputs → [N, 1, H, W] calibrated probabilities (CPU, float).
  at::Tensor predict(const at::Tensor& x) const;
  // Every head from one pass through the network: [N, 1 + extra heads, H, W] calibrated
  // probabilities (channel 0 water, then net()->config().heads), each with its own temperature.
  at::Tensor predict_heads(const at::Tensor& x) const;
  // 0 for "water", 1 + i for an extra head, -1 when the checkpoint has no such head.
  int head_index(const std::string& name) const;
  // Calibration of head k (0 = water, as temperature() / threshold() of a water predictor).
  double head_temperature(int k) const { return head_temperature_.at(size_t(k)); }
  double head_threshold(int k) const { return head_threshold_.at(size_t(k)); }
  // Raw logits (for calibration), without autograd; flip-averaged with PredictorParams::tta.
  at::Tensor logits(const at::Tensor& x) const;
  // Raw logits of one pass (never TTA) with autograd left as the caller set it (Grad-CAM:
  // explain/gradcam), on the model's device.
  at::Tensor logits_with_grad(const at::Tensor& x) const;

  const ingest::Preprocess& preprocess() const { return preprocess_; }
  double temperature() const { return temperature_; }
  double threshold() const { return threshold_; }
  // Where temperature and threshold came from: "checkpoint metadata" or the thresholds.json
  // beside the checkpoint that names its SHA-256.
  const std::string& calibration_source() const { return calibration_source_; }
  int tile_size() const { return tile_size_; }
  const nlohmann::json& meta() const { return meta_; }
  const std::string& checkpoint_path() const { return path_; }
  const std::string& checkpoint_sha256() const { return sha256_; }
  std::string describe() const;  // "unet_compact(base 16) from models/default/model.pt"
  const model::SegNet& net() const { return net_; }
  // The network's facts a front-end reports, without LibTorch: its architecture name, the
  // multiple a tile side must be, and the layers Grad-CAM can explain.
  std::string arch() const;
  int input_multiple() const;
  std::vector<std::string> explain_layers() const;
  bool on_cpu() const { return on_cpu_; }
  bool tta() const { return tta_; }
  // What the network runs in (fp32 or bf16) and why.
  const PrecisionChoice& precision() const { return precision_; }

 private:
  at::Tensor forward_raw(const at::Tensor& in, bool heads) const;  // in the chosen precision, float out
  // Logits of the output head (or every head) on the CPU, flip-averaged with tta; no autograd.
  at::Tensor averaged_logits(const at::Tensor& x, bool heads) const;

  model::SegNet net_;
  ingest::Preprocess preprocess_;
  nlohmann::json meta_;
  std::string path_, sha256_;
  double temperature_ = 1.0, threshold_ = 0.5;
  std::vector<double> head_temperature_, head_threshold_;  // per head, water first
  std::string calibration_source_;
  int tile_size_ = 512;
  std::shared_ptr<const c10::Device> device_;  // where the network runs
  bool on_cpu_ = true;
  bool channels_last_ = true;
  bool tta_ = false;
  PrecisionChoice precision_;
};

// The embedded default models: "default" (VV+VH input) and "default_vv" (VV only, for
// single-polarisation scenes). Found next to the binary (installed layouts) or in the source
// tree the binary was built from; $DRSHYM_MODEL_DIR, when set, is either a models folder
// (DIR/<name>/model.pt) or one model folder standing in for "default" and "default_vv". The
// water type models: "change" (bi-temporal, segment --before) and "permanent_vv".
std::string default_model_path(const std::string& name = "default");

// The default model for a scene: "default" when the scene has a VH band, else "default_vv".
// Reads only the scene's metadata. Throws like ingest::open_scene for unreadable scenes.
std::string default_model_for_scene(const std::string& scene_uri);

}  // namespace drshym::infer
