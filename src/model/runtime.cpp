#include "model/runtime.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "core/blas.hpp"
#include "core/cpus.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "model/layers.hpp"

namespace drshym::model {

void set_threads(int n) {
  if (n < 0) throw Error(ErrorKind::Usage, "model", "thread count must be >= 0, got " + std::to_string(n));
  core::log().debug("model: BLAS kernels: {}", core::select_blas_kernels());  // before any BLAS work
  if (n == 0) n = core::available_cpus();  // the cgroup quota too, not the host's cores
  static std::once_flag interop_once;
  std::call_once(interop_once, [n] {
    try {
      at::set_num_interop_threads(n);
    } catch (const std::exception& e) {
      // Torch refuses once its inter-op pool is running; the intra-op count is what matters
      // for convolutions, so this is not worth failing over.
      core::log().debug("model: inter-op threads left unchanged: {}", e.what());
    }
  });
  torch::set_num_threads(n);
}

void seed_everything(uint64_t seed) {
  torch::manual_seed(seed);
  std::srand(static_cast<unsigned>(seed));
  at::globalContext().setDeterministicCuDNN(true);
  at::globalContext().setBenchmarkCuDNN(false);
}

torch::Device parse_device(const std::string& s) {
  if (s == "cpu") return torch::Device(torch::kCPU);
  if (s == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (s.rfind("cuda", 0) != 0)
    throw Error(ErrorKind::Usage, "model", "unknown device " + quoted(s) + " (use cpu, cuda, cuda:N or auto)");
  int index = 0;
  if (s.size() > 4) {
    const std::string digits = s.substr(5);
    if (s[4] != ':' || digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos ||
        digits.size() > 3)
      throw Error(ErrorKind::Usage, "model", "unknown device " + quoted(s) + " (use cpu, cuda, cuda:N or auto)");
    index = std::stoi(digits);
  }
  if (!torch::cuda::is_available())
    throw Error(ErrorKind::Usage, "model",
                "device " + quoted(s) + " requested but CUDA is not available (CPU-only LibTorch or no visible GPU); use --device cpu");
  const int count = int(torch::cuda::device_count());
  if (index >= count)
    throw Error(ErrorKind::Usage, "model",
                "device " + quoted(s) + " does not exist (" + std::to_string(count) + " CUDA device(s) visible)");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

int64_t count_flops(const SegNet& net, int channels, int height, int width) {
  if (!net) throw Error(ErrorKind::Internal, "model", "count_flops: null network");
  if (channels < 1 || height < 1 || width < 1)
    throw Error(ErrorKind::Usage, "model", "count_flops: channels, height and width must be positive");
  // Eval mode so the counting pass does not nudge BatchNorm running statistics.
  const bool was_training = net->is_training();
  net->eval();
  torch::NoGradGuard no_grad;
  const auto params = net->parameters();
  const auto opts = params.empty() ? torch::TensorOptions() : params.front().options();
  int64_t macs = 0;
  try {
    FlopCountScope scope;
    net->forward(torch::zeros({1, channels, height, width}, opts.requires_grad(false)));
    macs = scope.macs();
  } catch (...) {
    net->train(was_training);
    throw;
  }
  net->train(was_training);
  return 2 * macs;
}

}  // namespace drshym::model
