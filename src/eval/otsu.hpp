#pragma once
// Classical baseline: per-chip Otsu thresholding of VV backscatter in dB. Calm open water is a
// specular reflector and appears dark, so pixels below the chip's Otsu threshold are water.
// Any learned model should beat this on the same chips.
//
//   eval::OtsuResult r;
//   std::vector<uint8_t> water = eval::otsu_water_mask(vv_db, valid, n, {}, &r);
#include <cstddef>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

namespace drshym::eval {

struct OtsuParams {
  int bins = 256;  // histogram bins spanning [min, max] of the valid values
};

struct OtsuResult {
  bool found = false;         // false with < 2 valid values or all values equal
  double threshold = 0;       // NaN when not found; values < threshold form the low class
  double between_var = 0;     // between-class variance at the threshold
  double separability = 0;    // between_var / total variance, in [0, 1]: 1 = perfectly bimodal
  int64_t count = 0;          // valid finite values used
  nlohmann::json to_json() const;
};

// Otsu threshold of the finite values where valid is non-zero (valid == nullptr: all).
// When several bin edges tie for the best split (an empty valley between two modes), the
// threshold is the middle of the tied range. Throws Usage when bins < 2.
OtsuResult otsu_threshold(const float* values, const uint8_t* valid, size_t n,
                          const OtsuParams& params = {});

// 1 where the pixel is valid, finite and below the per-chip Otsu threshold of VV dB; else 0.
// When no threshold can be found the mask is all 0 (nothing called water).
std::vector<uint8_t> otsu_water_mask(const float* vv_db, const uint8_t* valid, size_t n,
                                     const OtsuParams& params = {}, OtsuResult* result = nullptr);

}  // namespace drshym::eval
