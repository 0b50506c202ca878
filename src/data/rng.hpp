#pragma once
// A tiny deterministic random generator (SplitMix64) for data order and augmentation. The
// standard distributions differ between library implementations; these draws do not, so a
// (seed, epoch, index) triple gives the same sample on every platform.
#include <cstdint>
#include <initializer_list>

namespace drshym::data {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  // Seed from several values (seed, epoch, index, ...), each mixed in turn.
  SplitMix64(std::initializer_list<uint64_t> parts) : state_(0x6A09E667F3BCC909ull) {
    for (uint64_t p : parts) state_ = mix(state_ ^ mix(p + 0x9E3779B97F4A7C15ull));
  }
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    return mix(z);
  }
  // Uniform in [0, 1).
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
  // Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n); 0 when n == 0.
  uint64_t below(uint64_t n) { return n ? uint64_t(uniform() * double(n)) % n : 0; }

 private:
  static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t state_;
};

}  // namespace drshym::data
