#include "data/ombria_dataset.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <mutex>

#include "core/error.hpp"
#include "core/log.hpp"
#include "data/etci_tiles.hpp"
#include "data/parallel.hpp"
#include "io/raster.hpp"

namespace fs = std::filesystem;

namespace drshym::data {
namespace {

// Quantile of a copy of v (nearest rank); NaN when empty.
double quantile_of(std::vector<float> v, double q) {
  if (v.empty()) return std::nan("");
  size_t k = std::min(v.size() - 1, size_t(q * double(v.size())));
  std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(k), v.end());
  return v[k];
}

// Run read(t) on every triplet in parallel; those that throw leave items and go to *skipped
// with the message.
template <typename F>
void keep_readable(std::vector<OmbriaTriplet>& items, int threads, std::vector<SkippedItem>* skipped, F read) {
  std::vector<std::string> errors(items.size());
  parallel_for_each(items.size(), threads, [&](size_t i) {
    try {
      read(items[i]);
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  });
  std::vector<OmbriaTriplet> ok;
  for (size_t i = 0; i < items.size(); ++i) {
    if (errors[i].empty()) ok.push_back(std::move(items[i]));
    else if (skipped) skipped->push_back({items[i].id, errors[i]});
  }
  items = std::move(ok);
}

}  // namespace

// Median of the 8-bit values v[i] where take(i) holds; NaN when none.
template <typename F>
double median_where(const std::vector<uint8_t>& v, F take) {
  std::array<int64_t, 256> h{};
  int64_t n = 0;
  for (size_t i = 0; i < v.size(); ++i)
    if (take(i)) ++h[v[i]], ++n;
  if (n == 0) return std::nan("");
  int64_t acc = 0;
  for (int k = 0; k < 256; ++k) {
    acc += h[size_t(k)];
    if (2 * acc >= n) return k;
  }
  return 255;
}

// `build/src/data/ombria_calibrate --split train`: after_scale_db_per_step.median and
// after_offset_db.median (docs/dataset_card.md).
LinearDb ombria_label_free_mapping() { return LinearDb{0.1190, -29.45}; }

constexpr double kMinSlope = 0.07, kMaxSlope = 0.18;  // dB per 8-bit step

double map_ombria_split(std::vector<OmbriaTriplet>& items, const OmbriaOptions& opt) {
  struct Meds { double flood, other; int64_t flood_px; };
  std::vector<Meds> meds(items.size());
  std::vector<double> slopes;
  for (size_t k = 0; k < items.size(); ++k) {
    const auto& t = items[k];
    Meds m;
    m.flood_px = 0;
    for (uint8_t x : t.mask) m.flood_px += x >= 128;
    m.flood = median_where(t.after, [&](size_t i) { return t.mask[i] >= 128; });
    m.other = median_where(t.after, [&](size_t i) { return t.mask[i] < 128; });
    meds[k] = m;
    if (m.flood_px >= opt.min_flood_pixels && m.other - m.flood >= 8) slopes.push_back(std::clamp((opt.dry_db - opt.water_db) / (m.other - m.flood), kMinSlope, kMaxSlope));
  }
  double fallback = 0.1;  // dB per step, used only when no image has enough flood
  if (!slopes.empty()) {
    std::nth_element(slopes.begin(), slopes.begin() + std::ptrdiff_t(slopes.size() / 2), slopes.end());
    fallback = slopes[slopes.size() / 2];
  }
  for (size_t k = 0; k < items.size(); ++k) {
    auto& t = items[k];
    const Meds& m = meds[k];
    t.slope_fitted = m.flood_px >= opt.min_flood_pixels && m.other - m.flood >= 8;
    if (t.slope_fitted) {
      // Slopes are kept to stretches spanning 18-46 dB over 0..255 (a flood mask that hardly
      // darkens the image would otherwise stretch it over 90 dB); the class midpoint stays put.
      t.after_db.scale = std::clamp((opt.dry_db - opt.water_db) / (m.other - m.flood), kMinSlope, kMaxSlope);
      t.after_db.offset = 0.5 * (opt.water_db + opt.dry_db) - t.after_db.scale * 0.5 * (m.flood + m.other);
    } else {
      const double other = std::isfinite(m.other) ? m.other : 128.0;
      t.after_db.scale = fallback;
      t.after_db.offset = opt.dry_db - fallback * other;
    }
    // BEFORE: same slope, aligned to AFTER on the pixels that did not flood.
    const double b = median_where(t.before, [&](size_t i) { return t.mask[i] < 128; });
    const double a = std::isfinite(m.other) ? m.other : 128.0;
    t.before_db.scale = t.after_db.scale;
    t.before_db.offset = t.after_db(a) - t.after_db.scale * (std::isfinite(b) ? b : 128.0);
  }
  return fallback;
}

std::vector<OmbriaTriplet> read_ombria_split(const std::string& root, const std::string& split,
                                             std::vector<SkippedItem>* skipped, int threads) {
  if (split != "train" && split != "test")
    throw Error(ErrorKind::InvalidInput, "data", "ombria: unknown split " + quoted(split) + " (train or test)");
  if (!fs::is_directory(root)) throw Error(ErrorKind::NotFound, "data", "ombria: no folder " + quoted(root));
  const std::string dir = root + "/" + split;
  for (const char* sub : {"BEFORE", "AFTER", "MASK"})
    if (!fs::is_directory(dir + "/" + sub))
      throw Error(ErrorKind::NotFound, "data", "ombria: no folder " + quoted(dir + "/" + sub));
  // Triplets keyed by the number in S1_after_NNNN.png; the after image defines the list.
  std::vector<OmbriaTriplet> items;
  std::vector<std::string> afters;
  for (const auto& e : fs::directory_iterator(dir + "/AFTER")) {
    std::string f = e.path().filename().string();
    if (f.rfind("S1_after_", 0) == 0 && f.size() > 13 && f.substr(f.size() - 4) == ".png") afters.push_back(f);
  }
  std::sort(afters.begin(), afters.end());
  for (const auto& f : afters) {
    std::string num = f.substr(9, f.size() - 13);
    OmbriaTriplet t;
    t.id = "ombria_" + split + "_" + num;
    t.after_path = dir + "/AFTER/" + f;
    t.before_path = dir + "/BEFORE/S1_before_" + num + ".png";
    t.mask_path = dir + "/MASK/S1_mask_" + num + ".png";
    std::string lacking;
    if (!fs::exists(t.before_path)) lacking = t.before_path;
    else if (!fs::exists(t.mask_path)) lacking = t.mask_path;
    if (!lacking.empty()) {
      if (skipped) skipped->push_back({t.id, "missing " + lacking});
      continue;
    }
    items.push_back(std::move(t));
  }
  keep_readable(items, threads, skipped, [&](OmbriaTriplet& t) {
    int w[3], h[3];
    t.before = read_png_u8(t.before_path, w[0], h[0]);
    t.after = read_png_u8(t.after_path, w[1], h[1]);
    t.mask = read_png_u8(t.mask_path, w[2], h[2]);
    if (w[0] != w[1] || w[1] != w[2] || h[0] != h[1] || h[1] != h[2])
      throw Error(ErrorKind::InvalidInput, "data",
                  "before/after/mask sizes differ (" + std::to_string(w[0]) + "x" + std::to_string(h[0]) + ", " +
                      std::to_string(w[1]) + "x" + std::to_string(h[1]) + ", " + std::to_string(w[2]) + "x" +
                      std::to_string(h[2]) + ")");
    t.width = w[1];
    t.height = h[1];
  });
  return items;
}

std::string ombria_default_s2_root(const std::string& s1_root) {
  fs::path p(s1_root);
  if (p.filename().empty()) p = p.parent_path();  // "…/OmbriaS1/"
  return (p.parent_path() / "OmbriaS2_20m").string();
}

void attach_ombria_s2(std::vector<OmbriaTriplet>& items, const std::string& s2_root, const std::string& split,
                      std::vector<SkippedItem>* skipped, int threads) {
  const std::string dir = s2_root + "/" + split;
  for (const char* sub : {"BEFORE", "AFTER"})
    if (!fs::is_directory(dir + "/" + sub))
      throw Error(ErrorKind::NotFound, "data",
                  "ombria: no Sentinel-2 folder " + quoted(dir + "/" + sub) +
                      " (the recipe reads S2 bands; set s2_root to the OmbriaS2_20m folder)");
  keep_readable(items, threads, skipped, [&](OmbriaTriplet& t) {
    const std::string num = t.id.substr(t.id.rfind('_') + 1);
    int w[2] = {0, 0}, h[2] = {0, 0};
    std::vector<uint8_t>* dst[2] = {&t.s2_after, &t.s2_before};
    const std::string paths[2] = {dir + "/AFTER/S2_after_" + num + ".png", dir + "/BEFORE/S2_before_" + num + ".png"};
    for (int k = 0; k < 2; ++k) {
      if (!fs::exists(paths[k])) throw Error(ErrorKind::NotFound, "data", "no Sentinel-2 image " + quoted(paths[k]));
      io::Raster r = io::Raster::open(paths[k]);
      if (r.info().bands != 3)
        throw Error(ErrorKind::InvalidInput, "data",
                    "Sentinel-2 image " + quoted(paths[k]) + " has " + std::to_string(r.info().bands) +
                        " bands, not 3 (R, G, B)");
      w[k] = r.width();
      h[k] = r.height();
      const bool same = w[k] == t.width && h[k] == t.height, half = 2 * w[k] == t.width && 2 * h[k] == t.height;
      if (!same && !half)
        throw Error(ErrorKind::InvalidInput, "data",
                    "Sentinel-2 image " + quoted(paths[k]) + " is " + std::to_string(w[k]) + "x" +
                        std::to_string(h[k]) + "; the S1 images are " + std::to_string(t.width) + "x" +
                        std::to_string(t.height) + " (S2 must be that size or half of it)");
      io::Block b = r.read(Window{0, 0, w[k], h[k]}, {1, 2, 3});
      dst[k]->resize(b.data.size());
      for (size_t j = 0; j < b.data.size(); ++j)
        (*dst[k])[j] = uint8_t(std::clamp(std::lround(b.data[j]), 0L, 255L));
    }
    if (w[0] != w[1] || h[0] != h[1])
      throw Error(ErrorKind::InvalidInput, "data", "Sentinel-2 before and after sizes differ");
    t.s2_width = w[0];
    t.s2_height = h[0];
  });
}

void upsample_optical(const std::vector<uint8_t>& planes, int sw, int sh, int w, int h, std::vector<float>& out) {
  const size_t sn = size_t(sw) * sh, n = size_t(w) * h;
  if (planes.size() != 3 * sn)
    throw Error(ErrorKind::Internal, "data", "upsample_optical: " + std::to_string(planes.size()) + " values for 3 planes of " +
                                                 std::to_string(sw) + "x" + std::to_string(sh));
  const size_t base = out.size();
  out.resize(base + 3 * n);
  const float fx = float(sw) / float(w), fy = float(sh) / float(h);
  for (int c = 0; c < 3; ++c) {
    const uint8_t* src = planes.data() + size_t(c) * sn;
    float* dst = out.data() + base + size_t(c) * n;
    for (int y = 0; y < h; ++y) {
      // Pixel centres aligned: output centre y + 0.5 sits at source (y + 0.5) * fy.
      const float sy = std::clamp((float(y) + 0.5f) * fy - 0.5f, 0.0f, float(sh - 1));
      const int y0 = int(sy), y1 = std::min(y0 + 1, sh - 1);
      const float ay = sy - float(y0);
      for (int x = 0; x < w; ++x) {
        const float sx = std::clamp((float(x) + 0.5f) * fx - 0.5f, 0.0f, float(sw - 1));
        const int x0 = int(sx), x1 = std::min(x0 + 1, sw - 1);
        const float ax = sx - float(x0);
        const float top = (1 - ax) * src[size_t(y0) * sw + x0] + ax * src[size_t(y0) * sw + x1];
        const float bot = (1 - ax) * src[size_t(y1) * sw + x0] + ax * src[size_t(y1) * sw + x1];
        dst[size_t(y) * w + x] = ((1 - ay) * top + ay * bot) / 255.0f;
      }
    }
  }
}

OmbriaDataset::OmbriaDataset(const OmbriaOptions& opt, const ingest::Preprocess& pp) : RawDataset(pp), opt_(opt) {
  if (pp.needs_vh())
    throw Error(ErrorKind::InvalidInput, "data",
                "ombria: the data are VV only, but the preprocessing recipe needs VH (bands: VV only)");
  items_ = read_ombria_split(opt.root, opt.split, &skipped_, opt.threads);
  opt_.optical = opt.optical || pp.needs_optical();
  if (opt_.optical) {
    if (opt_.s2_root.empty()) opt_.s2_root = ombria_default_s2_root(opt.root);
    attach_ombria_s2(items_, opt_.s2_root, opt.split, &skipped_, opt.threads);
  }
  if (!skipped_.empty())
    core::log().warn("ombria: split '{}': skipped {} triplets: {}", opt.split, skipped_.size(), first_names(skipped_));
  if (items_.empty())
    throw Error(ErrorKind::InvalidInput, "data",
                "ombria: split " + quoted(opt.split) + " has no usable triplet under " + quoted(opt.root) +
                    (skipped_.empty() ? "" : ": " + first_names(skipped_)));
  if (opt_.holdout_every > 0) {
    std::vector<OmbriaTriplet> kept;
    for (size_t i = 0; i < items_.size(); ++i)
      if ((int(i % size_t(opt_.holdout_every)) == opt_.holdout_every - 1) == opt_.holdout) kept.push_back(std::move(items_[i]));
    items_ = std::move(kept);
    if (items_.empty())
      throw Error(ErrorKind::InvalidInput, "data", "ombria: split " + quoted(opt.split) + " has no triplet in the " +
                                                       (opt_.holdout ? "held" : "kept") + " part");
  }
  const double slope = map_ombria_split(items_, opt_);
  for (auto& t : items_) t.input_db = opt_.label_free ? ombria_label_free_mapping() : t.after_db;
  core::log().info("ombria: split '{}': {} triplets ({} skipped), {} (median slope {:.3f} dB/step)",
                   opt.split, items_.size(), skipped_.size(),
                   opt_.label_free ? "one label-free 8-bit → dB line" : "per-image 8-bit → dB lines", slope);
}

std::vector<float> OmbriaDataset::before_db(size_t index) const {
  const OmbriaTriplet& t = items_.at(index);
  std::vector<float> out(t.before.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = float(t.before_db(t.before[i]));
  return out;
}

RawSample OmbriaDataset::raw(size_t index) const {
  const OmbriaTriplet& t = items_.at(index);
  RawSample r;
  r.width = t.width;
  r.height = t.height;
  r.id = t.id;
  r.group = group_of(index);
  const size_t n = r.pixels();
  r.vv.resize(n);
  r.label.assign(n, 0);
  r.valid.assign(n, 1);
  if (opt_.optical) {
    upsample_optical(t.s2_after, t.s2_width, t.s2_height, t.width, t.height, r.optical);
    upsample_optical(t.s2_before, t.s2_width, t.s2_height, t.width, t.height, r.optical);
  }
  if (opt_.change) {
    // Both dates on one line when label-free (the mask must not place either image); the
    // anchor then sets each date's level on its own, as segment does.
    r.before.resize(n);
    for (size_t i = 0; i < n; ++i) {
      r.vv[i] = float(t.input_db(t.after[i]));
      r.before[i] = float(opt_.label_free ? t.input_db(t.before[i]) : t.before_db(t.before[i]));
      r.label[i] = t.mask[i] >= 128;
    }
    r.normalize_validity();
    return r;
  }
  for (size_t i = 0; i < n; ++i) {
    const float after = float(t.after_db(t.after[i]));
    const float before = float(t.before_db(t.before[i]));
    r.vv[i] = opt_.label_free ? float(t.input_db(t.after[i])) : after;
    if (t.mask[i] >= 128) r.label[i] = 1;
    else if (after < opt_.permanent_water_db && before < opt_.permanent_water_db) r.valid[i] = 0;
  }
  r.normalize_validity();
  return r;
}

nlohmann::json describe_ombria_mapping(const std::string& ombria_root, const std::string& split,
                                       const OmbriaOptions& opt) {
  std::vector<SkippedItem> skipped;
  auto items = read_ombria_split(ombria_root, split, &skipped, opt.threads);
  if (items.empty()) throw Error(ErrorKind::InvalidInput, "data", "ombria: no usable triplet under " + quoted(ombria_root));
  const double fallback = map_ombria_split(items, opt);
  // A fixed 8-bit stretch would leave images that do not reach 0 or 255; a per-image stretch reaches both.
  int64_t full_range = 0, images = 0, fitted = 0;
  std::vector<float> scales, offsets, invalid_share;
  for (const auto& t : items) {
    for (const auto* v : {&t.before, &t.after}) {
      auto [lo, hi] = std::minmax_element(v->begin(), v->end());
      full_range += (*lo == 0 && *hi == 255);
      ++images;
    }
    fitted += t.slope_fitted;
    scales.push_back(float(t.after_db.scale));
    offsets.push_back(float(t.after_db.offset));
    int64_t unknown = 0;
    for (size_t i = 0; i < t.after.size(); ++i)
      unknown += t.mask[i] < 128 && t.after_db(t.after[i]) < opt.permanent_water_db &&
                 t.before_db(t.before[i]) < opt.permanent_water_db;
    invalid_share.push_back(float(double(unknown) / double(t.after.size())));
  }
  auto q = [](const std::vector<float>& v) {
    return nlohmann::json{{"q10", quantile_of(v, 0.1)}, {"median", quantile_of(v, 0.5)}, {"q90", quantile_of(v, 0.9)}};
  };
  return {{"split", split},
          {"triplets", items.size()},
          {"skipped", skipped.size()},
          {"images_spanning_0_to_255", full_range},
          {"images", images},
          {"reference_db", {{"water", opt.water_db}, {"dry", opt.dry_db}}},
          {"slope_fitted_on_image", fitted},
          {"fallback_slope_db_per_step", fallback},
          {"after_scale_db_per_step", q(scales)},
          {"after_offset_db", q(offsets)},
          {"unknown_share_per_image", q(invalid_share)},
          {"permanent_water_db", opt.permanent_water_db}};
}

}  // namespace drshym::data
