#include "data/etci_mapping.hpp"

#include "core/error.hpp"

namespace drshym::data {
namespace {

LinearDb parse_linear(const nlohmann::json& j, const std::string& key) {
  LinearDb l;
  try {
    if (j.is_array() && j.size() == 2) {
      l.scale = j[0].get<double>();
      l.offset = j[1].get<double>();
    } else if (j.is_object() && j.contains("scale") && j.contains("offset")) {
      l.scale = j["scale"].get<double>();
      l.offset = j["offset"].get<double>();
    } else {
      throw std::runtime_error("expected [scale, offset] or {scale, offset}");
    }
  } catch (const std::exception& e) {
    throw Error(ErrorKind::InvalidInput, "data", key + ": " + e.what() + ", got " + j.dump());
  }
  if (!(l.scale > 0.0))
    throw Error(ErrorKind::InvalidInput, "data", key + ".scale must be positive (brighter pixel = more dB)");
  return l;
}

}  // namespace

EtciMapping EtciMapping::fitted_default() {
  // Fitted by estimate_etci_mapping on the shared data (3 ETCI scenes, 2,107 tiles in the
  // swath; the 4 usable Sen1Floods11 test chips as reference, 19 quantile levels 0.05..0.95):
  //   build-data/src/data/etci_calibrate --etci ../shared/data/etci2021 --s1f11 ../shared/data/sen1floods11
  // Agreement figures and caveats: docs/dataset_card.md.
  EtciMapping m;
  m.vv = {0.0947988, -24.21417};  // p = 0 → -24.2 dB, p = 255 → -0.04 dB
  m.vh = {0.0956961, -35.13922};  // p = 0 → -35.1 dB, p = 255 → -10.7 dB
  return m;
}

EtciMapping EtciMapping::naive() {
  EtciMapping m;
  m.vv = {30.0 / 255.0, -30.0};
  m.vh = {30.0 / 255.0, -30.0};
  return m;
}

nlohmann::json EtciMapping::to_json() const {
  return {{"vv", {{"scale", vv.scale}, {"offset", vv.offset}}}, {"vh", {{"scale", vh.scale}, {"offset", vh.offset}}}};
}

EtciMapping EtciMapping::from_json(const nlohmann::json& j, const std::string& origin) {
  if (!j.is_object() || !j.contains("vv") || !j.contains("vh"))
    throw Error(ErrorKind::InvalidInput, "data", origin + " needs keys 'vv' and 'vh'");
  EtciMapping m;
  m.vv = parse_linear(j["vv"], origin + ".vv");
  m.vh = parse_linear(j["vh"], origin + ".vh");
  return m;
}

void EtciMapping::to_db(const uint8_t* p, size_t n, bool use_vh, float* out) const {
  const LinearDb& l = use_vh ? vh : vv;
  float lut[256];
  for (int i = 0; i < 256; ++i) lut[i] = float(l(i));
  for (size_t i = 0; i < n; ++i) out[i] = lut[p[i]];
}

}  // namespace drshym::data
