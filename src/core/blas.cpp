#include "core/blas.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <mutex>

namespace drshym::core {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

bool cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512cd");
}

bool cpu_has_avx2_fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

std::string select_once() {
  // Looked up at run time: a BLAS without these symbols (reference BLAS, MKL, a static
  // OpenBLAS for one core) is left alone, and nothing links against OpenBLAS itself.
  using CoreName = char* (*)();
  using Fn = void (*)();
  auto corename = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  auto init = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init"));
  auto quit = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit"));
  if (!corename) return "not OpenBLAS";
  const std::string detected = corename() ? corename() : "?";
  if (!init || !quit) return "OpenBLAS " + detected + " (one kernel set)";
  if (const char* forced = std::getenv("OPENBLAS_CORETYPE"); forced && *forced)
    return "OpenBLAS " + detected + " (OPENBLAS_CORETYPE=" + forced + ")";
  const bool avx512 = cpu_has_avx512();
  const std::string core = better_blas_core(detected, avx512, cpu_has_avx2_fma());
  if (core.empty()) return "OpenBLAS " + detected;
  // gotoblas_dynamic_init reads OPENBLAS_CORETYPE only when its table is unset; the variable
  // is removed again so that child processes detect for themselves.
  setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  quit();
  init();
  unsetenv("OPENBLAS_CORETYPE");
  const std::string now = corename() ? corename() : "?";
  return "OpenBLAS " + now + " (" + detected + " was detected, a fallback; this CPU has " +
         (avx512 ? "AVX-512" : "AVX2 and FMA") + ")";
}

}  // namespace

std::string better_blas_core(const std::string& detected, bool avx512, bool avx2_fma) {
  if (lower(detected) != "prescott") return "";  // a real detection: keep it
  if (avx512) return "SkylakeX";
  if (avx2_fma) return "Haswell";
  return "";
}

const std::string& select_blas_kernels() {
  static std::once_flag once;
  static std::string answer;
  std::call_once(once, [] { answer = select_once(); });
  return answer;
}

}  // namespace drshym::core
