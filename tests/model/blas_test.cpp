#include <dlfcn.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "core/blas.hpp"
#include "model/runtime.hpp"

namespace drshym::core {
namespace {

// In a binary that links LibTorch (and through it the system BLAS).
TEST(Blas, SelectionNamesTheKernelsOpenBlasNowUses) {
  model::set_threads(1);  // what every front-end calls first: it selects the kernels
  const std::string& answer = select_blas_kernels();
  EXPECT_EQ(&answer, &select_blas_kernels());  // once per process
  using CoreName = char* (*)();
  auto corename = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (!corename) {
    EXPECT_EQ(answer, "not OpenBLAS");
    GTEST_SKIP() << "this test binary's BLAS is not OpenBLAS";
  }
  const std::string now = corename();
  EXPECT_EQ(answer.rfind("OpenBLAS " + now, 0), 0u) << answer;
  __builtin_cpu_init();
  const bool left_to_openblas =
      answer.find("OPENBLAS_CORETYPE") != std::string::npos || answer.find("one kernel set") != std::string::npos;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && !left_to_openblas) {
    EXPECT_NE(now, "Prescott") << "a CPU with AVX2 and FMA kept OpenBLAS's SSE3 fallback: " << answer;
  }
}


// A single-threaded, batch-1 1x1 convolution is the sgemm call whose kernels were swapped:
// its result still matches a double-precision reference.
TEST(Blas, OneByOneConvolutionStaysExact) {
  model::set_threads(1);
  torch::manual_seed(42);
  auto x = torch::randn({1, 48, 37, 29});
  auto w = torch::randn({64, 48, 1, 1});
  auto b = torch::randn({64});
  auto y = torch::conv2d(x, w, b);
  auto ref = torch::conv2d(x.to(torch::kDouble), w.to(torch::kDouble), b.to(torch::kDouble));
  EXPECT_LE((y.to(torch::kDouble) - ref).abs().max().item<double>(), 1e-4);
}

}  // namespace
}  // namespace drshym::core
