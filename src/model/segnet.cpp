#include "model/segnet.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "model/attention_resunet.hpp"
#include "model/layers.hpp"
#include "model/unet_compact.hpp"
#include "model/unet_resnet.hpp"

namespace drshym::model {
namespace {

using Json = nlohmann::json;

[[noreturn]] void bad_key(const std::string& key, const std::string& problem, const Json& v) {
  throw Error(ErrorKind::InvalidInput, "model",
              "model config key " + quoted(key) + " " + problem + ": " + v.dump());
}

int get_int(const std::string& key, const Json& v) {
  if (!v.is_number_integer()) bad_key(key, "must be an integer", v);
  return v.get<int>();
}

std::string get_string(const std::string& key, const Json& v) {
  if (!v.is_string()) bad_key(key, "must be a string", v);
  return v.get<std::string>();
}

void validate(const ModelConfig& c) {
  if (c.in_channels < 1) bad_key("in_channels", "must be >= 1", c.in_channels);
  if (c.base_width < 1) bad_key("base_width", "must be >= 1", c.base_width);
  if (c.grid != 1 && c.grid != 2) bad_key("grid", "must be 1 or 2", c.grid);
  if (c.head_width < 0) bad_key("head_width", "must be >= 0 (0 = base_width)", c.head_width);
  if (c.head_width > 0 && c.heads.empty()) bad_key("head_width", "is for model.heads; there are none", c.head_width);
  if (c.head_reads != "decoder" && c.head_reads != "decoder+encoder" && c.head_reads != "decoder+branch")
    bad_key("head_reads", "must be decoder, decoder+encoder or decoder+branch", c.head_reads);
  if (c.head_reads != "decoder" && c.heads.empty()) bad_key("head_reads", "is for model.heads; there are none", c.head_reads);
  if (c.norm != "batch" && c.norm != "group") bad_key("norm", "must be batch or group", c.norm);
  if (c.upsample != "transpose" && c.upsample != "bilinear")
    bad_key("upsample", "must be transpose or bilinear", c.upsample);
  for (const auto& h : c.heads)
    if (std::find(known_heads().begin(), known_heads().end(), h) == known_heads().end())
      bad_key("heads", "names an unknown head " + quoted(h) + " (known: permanent_water)", Json(c.heads));
  if (!c.heads.empty() && c.arch != "unet_compact") bad_key("heads", "are built for unet_compact only", Json(c.heads));
  if (std::set<std::string>(c.heads.begin(), c.heads.end()).size() != c.heads.size())
    bad_key("heads", "names a head twice", Json(c.heads));
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::string shape_str(const torch::Tensor& x) {
  std::ostringstream os;
  os << x.sizes();
  return os.str();
}

}  // namespace

int ModelConfig::input_multiple() const { return (arch.rfind("unet_resnet", 0) == 0 ? 32 : 16) * grid; }

Json ModelConfig::to_json() const {
  Json j{{"arch", arch}, {"in_channels", in_channels}, {"base_width", base_width}, {"norm", norm}, {"upsample", upsample}};
  if (!heads.empty()) j["heads"] = heads;  // absent for single-head networks, as before heads existed
  if (grid != 1) j["grid"] = grid;         // likewise absent on the input's grid
  if (head_width > 0) j["head_width"] = head_width;  // and absent at base_width
  if (head_reads != "decoder") j["head_reads"] = head_reads;  // and at the decoder
  return j;
}

ModelConfig ModelConfig::from_json(const Json& j) {
  if (!j.is_object())
    throw Error(ErrorKind::InvalidInput, "model", "model config must be a JSON object, got: " + j.dump());
  ModelConfig c;
  for (const auto& [key, v] : j.items()) {
    if (key == "arch")
      c.arch = get_string(key, v);
    else if (key == "in_channels")
      c.in_channels = get_int(key, v);
    else if (key == "base_width")
      c.base_width = get_int(key, v);
    else if (key == "norm")
      c.norm = get_string(key, v);
    else if (key == "upsample")
      c.upsample = get_string(key, v);
    else if (key == "heads") {
      if (!v.is_array()) bad_key(key, "must be a list of head names", v);
      for (const auto& h : v) c.heads.push_back(get_string(key, h));
    } else if (key == "grid")
      c.grid = get_int(key, v);
    else if (key == "head_width")
      c.head_width = get_int(key, v);
    else if (key == "head_reads")
      c.head_reads = get_string(key, v);
    else
      bad_key(key, "is unknown (known: arch, in_channels, base_width, norm, upsample, heads, grid, head_width, head_reads)", v);
  }
  validate(c);
  return c;
}

bool ModelConfig::operator==(const ModelConfig& o) const {
  return arch == o.arch && in_channels == o.in_channels && base_width == o.base_width &&
         norm == o.norm && upsample == o.upsample && heads == o.heads && grid == o.grid &&
         head_width == o.head_width && head_reads == o.head_reads;
}

const std::vector<std::string>& known_heads() {
  static const std::vector<std::string> heads{"permanent_water"};
  return heads;
}

namespace {
thread_local double t_pixel_m = 0;  // the input's pixel size under a GridScope; 0: none on this thread
}  // namespace

int grid_for_pixel_size(const ModelConfig& config, double pixel_m) {
  if (!(pixel_m > 0) || !std::isfinite(pixel_m)) return config.grid;
  const long f = std::lround(config.grid * kTrainingPixelM / pixel_m);
  return int(std::clamp<long>(f, 1, config.grid));
}

GridScope::GridScope(double pixel_m) : previous_(t_pixel_m) { t_pixel_m = pixel_m; }
GridScope::~GridScope() { t_pixel_m = previous_; }

int SegNetImpl::grid() const { return grid_for_pixel_size(config_, t_pixel_m); }

torch::Tensor SegNetImpl::to_grid(const torch::Tensor& x) const {
  check_input(x);
  const int g = grid();
  return g == 1 ? x : torch::avg_pool2d(x, g);
}

torch::Tensor SegNetImpl::from_grid(const torch::Tensor& logits, const torch::Tensor& x) const {
  if (logits.size(2) == x.size(2) && logits.size(3) == x.size(3)) return logits;
  namespace F = torch::nn::functional;
  return F::interpolate(logits, F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{x.size(2), x.size(3)})
                                    .mode(torch::kBilinear)
                                    .align_corners(false));
}

torch::Tensor SegNetImpl::forward(torch::Tensor x) {
  auto in = to_grid(x);
  auto out = output_head_ == 0 ? forward_water(std::move(in)) : forward_all(std::move(in)).narrow(1, output_head_, 1);
  return from_grid(out, x);
}

torch::Tensor SegNetImpl::forward_heads(torch::Tensor x) {
  auto in = to_grid(x);
  return from_grid(forward_all(std::move(in)), x);
}

torch::Tensor SegNetImpl::forward_all(torch::Tensor x) {
  if (config_.heads.empty()) return forward_water(std::move(x));
  throw Error(ErrorKind::Usage, "model", config_.arch + " has no extra heads");
}

int SegNetImpl::head_index(const std::string& name) const {
  if (name == "water") return 0;
  for (size_t i = 0; i < config_.heads.size(); ++i)
    if (config_.heads[i] == name) return int(i) + 1;
  return -1;
}

void SegNetImpl::set_output_head(const std::string& name) {
  const int k = head_index(name);
  if (k < 0)
    throw Error(ErrorKind::InvalidInput, "model",
                config_.arch + " has no head " + quoted(name) + " (heads: water" +
                    (config_.heads.empty() ? std::string() : ", " + join(config_.heads)) + ")");
  output_head_ = k;
}

void SegNetImpl::fuse_for_inference() {
  fuse_conv_norm(*this);
  fused_ = true;
}

void SegNetImpl::check_input(const torch::Tensor& x) const {
  const int m = config_.input_multiple();
  if (x.dim() != 4)
    throw Error(ErrorKind::InvalidInput, "model",
                config_.arch + " expects input [N, C, H, W], got " + shape_str(x));
  if (x.size(1) != config_.in_channels)
    throw Error(ErrorKind::InvalidInput, "model",
                config_.arch + " expects " + std::to_string(config_.in_channels) +
                    " input channels, got " + shape_str(x));
  if (x.size(2) % m != 0 || x.size(3) % m != 0)
    throw Error(ErrorKind::InvalidInput, "model",
                config_.arch + " needs height and width that are multiples of " + std::to_string(m) +
                    ", got " + shape_str(x));
}

const std::vector<std::string>& known_archs() {
  static const std::vector<std::string> archs{"unet_compact", "unet_resnet18", "unet_resnet34",
                                              "unet_resnet50", "attention_resunet"};
  return archs;
}

SegNet make_model(const ModelConfig& cfg) {
  validate(cfg);
  if (cfg.arch == "unet_compact") return std::make_shared<UNetCompactImpl>(cfg);
  if (cfg.arch == "unet_resnet18") return std::make_shared<UNetResNetImpl>(cfg, 18);
  if (cfg.arch == "unet_resnet34") return std::make_shared<UNetResNetImpl>(cfg, 34);
  if (cfg.arch == "unet_resnet50") return std::make_shared<UNetResNetImpl>(cfg, 50);
  if (cfg.arch == "attention_resunet") return std::make_shared<AttentionResUNetImpl>(cfg);
  throw Error(ErrorKind::InvalidInput, "model",
              "unknown arch " + quoted(cfg.arch) + " (known: " + join(known_archs()) + ")");
}

}  // namespace drshym::model
