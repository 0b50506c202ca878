#pragma once
// Training augmentation on raw samples (dB, before normalization): flips, quarter turns, an
// additive dB offset per band and random crops, plus SAR-aware radiometric changes that teach a
// model to read contrast and context rather than one absolute dB level: a calibration offset
// shared by both bands, a contrast gain around the sample's mean, multiplicative speckle and a
// smooth incidence-like ramp. Image planes, label and validity always move
// together, and the transform is a pure function of (seed, epoch, index).
//
//   AugmentOptions opt = AugmentOptions::default_params();  opt.crop = 256;
//   RawSample out = augment(raw, opt, /*seed*/ 7, /*epoch*/ 3, /*index*/ 42);
#include <nlohmann/json.hpp>

#include <cstdint>

#include "core/geo.hpp"
#include "data/raw_sample.hpp"

namespace drshym::data {

struct AugmentOptions {
  bool flip_h = true;                // mirror left-right with probability 1/2
  bool flip_v = true;                // mirror top-bottom with probability 1/2
  bool rotate90 = true;              // 0-3 clockwise quarter turns (0 or 2 for non-square output)
  float jitter_db = 1.5f;            // per-band additive offset, uniform in [-jitter_db, +jitter_db]
  int crop = 0;                      // square crop side in pixels; 0 keeps the full sample
  double min_valid_fraction = 0.05;  // a crop position is accepted with at least this valid share
  int crop_tries = 8;                // random positions tried before falling back
  // SAR radiometry (all off by default; applied to finite dB values, both bands alike).
  float offset_db = 0.0f;            // shared offset, uniform in [-offset_db, +offset_db]
  float gain = 0.0f;                 // dB' = m + g (dB - m), g uniform in [1 - gain, 1 + gain], m = sample mean
  int speckle_looks = 0;             // multiply linear power by Gamma(L, 1/L) noise (0 = off)
  float speckle_prob = 0.5f;         // share of samples that get speckle
  float gradient_db = 0.0f;          // linear ramp across the sample, end-to-end amplitude up to this
  // Bi-temporal samples (a pre-event plane): "nothing new" pairs, label all 0, that teach a
  // change model that water present in both dates is not flood. no_change: the pre-event plane
  // becomes the post-event one with fresh 4-look speckle; swap_dates: the two real dates are
  // exchanged (water that receded is not new water).
  float no_change_prob = 0.0f;
  float swap_dates_prob = 0.0f;
  // Bright water (off by default): on bright_water_prob of the samples, the VV backscatter of
  // the labelled water is raised by one uniform draw in [0, bright_water_db] dB, feathered over
  // a 5x5 neighbourhood at the shore. Wind-roughened, shallow or vegetated water is only a few dB
  // darker than land in VV (VH stays dark), so a model that saw only dark water misses it;
  // multiplying linear power keeps the water's speckle, so what is left to learn from is its
  // texture and shape. Applied to the whole item before the scene anchor is measured, so a
  // mostly-water item is anchored on its brightened water, as a mostly-water chip is at run time.
  float bright_water_prob = 0.0f;
  float bright_water_db = 0.0f;

  static AugmentOptions default_params() { return {}; }
  // Keys as the fields above; absent keys keep their defaults. Throws InvalidInput naming the key.
  static AugmentOptions from_json(const nlohmann::json& j, const std::string& origin = "augment");
  nlohmann::json to_json() const;
};

// The transform drawn for one (seed, epoch, index). Applied in this order: crop (window in
// source pixels; parts outside the source become invalid padding), flips, quarter turns.
struct AugmentDraw {
  Window crop;
  bool flip_h = false;
  bool flip_v = false;
  int rot90 = 0;  // clockwise quarter turns, 0-3
  float offset_vv = 0.0f;
  float offset_vh = 0.0f;
  float offset_before = 0.0f;  // the pre-event VV plane (bi-temporal samples)
  float gain = 1.0f;               // contrast gain around the sample mean (per band)
  float ramp_x = 0.0f;             // dB per output pixel along x and y (centred ramp)
  float ramp_y = 0.0f;
  int speckle_looks = 0;           // 0 = no speckle
  uint64_t speckle_seed = 0;       // seeds the per-pixel speckle draws
  bool no_change = false;          // bi-temporal only: see AugmentOptions::no_change_prob
  bool swap_dates = false;
};

// Draw the transform. The crop favours positions with valid pixels: the first of crop_tries
// random positions holding min_valid_fraction valid pixels, else the best one seen, else a
// crop centred on a random valid pixel (so a sample with any valid pixel never yields an
// all-invalid crop).
AugmentDraw draw_augment(const AugmentOptions& opt, const RawSample& s, uint64_t seed, uint64_t epoch,
                         uint64_t index);

// Apply a drawn transform (dB offsets touch finite values only).
RawSample apply_augment(const RawSample& s, const AugmentDraw& d);

// The bright-water raise for one (seed, epoch, index): 0 (most draws) or a dB amount in
// (0, bright_water_db]. Its own random stream, so the other draws do not change.
float draw_bright_water(const AugmentOptions& opt, uint64_t seed, uint64_t epoch, uint64_t index);

// Raise VV by delta_db at labelled water (valid, label 1), feathered: each pixel gets delta_db
// times the water share of its 5x5 neighbourhood. Finite VV values only; VH, the pre-event plane
// and the labels are untouched.
void brighten_water(RawSample& s, float delta_db);

// draw_augment + apply_augment.
RawSample augment(const RawSample& s, const AugmentOptions& opt, uint64_t seed, uint64_t epoch, uint64_t index);

}  // namespace drshym::data
