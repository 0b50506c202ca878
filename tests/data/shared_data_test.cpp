// Integration tests on the real data under ../shared/data (skipped when it is absent).
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>

#include "core/error.hpp"
#include "data/etci_calibration.hpp"
#include "data/etci_dataset.hpp"
#include "data/make_dataset.hpp"
#include "data/sen1floods11_dataset.hpp"
#include "io/raster.hpp"
#include "support/test_support.hpp"

using namespace drshym;
using namespace drshym::data;

namespace {

std::string reason_of(const std::vector<SkippedItem>& items, const std::string& id) {
  for (const auto& s : items)
    if (s.id == id) return s.reason;
  return "";
}

}  // namespace

TEST(SharedSen1Floods11, TestSplitReportsMissingAndSkipsBadChips) {
  DRSHYM_REQUIRE_SHARED(root, "sen1floods11");
  Sen1Floods11Options o;
  o.root = root;
  o.split = "test";
  o.progress = false;
  Sen1Floods11Dataset ds(o, ingest::Preprocess{});
  EXPECT_EQ(ds.listed(), 90u);
  EXPECT_EQ(ds.missing().size(), 84u);
  ASSERT_EQ(ds.skipped().size(), 2u);
  EXPECT_NE(reason_of(ds.skipped(), "Paraguay_34417").find("NaN"), std::string::npos);
  EXPECT_NE(reason_of(ds.skipped(), "Ghana_83483").find("-1"), std::string::npos);
  ASSERT_EQ(ds.size(), 4u);
  for (size_t i = 0; i < ds.size(); ++i) {
    Sample s = ds.get(i);
    EXPECT_EQ(s.image.sizes(), (std::vector<int64_t>{2, 512, 512}));
    EXPECT_GT(s.valid.sum().item<float>(), 0.0f) << s.id;
    EXPECT_TRUE(torch::isfinite(s.image).all().item<bool>()) << s.id;
    EXPECT_EQ(s.group, s.id.substr(0, s.id.find('_')));
    if (s.id == "Ghana_97059") {
      EXPECT_EQ(s.label.sum().item<float>(), 0.0f);  // the false-alarm chip
    }
  }
}

TEST(SharedSen1Floods11, SplitsWithoutChipsOnDiskFail) {
  DRSHYM_REQUIRE_SHARED(root, "sen1floods11");
  nlohmann::json cfg = {{"type", "sen1floods11"}, {"root", root}, {"progress", false}};
  try {
    make_dataset(cfg, "train", ingest::Preprocess{}, false, 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("'train'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("S1Hand"), std::string::npos) << e.what();
  }
  DatasetPtr all = make_dataset(cfg, "all", ingest::Preprocess{}, false, 0);
  EXPECT_EQ(all->size(), 4u);
  EXPECT_EQ(all->skipped().size(), 2u);
}

TEST(SharedEtci, TileCountsPerScene) {
  DRSHYM_REQUIRE_SHARED(root, "etci2021");
  EtciOptions o;
  o.root = root;
  o.progress = false;
  o.cache_mb = 64;
  EtciDataset ds(o, ingest::Preprocess{});
  EXPECT_EQ(ds.scenes().size(), 3u);
  EXPECT_EQ(ds.outside_swath(), 515u);  // about a quarter of Bangladesh's 2,068 tiles
  EXPECT_EQ(ds.skipped().size(), 515u);
  EXPECT_EQ(ds.size(), 2622u - 515u);
  std::map<std::string, size_t> per_scene;
  for (size_t i = 0; i < ds.size(); ++i) ++per_scene[ds.group_of(i)];
  EXPECT_EQ(per_scene["bangladesh_20170314t115609"], 2068u - 515u);
  EXPECT_EQ(per_scene["nebraska_20170213t002121"], 198u);
  EXPECT_EQ(per_scene["northal_20190302t234651"], 356u);
  for (size_t i : {size_t(0), ds.size() / 2, ds.size() - 1}) {
    Sample s = ds.get(i);
    EXPECT_EQ(s.image.sizes(), (std::vector<int64_t>{2, 256, 256}));
    EXPECT_GT(s.valid.sum().item<float>(), 0.0f) << s.id;
  }
}

TEST(SharedEtci, FastPngReaderMatchesGdal) {
  DRSHYM_REQUIRE_SHARED(root, "etci2021");
  auto tiles = list_etci_tiles(root, "northal_20190302t234651");
  ASSERT_FALSE(tiles.empty());
  for (size_t i = 0; i < tiles.size(); i += tiles.size() / 5) {
    for (const std::string& path : {tiles[i].vv_path, tiles[i].vh_path, tiles[i].flood_path}) {
      int w, h;
      std::vector<uint8_t> fast = read_png_u8(path, w, h);
      io::Raster r = io::Raster::open(path);
      std::vector<float> ref(size_t(r.width()) * r.height());
      r.read_band(1, Window{0, 0, r.width(), r.height()}, ref.data());
      ASSERT_EQ(fast.size(), ref.size());
      EXPECT_TRUE(std::equal(fast.begin(), fast.end(), ref.begin(),
                             [](uint8_t a, float b) { return float(a) == b; }))
          << path;
    }
  }
}

// Reruns the calibration behind EtciMapping::fitted_default() and prints the figures quoted in
// docs/dataset_card.md:  test_data --gtest_filter=SharedEtci.CalibrationReproducesDefaults
TEST(SharedEtci, CalibrationReproducesDefaults) {
  DRSHYM_REQUIRE_SHARED(etci, "etci2021");
  DRSHYM_REQUIRE_SHARED(s1f11, "sen1floods11");
  EtciCalibrationParams p;
  p.progress = false;
  EtciCalibrationResult r = estimate_etci_mapping(etci, s1f11, p);
  std::cout << r.report();
  const EtciMapping d = EtciMapping::fitted_default();
  EXPECT_NEAR(r.mapping.vv.scale, d.vv.scale, 1e-5);
  EXPECT_NEAR(r.mapping.vv.offset, d.vv.offset, 1e-3);
  EXPECT_NEAR(r.mapping.vh.scale, d.vh.scale, 1e-5);
  EXPECT_NEAR(r.mapping.vh.offset, d.vh.offset, 1e-3);
  EXPECT_EQ(r.etci_tiles, 2107u);
  EXPECT_EQ(r.etci_tiles_outside, 515u);
  EXPECT_EQ(r.s1f11_chips.size(), 4u);
  ASSERT_EQ(r.pooled.size(), 4u);
  for (const auto& a : r.pooled) {
    EXPECT_LT(a.ks_after, a.ks_before) << a.pol << " " << a.cls;
    EXPECT_LT(a.qrmse_after, a.qrmse_before) << a.pol << " " << a.cls;
  }
}
