#pragma once
// A minimal parallel loop for I/O-bound dataset scans (thousands of small PNG / GeoTIFF reads):
// indices are handed out one at a time to a few std::threads.
#include <cstddef>
#include <functional>

namespace drshym::data {

// Run fn(i) for every i in [0, n) on up to `threads` threads (0 = hardware concurrency, at
// most 8). The first exception thrown by fn is rethrown once every thread has stopped.
void parallel_for_each(size_t n, int threads, const std::function<void(size_t)>& fn);

}  // namespace drshym::data
