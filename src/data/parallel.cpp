#include "data/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "core/cpus.hpp"
#include "core/interrupt.hpp"

namespace drshym::data {

void parallel_for_each(size_t n, int threads, const std::function<void(size_t)>& fn) {
  int t = threads > 0 ? threads : std::min(8, core::available_cpus());
  t = int(std::min<size_t>(size_t(t), n));
  if (t <= 1) {
    for (size_t i = 0; i < n; ++i) {
      core::check_interrupted("data");
      fn(i);
    }
    return;
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first;
  std::mutex mu;
  auto worker = [&] {
    for (size_t i = next++; i < n && !failed; i = next++) {
      try {
        core::check_interrupted("data");  // Ctrl-C stops a long dataset scan too
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!first) first = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int k = 0; k < t; ++k) pool.emplace_back(worker);
  for (auto& th : pool) th.join();
  if (first) std::rethrow_exception(first);
}

}  // namespace drshym::data
