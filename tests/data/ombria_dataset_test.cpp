#include "data/ombria_dataset.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.hpp"
#include "data/data_fixtures.hpp"
#include "data/make_dataset.hpp"
#include "support/test_support.hpp"

using namespace drshym;
using namespace drshym::data;
using drshym::testing::write_png;

namespace {

constexpr int kW = 16;

// One OMBRIA triplet: the left quarter is a river (dark before and after, mask 0), the next
// quarter flooded (dark after only, mask 255), the rest dry. `stretch` shifts the whole AFTER
// image in 8-bit units, as the per-image stretch of the real data does.
void write_triplet(const std::string& root, const std::string& split, const std::string& num, int stretch = 0,
                   bool with_mask = true) {
  std::vector<uint8_t> before(kW * kW), after(kW * kW), mask(kW * kW);
  for (int y = 0; y < kW; ++y)
    for (int x = 0; x < kW; ++x) {
      size_t i = size_t(y) * kW + x;
      const bool river = x < kW / 4, flood = !river && x < kW / 2;
      before[i] = river ? 20 : 180;
      after[i] = uint8_t((river || flood ? 60 : 180) + stretch);
      mask[i] = flood ? 255 : 0;
    }
  const std::string d = root + "/" + split;
  write_png(d + "/BEFORE/S1_before_" + num + ".png", kW, kW, before);
  write_png(d + "/AFTER/S1_after_" + num + ".png", kW, kW, after);
  if (with_mask) write_png(d + "/MASK/S1_mask_" + num + ".png", kW, kW, mask);
}

ingest::Preprocess vv_only() {
  ingest::Preprocess pp;
  pp.bands = {"VV"};
  return pp;
}

OmbriaOptions options(const std::string& root, const std::string& split, bool label_free = false) {
  OmbriaOptions o;
  o.root = root;
  o.split = split;
  o.min_flood_pixels = 10;
  o.label_free = label_free;
  return o;
}

}  // namespace

TEST(Ombria, PerImageMappingPutsClassesOnTheReferenceMedians) {
  drshym::testing::TempDir tmp;
  write_triplet(tmp.path(), "train", "0001", 0);
  write_triplet(tmp.path(), "train", "0002", 40);  // same scene, stretched 40 steps brighter
  OmbriaDataset ds(options(tmp.path(), "train"), vv_only());
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(ds.group_of(0), "ombria_train");
  for (size_t k = 0; k < 2; ++k) {
    RawSample r = ds.raw(k);
    const size_t flood = 5, dry = 12, river = 1;  // columns of row 0
    // Flood (60) maps to the water reference and dry (180) to the dry one, whatever the stretch;
    // the 120-step class gap would need 0.0625 dB/step, clamped to the 0.07 minimum around the midpoint.
    const double mid = 0.5 * (-18.1 + -10.6), half = 0.5 * 0.07 * 120;
    EXPECT_NEAR(r.vv[flood], mid - half, 1e-3) << k;
    EXPECT_NEAR(r.vv[dry], mid + half, 1e-3) << k;
    EXPECT_EQ(r.label[flood], 1);
    EXPECT_EQ(r.label[dry], 0);
    EXPECT_EQ(r.valid[dry], 1);
    // The river is dark before and after but 0 in the flood mask: unknown, not dry.
    EXPECT_EQ(r.valid[river], 0) << k;
  }
}

TEST(Ombria, LabelFreeMappingIgnoresTheMask) {
  drshym::testing::TempDir tmp;
  write_triplet(tmp.path(), "test", "0001", 40);
  OmbriaDataset ds(options(tmp.path(), "test", /*label_free*/ true), vv_only());
  RawSample r = ds.raw(0);
  // The train split's median line (docs/dataset_card.md: 0.1190 dB per step, -29.45 dB at 0),
  // written out here so a changed constant or a mask-fitted line fails: 100 → -17.55, 220 → -3.27.
  EXPECT_NEAR(r.vv[5], -17.55, 1e-4);
  EXPECT_NEAR(r.vv[12], -3.27, 1e-4);
  // make_dataset serves label-free pixels wherever there is no augmentation (evaluation).
  nlohmann::json cfg = {{"type", "ombria"}, {"root", tmp.path()}, {"split", "test"}};
  auto eval_ds = make_dataset(cfg, "valid", vv_only(), false, 42);
  EXPECT_EQ(eval_ds->size(), 1u);
}

TEST(Ombria, MissingFilesAreReportedAndTheRestServed) {
  drshym::testing::TempDir tmp;
  write_triplet(tmp.path(), "train", "0001");
  write_triplet(tmp.path(), "train", "0002", 0, /*with_mask*/ false);
  std::filesystem::create_directories(tmp.path() + "/train/MASK");
  {  // a corrupt AFTER image
    write_triplet(tmp.path(), "train", "0003");
    std::ofstream(tmp.path() + "/train/AFTER/S1_after_0003.png") << "not a png";
  }
  OmbriaDataset ds(options(tmp.path(), "train"), vv_only());
  EXPECT_EQ(ds.size(), 1u);
  ASSERT_EQ(ds.skipped().size(), 2u);
  std::string all;
  for (const auto& s : ds.skipped()) all += s.id + ": " + s.reason + "\n";
  EXPECT_NE(all.find("S1_mask_0002.png"), std::string::npos) << all;
  EXPECT_NE(all.find("ombria_train_0003"), std::string::npos) << all;
}

TEST(Ombria, ClearErrors) {
  drshym::testing::TempDir tmp;
  // No split folder.
  try {
    OmbriaDataset ds(options(tmp.path(), "train"), vv_only());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("BEFORE"), std::string::npos) << e.what();
  }
  // Unknown split.
  EXPECT_THROW(OmbriaDataset(options(tmp.path(), "valid"), vv_only()), Error);
  // A split whose only triplet is unusable.
  write_triplet(tmp.path(), "test", "0001", 0, false);
  std::filesystem::create_directories(tmp.path() + "/test/MASK");
  try {
    OmbriaDataset ds(options(tmp.path(), "test"), vv_only());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("no usable triplet"), std::string::npos) << e.what();
  }
  // A VV+VH recipe cannot be served from VV-only data.
  write_triplet(tmp.path(), "train", "0001");
  ingest::Preprocess both;
  try {
    OmbriaDataset ds(options(tmp.path(), "train"), both);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("VH"), std::string::npos) << e.what();
  }
}

TEST(Ombria, ChangeSamplesCarryTheBeforeImageAndTheFloodMaskAsLabel) {
  drshym::testing::TempDir tmp;
  for (const char* n : {"0001", "0002", "0003", "0004"}) write_triplet(tmp.path(), "train", n);
  ingest::Preprocess pp;
  pp.bands = {"VV", "VV_BEFORE"};
  OmbriaOptions o = options(tmp.path(), "train");
  o.change = true;
  OmbriaDataset ds(o, pp);
  RawSample r = ds.raw(0);
  ASSERT_TRUE(r.has_before());
  const size_t river = 1, flood = 5, dry = 12;
  // The river is known here: not flood (dark in both dates), which is what the mask says.
  EXPECT_EQ(r.valid[river], 1);
  EXPECT_EQ(r.label[river], 0);
  EXPECT_EQ(r.label[flood], 1);
  EXPECT_EQ(r.label[dry], 0);
  EXPECT_LT(r.before[river], r.before[flood] - 5.0f);  // dark before only on the river
  // Two bands reach the model: after, then before; each date anchored on its own.
  Sample s = to_sample(r, pp);
  EXPECT_EQ(s.image.size(0), 2);
  // The holdout keeps one triplet in `every` apart, for calibration, and the rest for training.
  nlohmann::json cfg = {{"type", "ombria"}, {"root", tmp.path()}, {"split", "train"}, {"change", true},
                        {"holdout", {{"every", 2}, {"take", "held"}}}};
  EXPECT_EQ(make_dataset(cfg, "valid", pp, false, 42)->size(), 2u);
  cfg["holdout"]["take"] = "rest";
  EXPECT_EQ(make_dataset(cfg, "train", pp, false, 42)->size(), 2u);
  // A change recipe on all-water samples, and the reverse, are refused by name.
  cfg.erase("change");
  EXPECT_THROW(make_dataset(cfg, "train", pp, false, 42), Error);
  cfg["change"] = true;
  EXPECT_THROW(make_dataset(cfg, "train", vv_only(), false, 42), Error);
  cfg["holdout"] = {{"every", 1}, {"take", "held"}};
  EXPECT_THROW(make_dataset(cfg, "train", pp, false, 42), Error);
}
