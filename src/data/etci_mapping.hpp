#pragma once
// ETCI 2021 tiles store VV and VH as 8-bit PNG values; the mapping back to dB was never
// published. EtciMapping holds a linear estimate dB = scale * p + offset per polarization;
// fitted_default() carries the constants estimated by estimate_etci_mapping
// (etci_calibration.hpp) so datasets work without Sen1Floods11 at hand.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace drshym::data {

struct LinearDb {
  double scale = 0.0;   // dB per 8-bit step
  double offset = 0.0;  // dB at p = 0
  double operator()(double p) const { return scale * p + offset; }
};

struct EtciMapping {
  LinearDb vv;
  LinearDb vh;

  // The constants fitted on the shared data (see the .cpp for the command that produced them).
  static EtciMapping fitted_default();
  // The naive reading: 0..255 spans the reference window [-30, 0] dB for both polarizations
  // (the "before" baseline of the calibration report).
  static EtciMapping naive();

  // {"vv": {"scale": a, "offset": b}, "vh": {...}}; from_json also takes {"vv": [a, b], ...}.
  nlohmann::json to_json() const;
  static EtciMapping from_json(const nlohmann::json& j, const std::string& origin = "mapping");
  // n 8-bit values → dB.
  void to_db(const uint8_t* p, size_t n, bool vh, float* out) const;
};

}  // namespace drshym::data
