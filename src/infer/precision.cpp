#include "infer/precision.hpp"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/blas.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "model/segnet.hpp"

namespace fs = std::filesystem;

namespace drshym::infer {

namespace {

constexpr double kMinSpeedup = 1.15;  // bf16 must win clearly: a tie is not worth the rounding
constexpr int64_t kTrialSide = 256;

std::string cpu_model_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  return "unknown cpu";
}

double best_ms(const model::SegNet& net, const torch::Tensor& x, bool bf16) {
  torch::NoGradGuard ng;
  Bf16Autocast scope(bf16);
  net->forward(x);  // warm-up: oneDNN picks and caches its kernels
  double best = 1e300;
  for (int k = 0; k < 3; ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    net->forward(x);
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

Precision parse_precision(const std::string& s) {
  if (s == "fp32") return Precision::fp32;
  if (s == "bf16") return Precision::bf16;
  if (s == "auto") return Precision::automatic;
  throw Error(ErrorKind::Usage, "infer", "precision must be fp32, bf16 or auto, got " + quoted(s));
}

const char* to_string(Precision p) {
  switch (p) {
    case Precision::fp32: return "fp32";
    case Precision::bf16: return "bf16";
    case Precision::automatic: return "auto";
  }
  return "?";
}

nlohmann::json PrecisionChoice::to_json() const {
  nlohmann::json j{{"used", bf16 ? "bf16" : "fp32"}, {"reason", reason}, {"blas", core::select_blas_kernels()}};
  if (fp32_ms > 0) j["trial_ms_per_pass"] = {{"fp32", fp32_ms}, {"bf16", bf16_ms}, {"cached", cached}};
  return j;
}

bool cpu_has_native_bf16() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("flags", 0) == 0) {
      std::istringstream words(line);
      std::string w;
      while (words >> w)
        if (w == "avx512_bf16" || w == "amx_bf16") return true;
      return false;
    }
  return false;
}

std::string precision_cache_path() {
  auto env = [](const char* k) -> std::string {
    const char* v = std::getenv(k);
    return v && *v ? v : "";
  };
  fs::path dir;
  if (!env("DRSHYM_CACHE_DIR").empty())
    dir = env("DRSHYM_CACHE_DIR");
  else if (!env("XDG_CACHE_HOME").empty())
    dir = fs::path(env("XDG_CACHE_HOME")) / "drshym";
  else if (!env("HOME").empty())
    dir = fs::path(env("HOME")) / ".cache" / "drshym";
  else
    return "";
  return (dir / "precision.json").string();
}

PrecisionChoice choose_precision(Precision requested, const model::SegNet& net, int in_channels,
                                 const torch::Device& device, bool channels_last) {
  PrecisionChoice c;
  if (requested == Precision::fp32) {
    c.reason = "asked for fp32";
    return c;
  }
  if (!device.is_cpu()) {
    if (requested == Precision::bf16)
      throw Error(ErrorKind::Usage, "infer", "precision bf16 is for the CPU; this model runs on " + device.str());
    c.reason = "auto: not on the CPU";
    return c;
  }
  if (!cpu_has_native_bf16()) {
    if (requested == Precision::bf16)
      throw Error(ErrorKind::Usage, "infer",
                  "precision bf16 needs a CPU with native BF16 (avx512_bf16 or amx_bf16); this one (" + cpu_model_name() +
                      ") would emulate it, several times slower than fp32");
    c.reason = "auto: this CPU has no native BF16";
    return c;
  }
  if (requested == Precision::bf16) {
    c.bf16 = true;
    c.reason = "asked for bf16";
    return c;
  }
  // auto on a BF16-capable CPU: the cached answer, or a trial.
  const auto& cfg = net->config();
  const std::string key = cpu_model_name() + " | threads " + std::to_string(at::get_num_threads()) + " | " +
                          cfg.to_json().dump() + " | torch " + TORCH_VERSION +
                          " | " + core::select_blas_kernels();
  const std::string cache = precision_cache_path();
  nlohmann::json entries = nlohmann::json::object();
  if (!cache.empty() && fs::exists(cache)) {
    try {
      entries = core::read_json_file(cache);
      if (!entries.is_object()) entries = nlohmann::json::object();
    } catch (const std::exception& e) {
      core::log().warn("infer: ignoring unreadable precision cache {}: {}", cache, e.what());
      entries = nlohmann::json::object();
    }
  }
  if (entries.contains(key) && entries[key].is_object() && entries[key].contains("fp32_ms") &&
      entries[key].contains("bf16_ms")) {
    c.fp32_ms = entries[key]["fp32_ms"].get<double>();
    c.bf16_ms = entries[key]["bf16_ms"].get<double>();
    c.cached = true;
  } else {
    auto x = torch::full({2, in_channels, kTrialSide, kTrialSide}, 0.5f, torch::TensorOptions().device(device));
    if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    c.fp32_ms = best_ms(net, x, false);
    c.bf16_ms = best_ms(net, x, true);
    if (!cache.empty()) {
      entries[key] = {{"fp32_ms", c.fp32_ms}, {"bf16_ms", c.bf16_ms}, {"measured", core::utc_now_iso()}};
      try {
        fs::create_directories(fs::path(cache).parent_path());
        core::write_json_file(cache, entries);
      } catch (const std::exception& e) {
        core::log().warn("infer: could not keep the precision trial in {}: {} (the next run repeats it)", cache, e.what());
      }
    }
  }
  const double speedup = c.bf16_ms > 0 ? c.fp32_ms / c.bf16_ms : 0;
  c.bf16 = speedup >= kMinSpeedup;
  char buf[160];
  std::snprintf(buf, sizeof buf, "auto: trial%s, bf16 %.2fx the speed of fp32 (%s when >= %.2fx)",
                c.cached ? " (cached)" : "", speedup, "bf16", kMinSpeedup);
  c.reason = buf;
  return c;
}

Bf16Autocast::Bf16Autocast(bool on) : on_(on) {
  if (!on_) return;
  was_enabled_ = at::autocast::is_cpu_enabled();
  at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  at::autocast::set_cpu_enabled(true);
}

Bf16Autocast::~Bf16Autocast() {
  if (!on_) return;
  at::autocast::set_cpu_enabled(was_enabled_);
  if (!was_enabled_) at::autocast::clear_cache();
}

}  // namespace drshym::infer
