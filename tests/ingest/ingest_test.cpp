#include <gdal_priv.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "ingest/preprocess.hpp"
#include "ingest/record.hpp"
#include "ingest/scene.hpp"
#include "ingest/synthetic_scene.hpp"
#include "ingest/tile_scene.hpp"
#include "io/gdal_env.hpp"
#include "io/raster.hpp"
#include "support/test_support.hpp"

using namespace drshym;
namespace fs = std::filesystem;

namespace {
constexpr float kEps5 = 1e-5f;

std::string write_scene(const drshym::testing::TempDir& tmp, int w, int h, std::string* label = nullptr) {
  ingest::SyntheticSceneParams p;
  p.width = w;
  p.height = h;
  std::string path = tmp.file("scene.tif");
  if (label) *label = tmp.file("label.tif");
  ingest::write_synthetic_scene(p, path, label ? *label : "");
  return path;
}

// Cuts scene into 64 px tiles under tmp/tiles and returns the first tile's path.
std::string first_tile_of(const drshym::testing::TempDir& tmp, const std::string& scene) {
  ingest::TileParams p;
  p.scene_uri = scene;
  p.out_dir = tmp.file("tiles");
  p.grid = {64, 0};
  p.progress = false;
  ingest::tile_scene(p);
  return tmp.file("tiles/images/" + fs::path(scene).stem().string() + "_tile_00000.tif");
}

void expect_error_mentions(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected an error mentioning " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}
}  // namespace

TEST(Bands, EngineeringFormulas) {
  float vv[2] = {-10.0f, -20.0f}, vh[2] = {-20.0f, -20.0f};
  std::vector<std::string> bands{"VV", "VH", "VH-VV", "NDPI", "MAG"};
  std::vector<float> out(10);
  ingest::engineer_bands(bands, vv, vh, 2, out.data());
  EXPECT_FLOAT_EQ(out[0], -10.0f);
  EXPECT_FLOAT_EQ(out[2], -20.0f);
  EXPECT_FLOAT_EQ(out[4], -10.0f);  // VH-VV
  EXPECT_NEAR(out[6], (0.01 - 0.1) / (0.01 + 0.1), kEps5);  // NDPI in linear power
  EXPECT_NEAR(out[7], 0.0f, kEps5);
  EXPECT_NEAR(out[8], 10 * std::log10(std::sqrt((0.01 + 0.0001) / 2)), 1e-4);  // MAG dB
  EXPECT_THROW(ingest::engineer_bands({"VH"}, vv, nullptr, 2, out.data()), Error);
  EXPECT_THROW(ingest::engineer_bands({"HH"}, vv, vh, 2, out.data()), Error);
}

TEST(Normalization, ReferenceMinmaxPercentileAndRoundTrip) {
  ingest::Normalization ref;
  std::vector<float> x{-40, -30, -15, 0, 5, NAN};
  ref.apply(x.data(), {"VV"}, x.size());
  EXPECT_FLOAT_EQ(x[0], 0.0f);
  EXPECT_FLOAT_EQ(x[2], 0.5f);
  EXPECT_FLOAT_EQ(x[3], 1.0f);
  EXPECT_FLOAT_EQ(x[4], 1.0f);
  EXPECT_TRUE(std::isnan(x[5]));

  auto mm = ingest::Normalization::from_json({{"method", "minmax"}, {"lo", {-25.0}}, {"hi", {5.0}}});
  std::vector<float> y{-10};
  mm.apply(y.data(), {"VV"}, 1);
  EXPECT_FLOAT_EQ(y[0], 0.5f);

  ingest::Normalization pct;
  pct.method = "percentile";
  std::vector<float> data(101);
  for (int i = 0; i <= 100; ++i) data[i] = float(i);
  pct.fit(data.data(), 1, data.size());
  EXPECT_NEAR(pct.lo[0], 2.0f, 1.0f);
  EXPECT_NEAR(pct.hi[0], 98.0f, 1.0f);
  // Recorded by name + parameters: reapplying the JSON gives identical results.
  auto again = ingest::Normalization::from_json(pct.to_json());
  std::vector<float> a{50, 10}, b{50, 10};
  pct.apply(a.data(), {"VV"}, 2);
  again.apply(b.data(), {"VV"}, 2);
  EXPECT_EQ(a, b);
  EXPECT_THROW(ingest::Normalization::from_json({{"method", "zscore"}}), Error);
  EXPECT_THROW(ingest::Normalization::from_json({{"method", "minmax"}, {"lo", {1.0}}, {"hi", {0.0}}}), Error);
}

TEST(Preprocess, ValidityAndJson) {
  auto pp = ingest::Preprocess::from_json({{"bands", {"vv", "VH-VV"}}, {"normalization", {{"method", "reference"}}}});
  EXPECT_EQ(pp.bands[0], "VV");
  EXPECT_TRUE(pp.needs_vh());
  float vv[4] = {-15, NAN, -15, -21}, vh[4] = {-20, -20, NAN, -27};
  std::vector<float> out;
  std::vector<uint8_t> valid;
  pp.apply(vv, vh, 4, out, valid);
  EXPECT_EQ(valid, (std::vector<uint8_t>{1, 0, 0, 1}));
  EXPECT_FLOAT_EQ(out[0], 0.5f);
  EXPECT_FLOAT_EQ(out[3], 0.3f);
  // Invalid pixels hold each band's mean over the valid ones, not a value the network reads as
  // water (0 is -30 dB).
  EXPECT_FLOAT_EQ(out[1], 0.4f);
  EXPECT_FLOAT_EQ(out[2], 0.4f);
  EXPECT_NE(out[4 + 0], out[4 + 3]);
  EXPECT_NEAR(out[4 + 1], (out[4 + 0] + out[4 + 3]) / 2, 1e-6);
  EXPECT_NEAR(out[4 + 2], out[4 + 1], 1e-6);
  std::vector<float> none_out;
  float nan1[1] = {NAN};
  pp.apply(nan1, nan1, 1, none_out, valid);
  EXPECT_EQ(valid[0], 0);
  EXPECT_FLOAT_EQ(none_out[0], 0.0f);  // no valid pixel to take a mean of: 0
  EXPECT_EQ(ingest::Preprocess::from_json(pp.to_json()).to_json(), pp.to_json());
  EXPECT_THROW(ingest::Preprocess::from_json({{"bands", nlohmann::json::array()}}), Error);
}

TEST(Anchor, PercentileJsonAndBadKeys) {
  EXPECT_FLOAT_EQ(ingest::percentile_of({5, 1, NAN, 3, 2, 4}, 50), 3.0f);
  EXPECT_FLOAT_EQ(ingest::percentile_of({5, 1, 3, 2, 4}, 100), 5.0f);
  EXPECT_TRUE(std::isnan(ingest::percentile_of({NAN}, 50)));
  EXPECT_FLOAT_EQ(ingest::percentile_of_sorted({1, 2, 3, 4, 5}, 50), 3.0f);
  EXPECT_FLOAT_EQ(ingest::percentile_of_sorted({1, 2, 3, 4, 5}, 80), ingest::percentile_of({5, 1, 3, 2, 4}, 80));
  EXPECT_TRUE(std::isnan(ingest::percentile_of_sorted({}, 50)));
  auto pp = ingest::Preprocess::from_json({{"bands", {"VV"}}, {"anchor", {{"percentile", 70}, {"reference_db", -9}}}});
  EXPECT_TRUE(pp.anchor.enabled);
  EXPECT_FLOAT_EQ(pp.anchor.percentile, 70.0f);
  EXPECT_EQ(ingest::Preprocess::from_json(pp.to_json()).to_json(), pp.to_json());
  // No anchor key: off, and the recipe's JSON does not grow one (old checkpoints read the same).
  auto plain = ingest::Preprocess::from_json({{"bands", {"VV"}}});
  EXPECT_FALSE(plain.anchor.enabled);
  EXPECT_FALSE(plain.to_json().contains("anchor"));
  EXPECT_THROW(ingest::Preprocess::from_json({{"bands", {"VV"}}, {"anchor", {{"pct", 80}}}}), Error);
  EXPECT_THROW(ingest::Preprocess::from_json({{"bands", {"VV"}}, {"anchor", {{"percentile", 100}}}}), Error);
  EXPECT_THROW(ingest::Preprocess::from_json({{"bands", {"VV"}}, {"anchor", 3}}), Error);
}

TEST(Anchor, SceneWideOffsetCancelsAndRatiosAreUntouched) {
  auto pp = ingest::Preprocess::from_json({{"bands", {"VV", "VH", "VH-VV", "NDPI"}},
                                            {"anchor", {{"percentile", 80}, {"reference_db", -8}}}});
  const size_t n = 200;
  std::vector<float> vv(n), vh(n), vv3(n), vh3(n);
  std::vector<uint8_t> src_valid(n, 1);
  for (size_t i = 0; i < n; ++i) {
    vv[i] = i < 60 ? -19.0f + 0.01f * float(i) : -9.0f + 0.02f * float(i % 50);  // 30% water
    vh[i] = vv[i] - 6.5f;
    vv3[i] = vv[i] + 3.0f;  // the same scene, calibrated 3 dB brighter
    vh3[i] = vh[i] + 3.0f;
  }
  src_valid[5] = 0;
  const float s0 = pp.anchor.shift(vv.data(), src_valid.data(), n);
  const float s3 = pp.anchor.shift(vv3.data(), src_valid.data(), n);
  EXPECT_NEAR(s0 - s3, 3.0f, kEps5);
  std::vector<float> a, b;
  std::vector<uint8_t> va, vb;
  pp.apply(vv.data(), vh.data(), n, a, va, src_valid.data(), s0);
  pp.apply(vv3.data(), vh3.data(), n, b, vb, src_valid.data(), s3);
  EXPECT_EQ(va, vb);
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], kEps5) << i;
  // The anchored VV p80 lands on the reference: (-8 + 30) / 30 after normalization.
  std::vector<float> sorted(a.begin(), a.begin() + n);
  sorted.erase(sorted.begin() + 5);
  EXPECT_NEAR(ingest::percentile_of(sorted, 80), 22.0f / 30.0f, kEps5);
  // Without the shift the ratio bands are the same; only absolute dB bands move.
  std::vector<float> c;
  std::vector<uint8_t> vc;
  pp.apply(vv.data(), vh.data(), n, c, vc, src_valid.data(), 0.0f);
  for (size_t i = 2 * n; i < 4 * n; ++i) ASSERT_FLOAT_EQ(a[i], c[i]);
  EXPECT_NE(a[10], c[10]);
  // Off: no shift whatever the data.
  EXPECT_EQ(ingest::Preprocess::from_json({{"bands", {"VV"}}}).anchor.shift(vv3.data(), nullptr, n), 0.0f);
}

// A mostly dark scene (dark water beside some land) is anchored on its land mode, so its water
// is not shifted up to land level; a mostly bright scene, a one-mode scene and a scene with too
// little land keep the plain percentile; "whole_scene" restores the plain rule everywhere.
TEST(Anchor, MostlyDarkScenesAreAnchoredOnTheirLandMode) {
  ingest::Anchor a;
  a.enabled = true;
  auto scene = [](size_t n, double water_share, float water_db, float land_db) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) {
      const float jitter = 1.5f * std::sin(float(i) * 0.7f);  // deterministic spread of +-1.5 dB
      v[i] = (double(i) / double(n) < water_share ? water_db : land_db) + jitter;
    }
    return v;
  };
  // 85% water at -16.5 dB, land at -10 dB: the level is the land mode's p80, not water's.
  const auto dark = scene(2000, 0.85, -16.5f, -10.0f);
  const ingest::AnchorLevel lv = a.level(dark);
  EXPECT_TRUE(lv.land_mode);
  EXPECT_NEAR(lv.dark_share, 0.85f, 0.01f);
  EXPECT_NEAR(lv.mode_gap_db, 6.5f, 0.5f);
  EXPECT_NEAR(lv.dark_mean_db, -16.5f, 0.3f);
  EXPECT_GT(lv.split_db, -15.5f);
  EXPECT_LT(lv.split_db, -11.0f);
  EXPECT_NEAR(lv.db, ingest::percentile_of(scene(300, 0.0, -16.5f, -10.0f), 80), 0.2f);
  EXPECT_LT(lv.db - lv.whole_db, ingest::Anchor::kLandModeMaxRaiseDb);
  EXPECT_NEAR(a.shift(dark.data(), nullptr, dark.size()), a.reference_db - lv.db, 1e-5f);
  EXPECT_EQ(lv.to_json()["measured_on"].get<std::string>().rfind("land mode", 0), 0u);
  EXPECT_NE(lv.to_json()["why"].get<std::string>().find("as dark as open water"), std::string::npos);
  // The plain rule would anchor on the water: about 6 dB more shift, and the water read as land.
  ingest::Anchor whole = a;
  whole.dark_scenes = "whole_scene";
  EXPECT_FALSE(whole.level(dark).land_mode);
  EXPECT_GT(whole.shift(dark.data(), nullptr, dark.size()) - a.shift(dark.data(), nullptr, dark.size()), 5.0f);
  // Water at -20 dB beside land at -8: the land mode is 12 dB above the plain level, and the
  // change is bounded to kLandModeMaxRaiseDb.
  const auto deep = scene(2000, 0.85, -20.0f, -8.0f);
  const ingest::AnchorLevel capped = a.level(deep);
  EXPECT_TRUE(capped.land_mode);
  EXPECT_FLOAT_EQ(capped.db, capped.whole_db + ingest::Anchor::kLandModeMaxRaiseDb);
  // Mostly land (20% water), one mode (no water), modes too close (Paraguay-like: 64% water 0.5
  // dB darker than land), nearly all water (0.5% land) and a dominant dark mode too bright for
  // open water (dark fields at -12 dB beside bright ground at -5): the plain percentile.
  for (const auto& v : {scene(2000, 0.2, -20.0f, -8.0f), scene(2000, 0.0, -20.0f, -8.0f),
                        scene(2000, 0.64, -9.8f, -9.3f), scene(2000, 0.995, -20.0f, -8.0f),
                        scene(2000, 0.8, -12.0f, -5.0f)}) {
    const ingest::AnchorLevel plain = a.level(v);
    EXPECT_FALSE(plain.land_mode);
    EXPECT_FALSE(plain.to_json()["why"].get<std::string>().empty());
    EXPECT_FLOAT_EQ(plain.db, ingest::percentile_of(v, 80));
  }
  // The recipe key: default implicit, the other value kept, anything else refused by name.
  auto pp = ingest::Preprocess::from_json({{"bands", {"VV"}}, {"anchor", {{"dark_scenes", "whole_scene"}}}});
  EXPECT_EQ(pp.anchor.dark_scenes, "whole_scene");
  EXPECT_EQ(pp.to_json()["anchor"]["dark_scenes"], "whole_scene");
  EXPECT_FALSE(ingest::Preprocess::from_json({{"bands", {"VV"}}, {"anchor", {{"percentile", 80}}}})
                   .to_json()["anchor"]
                   .contains("dark_scenes"));
  drshym::testing::expect_error(
      [] { ingest::Preprocess::from_json({{"bands", {"VV"}}, {"anchor", {{"dark_scenes", "auto"}}}}); },
      ErrorKind::InvalidInput, {"dark_scenes", "land_mode"});
}

// Issue 26: a scene that is one dark mode (nearly all water, or very smooth land) cannot be
// anchored on land; the level says it cannot be trusted and why, and a land scene's can.
TEST(Anchor, ALevelAsDarkAsOpenWaterIsNotTrusted) {
  ingest::Anchor a;
  a.enabled = true;
  auto scene = [](size_t n, double water_share, float water_db, float land_db) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i)
      v[i] = (double(i) / double(n) < water_share ? water_db : land_db) + 1.5f * std::sin(float(i) * 0.7f);
    return v;
  };
  // All water at -20 dB: one mode, the plain percentile near -18.5 dB, shifted ~10 dB bright.
  const ingest::AnchorLevel water = a.level(scene(2000, 1.0, -20.0f, -8.0f));
  EXPECT_FALSE(water.land_mode);
  EXPECT_LT(water.db, ingest::Anchor::kLandModeMaxDarkDb);
  EXPECT_FALSE(water.trusted());
  EXPECT_NE(water.caution().find("water may be missed"), std::string::npos) << water.caution();
  EXPECT_EQ(water.to_json()["trusted"], false);
  EXPECT_EQ(water.to_json()["caution"], water.caution());
  // Land (all of it, mostly, or ETCI's dark frozen fields at -12 dB), and a mostly-water scene
  // whose land mode set the level: trusted, no caution.
  for (const auto& v : {scene(2000, 0.0, -20.0f, -8.0f), scene(2000, 0.2, -20.0f, -8.0f), scene(2000, 0.0, -20.0f, -12.0f),
                        scene(2000, 0.85, -20.0f, -8.0f)}) {
    const ingest::AnchorLevel lv = a.level(v);
    EXPECT_TRUE(lv.trusted()) << lv.to_json().dump();
    EXPECT_TRUE(lv.caution().empty());
    EXPECT_TRUE(lv.to_json()["caution"].is_null());
  }
  // Nothing valid: no level, nothing to caution about (the caller refuses such a scene).
  EXPECT_TRUE(a.level({}).trusted());
}

TEST(Anchor, SceneShiftIsMeasuredOnTheSceneAndTilesCarryIt) {
  drshym::testing::TempDir tmp;
  std::string scene = write_scene(tmp, 300, 200);
  ingest::Anchor anchor;
  anchor.enabled = true;
  float q = NAN;
  bool from_meta = true;
  auto sc = ingest::open_scene(scene, false);
  const float shift = ingest::scene_anchor_shift(sc, anchor, &q, &from_meta);
  EXPECT_FALSE(from_meta);
  ASSERT_TRUE(std::isfinite(q));
  EXPECT_NEAR(shift, anchor.reference_db - q, kEps5);
  // Equal to the percentile of every valid VV pixel (the scene is below the decimation size).
  auto all = sc.raster.read(Window{0, 0, 300, 200}, {1});
  std::vector<float> v;
  for (size_t i = 0; i < all.valid.size(); ++i)
    if (all.valid[i]) v.push_back(all.data[i]);
  EXPECT_FLOAT_EQ(q, ingest::percentile_of(v, 80));
  // A tile is anchored like its scene, not like itself.
  auto tile = ingest::open_scene(first_tile_of(tmp, scene), false);
  float tq = NAN;
  ingest::scene_anchor_shift(tile, anchor, &tq, &from_meta);
  EXPECT_TRUE(from_meta);
  EXPECT_NEAR(tq, q, 1e-3);
  // A scene with no valid VV pixel cannot be anchored: a clear error naming it.
  auto o = io::like(sc.raster.info(), 1, io::DataType::Float32, std::numeric_limits<double>::quiet_NaN());
  const std::string blank = tmp.file("blank.tif");
  {
    auto r = io::Raster::create_geotiff(blank, o);
    std::vector<float> nan(size_t(300) * 200, NAN);
    r.write_band(1, Window{0, 0, 300, 200}, nan.data());
    r.close();
  }
  auto blank_scene = ingest::open_scene(blank, false);
  try {
    ingest::scene_anchor_shift(blank_scene, anchor);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blank.tif"), std::string::npos) << e.what();
  }
  EXPECT_EQ(ingest::scene_anchor_shift(blank_scene, ingest::Anchor{}), 0.0f);  // anchor off: nothing to measure
}

// A tile of a mostly dark scene carries the scene's land-mode percentiles, so predict anchors it
// as segment anchors the scene (on the scene's land, not on the tile's own values).
TEST(Anchor, TilesOfAMostlyDarkSceneCarryItsLandMode) {
  drshym::testing::TempDir tmp;
  const std::string scene = tmp.file("dark.tif");
  {
    auto o = io::like(io::Raster::open(write_scene(tmp, 128, 128)).info(), 1, io::DataType::Float32,
                      std::numeric_limits<double>::quiet_NaN());
    o.descriptions = {"VV"};
    auto r = io::Raster::create_geotiff(scene, o);
    std::vector<float> vv(size_t(128) * 128);
    for (int y = 0; y < 128; ++y)
      for (int x = 0; x < 128; ++x)
        vv[size_t(y) * 128 + x] = (x < 110 ? -20.0f : -8.0f) + 1.5f * std::sin(0.7f * float(x * 131 + y));
    r.write_band(1, Window{0, 0, 128, 128}, vv.data());
    r.close();
  }
  ingest::Anchor anchor;
  anchor.enabled = true;
  ingest::AnchorLevel lv;
  const float shift = ingest::scene_anchor_shift(ingest::open_scene(scene, false), anchor, nullptr, nullptr, 2048, &lv);
  ASSERT_TRUE(lv.land_mode);
  // The first tile is all water: on its own it would be anchored on water.
  auto tile = ingest::open_scene(first_tile_of(tmp, scene), false);
  ingest::AnchorLevel tl;
  bool from_meta = false;
  EXPECT_NEAR(ingest::scene_anchor_shift(tile, anchor, nullptr, &from_meta, 2048, &tl), shift, 1e-3);
  EXPECT_TRUE(from_meta);
  EXPECT_TRUE(tl.land_mode);
  ingest::Anchor whole = anchor;
  whole.dark_scenes = "whole_scene";
  EXPECT_GT(ingest::scene_anchor_shift(tile, whole) - shift, 6.0f);  // the scene's plain p80 is water
}

TEST(Record, BoundsFromGeotransformAndValidator) {
  GeoTransform gt{{500000, 10, 0, 2900000, 0, -10}};
  auto r = ingest::make_record("s_tile_00001", "EPSG:32644", "", gt, Window{448, 0, 512, 512});
  r.source_uri = "file:///s.tif";
  r.processing = {"tile:512x512"};
  auto j = r.to_json();
  ingest::validate_record(j);
  EXPECT_EQ(j["bounds"], nlohmann::json({504480.0, 2894880.0, 509600.0, 2900000.0}));
  EXPECT_EQ(j["pixel_spacing"], nlohmann::json({10.0, 10.0}));
  for (const char* field : {"image_id", "crs", "bounds", "pixel_spacing", "tile_size", "label_set", "modality"}) {
    auto bad = j;
    bad.erase(field);
    expect_error_mentions([&] { ingest::validate_record(bad); }, std::string("'") + field + "'");
  }
  auto bad = j;
  bad["bounds"] = {1, 2, 3};
  expect_error_mentions([&] { ingest::validate_record(bad); }, "'bounds'");
  bad = j;
  bad["pixel_spacing"] = "10";
  expect_error_mentions([&] { ingest::validate_record(bad); }, "'pixel_spacing'");
  bad = j;
  bad["provenance"].erase("source_uri");
  expect_error_mentions([&] { ingest::validate_record(bad); }, "'provenance.source_uri'");
}

TEST(TileScene, WritesGeoreferencedTilesRecordsAndMeta) {
  drshym::testing::TempDir tmp;
  std::string label;
  std::string scene = write_scene(tmp, 300, 200, &label);
  ingest::TileParams p;
  p.scene_uri = scene;
  p.label_uri = label;
  p.out_dir = tmp.file("out");
  p.grid = {128, 16};
  p.progress = false;
  auto res = ingest::tile_scene(p);
  EXPECT_EQ(res.tiles_written, 3 * 2);
  auto meta = core::read_json_file(res.scene_meta_path);
  EXPECT_EQ(meta["width"], 300);
  EXPECT_EQ(meta["crs"], "EPSG:32644");
  ASSERT_EQ(meta["tiles"].size(), 6u);
  auto src = io::Raster::open(scene);
  for (const auto& t : meta["tiles"]) {
    auto img = io::Raster::open(p.out_dir + "/" + t["image"].get<std::string>());
    auto lab = io::Raster::open(p.out_dir + "/" + t["label"].get<std::string>());
    auto rec = core::read_json_file(p.out_dir + "/" + t["record"].get<std::string>());
    ingest::validate_record(rec);
    Window w{t["window"][0], t["window"][1], t["window"][2], t["window"][3]};
    EXPECT_EQ(img.info().geotransform, src.info().geotransform.shifted(w.x, w.y));
    EXPECT_EQ(lab.info().geotransform, img.info().geotransform);
    EXPECT_EQ(img.info().crs_code, "EPSG:32644");
    auto bounds = src.info().geotransform.bounds(w);
    for (int i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(rec["bounds"][i].get<double>(), bounds[i]);
    // Pixels equal the source window.
    auto a = img.read(Window{0, 0, w.w, w.h}, {1, 2});
    auto b = src.read(w, {1, 2});
    EXPECT_EQ(a.valid, b.valid);
    for (size_t i = 0; i < a.data.size(); ++i) {
      if (!std::isnan(b.data[i])) {
        ASSERT_EQ(a.data[i], b.data[i]);
      }
    }
  }
}

TEST(TileScene, SceneSmallerThanOneTileIsPadded) {
  drshym::testing::TempDir tmp;
  std::string scene = write_scene(tmp, 50, 40);
  ingest::TileParams p{scene, "", tmp.file("out"), {64, 8}, false, false};
  auto res = ingest::tile_scene(p);
  EXPECT_EQ(res.tiles_written, 1);
  auto img = io::Raster::open(tmp.file("out/images/scene_tile_00000.tif"));
  EXPECT_EQ(img.width(), 64);
  auto blk = img.read(Window{0, 0, 64, 64}, {1});
  EXPECT_EQ(blk.valid[63], 0);  // padding is nodata
}

TEST(TileScene, ALabelOffTheZeroOneConventionIsRefusedBeforeWriting) {
  // An ETCI-style 0/255 water mask (no nodata value): its 255s are neither water nor unknown.
  // Before, tile copied them into Int16 label tiles that the folder dataset read as unknown.
  drshym::testing::TempDir tmp;
  std::string label;
  const std::string scene = write_scene(tmp, 64, 64, &label);
  auto src = io::Raster::open(label);
  io::Block b = src.read(Window{0, 0, 64, 64}, {1});
  for (size_t i = 0; i < b.data.size(); ++i) b.data[i] = b.valid[i] && b.data[i] == 1.0f ? 255.0f : 0.0f;
  b.data[0] = 255.0f;  // at least one
  io::CreateOptions o;
  o.width = o.height = 64;
  o.type = io::DataType::Byte;
  o.geotransform = src.info().geotransform;
  o.crs_wkt = src.info().crs_wkt;
  {
    auto r = io::Raster::create_geotiff(tmp.file("mask255.tif"), o);
    r.write_band(1, Window{0, 0, 64, 64}, b.data.data());
    r.close();
  }
  drshym::testing::expect_error(
      [&] { ingest::tile_scene({scene, tmp.file("mask255.tif"), tmp.file("out"), {32, 0}, false, false}); },
      ErrorKind::InvalidInput, {"mask255.tif", "255 (", "0 dry, 1 water, -1 or nodata unknown"});
  EXPECT_FALSE(fs::exists(tmp.file("out")));
  // The same mask with 255 as its nodata value is a valid label (water then reads unknown).
  o.nodata = 255.0;
  {
    auto r = io::Raster::create_geotiff(tmp.file("mask_nd.tif"), o);
    r.write_band(1, Window{0, 0, 64, 64}, b.data.data());
    r.close();
  }
  EXPECT_EQ(ingest::tile_scene({scene, tmp.file("mask_nd.tif"), tmp.file("out"), {32, 0}, false, false}).tiles_written, 4);
}

TEST(TileScene, BadInputsFailCleanlyLeavingNothing) {
  drshym::testing::TempDir tmp;
  std::string scene = write_scene(tmp, 100, 100);
  auto out = tmp.file("out");
  auto run = [&](ingest::TileParams p) {
    p.out_dir = out;
    p.progress = false;
    ingest::tile_scene(p);
  };
  // tile <= 2 * overlap
  expect_error_mentions([&] { run({scene, "", "", {64, 32}}); }, "overlap");
  // missing file
  expect_error_mentions([&] { run({tmp.file("nope.tif"), "", "", {64, 8}}); }, "nope.tif");
  // label on another grid
  ingest::SyntheticSceneParams other;
  other.width = 90;
  other.height = 100;
  ingest::write_synthetic_scene(other, tmp.file("other.tif"), tmp.file("other_label.tif"));
  expect_error_mentions([&] { run({scene, tmp.file("other_label.tif"), "", {64, 8}}); }, "other_label.tif");
  // all-NaN scene
  {
    io::CreateOptions o;
    o.width = o.height = 32;
    o.bands = 2;
    o.crs_wkt = io::crs_wkt_of("EPSG:32644");
    o.geotransform = GeoTransform{{0, 10, 0, 0, 0, -10}};
    o.nodata = std::numeric_limits<double>::quiet_NaN();
    auto r = io::Raster::create_geotiff(tmp.file("nan.tif"), o);
    std::vector<float> v(32 * 32, NAN);
    r.write_band(1, Window{0, 0, 32, 32}, v.data());
    r.write_band(2, Window{0, 0, 32, 32}, v.data());
    r.close();
  }
  expect_error_mentions([&] { run({tmp.file("nan.tif"), "", "", {64, 8}}); }, "no valid pixel");
  // three bands
  {
    io::CreateOptions o;
    o.width = o.height = 16;
    o.bands = 3;
    o.crs_wkt = io::crs_wkt_of("EPSG:32644");
    auto r = io::Raster::create_geotiff(tmp.file("three.tif"), o);
    r.close();
  }
  expect_error_mentions([&] { run({tmp.file("three.tif"), "", "", {64, 8}}); }, "3 bands");
  // no CRS
  {
    io::CreateOptions o;
    o.width = o.height = 16;
    o.bands = 1;
    auto r = io::Raster::create_geotiff(tmp.file("nocrs.tif"), o);
    r.close();
  }
  expect_error_mentions([&] { run({tmp.file("nocrs.tif"), "", "", {64, 8}}); }, "no CRS");
  EXPECT_FALSE(fs::exists(out)) << "a failed run must leave no output behind";
}

namespace {
// A small georeferenced scene with the given band descriptions, values and type.
std::string described_scene(const drshym::testing::TempDir& tmp, const std::string& name,
                            const std::vector<std::string>& descriptions, float base = -12.0f, float step = 0.01f,
                            io::DataType type = io::DataType::Float32) {
  io::CreateOptions o;
  o.width = o.height = 32;
  o.bands = int(descriptions.size());
  o.type = type;
  o.descriptions = descriptions;
  o.crs_wkt = io::crs_wkt_of("EPSG:32644");
  o.geotransform = GeoTransform{{500000, 10, 0, 2900000, 0, -10}};
  auto r = io::Raster::create_geotiff(tmp.file(name), o);
  std::vector<float> v(32 * 32);
  for (size_t i = 0; i < v.size(); ++i) v[i] = base + step * float(i % 97);
  for (int b = 1; b <= o.bands; ++b) r.write_band(b, Window{0, 0, 32, 32}, v.data());
  r.close();
  return tmp.file(name);
}
}  // namespace

TEST(Bands, DescriptionsDecideAndAmbiguityIsRefused) {
  drshym::testing::TempDir tmp;
  auto bands = [&](const std::vector<std::string>& d, bool need_vh = false) {
    return ingest::open_scene(described_scene(tmp, "s.tif", d), need_vh).bands;
  };
  // Descriptions name the bands in any order and any spelling that has the token.
  auto b = bands({"Sigma0_VH_db", "Sigma0_VV_db"});
  EXPECT_EQ(b.vv, 2);
  EXPECT_EQ(b.vh, 1);
  EXPECT_FALSE(b.assumed);
  b = bands({"vv", "vh"}, true);
  EXPECT_EQ(b.vv, 1);
  EXPECT_EQ(b.vh, 2);
  // No description names a polarisation: band order, and the caller is told it was assumed.
  b = bands({"", ""});
  EXPECT_EQ(b.vv, 1);
  EXPECT_EQ(b.vh, 2);
  EXPECT_TRUE(b.assumed);
  // {"VH", ""} used to make band 1 (VH) the VV band.
  expect_error_mentions([&] { bands({"VH", ""}); }, "no band described as VV");
  expect_error_mentions([&] { bands({"VH"}); }, "no band described as VV");
  expect_error_mentions([&] { bands({"HH"}); }, "HH");
  expect_error_mentions([&] { bands({"HH", "HV"}); }, "not supported");
  expect_error_mentions([&] { bands({"VV", "VV"}); }, "ambiguous");
  expect_error_mentions([&] { bands({"VV_VH_ratio"}); }, "more than one polarisation");
  // A VV band beside an undescribed one: the other band is not guessed to be VH.
  EXPECT_EQ(bands({"VV", ""}).vh, 0);
  expect_error_mentions([&] { bands({"VV", ""}, true); }, "none described as VH");
  // Words that merely contain the letters are not polarisations.
  EXPECT_TRUE(bands({"AVVB"}).assumed);
}

TEST(Scene, ValuesThatAreNotDecibelsAreRefusedWithAConversionHint) {
  drshym::testing::TempDir tmp;
  // dB: accepted. Linear power (0.01-0.2), amplitude (0.1-0.5), UInt16 digital numbers, an
  // unflagged -9999 nodata: refused, naming the band and saying how to convert.
  EXPECT_NO_THROW(ingest::open_scene(described_scene(tmp, "db.tif", {"VV", "VH"}), true));
  expect_error_mentions([&] { ingest::open_scene(described_scene(tmp, "lin.tif", {"VV"}, 0.01f, 0.002f), false); },
                        "linear backscatter");
  expect_error_mentions([&] { ingest::open_scene(described_scene(tmp, "amp.tif", {"VV"}, 0.1f, 0.004f), false); },
                        "10*log10");
  expect_error_mentions(
      [&] {
        ingest::open_scene(described_scene(tmp, "dn.tif", {"VV"}, 100.0f, 7.0f, io::DataType::UInt16), false);
      },
      "UInt16");
  expect_error_mentions([&] { ingest::open_scene(described_scene(tmp, "m.tif", {"VV"}, -9999.0f, 0.0f), false); },
                        "nodata");
}

TEST(SyntheticScene, InterruptLeavesNoFile) {
  drshym::testing::TempDir tmp;
  ingest::SyntheticSceneParams p;
  p.width = p.height = 64;
  core::request_interrupt();
  try {
    ingest::write_synthetic_scene(p, tmp.file("demo.tif"), tmp.file("truth.tif"));
    core::clear_interrupt();
    ADD_FAILURE() << "demo-scene ignored the interrupt";
  } catch (const Error& e) {
    core::clear_interrupt();
    EXPECT_EQ(e.kind(), ErrorKind::Interrupted);
  }
  EXPECT_TRUE(drshym::testing::files_in(tmp.path()).empty());
}

TEST(Scene, HeaderClaimingAnAbsurdSizeIsRefusedBeforeAnyAllocation) {
  // A 530-byte sparse GeoTIFF that claims 2^31 - 1 x 2 pixels: reading one row of it used to
  // allocate ~17 GB. It must be refused from its header.
  drshym::testing::TempDir tmp;
  const std::string path = tmp.file("huge.tif");
  {
    io::gdal_init();
    const char* opts[] = {"SPARSE_OK=YES", "BIGTIFF=YES", nullptr};
    GDALDatasetUniquePtr ds(GetGDALDriverManager()->GetDriverByName("GTiff")->Create(
        path.c_str(), std::numeric_limits<int>::max(), 2, 1, GDT_Float32, const_cast<char**>(opts)));
    ASSERT_TRUE(ds);
    double gt[6] = {500000, 10, 0, 2900000, 0, -10};
    ds->SetGeoTransform(gt);
    ds->SetProjection(io::crs_wkt_of("EPSG:32644").c_str());
  }
  ASSERT_LT(fs::file_size(path), 100000u);
  expect_error_mentions([&] { ingest::open_scene(path, false); }, "2147483647 x 2");
}

TEST(RealData, Sen1Floods11ChipTilesAndParaguayRejected) {
  DRSHYM_REQUIRE_SHARED(root, "sen1floods11/v1.1/data/flood_events/HandLabeled");
  drshym::testing::TempDir tmp;
  ingest::TileParams p{root + "/S1Hand/USA_905409_S1Hand.tif", root + "/LabelHand/USA_905409_LabelHand.tif",
                       tmp.file("usa"), {256, 32}, false, false};
  auto res = ingest::tile_scene(p);
  EXPECT_EQ(res.tiles_written, 9);
  auto rec = core::read_json_file(tmp.file("usa/records/USA_905409_S1Hand_tile_00000.json"));
  EXPECT_EQ(rec["crs"], "EPSG:4326");
  EXPECT_NEAR(rec["pixel_spacing"][0].get<double>(), 8.983e-5, 1e-7);
  ingest::TileParams bad{root + "/S1Hand/Paraguay_34417_S1Hand.tif", "", tmp.file("par"), {256, 32}, false, false};
  expect_error_mentions([&] { ingest::tile_scene(bad); }, "Paraguay_34417_S1Hand.tif");
  EXPECT_FALSE(fs::exists(tmp.file("par")));
}

TEST(Preprocess, BeforeBandIsAnchoredOnItsOwnSceneAndNeededWhereValid) {
  drshym::ingest::Preprocess pp = drshym::ingest::Preprocess::from_json(
      {{"bands", {"VV", "vv_before"}}, {"normalization", {{"method", "reference"}}}});
  EXPECT_TRUE(pp.needs_before());
  EXPECT_FALSE(pp.needs_vh());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> vv{-20.0f, -10.0f, -10.0f}, before{-20.0f, -25.0f, nan};
  std::vector<float> out;
  std::vector<uint8_t> valid;
  // After shifted +3 dB, before -3 dB: each band gets its own date's shift.
  pp.apply(vv.data(), nullptr, 3, out, valid, nullptr, 3.0f, before.data(), -3.0f);
  EXPECT_NEAR(out[0], (-17.0f + 30.0f) / 30.0f, 1e-6);
  EXPECT_NEAR(out[3], (-23.0f + 30.0f) / 30.0f, 1e-6);
  EXPECT_EQ(valid[0], 1);
  EXPECT_EQ(valid[2], 0);  // no pre-event value: not valid for a change model
  // A change recipe without a pre-event plane names what is missing.
  try {
    pp.apply(vv.data(), nullptr, 3, out, valid);
    FAIL();
  } catch (const drshym::Error& e) {
    EXPECT_NE(std::string(e.what()).find("pre-event"), std::string::npos) << e.what();
  }
}

TEST(Preprocess, TerrainBandsReadTheirPlanesAreNeverAnchoredAndNeededWhereValid) {
  drshym::ingest::Preprocess pp = drshym::ingest::Preprocess::from_json(
      {{"bands", {"VV", "hand", "SLOPE", "DEM"}}, {"normalization", {{"method", "reference"}}}});
  EXPECT_TRUE(pp.needs_terrain());
  EXPECT_FALSE(pp.needs_vh());
  EXPECT_FALSE(pp.needs_before());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> vv{-20.0f, -10.0f, -10.0f};
  // Planes in kTerrainPlanes' order: heights, slopes, HAND.
  const std::vector<float> terrain{40.0f, 1900.0f, 10.0f, /**/ 9.0f, 60.0f, 1.0f, /**/ 5.0f, 25.0f, nan};
  std::vector<float> out;
  std::vector<uint8_t> valid;
  pp.apply(vv.data(), nullptr, 3, out, valid, nullptr, 3.0f, nullptr, 0.0f, terrain.data());
  EXPECT_NEAR(out[0], (-17.0f + 30.0f) / 30.0f, 1e-6);  // VV shifted by the anchor
  EXPECT_NEAR(out[3 + 0], 5.0f / 50.0f, 1e-6);          // HAND / 50, not shifted
  EXPECT_NEAR(out[3 + 1], 25.0f / 50.0f, 1e-6);
  EXPECT_NEAR(out[6 + 0], 9.0f / 45.0f, 1e-6);          // SLOPE / 45
  EXPECT_NEAR(out[6 + 1], 1.0f, 1e-6);                  // 60° clipped
  EXPECT_NEAR(out[9 + 0], (40.0f + 100.0f) / 2100.0f, 1e-6);
  EXPECT_EQ(valid[0], 1);
  EXPECT_EQ(valid[1], 1);
  EXPECT_EQ(valid[2], 0);  // no HAND there: not valid for a terrain model
  EXPECT_NEAR(out[9 + 2], (out[9 + 0] + out[9 + 1]) / 2, 1e-6);  // invalid: the band's mean over the valid pixels
  drshym::testing::expect_error([&] { pp.apply(vv.data(), nullptr, 3, out, valid); }, drshym::ErrorKind::InvalidInput,
                                {"HAND", "needs terrain", "--dem"});
  EXPECT_FALSE(drshym::ingest::Preprocess::from_json({{"bands", {"VV"}}}).needs_terrain());
}
