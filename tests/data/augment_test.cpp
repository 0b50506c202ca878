#include "data/augment.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "data/memory_dataset.hpp"

using namespace drshym;
using namespace drshym::data;

namespace {

constexpr float kEps = 1e-4f;

// w x h sample whose VH encodes the source pixel index (-40 + i/1000 dB), VV = -25 dB on water
// and -5 dB on dry land, an asymmetric label pattern and a sprinkling of invalid pixels.
RawSample tagged_sample(int w, int h) {
  RawSample s = RawSample::blank(w, h, true);
  s.id = "tagged";
  s.group = "g";
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      size_t i = size_t(y) * w + x;
      const bool water = (x + 2 * y) % 5 < 2 || (x < w / 3 && y < h / 4);
      const bool valid = (x * 7 + y * 3) % 11 != 0;
      s.label[i] = water ? 1 : 0;
      s.valid[i] = valid ? 1 : 0;
      s.vv[i] = valid ? (water ? -25.0f : -5.0f) : NAN;
      s.vh[i] = -40.0f + float(i) / 1000.0f;
    }
  s.normalize_validity();
  return s;
}

size_t source_of(float vh, float offset) { return size_t(std::lround((vh - offset + 40.0f) * 1000.0f)); }

}  // namespace

TEST(Augment, KnownFlipAndRotation) {
  RawSample s = RawSample::blank(3, 2, false);
  for (int i = 0; i < 6; ++i) {
    s.vv[size_t(i)] = float(i);
    s.valid[size_t(i)] = 1;
  }
  AugmentDraw d;
  d.crop = Window{0, 0, 3, 2};
  d.rot90 = 1;  // clockwise: [0 1 2; 3 4 5] → [3 0; 4 1; 5 2]
  RawSample r = apply_augment(s, d);
  ASSERT_EQ(r.width, 2);
  ASSERT_EQ(r.height, 3);
  EXPECT_EQ(r.vv, (std::vector<float>{3, 0, 4, 1, 5, 2}));
  d.rot90 = 0;
  d.flip_h = true;
  EXPECT_EQ(apply_augment(s, d).vv, (std::vector<float>{2, 1, 0, 5, 4, 3}));
  d.flip_h = false;
  d.flip_v = true;
  EXPECT_EQ(apply_augment(s, d).vv, (std::vector<float>{3, 4, 5, 0, 1, 2}));
  d.flip_v = false;
  d.crop = Window{1, 0, 2, 2};
  EXPECT_EQ(apply_augment(s, d).vv, (std::vector<float>{1, 2, 4, 5}));
}

TEST(Augment, ImageLabelAndValidityMoveTogether) {
  const RawSample s = tagged_sample(24, 20);
  AugmentOptions opt;
  opt.crop = 16;
  for (uint64_t index = 0; index < 40; ++index) {
    AugmentDraw d = draw_augment(opt, s, 11, 3, index);
    EXPECT_LE(std::abs(d.offset_vv), 1.5f + kEps);
    RawSample r = apply_augment(s, d);
    ASSERT_EQ(r.width, 16);
    ASSERT_EQ(r.height, 16);
    for (size_t i = 0; i < r.pixels(); ++i) {
      size_t src = source_of(r.vh[i], d.offset_vh);
      ASSERT_LT(src, s.pixels());
      EXPECT_EQ(r.valid[i], s.valid[src]) << "index " << index << " pixel " << i;
      EXPECT_EQ(r.label[i], s.label[src]);
      if (r.valid[i]) {
        EXPECT_NEAR(r.vv[i], s.vv[src] + d.offset_vv, kEps);
      }
    }
  }
}

TEST(Augment, HeadLabelsMoveWithThePixels) {
  // A head's label plane (multi-task training) follows crop, flips and turns exactly as the
  // water label does, and becomes label channel 1 of the sample.
  RawSample s = tagged_sample(24, 20);
  s.head_labels.push_back(std::vector<uint8_t>(s.pixels()));
  for (size_t i = 0; i < s.pixels(); ++i) s.head_labels[0][i] = (i % 5 == 0) && s.valid[i];
  AugmentOptions opt;
  opt.crop = 16;
  int heads_seen = 0;
  for (uint64_t index = 0; index < 40; ++index) {
    AugmentDraw d = draw_augment(opt, s, 11, 3, index);
    RawSample r = apply_augment(s, d);
    ASSERT_EQ(r.head_labels.size(), 1u);
    ASSERT_EQ(r.head_labels[0].size(), r.pixels());
    for (size_t i = 0; i < r.pixels(); ++i) {
      const size_t src = source_of(r.vh[i], d.offset_vh);
      ASSERT_LT(src, s.pixels());
      EXPECT_EQ(r.head_labels[0][i], s.head_labels[0][src]) << "index " << index << " pixel " << i;
      heads_seen += r.head_labels[0][i];
    }
    Sample t = to_sample(r, ingest::Preprocess{});
    ASSERT_EQ(t.label.size(0), 2);
    for (size_t i = 0; i < r.pixels(); ++i)
      EXPECT_EQ(t.label[1].view(-1)[int64_t(i)].item<float>(), (r.valid[i] && r.head_labels[0][i]) ? 1.0f : 0.0f);
  }
  EXPECT_GT(heads_seen, 100);  // the check above saw head pixels, not only zeros
}

TEST(Augment, SampleTensorsKeepImageEqualToLabel) {
  // Through the whole dataset path: the VV channel is low exactly where the label is water.
  ingest::Preprocess pp;
  AugmentOptions opt;
  opt.crop = 12;
  MemoryDataset ds({tagged_sample(20, 20), tagged_sample(16, 16)}, pp);
  ds.enable_augmentation(opt, 5);
  for (uint64_t epoch = 0; epoch < 6; ++epoch)
    for (size_t i = 0; i < ds.size(); ++i) {
      Sample smp = ds.get(i, epoch);
      ASSERT_EQ(smp.image.sizes(), (std::vector<int64_t>{2, 12, 12}));
      auto vv = smp.image[0], lab = smp.label[0], val = smp.valid[0];
      auto water_like = (vv < 0.5f).to(torch::kFloat32) * val;
      EXPECT_TRUE(torch::equal(water_like, lab)) << "epoch " << epoch << " sample " << i;
      // Invalid pixels hold one fill value per band (the band's mean over the sample's valid
      // pixels, moved with it by the augmentation), never a per-pixel value; their label is 0.
      for (int64_t b = 0; b < smp.image.size(0); ++b) {
        auto fill = smp.image[b].masked_select(val < 0.5f);
        if (fill.numel() > 0) EXPECT_EQ((fill.max() - fill.min()).item<float>(), 0.0f) << "band " << b;
      }
      EXPECT_EQ((smp.label * (1 - val)).sum().item<float>(), 0.0f);  // invalid → label 0
    }
}

TEST(Augment, DeterministicPerSeedEpochIndex) {
  const RawSample s = tagged_sample(32, 32);
  AugmentOptions opt;
  opt.crop = 16;
  RawSample a = augment(s, opt, 7, 2, 9), b = augment(s, opt, 7, 2, 9);
  EXPECT_EQ(a.vh, b.vh);
  EXPECT_EQ(a.label, b.label);
  int differing = 0;
  for (uint64_t e = 3; e < 13; ++e) differing += augment(s, opt, 7, e, 9).vh != a.vh ? 1 : 0;
  EXPECT_GE(differing, 8);
}

TEST(Augment, CropFindsSparseValidPixels) {
  RawSample s = RawSample::blank(64, 64, true);
  for (int y = 60; y < 64; ++y)
    for (int x = 0; x < 4; ++x) {
      size_t i = size_t(y) * 64 + x;
      s.vv[i] = -10.0f;
      s.vh[i] = -18.0f;
      s.valid[i] = 1;
    }
  AugmentOptions opt;
  opt.crop = 16;
  opt.crop_tries = 2;
  for (uint64_t index = 0; index < 50; ++index) EXPECT_GT(augment(s, opt, 1, 0, index).valid_count(), 0) << index;
}

TEST(Augment, CropLargerThanSamplePadsInvalid) {
  const RawSample s = tagged_sample(8, 6);
  AugmentOptions opt;
  opt.crop = 16;
  opt.jitter_db = 0.0f;
  RawSample r = augment(s, opt, 3, 0, 0);
  EXPECT_EQ(r.width, 16);
  EXPECT_EQ(r.height, 16);
  EXPECT_EQ(r.valid_count(), s.valid_count());
  EXPECT_EQ(r.water_count(), s.water_count());
}

TEST(Augment, NonSquareKeepsShapeUnderRotation) {
  const RawSample s = tagged_sample(12, 8);
  AugmentOptions opt;
  for (uint64_t index = 0; index < 20; ++index) {
    RawSample r = augment(s, opt, 4, 1, index);
    EXPECT_EQ(r.width, 12);
    EXPECT_EQ(r.height, 8);
  }
}

TEST(Augment, OptionsFromJson) {
  auto o = AugmentOptions::from_json({{"crop", 128}, {"jitter_db", 0.5}, {"flip_v", false}});
  EXPECT_EQ(o.crop, 128);
  EXPECT_FLOAT_EQ(o.jitter_db, 0.5f);
  EXPECT_FALSE(o.flip_v);
  EXPECT_TRUE(o.flip_h);
  try {
    AugmentOptions::from_json({{"crop", "big"}}, "data.augment");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("data.augment.crop"), std::string::npos);
  }
  EXPECT_THROW(AugmentOptions::from_json({{"crop", -1}}), Error);
}

namespace {
AugmentOptions radiometry_only() {
  AugmentOptions o;
  o.flip_h = o.flip_v = o.rotate90 = false;
  o.jitter_db = 0.0f;
  return o;
}
}  // namespace

TEST(Augment, SharedOffsetMovesBothBandsAlike) {
  RawSample s = tagged_sample(16, 16);
  AugmentOptions o = radiometry_only();
  o.offset_db = 3.0f;
  bool some_nonzero = false;
  for (uint64_t idx = 0; idx < 8; ++idx) {
    AugmentDraw d = draw_augment(o, s, 42, 0, idx);
    EXPECT_FLOAT_EQ(d.offset_vv, d.offset_vh);
    EXPECT_LE(std::abs(d.offset_vv), 3.0f);
    some_nonzero |= std::abs(d.offset_vv) > 0.1f;
    RawSample a = apply_augment(s, d);
    for (size_t i = 0; i < s.pixels(); ++i) {
      if (!s.valid[i]) continue;
      EXPECT_NEAR(a.vv[i] - s.vv[i], d.offset_vv, kEps);
      EXPECT_NEAR(a.vh[i] - s.vh[i], d.offset_vv, kEps);
    }
  }
  EXPECT_TRUE(some_nonzero);
}

TEST(Augment, GainKeepsTheMeanAndScalesContrast) {
  RawSample s = tagged_sample(16, 16);
  AugmentDraw d;
  d.crop = Window{0, 0, 16, 16};
  d.gain = 1.2f;
  RawSample a = apply_augment(s, d);
  double ms = 0, ma = 0;
  int n = 0;
  for (size_t i = 0; i < s.pixels(); ++i)
    if (s.valid[i]) ms += s.vv[i], ma += a.vv[i], ++n;
  EXPECT_NEAR(ms / n, ma / n, 1e-3);
  // Water (-25) and dry (-5) drift apart by the gain: 20 dB of contrast becomes 24.
  size_t w = 0, dry = 0;
  while (!(s.valid[w] && s.label[w])) ++w;
  while (!(s.valid[dry] && !s.label[dry])) ++dry;
  EXPECT_NEAR(a.vv[dry] - a.vv[w], 24.0f, 1e-3f);
}

TEST(Augment, RampIsSmoothAndSpeckleIsSeeded) {
  RawSample s = RawSample::blank(32, 32, true);
  for (size_t i = 0; i < s.pixels(); ++i) s.vv[i] = -10.0f, s.vh[i] = -17.0f, s.valid[i] = 1;
  AugmentDraw d;
  d.crop = Window{0, 0, 32, 32};
  d.ramp_x = 0.05f;  // 1.6 dB across the sample
  RawSample a = apply_augment(s, d);
  EXPECT_NEAR(a.vv[31] - a.vv[0], 0.05f * 31, 1e-4);
  EXPECT_NEAR(a.vv[32 * 5 + 7] - a.vv[7], 0.0f, 1e-5);  // no change along y
  d.ramp_x = 0.0f;
  d.speckle_looks = 4;
  d.speckle_seed = 7;
  RawSample b = apply_augment(s, d), c = apply_augment(s, d);
  double mean_lin = 0, var_db = 0;
  for (size_t i = 0; i < b.pixels(); ++i) {
    EXPECT_EQ(b.vv[i], c.vv[i]);  // same seed, same speckle
    mean_lin += std::pow(10.0, (b.vv[i] + 10.0) / 10.0);
    var_db += (b.vv[i] + 10.0) * (b.vv[i] + 10.0);
  }
  mean_lin /= double(b.pixels());
  EXPECT_NEAR(mean_lin, 1.0, 0.1);                               // speckle has unit mean in power
  EXPECT_GT(std::sqrt(var_db / double(b.pixels())), 1.0);         // and spreads dB by ~2.3 for 4 looks
  EXPECT_NE(b.vv[0], b.vh[0] + 7.0f);                             // bands get their own draws
}

TEST(Augment, RadiometryOffKeepsEarlierDraws) {
  // Turning the SAR options on must not change flips, rotation, crop or per-band jitter.
  RawSample s = tagged_sample(24, 24);
  AugmentOptions plain = AugmentOptions::default_params();
  plain.crop = 16;
  AugmentOptions sar = plain;
  sar.offset_db = 3.0f;
  sar.gain = 0.2f;
  sar.speckle_looks = 4;
  sar.gradient_db = 2.0f;
  for (uint64_t idx = 0; idx < 6; ++idx) {
    AugmentDraw a = draw_augment(plain, s, 1, 2, idx), b = draw_augment(sar, s, 1, 2, idx);
    EXPECT_EQ(a.crop.x, b.crop.x);
    EXPECT_EQ(a.crop.y, b.crop.y);
    EXPECT_EQ(a.flip_h, b.flip_h);
    EXPECT_EQ(a.rot90, b.rot90);
    EXPECT_NEAR(a.offset_vh - a.offset_vv, b.offset_vh - b.offset_vv, 1e-5);
    EXPECT_EQ(a.gain, 1.0f);
    EXPECT_EQ(a.speckle_looks, 0);
  }
}

TEST(Augment, SarOptionsFromJsonAreChecked) {
  auto o = AugmentOptions::from_json({{"offset_db", 3.0}, {"gain", 0.2}, {"speckle_looks", 4}, {"gradient_db", 2.0}});
  EXPECT_FLOAT_EQ(o.offset_db, 3.0f);
  EXPECT_EQ(o.speckle_looks, 4);
  EXPECT_EQ(AugmentOptions::from_json(o.to_json()).to_json(), o.to_json());
  EXPECT_THROW(AugmentOptions::from_json({{"gain", 1.5}}), Error);
  EXPECT_THROW(AugmentOptions::from_json({{"offset_db", -1}}), Error);
  EXPECT_THROW(AugmentOptions::from_json({{"speckle_looks", -2}}), Error);
  try {
    AugmentOptions::from_json({{"ofset_db", 3.0}}, "data.augment");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ofset_db"), std::string::npos) << e.what();
  }
}

// Bright water: VV rises by the drawn amount inside wide water, partly at the shore and not on
// land far from water; VH, labels and validity stay; the draw is seeded and off by default.
TEST(Augment, BrightWaterRaisesVvAtWaterOnly) {
  const int w = 40, h = 20;
  RawSample s = RawSample::blank(w, h, true);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const size_t i = size_t(y) * w + x;
      s.label[i] = x < 20 ? 1 : 0;
      s.valid[i] = 1;
      s.vv[i] = x < 20 ? -20.0f : -8.0f;
      s.vh[i] = -25.0f;
    }
  s.normalize_validity();
  RawSample b = s;
  brighten_water(b, 6.0f);
  EXPECT_NEAR(b.vv[size_t(10) * w + 5], -14.0f, kEps);        // inside the water
  EXPECT_NEAR(b.vv[size_t(10) * w + 30], -8.0f, kEps);        // land, 10 px from the shore
  EXPECT_NEAR(b.vv[size_t(10) * w + 19], -20.0f + 6.0f * 3.0f / 5.0f, kEps);  // water, 3 of 5 columns wet
  EXPECT_NEAR(b.vv[size_t(10) * w + 20], -8.0f + 6.0f * 2.0f / 5.0f, kEps);   // land, 2 of 5 wet
  EXPECT_EQ(b.vh, s.vh);
  EXPECT_EQ(b.label, s.label);
  EXPECT_EQ(b.valid, s.valid);

  AugmentOptions off;
  EXPECT_EQ(draw_bright_water(off, 42, 0, 0), 0.0f);
  AugmentOptions on;
  on.bright_water_prob = 0.5f;
  on.bright_water_db = 8.0f;
  int raised = 0;
  for (uint64_t k = 0; k < 200; ++k) {
    const float d = draw_bright_water(on, 42, 1, k);
    EXPECT_GE(d, 0.0f);
    EXPECT_LE(d, 8.0f);
    EXPECT_EQ(d, draw_bright_water(on, 42, 1, k));
    raised += d > 0.0f;
  }
  EXPECT_GT(raised, 70);
  EXPECT_LT(raised, 130);
  nlohmann::json j = {{"bright_water_prob", 1.5}};
  EXPECT_THROW(AugmentOptions::from_json(j), Error);
  EXPECT_EQ(AugmentOptions::from_json({{"bright_water_db", 7.0}}).bright_water_db, 7.0f);
}
