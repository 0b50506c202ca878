#pragma once
// Segmentation networks: every architecture is a SegNetImpl that maps an input batch
// [N, C, H, W] (H, W multiples of 16; 32 for the ResNet encoders) to one logit channel
// [N, 1, H, W]. make_model() is the only way the rest of the system builds one.
//
// ModelConfig::grid > 1 runs the network on a coarser processing grid (2: 20 m for 10 m
// Sentinel-1 pixels, as Copernicus GFM maps): the input is averaged over grid x grid pixels,
// the network runs there (1/grid^2 of the arithmetic, grid x the receptive field in metres) and
// its logits are upsampled bilinearly to the input's grid, so callers see the same shapes.
// The factor is for 10 m input (kTrainingPixelM, the training data's pixels): a scene with
// coarser pixels runs on a finer factor (grid_for_pixel_size; a 20 m scene runs on its own
// grid), set for the calling thread by a GridScope.
//
// Extra heads (ModelConfig::heads, unet_compact only): small outputs that read the same
// network's decoder features, so a second answer about every pixel costs a head, not a second
// network. "permanent_water" (ETCI's water bodies) splits the water into permanent and flood
// water. forward() gives the water logit (channel 0) as always; forward_heads() every head.
//
//   model::ModelConfig cfg; cfg.arch = "unet_compact"; cfg.in_channels = 2;
//   model::SegNet net = model::make_model(cfg);
//   auto logits = net->forward(torch::randn({1, 2, 256, 256}));
#include <torch/torch.h>

#include "model/segnet_fwd.hpp"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace drshym::model {

struct ModelConfig {
  std::string arch = "unet_compact";  // unet_compact | unet_resnet18 | unet_resnet34 | unet_resnet50 | attention_resunet
  int in_channels = 2;
  // Channels of the first level for the compact / attention nets. The ResNet encoders use
  // 4 * base_width (16 gives the standard 64-wide ResNet) and a decoder of base_width * {16..1}.
  int base_width = 16;
  std::string norm = "batch";         // batch | group
  std::string upsample = "transpose"; // transpose (2x2 transposed conv) | bilinear (+ 1x1 conv)
  std::vector<std::string> heads;     // extra heads after the water logit: "permanent_water"
  int grid = 1;                       // processing grid: 1 (the input's) or 2 (2x2 averaged)
  int head_width = 0;                 // channels of each extra head; 0 = base_width
  // What the extra heads read: "decoder" (dec1..dec3), "decoder+encoder" (also enc3, enc4) or
  // "decoder+branch" (also the head's own three-level encoder, from enc1).
  std::string head_reads = "decoder";

  // Side length the input's H and W must be a multiple of: 16 (32 for ResNet encoders) x grid.
  int input_multiple() const;

  nlohmann::json to_json() const;
  // Missing keys keep their defaults; unknown keys and bad values throw InvalidInput naming
  // the key, so a typo in a config never silently builds a different network.
  static ModelConfig from_json(const nlohmann::json& j);
  bool operator==(const ModelConfig& o) const;
  bool operator!=(const ModelConfig& o) const { return !(*this == o); }
};

// Pixel size (m) of the data networks are trained on (Sen1Floods11, ETCI, OMBRIA: 10 m).
inline constexpr double kTrainingPixelM = 10.0;

// The averaging factor that brings pixels of `pixel_m` metres closest to a network's processing
// grid (config.grid x kTrainingPixelM): round(grid x 10 / pixel_m) within [1, grid]; the
// network's own factor when pixel_m is not a positive number (size unknown).
int grid_for_pixel_size(const ModelConfig& config, double pixel_m);

// While in scope, the input of networks on this thread has pixels of `pixel_m` metres: each
// network averages it by its own grid_for_pixel_size(config, pixel_m) instead of its config's
// grid (a water network and a type model of another grid each get theirs). Thread-local, like
// LibTorch's autocast, so scenes that run at once in one process (the HTTP service) do not see
// each other's. A pixel size that is not a positive number keeps every network's own grid.
class GridScope {
 public:
  explicit GridScope(double pixel_m);
  ~GridScope();
  GridScope(const GridScope&) = delete;
  GridScope& operator=(const GridScope&) = delete;

 private:
  double previous_;
};

// The extra heads a network may have.
const std::vector<std::string>& known_heads();

class SegNetImpl : public torch::nn::Module {
 public:
  // The logit of the output head (set_output_head; 0 = water): [N, 1, H, W].
  torch::Tensor forward(torch::Tensor x);
  // Every head at once, from one pass through the trunk: [N, 1 + heads, H, W], channel 0 the
  // water logit, then config().heads in order. Throws Usage for an architecture without heads.
  torch::Tensor forward_heads(torch::Tensor x);
  // 0 for "water", 1 + i for config().heads[i], -1 when the network has no such head.
  int head_index(const std::string& name) const;
  // Which head forward() returns (training or calibrating one head): InvalidInput if unknown.
  void set_output_head(const std::string& name);
  int output_head() const { return output_head_; }
  // Fold BatchNorm into the preceding convolutions for inference (no-op for GroupNorm).
  // Switches to eval(); after this the net is inference-only and cannot be checkpointed.
  virtual void fuse_for_inference();
  bool fused() const { return fused_; }
  const ModelConfig& config() const { return config_; }
  // The averaging factor this thread runs: config().grid, or less inside a GridScope.
  int grid() const;
  // Blocks whose outputs a model::FeatureTap can take (Grad-CAM layers), input to output,
  // named like the registered modules; the last one is the last decoder block.
  virtual std::vector<std::string> tap_points() const = 0;

 protected:
  explicit SegNetImpl(ModelConfig c) : config_(std::move(c)) {}
  // Throws InvalidInput when x is not [N, in_channels, H, W] with H, W multiples of
  // config().input_multiple(); a clear message beats a shape error deep inside torch::cat.
  void check_input(const torch::Tensor& x) const;
  // The input on the processing grid (checked first), and logits back on the input's grid.
  torch::Tensor to_grid(const torch::Tensor& x) const;
  torch::Tensor from_grid(const torch::Tensor& logits, const torch::Tensor& x) const;
  // On the processing grid (after to_grid): the water logit alone (what every architecture
  // computes), and every head (architectures with heads override it).
  virtual torch::Tensor forward_water(torch::Tensor x) = 0;
  virtual torch::Tensor forward_all(torch::Tensor x);

  ModelConfig config_;
  bool fused_ = false;
  int output_head_ = 0;
};

// The architectures make_model() knows, in a stable order (for messages and /v1/models).
const std::vector<std::string>& known_archs();

// Build a freshly initialized network (weights from the current torch seed).
// Unknown arch or invalid config → InvalidInput naming it.
SegNet make_model(const ModelConfig& cfg);

}  // namespace drshym::model
