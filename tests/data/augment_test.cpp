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
      EXPECT_EQ((smp.image * (1 - val)).abs().sum().item<float>(), 0.0f);  // invalid → image 0
      EXPECT_EQ((smp.label * (1 - val)).sum().item<float>(), 0.0f);        // invalid → label 0
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
