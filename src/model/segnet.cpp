#include "model/segnet.hpp"

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
  if (c.norm != "batch" && c.norm != "group") bad_key("norm", "must be batch or group", c.norm);
  if (c.upsample != "transpose" && c.upsample != "bilinear")
    bad_key("upsample", "must be transpose or bilinear", c.upsample);
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

int ModelConfig::input_multiple() const { return arch.rfind("unet_resnet", 0) == 0 ? 32 : 16; }

Json ModelConfig::to_json() const {
  return Json{{"arch", arch},
              {"in_channels", in_channels},
              {"base_width", base_width},
              {"norm", norm},
              {"upsample", upsample}};
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
    else
      bad_key(key, "is unknown (known: arch, in_channels, base_width, norm, upsample)", v);
  }
  validate(c);
  return c;
}

bool ModelConfig::operator==(const ModelConfig& o) const {
  return arch == o.arch && in_channels == o.in_channels && base_width == o.base_width &&
         norm == o.norm && upsample == o.upsample;
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
