#include "data/augment.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "data/rng.hpp"

namespace drshym::data {
namespace {

template <typename T>
T get_field(const nlohmann::json& j, const char* key, T fallback, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  bool ok;
  if constexpr (std::is_same_v<T, bool>) ok = it->is_boolean();
  else if constexpr (std::is_integral_v<T>) ok = it->is_number_integer();
  else ok = it->is_number();
  if (!ok)
    throw Error(ErrorKind::InvalidInput, "data", origin + "." + key + " has the wrong type: " + it->dump());
  return it->get<T>();
}

// Counts of the pixels that pass a test (valid; valid water) over windows, via a summed-area table.
class PixelCounter {
 public:
  // in(i) says whether pixel i (row-major, i = y * width + x) counts.
  template <typename In>
  PixelCounter(int width, int height, In in) : w_(width), h_(height), sat_(size_t(w_ + 1) * (h_ + 1), 0) {
    for (int y = 0; y < h_; ++y) {
      int64_t row = 0;
      for (int x = 0; x < w_; ++x) {
        row += in(size_t(y) * w_ + x) ? 1 : 0;
        at(x + 1, y + 1) = at(x + 1, y) + row;
      }
    }
  }
  // The valid pixels of s.
  static PixelCounter valid(const RawSample& s) {
    return PixelCounter(s.width, s.height, [&s](size_t i) { return s.valid[i] != 0; });
  }
  // The labelled water of s (valid, label 1).
  static PixelCounter water(const RawSample& s) {
    return PixelCounter(s.width, s.height, [&s](size_t i) { return s.valid[i] && s.label[i]; });
  }
  // The count inside win (clipped to the sample).
  int64_t count(const Window& win) const {
    Window in = win.intersect(Window{0, 0, w_, h_});
    if (in.empty()) return 0;
    return at(in.x + in.w, in.y + in.h) - at(in.x, in.y + in.h) - at(in.x + in.w, in.y) + at(in.x, in.y);
  }
  int64_t total() const { return at(w_, h_); }

 private:
  int64_t& at(int x, int y) { return sat_[size_t(y) * (w_ + 1) + x]; }
  int64_t at(int x, int y) const { return sat_[size_t(y) * (w_ + 1) + x]; }
  int w_, h_;
  std::vector<int64_t> sat_;
};

// Range of crop origins along one axis: [lo, hi]. A crop larger than the sample is padded,
// with the sample placed anywhere inside it.
void origin_range(int size, int crop, int& lo, int& hi) {
  if (size >= crop) {
    lo = 0;
    hi = size - crop;
  } else {
    lo = size - crop;
    hi = 0;
  }
}

Window choose_crop(const AugmentOptions& opt, const RawSample& s, SplitMix64& rng) {
  const int c = opt.crop;
  int xlo, xhi, ylo, yhi;
  origin_range(s.width, c, xlo, xhi);
  origin_range(s.height, c, ylo, yhi);
  auto random_window = [&] {
    int x = xlo + int(rng.below(uint64_t(xhi - xlo + 1)));
    int y = ylo + int(rng.below(uint64_t(yhi - ylo + 1)));
    return Window{x, y, c, c};
  };
  const PixelCounter counter = PixelCounter::valid(s);
  const int64_t need = std::max<int64_t>(1, int64_t(std::ceil(opt.min_valid_fraction * double(c) * c)));
  Window best = random_window();
  int64_t best_count = counter.count(best);
  for (int t = 1; t < std::max(1, opt.crop_tries) && best_count < need; ++t) {
    Window w = random_window();
    int64_t n = counter.count(w);
    if (n > best_count) {
      best = w;
      best_count = n;
    }
  }
  if (best_count > 0 || counter.total() == 0) return best;
  // Every try missed the valid pixels: centre the crop on a random valid one.
  int64_t k = int64_t(rng.below(uint64_t(counter.total())));
  for (size_t i = 0; i < s.valid.size(); ++i) {
    if (!s.valid[i] || k-- > 0) continue;
    int px = int(i % size_t(s.width)), py = int(i / size_t(s.width));
    return Window{std::clamp(px - c / 2, xlo, xhi), std::clamp(py - c / 2, ylo, yhi), c, c};
  }
  return best;
}

template <typename T>
std::vector<T> remap(const std::vector<T>& src, const std::vector<int64_t>& map, T pad) {
  std::vector<T> out(map.size());
  for (size_t i = 0; i < map.size(); ++i) out[i] = map[i] >= 0 ? src[size_t(map[i])] : pad;
  return out;
}

// Gain around the plane's mean, the ramp and speckle, on finite values (sizes out.width x out.height).
void radiometry(RawSample& out, const AugmentDraw& d) {
  const bool ramp = d.ramp_x != 0.0f || d.ramp_y != 0.0f;
  if (d.gain == 1.0f && !ramp && d.speckle_looks <= 0) return;
  const int w = out.width, h = out.height;
  SplitMix64 noise{d.speckle_seed};
  const double looks = d.speckle_looks;
  auto plane = [&](std::vector<float>& v) {
    if (v.empty()) return;
    double sum = 0;
    int64_t n = 0;
    for (float x : v)
      if (std::isfinite(x)) sum += x, ++n;
    const float mean = n ? float(sum / double(n)) : 0.0f;
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        float& p = v[size_t(y) * w + x];
        if (!std::isfinite(p)) continue;
        float db = mean + d.gain * (p - mean) + d.ramp_x * (x - 0.5f * w) + d.ramp_y * (y - 0.5f * h);
        if (d.speckle_looks > 0) {
          // Gamma(L, 1/L) as the mean of L unit exponentials: unit mean, variance 1/L.
          double g = 0;
          for (int k = 0; k < d.speckle_looks; ++k) g -= std::log(1.0 - noise.uniform());
          db += float(10.0 * std::log10(std::max(g / looks, 1e-6)));
        }
        p = db;
      }
    }
  };
  plane(out.vv);
  plane(out.vh);
  plane(out.before);
}

}  // namespace

AugmentOptions AugmentOptions::from_json(const nlohmann::json& j, const std::string& origin) {
  AugmentOptions o;
  if (j.is_null()) return o;
  if (!j.is_object()) throw Error(ErrorKind::InvalidInput, "data", origin + " must be a mapping");
  o.flip_h = get_field(j, "flip_h", o.flip_h, origin);
  o.flip_v = get_field(j, "flip_v", o.flip_v, origin);
  o.rotate90 = get_field(j, "rotate90", o.rotate90, origin);
  o.jitter_db = get_field(j, "jitter_db", o.jitter_db, origin);
  o.crop = get_field(j, "crop", o.crop, origin);
  o.min_valid_fraction = get_field(j, "min_valid_fraction", o.min_valid_fraction, origin);
  o.crop_tries = get_field(j, "crop_tries", o.crop_tries, origin);
  o.offset_db = get_field(j, "offset_db", o.offset_db, origin);
  o.gain = get_field(j, "gain", o.gain, origin);
  o.speckle_looks = get_field(j, "speckle_looks", o.speckle_looks, origin);
  o.speckle_prob = get_field(j, "speckle_prob", o.speckle_prob, origin);
  o.gradient_db = get_field(j, "gradient_db", o.gradient_db, origin);
  o.no_change_prob = get_field(j, "no_change_prob", o.no_change_prob, origin);
  o.swap_dates_prob = get_field(j, "swap_dates_prob", o.swap_dates_prob, origin);
  o.bright_water_prob = get_field(j, "bright_water_prob", o.bright_water_prob, origin);
  o.bright_water_db = get_field(j, "bright_water_db", o.bright_water_db, origin);
  for (const auto& [key, val] : j.items())
    if (!o.to_json().contains(key))
      throw Error(ErrorKind::InvalidInput, "data", origin + ": unknown augment option " + quoted(key));
  if (o.crop < 0) throw Error(ErrorKind::InvalidInput, "data", origin + ".crop must be >= 0");
  if (o.jitter_db < 0) throw Error(ErrorKind::InvalidInput, "data", origin + ".jitter_db must be >= 0");
  if (o.offset_db < 0) throw Error(ErrorKind::InvalidInput, "data", origin + ".offset_db must be >= 0");
  if (o.gain < 0 || o.gain >= 1) throw Error(ErrorKind::InvalidInput, "data", origin + ".gain must lie in [0, 1)");
  if (o.speckle_looks < 0 || o.speckle_looks > 64)
    throw Error(ErrorKind::InvalidInput, "data", origin + ".speckle_looks must lie in [0, 64]");
  if (o.speckle_prob < 0 || o.speckle_prob > 1)
    throw Error(ErrorKind::InvalidInput, "data", origin + ".speckle_prob must lie in [0, 1]");
  if (o.gradient_db < 0) throw Error(ErrorKind::InvalidInput, "data", origin + ".gradient_db must be >= 0");
  if (o.no_change_prob < 0 || o.swap_dates_prob < 0 || o.no_change_prob + o.swap_dates_prob > 1)
    throw Error(ErrorKind::InvalidInput, "data",
                origin + ".no_change_prob and .swap_dates_prob must be >= 0 and sum to at most 1");
  if (o.bright_water_prob < 0 || o.bright_water_prob > 1)
    throw Error(ErrorKind::InvalidInput, "data", origin + ".bright_water_prob must lie in [0, 1]");
  if (o.bright_water_db < 0 || o.bright_water_db > 30)
    throw Error(ErrorKind::InvalidInput, "data", origin + ".bright_water_db must lie in [0, 30]");
  if (o.min_valid_fraction < 0 || o.min_valid_fraction > 1)
    throw Error(ErrorKind::InvalidInput, "data", origin + ".min_valid_fraction must lie in [0, 1]");
  return o;
}

nlohmann::json AugmentOptions::to_json() const {
  return {{"flip_h", flip_h},       {"flip_v", flip_v}, {"rotate90", rotate90},
          {"jitter_db", jitter_db}, {"crop", crop},     {"min_valid_fraction", min_valid_fraction},
          {"crop_tries", crop_tries}, {"offset_db", offset_db}, {"gain", gain},
          {"speckle_looks", speckle_looks}, {"speckle_prob", speckle_prob}, {"gradient_db", gradient_db},
          {"no_change_prob", no_change_prob}, {"swap_dates_prob", swap_dates_prob},
          {"bright_water_prob", bright_water_prob}, {"bright_water_db", bright_water_db}};
}

AugmentDraw draw_augment(const AugmentOptions& opt, const RawSample& s, uint64_t seed, uint64_t epoch,
                         uint64_t index) {
  SplitMix64 rng{seed, epoch, index};
  // Always consume the same draws, so switching one option off leaves the others unchanged.
  const bool fh = rng.uniform() < 0.5;
  const bool fv = rng.uniform() < 0.5;
  const int rot = int(rng.below(4));
  const double ovv = rng.uniform(-1.0, 1.0);
  const double ovh = rng.uniform(-1.0, 1.0);

  AugmentDraw d;
  d.flip_h = opt.flip_h && fh;
  d.flip_v = opt.flip_v && fv;
  d.offset_vv = float(ovv * opt.jitter_db);
  d.offset_vh = float(ovh * opt.jitter_db);
  d.crop = opt.crop > 0 ? choose_crop(opt, s, rng) : Window{0, 0, s.width, s.height};
  if (opt.rotate90) d.rot90 = d.crop.w == d.crop.h ? rot : (rot & 2);  // keep the shape of non-square crops

  // Radiometric draws from their own stream, so options above keep their draws unchanged.
  SplitMix64 rad{seed ^ 0x5A5A5A5A5A5A5A5Aull, epoch, index, 0x5A4Dull};
  const double shared = rad.uniform(-1.0, 1.0) * opt.offset_db;
  d.offset_vv += float(shared);
  d.offset_vh += float(shared);
  // The pre-event scene has its own calibration: its jitter is drawn apart (after the others,
  // so single-date draws are unchanged).
  d.offset_before = float(rad.uniform(-1.0, 1.0) * opt.jitter_db + shared);
  d.gain = float(1.0 + rad.uniform(-1.0, 1.0) * opt.gain);
  const double amp = rad.uniform(0.0, 1.0) * opt.gradient_db, angle = rad.uniform(0.0, 2.0 * 3.14159265358979);
  const double side = std::max(1, std::max(d.crop.w, d.crop.h));
  d.ramp_x = float(amp * std::cos(angle) / side);
  d.ramp_y = float(amp * std::sin(angle) / side);
  const bool speckle = rad.uniform() < opt.speckle_prob;
  d.speckle_looks = speckle ? opt.speckle_looks : 0;
  d.speckle_seed = rad.next();
  // Bi-temporal draws from their own stream, so single-date draws stay as they were.
  if (s.has_before()) {
    SplitMix64 bt{seed ^ 0xB17E3B0Aull, epoch, index, 0xB1ull};
    const double u = bt.uniform();
    d.no_change = u < opt.no_change_prob;
    d.swap_dates = !d.no_change && u < opt.no_change_prob + opt.swap_dates_prob;
  }
  return d;
}

RawSample apply_augment(const RawSample& s, const AugmentDraw& d) {
  if (d.crop.empty()) throw Error(ErrorKind::Internal, "data", "augment: empty crop window " + d.crop.str());
  const int rot = ((d.rot90 % 4) + 4) % 4;
  const int ow = (rot % 2) ? d.crop.h : d.crop.w;
  const int oh = (rot % 2) ? d.crop.w : d.crop.h;
  std::vector<int64_t> map(size_t(ow) * oh);
  for (int r = 0; r < oh; ++r) {
    for (int c = 0; c < ow; ++c) {
      int rr = r, cc = c, h = oh, w = ow;
      for (int k = 0; k < rot; ++k) {  // undo one clockwise turn: out(r, c) = in(h_in - 1 - c, r)
        int nr = w - 1 - cc, nc = rr;
        rr = nr;
        cc = nc;
        std::swap(h, w);
      }
      if (d.flip_v) rr = h - 1 - rr;
      if (d.flip_h) cc = w - 1 - cc;
      int sx = d.crop.x + cc, sy = d.crop.y + rr;
      bool inside = sx >= 0 && sy >= 0 && sx < s.width && sy < s.height;
      map[size_t(r) * ow + c] = inside ? int64_t(sy) * s.width + sx : -1;
    }
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  RawSample out;
  out.width = ow;
  out.height = oh;
  out.id = s.id;
  out.group = s.group;
  out.vv = remap(s.vv, map, nan);
  if (s.has_vh()) out.vh = remap(s.vh, map, nan);
  if (s.has_before()) out.before = remap(s.before, map, nan);
  // Geometry only for terrain and optical planes: no SAR radiometry to jitter.
  auto remap_planes = [&](const std::vector<float>& src, size_t planes) {
    std::vector<float> moved_all;
    const size_t n = s.pixels();
    for (size_t k = 0; k < planes; ++k) {
      const std::vector<float> plane(src.begin() + k * n, src.begin() + (k + 1) * n);
      const auto moved = remap(plane, map, nan);
      moved_all.insert(moved_all.end(), moved.begin(), moved.end());
    }
    return moved_all;
  };
  if (s.has_terrain()) out.terrain = remap_planes(s.terrain, 3);
  if (s.has_optical()) out.optical = remap_planes(s.optical, 6);
  out.label = remap(s.label, map, uint8_t(0));
  for (const auto& h : s.head_labels) out.head_labels.push_back(remap(h, map, uint8_t(0)));
  out.valid = remap(s.valid, map, uint8_t(0));
  auto shift = [](std::vector<float>& v, float off) {
    if (off == 0.0f) return;
    for (float& x : v)
      if (std::isfinite(x)) x += off;
  };
  shift(out.vv, d.offset_vv);
  if (out.has_before() && (d.swap_dates || d.no_change)) {
    // The optical dates follow the SAR dates: after planes 0-2, before planes 3-5.
    const size_t on = out.pixels() * 3;
    if (d.swap_dates) {
      std::swap(out.vv, out.before);
      if (out.has_optical())
        std::swap_ranges(out.optical.begin(), out.optical.begin() + std::ptrdiff_t(on), out.optical.begin() + std::ptrdiff_t(on));
    } else {
      if (out.has_optical()) std::copy(out.optical.begin(), out.optical.begin() + std::ptrdiff_t(on), out.optical.begin() + std::ptrdiff_t(on));
      // The same scene seen again: independent 4-look speckle on the post-event plane.
      SplitMix64 noise{d.speckle_seed ^ 0x4E4Full};
      out.before = out.vv;
      for (float& x : out.before) {
        if (!std::isfinite(x)) continue;
        double g = 0;
        for (int k = 0; k < 4; ++k) g -= std::log(1.0 - noise.uniform());
        x += float(10.0 * std::log10(std::max(g / 4.0, 1e-6)));
      }
    }
    std::fill(out.label.begin(), out.label.end(), uint8_t(0));  // nothing new
    for (auto& h : out.head_labels) std::fill(h.begin(), h.end(), uint8_t(0));
  }
  shift(out.vh, d.offset_vh);
  shift(out.before, d.offset_before);
  radiometry(out, d);
  out.normalize_validity();
  return out;
}

float draw_bright_water(const AugmentOptions& opt, uint64_t seed, uint64_t epoch, uint64_t index) {
  if (opt.bright_water_prob <= 0.0f || opt.bright_water_db <= 0.0f) return 0.0f;
  SplitMix64 rng{seed ^ 0xB819A7E5ull, epoch, index, 0xB7ull};
  const bool on = rng.uniform() < opt.bright_water_prob;
  const double amount = rng.uniform(0.0, 1.0) * opt.bright_water_db;
  return on ? float(amount) : 0.0f;
}

void brighten_water(RawSample& s, float delta_db) {
  if (delta_db == 0.0f) return;
  const int w = s.width, h = s.height, r = 2;  // 5x5 feathering
  const PixelCounter water_count = PixelCounter::water(s);  // the share of water around each pixel
  for (int y = 0; y < h; ++y) {
    const int y0 = std::max(0, y - r), y1 = std::min(h, y + r + 1);
    for (int x = 0; x < w; ++x) {
      float& v = s.vv[size_t(y) * w + x];
      if (!std::isfinite(v)) continue;
      const int x0 = std::max(0, x - r), x1 = std::min(w, x + r + 1);
      const int64_t water = water_count.count(Window{x0, y0, x1 - x0, y1 - y0});
      if (water > 0) v += delta_db * float(water) / float((x1 - x0) * (y1 - y0));
    }
  }
}

RawSample augment(const RawSample& s, const AugmentOptions& opt, uint64_t seed, uint64_t epoch, uint64_t index) {
  return apply_augment(s, draw_augment(opt, s, seed, epoch, index));
}

}  // namespace drshym::data
