#pragma once
// An in-memory cache of loaded items, one slot per dataset index, filled lazily and safely
// from several threads (the batcher's prefetch thread and the caller). A byte budget bounds
// it: once full, further items are simply read again from disk each time.
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace drshym::data {

template <typename T>
class SampleCache {
 public:
  SampleCache() = default;
  SampleCache(size_t slots, size_t max_bytes) { reset(slots, max_bytes); }

  void reset(size_t slots, size_t max_bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    slots_.assign(slots, nullptr);
    max_bytes_ = max_bytes;
    bytes_ = 0;
  }
  std::shared_ptr<const T> find(size_t i) const {
    std::lock_guard<std::mutex> lock(mu_);
    return i < slots_.size() ? slots_[i] : nullptr;
  }
  // Keep v for slot i when the budget allows (a slot already filled is left as it is).
  void put(size_t i, std::shared_ptr<const T> v, size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    if (i >= slots_.size() || slots_[i] || bytes_ + bytes > max_bytes_) return;
    slots_[i] = std::move(v);
    bytes_ += bytes;
  }
  size_t bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return bytes_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<const T>> slots_;
  size_t max_bytes_ = 0;
  size_t bytes_ = 0;
};

}  // namespace drshym::data
