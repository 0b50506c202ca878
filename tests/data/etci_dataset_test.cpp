#include "data/etci_dataset.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "data/data_fixtures.hpp"
#include "support/test_support.hpp"

using namespace drshym;
using namespace drshym::data;
using drshym::testing::write_png;

namespace {

constexpr int kW = 32;
constexpr double kEps = 1e-5;

struct TilePlanes {
  std::vector<uint8_t> vv = std::vector<uint8_t>(kW * kW, 120), vh = std::vector<uint8_t>(kW * kW, 180);
  std::vector<uint8_t> flood = std::vector<uint8_t>(kW * kW, 0), body = std::vector<uint8_t>(kW * kW, 0);
};

void write_tile(const std::string& root, const std::string& scene, const std::string& pos, const TilePlanes& t,
                bool with_body = true) {
  const std::string d = root + "/" + scene, name = scene + "_" + pos;
  write_png(d + "/vv/" + name + "_vv.png", kW, kW, t.vv);
  write_png(d + "/vh/" + name + "_vh.png", kW, kW, t.vh);
  write_png(d + "/flood_label/" + name + ".png", kW, kW, t.flood);
  if (with_body) write_png(d + "/water_body_label/" + name + ".png", kW, kW, t.body);
}

// Scene "alpha": a normal tile (flood + permanent water), a tile with swath fill in a corner and
// a small dark patch inside, a tile wholly outside the swath, and one lacking its water_body label.
void write_scene(const std::string& root) {
  TilePlanes a;
  for (int x = 0; x < kW; ++x) {
    a.flood[size_t(x)] = 255;           // row 0 flooded
    a.body[size_t(kW + x)] = 255;       // row 1 permanent water
    a.vv[size_t(x)] = a.vv[size_t(kW + x)] = 20;
  }
  write_tile(root, "alpha", "x-0_y-1", a);

  TilePlanes b;
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 20; ++x) b.vv[size_t(y * kW + x)] = b.vh[size_t(y * kW + x)] = 255;  // 320 px fill at the edge
  for (int y = 20; y < 23; ++y)
    for (int x = 20; x < 23; ++x) {
      b.vv[size_t(y * kW + x)] = b.vh[size_t(y * kW + x)] = 0;  // 9 px of calm water: kept
      b.body[size_t(y * kW + x)] = 255;
    }
  for (int x = 0; x < 20; ++x) b.body[size_t(x)] = 255;  // permanent water under the fill: ignored
  write_tile(root, "alpha", "x-0_y-0", b);

  TilePlanes c;
  std::fill(c.vv.begin(), c.vv.end(), 255);
  std::fill(c.vh.begin(), c.vh.end(), 255);
  std::fill(c.body.begin(), c.body.end(), 255);
  write_tile(root, "alpha", "x-1_y-0", c);

  write_tile(root, "alpha", "x-1_y-1", TilePlanes{}, /*with_body*/ false);

  TilePlanes e;
  write_tile(root, "beta", "x-3_y-2", e);
}

EtciOptions opts(const std::string& root, std::vector<std::string> scenes = {}) {
  EtciOptions o;
  o.root = root;
  o.scenes = std::move(scenes);
  o.progress = false;
  o.threads = 2;
  return o;
}

}  // namespace

TEST(Etci, TilesLabelsAndNoData) {
  drshym::testing::TempDir tmp;
  write_scene(tmp.path());
  EtciDataset ds(opts(tmp.path(), {"alpha"}), ingest::Preprocess{});
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(ds.outside_swath(), 1u);
  EXPECT_EQ(ds.skipped().size(), 2u);
  // Sorted by mosaic position (row x-N, column y-M).
  EXPECT_EQ(ds.id_of(0), "alpha_x-0_y-0");
  EXPECT_EQ(ds.id_of(1), "alpha_x-0_y-1");
  EXPECT_EQ(ds.tiles()[1].row, 0);
  EXPECT_EQ(ds.tiles()[1].col, 1);
  EXPECT_EQ(ds.group_of(0), "alpha");

  EtciTile fill = ds.tile(0);
  EXPECT_EQ(fill.valid_count(), kW * kW - 320);
  EXPECT_EQ(fill.valid[0], 0);
  EXPECT_EQ(fill.valid[size_t(21 * kW + 21)], 1);  // dark interior patch stays valid
  int64_t water = 0;
  for (size_t i = 0; i < fill.label.size(); ++i) water += fill.label[i];
  EXPECT_EQ(water, 9);

  EtciTile t = ds.tile(1);
  EXPECT_EQ(t.valid_count(), kW * kW);
  water = 0;
  for (size_t i = 0; i < t.label.size(); ++i) water += t.label[i];
  EXPECT_EQ(water, 2 * kW);  // flood OR permanent water

  const EtciMapping m = EtciMapping::fitted_default();
  RawSample r = ds.raw(1);
  EXPECT_NEAR(r.vv[0], m.vv(20), kEps);
  EXPECT_NEAR(r.vv[size_t(5 * kW)], m.vv(120), kEps);
  EXPECT_NEAR(r.vh[0], m.vh(180), kEps);
  Sample s = ds.get(1);
  EXPECT_EQ(s.image.sizes(), (std::vector<int64_t>{2, kW, kW}));
  EXPECT_NEAR(s.image[0][0][0].item<float>(), (m.vv(20) + 30.0) / 30.0, kEps);
  EXPECT_EQ(s.label.sum().item<float>(), 2.0f * kW);
}

TEST(Etci, AllScenesAndCustomMapping) {
  drshym::testing::TempDir tmp;
  write_scene(tmp.path());
  EtciOptions o = opts(tmp.path());
  o.mapping = EtciMapping::from_json({{"vv", {0.1, -25.0}}, {"vh", {{"scale", 0.1}, {"offset", -35.0}}}});
  o.cache_mb = 0;
  EtciDataset ds(o, ingest::Preprocess{});
  EXPECT_EQ(ds.scenes(), (std::vector<std::string>{"alpha", "beta"}));
  ASSERT_EQ(ds.size(), 3u);
  EXPECT_EQ(ds.group_of(2), "beta");
  EXPECT_NEAR(ds.raw(2).vv[0], 0.1 * 120 - 25.0, kEps);
  EXPECT_NEAR(ds.raw(2).vh[0], 0.1 * 180 - 35.0, kEps);
}

TEST(Etci, Errors) {
  drshym::testing::TempDir tmp;
  write_scene(tmp.path());
  try {
    EtciDataset ds(opts(tmp.path(), {"gamma"}), ingest::Preprocess{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("gamma"), std::string::npos);
  }
  EXPECT_THROW(EtciDataset(opts(tmp.file("none")), ingest::Preprocess{}), Error);
  EXPECT_THROW(EtciMapping::from_json({{"vv", {-0.1, 0.0}}, {"vh", {0.1, 0.0}}}), Error);
}

TEST(Etci, FillMaskRule) {
  // Fill needs both bands saturated, an edge contact and enough area.
  const int w = 20, h = 20;
  std::vector<uint8_t> vv(w * h, 100), vh(w * h, 100);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < 15; ++x) vv[size_t(y * w + x)] = vh[size_t(y * w + x)] = 255;  // 300 px at the edge
  for (int y = 5; y < 8; ++y) vv[size_t(y * w + 17)] = 0;  // VV-only dark: not fill
  auto m = etci_fill_mask(vv.data(), vh.data(), w, h, 256);
  int64_t n = 0;
  for (auto v : m) n += v;
  EXPECT_EQ(n, 300);
  EXPECT_EQ(etci_fill_mask(vv.data(), vh.data(), w, h, 301)[0], 0);
  int row, col;
  EXPECT_TRUE(parse_etci_position("bangladesh_20170314t115609_x-12_y-30", row, col));
  EXPECT_EQ(row, 12);
  EXPECT_EQ(col, 30);
  EXPECT_FALSE(parse_etci_position("tile", row, col));
}
