#include "data/sen1floods11_dataset.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.hpp"
#include "data/data_fixtures.hpp"
#include "support/test_support.hpp"

using namespace drshym;
using namespace drshym::data;
using drshym::testing::ChipSpec;

namespace {

Sen1Floods11Options opts(const std::string& root, const std::string& split) {
  Sen1Floods11Options o;
  o.root = root;
  o.split = split;
  o.progress = false;
  return o;
}

bool has_reason(const std::vector<SkippedItem>& items, const std::string& id, const std::string& words) {
  return std::any_of(items.begin(), items.end(), [&](const SkippedItem& s) {
    return s.id == id && s.reason.find(words) != std::string::npos;
  });
}

}  // namespace

TEST(Sen1Floods11, SplitListsMissingAndUnusableChips) {
  drshym::testing::TempDir tmp;
  const std::string root = tmp.path();
  drshym::testing::write_s1f11_chip(root, ChipSpec{"India_1"});
  drshym::testing::write_s1f11_chip(root, ChipSpec{"USA_22"});
  drshym::testing::write_s1f11_chip(root, ChipSpec{"Spain_3"});
  drshym::testing::write_s1f11_chip(root, ChipSpec{"Paraguay_4", 8, 2, /*all_nan*/ true});
  drshym::testing::write_s1f11_chip(root, ChipSpec{"Ghana_5", 8, 2, false, /*label_all_unknown*/ true});
  drshym::testing::write_s1f11_chip(root, ChipSpec{"Mekong_6", 6});      // odd size
  drshym::testing::write_s1f11_chip(root, ChipSpec{"Nigeria_7", 8, 1});  // one band
  drshym::testing::write_s1f11_csv(root, "test",
                                   {"India_1", "USA_22", "Spain_3", "Paraguay_4", "Ghana_5", "Mekong_6",
                                    "Nigeria_7", "Bolivia_404"});  // the last one is not on disk

  Sen1Floods11Dataset ds(opts(root, "test"), ingest::Preprocess{});
  EXPECT_EQ(ds.listed(), 8u);
  ASSERT_EQ(ds.missing(), (std::vector<std::string>{"Bolivia_404"}));
  ASSERT_EQ(ds.size(), 3u);
  EXPECT_EQ(ds.name(), "sen1floods11:test");
  auto sk = ds.skipped();
  EXPECT_EQ(sk.size(), 4u);
  EXPECT_TRUE(has_reason(sk, "Paraguay_4", "NaN"));
  EXPECT_TRUE(has_reason(sk, "Ghana_5", "-1"));
  EXPECT_TRUE(has_reason(sk, "Mekong_6", "6x6"));
  EXPECT_TRUE(has_reason(sk, "Nigeria_7", "1 band"));

  EXPECT_EQ(ds.id_of(0), "India_1");
  EXPECT_EQ(ds.group_of(0), "India");
  EXPECT_EQ(ds.group_of(1), "USA");
  Sample s = ds.get(0);
  EXPECT_EQ(s.id, "India_1");
  EXPECT_EQ(s.group, "India");
  ASSERT_EQ(s.image.sizes(), (std::vector<int64_t>{2, 8, 8}));
  // Left half water; pixel 0 is NaN and the last pixel's label is -1: both invalid.
  EXPECT_EQ(s.valid.sum().item<float>(), 62.0f);
  EXPECT_EQ(s.valid[0][0][0].item<float>(), 0.0f);
  EXPECT_EQ(s.valid[0][7][7].item<float>(), 0.0f);
  EXPECT_EQ(s.label.sum().item<float>(), 31.0f);
  EXPECT_NEAR(s.image[0][0][1].item<float>(), (-20.0f + 30.0f) / 30.0f, 1e-6);  // VV water
  EXPECT_NEAR(s.image[1][0][5].item<float>(), (-16.0f + 30.0f) / 30.0f, 1e-6);  // VH dry
  // The last pixel's label alone is unknown: its input is real (as segment sees it). Pixel 0 has
  // no input: the band's mean over the 63 pixels that have one (not 0, which reads as -30 dB water).
  EXPECT_EQ(s.image[0][7][7].item<float>(), s.image[0][7][6].item<float>());
  EXPECT_NEAR(s.image[0][0][0].item<float>(), ((s.image[0].sum() - s.image[0][0][0]) / 63).item<float>(), 1e-5);

  // Raw layer: dB values and validity as read.
  RawSample r = ds.raw(1);
  EXPECT_EQ(r.width, 8);
  EXPECT_FLOAT_EQ(r.vv[1], -20.0f);
  EXPECT_FLOAT_EQ(r.vh[7], -16.0f);
}

TEST(Sen1Floods11, SplitAllTakesEveryChipOnDisk) {
  drshym::testing::TempDir tmp;
  drshym::testing::write_s1f11_chip(tmp.path(), ChipSpec{"India_1"});
  drshym::testing::write_s1f11_chip(tmp.path(), ChipSpec{"USA_2"});
  drshym::testing::write_s1f11_csv(tmp.path(), "train", {"India_1"});
  Sen1Floods11Options o = opts(tmp.path(), "all");
  o.cache_mb = 0;  // exercise the re-read path
  Sen1Floods11Dataset ds(o, ingest::Preprocess{});
  EXPECT_EQ(ds.size(), 2u);
  EXPECT_TRUE(ds.missing().empty());
  EXPECT_EQ(ds.get(1).id, "USA_2");
  EXPECT_EQ(Sen1Floods11Dataset(opts(tmp.path(), "train"), ingest::Preprocess{}).size(), 1u);
}

TEST(Sen1Floods11, ErrorsNameTheSplitAndFolder) {
  drshym::testing::TempDir tmp;
  drshym::testing::write_s1f11_csv(tmp.path(), "valid", {"India_1", "USA_2"});
  try {
    Sen1Floods11Dataset ds(opts(tmp.path(), "valid"), ingest::Preprocess{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    std::string m = e.what();
    EXPECT_NE(m.find("'valid'"), std::string::npos) << m;
    EXPECT_NE(m.find("S1Hand"), std::string::npos) << m;
  }
  try {
    Sen1Floods11Dataset ds(opts(tmp.path(), "test"), ingest::Preprocess{});  // no CSV
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
  }
  try {
    Sen1Floods11Dataset ds(opts(tmp.path(), "holdout"), ingest::Preprocess{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("unknown split"), std::string::npos);
  }
  try {
    Sen1Floods11Dataset ds(opts(tmp.file("nope"), "test"), ingest::Preprocess{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
  }
}

TEST(Sen1Floods11, MalformedCsvRowNamesTheLine) {
  drshym::testing::TempDir tmp;
  drshym::testing::write_s1f11_chip(tmp.path(), ChipSpec{"India_1"});
  const std::string dir = tmp.path() + "/v1.1/splits/flood_handlabeled";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/flood_train_data.csv") << "India_1_S1Hand.tif,India_1_LabelHand.tif\nthis is not a row\n";
  try {
    list_sen1floods11(tmp.path(), "train");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
}

TEST(Sen1Floods11, RegionIsNameBeforeFirstUnderscore) {
  EXPECT_EQ(sen1floods11_region("Sri-Lanka_85652"), "Sri-Lanka");
  EXPECT_EQ(sen1floods11_region("USA_905409"), "USA");
}
