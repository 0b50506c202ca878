#pragma once
// Arithmetic precision of the network on the CPU. FP32 is exact and the library default;
// BF16 (autocast: convolutions and matrix products in bfloat16, everything else and the
// output in float) is faster only on CPUs with native BF16 units (AVX-512 BF16, AMX), and even
// there not always (issue 24 measured 1.70x on one server and 0.80x on another). So `auto`
// decides per machine with a short timed trial of the network itself, and keeps the answer
// in a small cache file so one machine always makes the same choice (same outputs run after
// run): $DRSHYM_CACHE_DIR, else $XDG_CACHE_HOME/drshym, else ~/.cache/drshym; precision.json.
//
//   auto choice = choose_precision(Precision::automatic, net, 2, torch::kCPU, true);
//   Bf16Autocast scope(choice.bf16);   // around every forward pass
#include <nlohmann/json.hpp>
#include <string>

#include "model/segnet_fwd.hpp"

namespace drshym::infer {

enum class Precision { fp32, bf16, automatic };

// "fp32" | "bf16" | "auto"; anything else is a Usage error naming the choices.
Precision parse_precision(const std::string& s);
const char* to_string(Precision p);

// What a predictor runs in and why (goes into the record's provenance).
struct PrecisionChoice {
  bool bf16 = false;
  std::string reason;            // e.g. "asked for fp32", "trial: bf16 1.62x faster than fp32"
  double fp32_ms = 0, bf16_ms = 0;  // trial times per pass (0 when there was no trial)
  bool cached = false;           // the trial was read from the cache file
  nlohmann::json to_json() const;
};

// Whether this CPU has native BF16 arithmetic (avx512_bf16 or amx_bf16 in /proc/cpuinfo).
bool cpu_has_native_bf16();

// The cache file `auto` reads and writes ("" when no folder can be named).
std::string precision_cache_path();

// fp32 / bf16: as asked (bf16 on a CPU without native BF16 is refused: oneDNN would emulate it,
// several times slower). automatic: fp32 off the CPU or without native BF16; otherwise the
// cached answer for this CPU, thread count and network, or a trial (best of 3 passes each on
// a [2, C, 256, 256] input) that picks bf16 when it is at least 1.15x faster.
PrecisionChoice choose_precision(Precision requested, const model::SegNet& net, int in_channels,
                                 const c10::Device& device, bool channels_last);

// BF16 autocast on the CPU for the current thread while alive (no-op when off).
class Bf16Autocast {
 public:
  explicit Bf16Autocast(bool on);
  ~Bf16Autocast();
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  bool on_, was_enabled_ = false;
};

}  // namespace drshym::infer
