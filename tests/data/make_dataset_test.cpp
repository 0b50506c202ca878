#include "data/make_dataset.hpp"

#include <gtest/gtest.h>

#include "core/config.hpp"
#include "core/error.hpp"
#include "data/concat_dataset.hpp"
#include "data/data_fixtures.hpp"
#include "data/raw_dataset.hpp"
#include "support/test_support.hpp"

using namespace drshym;
using namespace drshym::data;
using drshym::testing::ChipSpec;

namespace {

ErrorKind kind_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "no error thrown";
  return ErrorKind::Internal;
}

}  // namespace

TEST(MakeDataset, Sen1Floods11WithSplitMappingAndAugment) {
  drshym::testing::TempDir tmp;
  drshym::testing::write_s1f11_chip(tmp.path(), ChipSpec{"India_1", 16});
  drshym::testing::write_s1f11_chip(tmp.path(), ChipSpec{"USA_2", 16});
  drshym::testing::write_s1f11_csv(tmp.path(), "train", {"India_1"});
  drshym::testing::write_s1f11_csv(tmp.path(), "valid", {"USA_2"});
  auto cfg = core::parse_yaml("type: sen1floods11\nroot: " + tmp.path() +
                              "\nprogress: false\nsplit: {train: train, val: valid}\naugment: {crop: 8}\n");
  ingest::Preprocess pp;
  DatasetPtr train = make_dataset(cfg, "train", pp, true, 42);
  ASSERT_EQ(train->size(), 1u);
  EXPECT_EQ(train->get(0, 3).image.sizes(), (std::vector<int64_t>{2, 8, 8}));
  DatasetPtr val = make_dataset(cfg, "val", pp, false, 42);
  EXPECT_EQ(val->id_of(0), "USA_2");
  EXPECT_EQ(val->get(0).image.size(1), 16);  // no augmentation: full chip
  EXPECT_EQ(kind_of([&] { make_dataset(cfg, "test", pp, false, 0); }), ErrorKind::InvalidInput);

  // A pinned split string applies to every role.
  cfg["split"] = "valid";
  EXPECT_EQ(make_dataset(cfg, "train", pp, false, 0)->id_of(0), "USA_2");
}

TEST(MakeDataset, ConfigErrorsNameKeyAndPath) {
  ingest::Preprocess pp;
  std::string msg;
  nlohmann::json cfg = {{"type", "etci"}, {"root", "/nonexistent/etci"}};
  EXPECT_EQ(kind_of([&] { make_dataset(cfg, "train", pp, false, 0); }, &msg), ErrorKind::NotFound);
  EXPECT_NE(msg.find("data.root"), std::string::npos) << msg;
  EXPECT_NE(msg.find("/nonexistent/etci"), std::string::npos) << msg;

  EXPECT_EQ(kind_of([&] { make_dataset(cfg, "", pp, false, 0); }), ErrorKind::InvalidInput);
  EXPECT_EQ(kind_of([&] { make_dataset({{"type", "lidar"}, {"root", "/tmp"}}, "train", pp, false, 0); }, &msg),
            ErrorKind::InvalidInput);
  EXPECT_NE(msg.find("data.type"), std::string::npos);
  EXPECT_EQ(kind_of([&] { make_dataset({{"root", "/tmp"}}, "train", pp, false, 0); }), ErrorKind::InvalidInput);

  drshym::testing::TempDir tmp;
  nlohmann::json concat = {{"type", "concat"}, {"sources", {{{"type", "folder"}, {"root", tmp.file("gone")}}}}};
  EXPECT_EQ(kind_of([&] { make_dataset(concat, "train", pp, false, 0); }, &msg), ErrorKind::NotFound);
  EXPECT_NE(msg.find("data.sources[0].root"), std::string::npos) << msg;

  nlohmann::json etci = {{"type", "etci"}, {"root", tmp.path()}, {"scenes", nlohmann::json::array()}};
  EXPECT_EQ(kind_of([&] { make_dataset(etci, "train", pp, false, 0); }), ErrorKind::InvalidInput);
  etci["scenes"] = {{"train", {"a"}}};
  EXPECT_EQ(kind_of([&] { make_dataset(etci, "valid", pp, false, 0); }, &msg), ErrorKind::InvalidInput);
  EXPECT_NE(msg.find("'valid'"), std::string::npos);
}

TEST(MakeDataset, ConcatOfFolderAndSen1Floods11) {
  drshym::testing::TempDir tmp;
  const std::string s1 = tmp.path() + "/s1", folder = tmp.path() + "/tiles";
  drshym::testing::write_s1f11_chip(s1, ChipSpec{"India_1"});
  drshym::testing::write_s1f11_csv(s1, "train", {"India_1"});
  std::vector<float> img(2 * 64, -12.0f), lab(64, 0.0f);
  drshym::testing::write_tif(folder + "/train/images/s_tile_00000.tif", 8, 8, 2, img);
  drshym::testing::write_tif(folder + "/train/labels/s_tile_00000.tif", 8, 8, 1, lab, io::DataType::Int16);
  nlohmann::json cfg = {{"type", "concat"},
                        {"augment", {{"crop", 4}}},
                        {"sources",
                         {{{"type", "sen1floods11"}, {"root", s1}, {"progress", false}},
                          {{"type", "folder"}, {"root", folder}, {"progress", false}, {"augment", false}}}}};
  DatasetPtr ds = make_dataset(cfg, "train", ingest::Preprocess{}, true, 1);
  auto* concat = dynamic_cast<ConcatDataset*>(ds.get());
  ASSERT_NE(concat, nullptr);
  ASSERT_EQ(ds->size(), 2u);
  EXPECT_EQ(ds->get(0).image.size(1), 4);  // inherits the concat's augment
  EXPECT_EQ(ds->get(1).image.size(1), 8);  // augment: false
  EXPECT_EQ(ds->group_of(1), "s");
}
