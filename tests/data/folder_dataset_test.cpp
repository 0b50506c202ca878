#include "data/folder_dataset.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "data/data_fixtures.hpp"
#include "support/test_support.hpp"

using namespace drshym;
using namespace drshym::data;
using drshym::testing::write_tif;

namespace {

// 4x4 pair: VV -18 / VH -26 where the label says water (top row), -7 / -15 elsewhere.
void write_pair(const std::string& root, const std::string& split, const std::string& name, int bands,
                std::vector<float> label) {
  std::vector<float> img(size_t(16) * bands);
  for (int i = 0; i < 16; ++i) {
    const bool water = label[size_t(i)] == 1.0f;
    img[size_t(i)] = water ? -18.0f : -7.0f;
    if (bands > 1) img[size_t(16 + i)] = water ? -26.0f : -15.0f;
  }
  write_tif(root + "/" + split + "/images/" + name + ".tif", 4, 4, bands, img);
  write_tif(root + "/" + split + "/labels/" + name + ".tif", 4, 4, 1, label, io::DataType::Int16, 255.0);
}

std::vector<float> label_rows(float a, float b, float c, float d) {
  std::vector<float> l;
  for (float v : {a, b, c, d})
    for (int k = 0; k < 4; ++k) l.push_back(v);
  return l;
}

FolderOptions opts(const std::string& root, const std::string& split) {
  FolderOptions o;
  o.root = root;
  o.split = split;
  o.progress = false;
  return o;
}

}  // namespace

TEST(FolderDataset, PairsLabelsAndInvalidPixels) {
  drshym::testing::TempDir tmp;
  write_pair(tmp.path(), "train", "sceneA_tile_00001", 2, label_rows(1, 0, -1, 255));  // -1 and nodata rows invalid
  write_pair(tmp.path(), "train", "sceneA_tile_00002", 2, label_rows(0, 0, 0, 1));
  write_pair(tmp.path(), "train", "sceneB_tile_00001", 2, label_rows(-1, -1, -1, -1));  // nothing valid
  write_tif(tmp.path() + "/train/images/orphan.tif", 4, 4, 1, std::vector<float>(16, -10.0f));

  FolderDataset ds(opts(tmp.path(), "train"), ingest::Preprocess{});
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(ds.id_of(0), "sceneA_tile_00001");
  EXPECT_EQ(ds.group_of(0), "sceneA");
  EXPECT_EQ(ds.skipped().size(), 2u);

  Sample s = ds.get(0);
  ASSERT_EQ(s.image.sizes(), (std::vector<int64_t>{2, 4, 4}));
  EXPECT_EQ(s.valid.sum().item<float>(), 8.0f);
  EXPECT_EQ(s.label.sum().item<float>(), 4.0f);
  EXPECT_EQ(s.valid[0][2][0].item<float>(), 0.0f);
  EXPECT_EQ(s.valid[0][3][0].item<float>(), 0.0f);
  EXPECT_NEAR(s.image[0][0][0].item<float>(), 12.0f / 30.0f, 1e-6);
  EXPECT_NEAR(s.image[1][1][0].item<float>(), 15.0f / 30.0f, 1e-6);
  // A pixel whose label alone is unknown keeps its real input (as segment sees it), not a fill.
  EXPECT_NEAR(s.image[0][3][3].item<float>(), 23.0f / 30.0f, 1e-6);
}

TEST(FolderDataset, LabelsOffTheZeroOneConventionAreRefusedNamingFileAndValues) {
  // A 0/255 mask (ETCI convention) beside a good pair: before, its 255s read as unknown, so eval
  // scored almost nothing and reported "0 skipped". Now the dataset refuses it.
  drshym::testing::TempDir tmp;
  write_pair(tmp.path(), "test", "good", 2, label_rows(1, 0, -1, 255));
  write_tif(tmp.path() + "/test/images/etci.tif", 4, 4, 2, std::vector<float>(32, -10.0f));
  write_tif(tmp.path() + "/test/labels/etci.tif", 4, 4, 1, label_rows(255, 255, 0, 0), io::DataType::Byte);
  drshym::testing::expect_error([&] { FolderDataset ds(opts(tmp.path(), "test"), ingest::Preprocess{}); },
                                ErrorKind::InvalidInput,
                                {"labels/etci.tif", "255 (8 pixels)", "no nodata value",
                                 "labels must be 0 dry, 1 water, -1 or nodata unknown"});
  // Other values, e.g. 2, are refused as well; 255 as the nodata value is fine.
  write_tif(tmp.path() + "/test/labels/etci.tif", 4, 4, 1, label_rows(2, 255, 0, 1), io::DataType::Int16, 255.0);
  drshym::testing::expect_error([&] { FolderDataset ds(opts(tmp.path(), "test"), ingest::Preprocess{}); },
                                ErrorKind::InvalidInput, {"labels/etci.tif", "2 (4 pixels)", "nodata value 255"});
  write_tif(tmp.path() + "/test/labels/etci.tif", 4, 4, 1, label_rows(1, 255, 0, -1), io::DataType::Int16, 255.0);
  EXPECT_EQ(FolderDataset(opts(tmp.path(), "test"), ingest::Preprocess{}).size(), 2u);
}

TEST(FolderDataset, SingleBandImagesWithVvRecipe) {
  drshym::testing::TempDir tmp;
  write_pair(tmp.path(), "valid", "x_1", 1, label_rows(1, 1, 0, 0));
  ingest::Preprocess vv_only;
  vv_only.bands = {"VV"};
  FolderDataset ds(opts(tmp.path(), "valid"), vv_only);
  Sample s = ds.get(0);
  EXPECT_EQ(s.image.size(0), 1);
  EXPECT_EQ(s.valid.sum().item<float>(), 16.0f);
  // The default recipe needs VH: every pair is unusable, and the error says why.
  try {
    FolderDataset bad(opts(tmp.path(), "valid"), ingest::Preprocess{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("VH"), std::string::npos) << e.what();
  }
}

TEST(FolderDataset, MissingFoldersAreNotFound) {
  drshym::testing::TempDir tmp;
  EXPECT_THROW(FolderDataset(opts(tmp.file("none"), "train"), ingest::Preprocess{}), Error);
  try {
    FolderDataset ds(opts(tmp.path(), "test"), ingest::Preprocess{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("'test'"), std::string::npos);
  }
  std::filesystem::create_directories(tmp.path() + "/train/images");
  try {
    FolderDataset ds(opts(tmp.path(), "train"), ingest::Preprocess{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
  }
}

TEST(FolderDataset, TerrainRecipesReadTheTerrainFolderAndSkipItemsWithout) {
  drshym::testing::TempDir tmp;
  write_pair(tmp.path(), "train", "a_tile_00001", 1, label_rows(1, 0, 0, 0));
  write_pair(tmp.path(), "train", "a_tile_00002", 1, label_rows(1, 0, 0, 0));
  // Height 30 m, slope 2°, HAND rising 10 m a row; one pixel without HAND.
  std::vector<float> ter(48);
  for (int i = 0; i < 16; ++i) {
    ter[size_t(i)] = 30.0f;
    ter[size_t(16 + i)] = 2.0f;
    ter[size_t(32 + i)] = i == 15 ? -9999.0f : 10.0f * float(i / 4);
  }
  write_tif(tmp.path() + "/train/terrain/a_tile_00001.tif", 4, 4, 3, ter, io::DataType::Float32, -9999.0);
  const auto pp = ingest::Preprocess::from_json({{"bands", {"VV", "HAND"}}});
  FolderDataset ds(opts(tmp.path(), "train"), pp);
  ASSERT_EQ(ds.size(), 1u);
  ASSERT_EQ(ds.skipped().size(), 1u);
  EXPECT_NE(ds.skipped()[0].reason.find("no terrain"), std::string::npos) << ds.skipped()[0].reason;
  Sample s = ds.get(0);
  ASSERT_EQ(s.image.sizes(), (std::vector<int64_t>{2, 4, 4}));
  EXPECT_NEAR(s.image[1][2][0].item<float>(), 20.0f / 50.0f, 1e-6);  // HAND / 50
  EXPECT_EQ(s.valid[0][3][3].item<float>(), 0.0f);                   // no HAND there
  EXPECT_EQ(s.valid.sum().item<float>(), 15.0f);
  // Recipes without terrain bands do not need (or read) it.
  FolderDataset plain(opts(tmp.path(), "train"), ingest::Preprocess::from_json({{"bands", {"VV"}}}));
  EXPECT_EQ(plain.size(), 2u);
}
