#include "ingest/preprocess.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

#include <fmt/format.h>

#include "core/error.hpp"
#include "eval/otsu.hpp"

namespace drshym::ingest {
namespace {

inline float db_to_lin(float db) { return std::pow(10.0f, db / 10.0f); }
inline float lin_to_db(float lin) { return 10.0f * std::log10(lin); }

std::string upper(std::string s) {
  for (auto& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

void check_band(const std::string& b) {
  const auto& k = known_bands();
  if (std::find(k.begin(), k.end(), b) == k.end())
    throw Error(ErrorKind::InvalidInput, "ingest",
                "unknown band " + quoted(b) +
                    " (known: VV, VH, VH-VV, NDPI, MAG, VV_BEFORE, DEM, SLOPE, HAND, S2_R, S2_G, S2_B, S2_R_BEFORE, "
                    "S2_G_BEFORE, S2_B_BEFORE)");
}

}  // namespace

const std::vector<std::string>& known_bands() {
  static const std::vector<std::string> k{"VV",   "VH",   "VH-VV", "NDPI",        "MAG",         "VV_BEFORE",
                                          "DEM",  "SLOPE", "HAND", "S2_R",        "S2_G",        "S2_B",
                                          "S2_R_BEFORE", "S2_G_BEFORE", "S2_B_BEFORE"};
  return k;
}

bool band_needs_terrain(const std::string& b) { return b == "DEM" || b == "SLOPE" || b == "HAND"; }
static int optical_plane(const std::string& b) {
  for (int k = 0; k < 6; ++k)
    if (b == kOpticalPlanes[k]) return k;
  return -1;
}
bool band_needs_optical(const std::string& b) { return optical_plane(b) >= 0; }
bool band_needs_vh(const std::string& b) {
  return b != "VV" && b != "VV_BEFORE" && !band_needs_terrain(b) && !band_needs_optical(b);
}
bool band_needs_before(const std::string& b) { return b == "VV_BEFORE"; }
bool band_is_db(const std::string& b) { return b != "NDPI" && !band_needs_terrain(b) && !band_needs_optical(b); }
bool band_is_absolute_db(const std::string& b) { return b == "VV" || b == "VH" || b == "MAG" || b == "VV_BEFORE"; }

namespace {
// Nearest-rank index of the p-th percentile among n > 0 sorted values.
size_t percentile_rank(size_t n, float p) {
  return std::min(n - 1, size_t(std::llround(double(p) / 100.0 * double(n - 1))));
}
}  // namespace

float percentile_of(std::vector<float> v, float p) {
  v.erase(std::remove_if(v.begin(), v.end(), [](float x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return std::numeric_limits<float>::quiet_NaN();
  const size_t k = percentile_rank(v.size(), p);
  std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(k), v.end());
  return v[k];
}

float percentile_of_sorted(const float* sorted, size_t n, float p) {
  return n == 0 ? std::numeric_limits<float>::quiet_NaN() : sorted[percentile_rank(n, p)];
}

float percentile_of_sorted(const std::vector<float>& sorted, float p) {
  return percentile_of_sorted(sorted.data(), sorted.size(), p);
}

float land_mode_percentile(const std::vector<float>& sorted, float split_db, float p) {
  const size_t n_dark = size_t(std::lower_bound(sorted.begin(), sorted.end(), split_db) - sorted.begin());
  // Bounded: a bright class that is a handful of saturated or urban pixels must not pull the
  // whole scene kLandModeMaxRaiseDb or more towards water.
  return std::min(percentile_of_sorted(sorted.data() + n_dark, sorted.size() - n_dark, p),
                  percentile_of_sorted(sorted, p) + Anchor::kLandModeMaxRaiseDb);
}

nlohmann::json Anchor::to_json() const {
  if (!enabled) return nullptr;
  nlohmann::json j = {{"percentile", percentile}, {"reference_db", reference_db}};
  if (dark_scenes != "land_mode") j["dark_scenes"] = dark_scenes;  // the default stays implicit
  return j;
}

Anchor Anchor::from_json(const nlohmann::json& j) {
  Anchor a;
  if (j.is_null()) return a;
  if (!j.is_object()) throw Error(ErrorKind::InvalidInput, "ingest", "preprocess.anchor must be an object or null");
  for (const auto& [k, v] : j.items())
    if (k != "percentile" && k != "reference_db" && k != "dark_scenes")
      throw Error(ErrorKind::InvalidInput, "ingest",
                  "preprocess.anchor: unknown key " + quoted(k) + " (percentile, reference_db, dark_scenes)");
  a.enabled = true;
  a.percentile = j.value("percentile", a.percentile);
  a.reference_db = j.value("reference_db", a.reference_db);
  if (j.contains("dark_scenes")) {
    if (!j["dark_scenes"].is_string() || (j["dark_scenes"] != "land_mode" && j["dark_scenes"] != "whole_scene"))
      throw Error(ErrorKind::InvalidInput, "ingest", "preprocess.anchor.dark_scenes must be \"land_mode\" or \"whole_scene\"");
    a.dark_scenes = j["dark_scenes"].get<std::string>();
  }
  if (!(a.percentile >= 1.0f && a.percentile <= 99.0f))
    throw Error(ErrorKind::InvalidInput, "ingest", "preprocess.anchor.percentile must be in [1, 99]");
  if (!(a.reference_db >= -40.0f && a.reference_db <= 10.0f))
    throw Error(ErrorKind::InvalidInput, "ingest", "preprocess.anchor.reference_db must be in [-40, 10] dB");
  return a;
}

float Anchor::shift(const float* vv, const uint8_t* valid, size_t n) const {
  if (!enabled) return 0.0f;
  std::vector<float> v;
  v.reserve(n);
  for (size_t i = 0; i < n; ++i)
    if (!valid || valid[i]) v.push_back(vv[i]);
  const float q = level(std::move(v)).db;  // level drops the non-finite values
  return std::isfinite(q) ? shift_for(q) : 0.0f;
}

AnchorLevel Anchor::level(std::vector<float> vv) const {
  AnchorLevel out;
  vv.erase(std::remove_if(vv.begin(), vv.end(), [](float x) { return !std::isfinite(x); }), vv.end());
  if (vv.empty()) return out;
  std::sort(vv.begin(), vv.end());
  out.db = out.whole_db = percentile_of_sorted(vv, percentile);
  const eval::OtsuResult otsu = eval::otsu_threshold(vv.data(), nullptr, vv.size());
  if (!otsu.found) return out;
  const size_t n_dark = size_t(std::lower_bound(vv.begin(), vv.end(), float(otsu.threshold)) - vv.begin());
  if (n_dark == 0 || n_dark == vv.size()) return out;
  const auto split = vv.begin() + std::ptrdiff_t(n_dark);
  const double dark_mean = std::accumulate(vv.begin(), split, 0.0) / double(n_dark);
  const double bright_mean = std::accumulate(split, vv.end(), 0.0) / double(vv.size() - n_dark);
  out.split_db = float(otsu.threshold);
  out.dark_share = float(double(n_dark) / double(vv.size()));
  out.mode_gap_db = float(bright_mean - dark_mean);
  out.dark_mean_db = float(dark_mean);
  if (dark_scenes == "land_mode" && out.dark_share >= kLandModeDarkShare && out.mode_gap_db >= kLandModeGapDb &&
      out.dark_mean_db <= kLandModeMaxDarkDb && 1.0f - out.dark_share >= kLandModeMinBrightShare) {
    out.db = land_mode_percentile(vv, out.split_db, percentile);
    out.land_mode = true;
  }
  return out;
}

bool AnchorLevel::trusted() const { return land_mode || !std::isfinite(db) || db > Anchor::kLandModeMaxDarkDb; }

std::string AnchorLevel::caution() const {
  if (trusted()) return "";
  return fmt::format("the scene's VV level ({:.1f} dB at the anchor's percentile) is as dark as open water and shows "
                     "no separate land mode, so it is either nearly all water or very smooth land (sand, tarmac, wet "
                     "snow); VV backscatter alone cannot tell which, the model read it as land, and water may be missed",
                     db);
}

nlohmann::json AnchorLevel::to_json() const {
  auto num = [](float x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); };
  // Why this level: what a reader of the record needs to trust it or not.
  std::string why;
  if (land_mode) {
    why = fmt::format("mostly dark: {:.0f}% of the VV values lie below the split at {:.1f} dB, the modes are {:.1f} dB "
                      "apart and the dark mode ({:.1f} dB) is as dark as open water, so the land mode sets the level{}",
                      100.0 * dark_share, split_db, mode_gap_db, dark_mean_db,
                      db >= whole_db + Anchor::kLandModeMaxRaiseDb - 1e-4f ? " (bounded to +8 dB)" : "");
  } else if (!std::isfinite(dark_share)) {
    why = "one mode (no two-mode split): the plain percentile; VV alone cannot tell an all-land from an all-water "
          "scene, so a scene that is all water may be under-mapped";
  } else if (dark_share >= Anchor::kLandModeDarkShare) {
    why = fmt::format("{:.0f}% of the VV values lie below the split, but {}: the plain percentile, which may lie on "
                      "water",
                      100.0 * dark_share,
                      mode_gap_db < Anchor::kLandModeGapDb ? fmt::format("the modes are only {:.1f} dB apart", mode_gap_db)
                      : dark_mean_db > Anchor::kLandModeMaxDarkDb
                          ? fmt::format("the dark mode ({:.1f} dB) is brighter than open water", dark_mean_db)
                      : 1.0f - dark_share < Anchor::kLandModeMinBrightShare
                          ? std::string("fewer than 1% of the values are land")
                          : std::string("the recipe asks for the plain rule (anchor.dark_scenes: whole_scene)"));
  } else {
    why = "mostly bright: the plain percentile";
  }
  return {{"level_db", num(db)},
          {"measured_on", land_mode ? "land mode: the VV values above the two-mode split (a mostly dark scene)"
                                    : "every valid VV value"},
          {"why", why},
          {"split_db", num(split_db)},
          {"dark_share", num(dark_share)},
          {"mode_gap_db", num(mode_gap_db)},
          {"dark_mean_db", num(dark_mean_db)},
          {"whole_scene_level_db", num(whole_db)},
          {"trusted", trusted()},
          {"caution", trusted() ? nlohmann::json(nullptr) : nlohmann::json(caution())}};
}

void engineer_bands(const std::vector<std::string>& bands, const float* vv, const float* vh, size_t n,
                    float* out, const float* before, const float* terrain, const float* optical) {
  for (size_t bi = 0; bi < bands.size(); ++bi) {
    const std::string& b = bands[bi];
    check_band(b);
    if (band_needs_vh(b) && !vh)
      throw Error(ErrorKind::InvalidInput, "ingest", "band " + quoted(b) + " needs VH but the scene has none");
    if (band_needs_before(b) && !before)
      throw Error(ErrorKind::InvalidInput, "ingest",
                  "band " + quoted(b) + " needs a pre-event (before) scene but none was given");
    if (band_needs_terrain(b) && !terrain)
      throw Error(ErrorKind::InvalidInput, "ingest",
                  "band " + quoted(b) + " needs terrain (a DEM: segment --dem) but none was given");
    if (band_needs_optical(b) && !optical)
      throw Error(ErrorKind::InvalidInput, "ingest",
                  "band " + quoted(b) + " needs a Sentinel-2 image of the same pixels but none was given "
                  "(optical bands are read by the OMBRIA and Sen1Floods11 training data only)");
    float* o = out + bi * n;
    if (band_needs_optical(b)) {
      const size_t plane = size_t(optical_plane(b));
      std::copy(optical + plane * n, optical + (plane + 1) * n, o);
    } else if (band_needs_terrain(b)) {
      const size_t plane = b == "DEM" ? 0 : b == "SLOPE" ? 1 : 2;
      std::copy(terrain + plane * n, terrain + (plane + 1) * n, o);
    } else if (b == "VV") {
      std::copy(vv, vv + n, o);
    } else if (b == "VV_BEFORE") {
      std::copy(before, before + n, o);
    } else if (b == "VH") {
      std::copy(vh, vh + n, o);
    } else if (b == "VH-VV") {
      for (size_t i = 0; i < n; ++i) o[i] = vh[i] - vv[i];
    } else if (b == "NDPI") {
      for (size_t i = 0; i < n; ++i) {
        float a = db_to_lin(vv[i]), c = db_to_lin(vh[i]);
        o[i] = (c - a) / (c + a);
      }
    } else {  // MAG
      for (size_t i = 0; i < n; ++i) {
        float a = db_to_lin(vv[i]), c = db_to_lin(vh[i]);
        o[i] = lin_to_db(std::sqrt((a * a + c * c) / 2.0f));
      }
    }
  }
}

nlohmann::json Normalization::to_json() const {
  nlohmann::json j{{"method", method}};
  if (method != "reference") {
    j["lo"] = lo;
    j["hi"] = hi;
  }
  if (method == "percentile") {
    j["p_lo"] = p_lo;
    j["p_hi"] = p_hi;
  }
  return j;
}

Normalization Normalization::from_json(const nlohmann::json& j) {
  Normalization n;
  if (!j.is_object() || !j.contains("method") || !j["method"].is_string())
    throw Error(ErrorKind::InvalidInput, "ingest", "normalization: missing string field 'method'");
  n.method = j["method"];
  if (n.method != "reference" && n.method != "minmax" && n.method != "percentile")
    throw Error(ErrorKind::InvalidInput, "ingest",
                "normalization: unknown method " + quoted(n.method) + " (reference, minmax, percentile)");
  try {
    if (j.contains("lo")) n.lo = j["lo"].get<std::vector<float>>();
    if (j.contains("hi")) n.hi = j["hi"].get<std::vector<float>>();
    if (j.contains("p_lo")) n.p_lo = j["p_lo"].get<float>();
    if (j.contains("p_hi")) n.p_hi = j["p_hi"].get<float>();
  } catch (const std::exception& e) {
    throw Error(ErrorKind::InvalidInput, "ingest", std::string("normalization: bad parameter: ") + e.what());
  }
  if (n.method == "minmax" && (n.lo.empty() || n.lo.size() != n.hi.size()))
    throw Error(ErrorKind::InvalidInput, "ingest", "normalization: minmax needs 'lo' and 'hi' of equal length");
  for (size_t i = 0; i < n.lo.size() && i < n.hi.size(); ++i)
    if (!(n.hi[i] > n.lo[i]))
      throw Error(ErrorKind::InvalidInput, "ingest", "normalization: hi must exceed lo for band " + std::to_string(i));
  return n;
}

void Normalization::apply(float* data, const std::vector<std::string>& bands, size_t n) const {
  for (size_t b = 0; b < bands.size(); ++b) {
    float l, h;
    if (method == "reference") {
      const std::string& nm = bands[b];
      l = nm == "DEM" ? -100.0f : (nm == "SLOPE" || nm == "HAND" || band_needs_optical(nm)) ? 0.0f : band_is_db(nm) ? -30.0f : -1.0f;
      h = nm == "DEM" ? 2000.0f : nm == "SLOPE" ? 45.0f : nm == "HAND" ? 50.0f : band_is_db(nm) ? 0.0f : 1.0f;
    } else {
      if (b >= lo.size() || b >= hi.size())
        throw Error(ErrorKind::InvalidInput, "ingest",
                    "normalization " + quoted(method) + " has bounds for " + std::to_string(lo.size()) +
                        " bands but the input has " + std::to_string(bands.size()) +
                        (method == "percentile" ? " (was it fitted?)" : ""));
      l = lo[b];
      h = hi[b];
    }
    const float scale = 1.0f / (h - l);
    float* d = data + b * n;
    for (size_t i = 0; i < n; ++i) {
      float v = d[i];
      if (std::isnan(v)) continue;
      d[i] = std::clamp((v - l) * scale, 0.0f, 1.0f);
    }
  }
}

void Normalization::fit(const float* data, size_t bands, size_t n) {
  if (method != "percentile") return;
  lo.assign(bands, 0.0f);
  hi.assign(bands, 1.0f);
  for (size_t b = 0; b < bands; ++b) {
    std::vector<float> v;
    v.reserve(n);
    for (size_t i = 0; i < n; ++i)
      if (std::isfinite(data[b * n + i])) v.push_back(data[b * n + i]);
    if (v.empty())
      throw Error(ErrorKind::InvalidInput, "ingest", "percentile normalization: band " + std::to_string(b) + " has no valid pixels");
    auto q = [&](float p) {
      size_t k = size_t(std::clamp(p / 100.0f, 0.0f, 1.0f) * float(v.size() - 1));
      std::nth_element(v.begin(), v.begin() + k, v.end());
      return v[k];
    };
    lo[b] = q(p_lo);
    hi[b] = q(p_hi);
    if (!(hi[b] > lo[b])) hi[b] = lo[b] + 1e-3f;
  }
}

std::string Normalization::tag() const {
  std::ostringstream s;
  s << "normalize:" << method;
  if (method == "reference") s << "(dB+30)/30";
  if (method == "percentile") s << "(p" << p_lo << "-p" << p_hi << ")";
  return s.str();
}

nlohmann::json Preprocess::to_json() const {
  nlohmann::json j{{"bands", bands}, {"normalization", normalization.to_json()}};
  if (anchor.enabled) j["anchor"] = anchor.to_json();
  return j;
}

Preprocess Preprocess::from_json(const nlohmann::json& j) {
  Preprocess p;
  if (!j.is_object() || !j.contains("bands") || !j["bands"].is_array() || j["bands"].empty())
    throw Error(ErrorKind::InvalidInput, "ingest", "preprocess: missing non-empty array field 'bands'");
  p.bands.clear();
  for (const auto& b : j["bands"]) {
    if (!b.is_string()) throw Error(ErrorKind::InvalidInput, "ingest", "preprocess: 'bands' must hold strings");
    std::string name = upper(b.get<std::string>());
    check_band(name);
    p.bands.push_back(name);
  }
  if (j.contains("normalization")) p.normalization = Normalization::from_json(j["normalization"]);
  if (j.contains("anchor")) p.anchor = Anchor::from_json(j["anchor"]);
  return p;
}

bool Preprocess::needs_vh() const {
  return std::any_of(bands.begin(), bands.end(), band_needs_vh);
}

bool Preprocess::needs_before() const {
  return std::any_of(bands.begin(), bands.end(), band_needs_before);
}

bool Preprocess::needs_terrain() const { return std::any_of(bands.begin(), bands.end(), band_needs_terrain); }
bool Preprocess::needs_optical() const { return std::any_of(bands.begin(), bands.end(), band_needs_optical); }

std::vector<std::string> Preprocess::optical_bands() const {
  std::vector<std::string> out;
  for (const auto& b : bands)
    if (band_needs_optical(b)) out.push_back(b);
  return out;
}

void Preprocess::apply(const float* vv, const float* vh, size_t n, std::vector<float>& out,
                       std::vector<uint8_t>& valid, const uint8_t* src_valid, float shift_db, const float* before,
                       float before_shift_db, const float* terrain, const float* optical) const {
  out.resize(bands.size() * n);
  valid.resize(n);
  engineer_bands(bands, vv, vh, n, out.data(), before, terrain, optical);
  for (size_t b = 0; b < bands.size(); ++b) {
    // Each date is anchored on its own scene: the pre-event scene has its own calibration.
    const float s = band_needs_before(bands[b]) ? before_shift_db : shift_db;
    if (s != 0.0f && band_is_absolute_db(bands[b]))
      for (size_t i = 0; i < n; ++i) out[b * n + i] += s;  // NaN stays NaN
  }
  normalization.apply(out.data(), bands, n);
  const bool want_before = needs_before();
  const bool want_vh = vh && needs_vh();  // once per call, not once per pixel (string compares)
  std::vector<double> sum(bands.size(), 0.0);
  size_t n_valid = 0;
  for (size_t i = 0; i < n; ++i) {
    bool ok = (!src_valid || src_valid[i]) && std::isfinite(vv[i]) && (!want_vh || std::isfinite(vh[i])) &&
              (!want_before || std::isfinite(before[i]));
    for (size_t b = 0; ok && b < bands.size(); ++b) ok = std::isfinite(out[b * n + i]);
    valid[i] = ok ? 1 : 0;
    if (ok) {
      n_valid++;
      for (size_t b = 0; b < bands.size(); ++b) sum[b] += out[b * n + i];
    }
  }
  // No data takes each band's mean over the valid pixels: a constant 0 (-30 dB) read as water,
  // and on a 20 m grid a 2x2 average of land and 0 turned the land along every no-data edge
  // (a swath's border) into water.
  for (size_t b = 0; b < bands.size(); ++b) {
    const float fill = n_valid ? float(sum[b] / double(n_valid)) : 0.0f;
    for (size_t i = 0; i < n; ++i)
      if (!valid[i]) out[b * n + i] = fill;
  }
}

namespace {
// The polarisation a band description names, as a whole token ("VV", "Sigma0_VV_db",
// "s1 vh"), or "" when it names none. "VVVH" or "AVVB" name nothing.
std::string polarisation_in(const std::string& description) {
  std::string token, found;
  auto flush = [&] {
    if (token == "VV" || token == "VH" || token == "HH" || token == "HV") {
      if (!found.empty() && found != token) found = "?";  // names two: ambiguous
      else found = token;
    }
    token.clear();
  };
  for (char c : upper(description) + " ") {
    if (std::isalnum(static_cast<unsigned char>(c))) token += c;
    else flush();
  }
  return found;
}
}  // namespace

SourceBands detect_source_bands(const io::RasterInfo& info, bool need_vh) {
  SourceBands s{0, 0};
  const auto where = [&](int b) {
    return "band " + std::to_string(b + 1) + " of " + quoted(info.uri) + " (described " + quoted(info.descriptions[b]) + ")";
  };
  bool any_named = false;
  for (int b = 0; b < info.bands; ++b) {
    const std::string pol = polarisation_in(info.descriptions[b]);
    if (pol.empty()) continue;
    any_named = true;
    if (pol == "?")
      throw Error(ErrorKind::InvalidInput, "ingest", where(b) + " names more than one polarisation");
    if (pol == "HH" || pol == "HV")
      throw Error(ErrorKind::InvalidInput, "ingest",
                  where(b) + " is " + pol + ": DrShym's models were trained on VV (and VH) backscatter; "
                  "HH/HV scenes (e.g. Sentinel-1 over polar regions) are not supported");
    int& slot = pol == "VV" ? s.vv : s.vh;
    if (slot)
      throw Error(ErrorKind::InvalidInput, "ingest",
                  where(b) + " is " + pol + " like band " + std::to_string(slot) + ": which one to use is ambiguous");
    slot = b + 1;
  }
  if (any_named) {
    // Descriptions decide; a band they do not name is never guessed to be VV or VH.
    if (!s.vv)
      throw Error(ErrorKind::InvalidInput, "ingest",
                  quoted(info.uri) + " has a VH band (band " + std::to_string(s.vh) +
                      ") but no band described as VV; DrShym's models need VV (set the VV band's description)");
  } else {
    if (info.bands > 2)
      throw Error(ErrorKind::InvalidInput, "ingest",
                  quoted(info.uri) + " has " + std::to_string(info.bands) +
                      " bands and none is described as VV; expected 1 band (VV) or 2 bands (VV, VH)");
    s.vv = 1;
    s.vh = info.bands >= 2 ? 2 : 0;
    s.assumed = true;
  }
  if (need_vh && !s.vh)
    throw Error(ErrorKind::InvalidInput, "ingest",
                quoted(info.uri) + " has no VH band (it has " + std::to_string(info.bands) + " band(s)" +
                    (any_named ? ", none described as VH" : "") + "); the model needs VV and VH");
  return s;
}

}  // namespace drshym::ingest
