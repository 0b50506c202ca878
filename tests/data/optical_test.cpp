// Sentinel-2 inputs for distillation teachers: the S2_* bands, OMBRIA's S1+S2 pairing
// (OmbriaS2_20m), Sen1Floods11's S2Hand reader, and the teacher's input beside the student's.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "data/augment.hpp"
#include "data/data_fixtures.hpp"
#include "data/make_dataset.hpp"
#include "data/ombria_dataset.hpp"
#include "data/raw_dataset.hpp"
#include "data/sen1floods11_dataset.hpp"
#include "io/raster.hpp"
#include "support/test_support.hpp"

using namespace drshym;
using namespace drshym::data;
using drshym::testing::write_png;

namespace {

constexpr int kW = 16;  // S1 side; the 20 m S2 files are kW / 2

// One OMBRIA site: S1 triplet (left half flooded after the event) and its S2 pair, whose R, G, B
// values are 10 * (column of the 8x8 image) + 0, 1, 2 after and + 100 before.
void write_site(const std::string& root, const std::string& split, const std::string& num, int s2_side = kW / 2,
                int s2_bands = 3, bool with_s2 = true) {
  std::vector<uint8_t> before(kW * kW, 180), after(kW * kW), mask(kW * kW);
  for (int y = 0; y < kW; ++y)
    for (int x = 0; x < kW; ++x) {
      const size_t i = size_t(y) * kW + x;
      after[i] = x < kW / 2 ? 40 : 180;
      mask[i] = x < kW / 2 ? 255 : 0;
    }
  const std::string s1 = root + "/OmbriaS1/" + split;
  write_png(s1 + "/BEFORE/S1_before_" + num + ".png", kW, kW, before);
  write_png(s1 + "/AFTER/S1_after_" + num + ".png", kW, kW, after);
  write_png(s1 + "/MASK/S1_mask_" + num + ".png", kW, kW, mask);
  const std::string s2 = root + "/OmbriaS2_20m/" + split;
  std::filesystem::create_directories(s2 + "/AFTER");
  std::filesystem::create_directories(s2 + "/BEFORE");
  if (!with_s2) return;
  for (int date = 0; date < 2; ++date) {
    const size_t n = size_t(s2_side) * s2_side;
    std::vector<uint8_t> planes(n * size_t(s2_bands));
    for (int c = 0; c < s2_bands; ++c)
      for (int y = 0; y < s2_side; ++y)
        for (int x = 0; x < s2_side; ++x) planes[size_t(c) * n + size_t(y) * s2_side + x] = uint8_t(10 * x + c + 100 * date);
    const std::string path = s2 + (date == 0 ? "/AFTER/S2_after_" : "/BEFORE/S2_before_") + num + ".png";
    io::write_png(path, s2_side, s2_side, s2_bands, planes.data());
  }
}

ingest::Preprocess recipe(std::vector<std::string> bands) {
  ingest::Preprocess pp;
  pp.bands = std::move(bands);
  return pp;
}

const std::vector<std::string> kTeacherBands{"VV", "VV_BEFORE", "S2_R", "S2_G", "S2_B", "S2_R_BEFORE", "S2_G_BEFORE", "S2_B_BEFORE"};

OmbriaOptions change_options(const std::string& root) {
  OmbriaOptions o;
  o.root = root + "/OmbriaS1";
  o.split = "train";
  o.change = true;
  o.min_flood_pixels = 10;
  return o;
}

}  // namespace

TEST(OpticalBands, AreReadFromTheOpticalPlanesNormalizedAndNeverAnchored) {
  const size_t n = 2;
  const float vv[n] = {-10.0f, -20.0f};
  // R, G, B after, then before; NaN in the before blue of pixel 1.
  const float optical[6 * n] = {0.1f, 0.2f, 0.3f, 0.4f, 1.5f, 0.6f, 0.7f, 0.8f, 0.9f, 1.0f, 0.0f, NAN};
  ingest::Preprocess pp = recipe({"VV", "S2_G", "S2_B_BEFORE"});
  pp.anchor.enabled = true;
  std::vector<float> out;
  std::vector<uint8_t> valid;
  pp.apply(vv, nullptr, n, out, valid, nullptr, /*shift_db*/ 5.0f, nullptr, 0.0f, nullptr, optical);
  EXPECT_NEAR(out[0], (-10.0f + 5.0f + 30.0f) / 30.0f, 1e-6);  // VV anchored
  EXPECT_NEAR(out[n + 0], 0.3f, 1e-6);                          // S2_G pixel 0, not shifted
  EXPECT_EQ(out[n + 1], out[n + 0]);  // pixel 1 is invalid (below): each band's mean over the valid pixel 0
  EXPECT_NEAR(out[2 * n + 0], 0.0f, 1e-6);                      // S2_B_BEFORE pixel 0
  EXPECT_EQ(valid[0], 1);
  EXPECT_EQ(valid[1], 0);  // NaN in a band the recipe reads
  EXPECT_TRUE(pp.needs_optical());
  EXPECT_FALSE(pp.needs_vh());
  EXPECT_EQ(pp.optical_bands(), (std::vector<std::string>{"S2_G", "S2_B_BEFORE"}));
  // Out of [0, 1] clips (a bright cloud in S2Hand reflectance / 3000).
  pp = recipe({"S2_B"});
  pp.apply(vv, nullptr, n, out, valid, nullptr, 0.0f, nullptr, 0.0f, nullptr, optical);
  EXPECT_EQ(out[0], 1.0f);
  drshym::testing::expect_error([&] { pp.apply(vv, nullptr, n, out, valid); }, ErrorKind::InvalidInput, {"Sentinel-2"});
}

TEST(OmbriaS2, PairsEachSiteWithItsSentinel2ImagesOnTheS1Grid) {
  drshym::testing::TempDir tmp;
  write_site(tmp.path(), "train", "0001");
  write_site(tmp.path(), "train", "0002");
  OmbriaDataset ds(change_options(tmp.path()), recipe(kTeacherBands));  // s2_root found beside OmbriaS1
  ASSERT_EQ(ds.size(), 2u);
  RawSample r = ds.raw(1);
  ASSERT_TRUE(r.has_optical());
  const size_t n = r.pixels();
  ASSERT_EQ(r.optical.size(), 6 * n);
  // S2 pixel (x, y) covers S1 pixels 2x, 2x + 1: S1 column 2x + 1 sits a quarter pixel right of
  // S2 centre x, so it reads 10 * (x + 0.25); the edges hold the border value.
  for (int c = 0; c < 3; ++c)
    for (int date = 0; date < 2; ++date) {
      const float* p = r.optical.data() + size_t(3 * date + c) * n + 5 * kW;  // row 5
      EXPECT_NEAR(p[0] * 255.0f, 0 + c + 100 * date, 1e-3);
      EXPECT_NEAR(p[3] * 255.0f, 10 * 1.25 + c + 100 * date, 1e-3);
      EXPECT_NEAR(p[4] * 255.0f, 10 * 1.75 + c + 100 * date, 1e-3);
      EXPECT_NEAR(p[kW - 1] * 255.0f, 70 + c + 100 * date, 1e-3);
    }
  // The S1 part is unchanged by the pairing.
  OmbriaDataset s1_only(change_options(tmp.path()), recipe({"VV", "VV_BEFORE"}));
  RawSample q = s1_only.raw(1);
  EXPECT_FALSE(q.has_optical());
  EXPECT_EQ(q.vv, r.vv);
  EXPECT_EQ(q.label, r.label);
}

TEST(OmbriaS2, SitesWithoutAUsableS2ImageAreSkippedByName) {
  drshym::testing::TempDir tmp;
  write_site(tmp.path(), "train", "0001");
  write_site(tmp.path(), "train", "0002", kW / 2, 3, /*with_s2*/ false);
  write_site(tmp.path(), "train", "0003", /*side*/ 5);
  write_site(tmp.path(), "train", "0004", kW / 2, /*bands*/ 1);
  OmbriaDataset ds(change_options(tmp.path()), recipe(kTeacherBands));
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds.id_of(0), "ombria_train_0001");
  const auto sk = ds.skipped();
  ASSERT_EQ(sk.size(), 3u);
  EXPECT_EQ(sk[0].id, "ombria_train_0002");
  EXPECT_NE(sk[0].reason.find("S2_after_0002.png"), std::string::npos) << sk[0].reason;
  EXPECT_EQ(sk[1].id, "ombria_train_0003");
  EXPECT_NE(sk[1].reason.find("is 5x5"), std::string::npos) << sk[1].reason;
  EXPECT_EQ(sk[2].id, "ombria_train_0004");
  EXPECT_NE(sk[2].reason.find("1 bands, not 3"), std::string::npos) << sk[2].reason;
}

TEST(OmbriaS2, ASplitWithNoUsableS2IsAnErrorAndAMissingFolderIsNamed) {
  drshym::testing::TempDir tmp;
  write_site(tmp.path(), "train", "0001", kW / 2, 3, /*with_s2*/ false);
  drshym::testing::expect_error([&] { OmbriaDataset(change_options(tmp.path()), recipe(kTeacherBands)); }, ErrorKind::InvalidInput, {"no usable triplet"});
  OmbriaOptions o = change_options(tmp.path());
  o.s2_root = tmp.path() + "/nowhere";
  drshym::testing::expect_error([&] { OmbriaDataset(o, recipe(kTeacherBands)); }, ErrorKind::NotFound, {"nowhere/train/BEFORE"});
}

TEST(OmbriaS2, DatesOfTheS2PlanesFollowTheSarDates) {
  drshym::testing::TempDir tmp;
  write_site(tmp.path(), "train", "0001");
  OmbriaDataset ds(change_options(tmp.path()), recipe(kTeacherBands));
  const RawSample r = ds.raw(0);
  const size_t n = r.pixels(), third = 3 * n;
  AugmentDraw d;
  d.crop = Window{0, 0, kW, kW};
  d.swap_dates = true;
  RawSample s = apply_augment(r, d);
  EXPECT_EQ(std::vector<float>(s.optical.begin(), s.optical.begin() + third),
            std::vector<float>(r.optical.begin() + third, r.optical.end()));
  EXPECT_EQ(std::vector<float>(s.optical.begin() + third, s.optical.end()),
            std::vector<float>(r.optical.begin(), r.optical.begin() + third));
  d.swap_dates = false;
  d.no_change = true;  // the after image seen twice: both S2 dates are the after image
  s = apply_augment(r, d);
  EXPECT_EQ(std::vector<float>(s.optical.begin() + third, s.optical.end()),
            std::vector<float>(r.optical.begin(), r.optical.begin() + third));
  // Flips move the S2 planes with the SAR.
  d.no_change = false;
  d.flip_h = true;
  s = apply_augment(r, d);
  EXPECT_EQ(s.optical[0], r.optical[kW - 1]);
}

TEST(Distill, SamplesCarryTheTeachersInputAndUnlabelledPairsOnlyItsTargets) {
  drshym::testing::TempDir tmp;
  write_site(tmp.path(), "train", "0001");
  const ingest::Preprocess teacher = recipe(kTeacherBands);
  nlohmann::json cfg = {{"type", "ombria"}, {"root", tmp.path() + "/OmbriaS1"}, {"split", "train"}, {"change", true},
                        {"augment", false}};
  auto ds = make_dataset(cfg, "train", recipe({"VV", "VV_BEFORE"}), true, 42, &teacher);
  Sample s = ds->get(0);
  ASSERT_TRUE(s.teacher_image.defined());
  EXPECT_EQ(s.image.size(0), 2);
  EXPECT_EQ(s.teacher_image.size(0), 8);
  EXPECT_TRUE(torch::equal(s.teacher_image.narrow(0, 0, 2), s.image));  // same SAR, same anchor
  EXPECT_GT(s.valid.sum().item<float>(), 0.0f);
  EXPECT_EQ(s.teacher_valid.sum().item<float>(), float(kW * kW));

  cfg["labels"] = false;
  auto unlabelled = make_dataset(cfg, "train", recipe({"VV", "VV_BEFORE"}), true, 42, &teacher);
  Sample u = unlabelled->get(0);
  EXPECT_EQ(u.valid.sum().item<float>(), 0.0f);                     // no hard label
  EXPECT_EQ(u.teacher_valid.sum().item<float>(), float(kW * kW));  // the teacher covers every pixel
  EXPECT_TRUE(torch::equal(u.image, s.image));                      // the input is not zeroed
  // Without a teacher, an unlabelled source is a configuration error.
  drshym::testing::expect_error([&] { make_dataset(cfg, "train", recipe({"VV", "VV_BEFORE"}), true, 42); }, ErrorKind::InvalidInput, {"labels"});
  // Bands a source cannot supply are named.
  auto raw = raw_sample_of(*ds, 0);
  ASSERT_TRUE(raw);
  EXPECT_EQ(bands_not_supplied(recipe({"VV", "VH", "S2_R", "HAND"}), *raw), (std::vector<std::string>{"VH", "HAND"}));
}

TEST(Sen1Floods11S2, ReadsS2HandRedGreenBlueAndSkipsChipsWithoutAUsableOne) {
  drshym::testing::TempDir tmp;
  const std::string root = tmp.path();
  const std::string s2dir = root + "/v1.1/data/flood_events/HandLabeled/S2Hand";
  for (const char* id : {"India_1", "USA_2", "Spain_3", "Ghana_4"}) drshym::testing::write_s1f11_chip(root, {id});
  drshym::testing::write_s1f11_csv(root, "train", {"India_1", "USA_2", "Spain_3", "Ghana_4"});
  auto s2 = [&](const std::string& id, int side, int bands) {
    const size_t n = size_t(side) * side;
    std::vector<float> v(n * size_t(bands));
    for (int b = 0; b < bands; ++b)
      for (size_t i = 0; i < n; ++i) v[size_t(b) * n + i] = float(1000 * (b + 1));  // band k = 1000 k
    v[3 * n + 5] = 0.0f;                                                              // B4 fill at pixel 5
    drshym::testing::write_tif(s2dir + "/" + id + "_S2Hand.tif", side, side, bands, v, io::DataType::UInt16);
  };
  s2("India_1", 8, 13);
  s2("USA_2", 8, 12);   // wrong band count
  s2("Spain_3", 4, 13);  // wrong size
  // Ghana_4: no S2Hand file
  Sen1Floods11Options o;
  o.root = root;
  o.split = "train";
  o.progress = false;
  Sen1Floods11Dataset ds(o, recipe({"VV", "VH", "S2_R", "S2_G", "S2_B"}));
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds.id_of(0), "India_1");
  ASSERT_EQ(ds.skipped().size(), 3u);
  std::string reasons;
  for (const auto& s : ds.skipped()) reasons += s.id + ": " + s.reason + "\n";
  EXPECT_NE(reasons.find("USA_2: S2Hand"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("12 bands, not 13"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("Spain_3: S2Hand"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("is 4x4"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("Ghana_4: no S2Hand image"), std::string::npos) << reasons;
  RawSample r = ds.raw(0);
  const size_t n = r.pixels();
  ASSERT_EQ(r.optical.size(), 6 * n);
  EXPECT_NEAR(r.optical[0], 4000.0f / 3000.0f, 1e-6);      // R = B4
  EXPECT_TRUE(std::isnan(r.optical[5]));                    // B4 fill
  EXPECT_NEAR(r.optical[n + 1], 3000.0f / 3000.0f, 1e-6);   // G = B3
  EXPECT_NEAR(r.optical[2 * n + 1], 2000.0f / 3000.0f, 1e-6);  // B = B2
  EXPECT_TRUE(std::isnan(r.optical[3 * n]));                // one date: no pre-event S2
  EXPECT_EQ(bands_not_supplied(recipe({"S2_R", "S2_R_BEFORE"}), r), (std::vector<std::string>{"S2_R_BEFORE"}));
  // The recipe's own S1 bands are read as before.
  Sample smp = ds.get(0);
  EXPECT_EQ(smp.image.size(0), 5);
}
