#include <atomic>
#include "infer/segment.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <random>

#include <fmt/format.h>

#include "core/cancel.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "crop_fixture.hpp"
#include "infer/batch.hpp"
#include "infer/predictor.hpp"
#include "ingest/synthetic_scene.hpp"
#include "model/segnet.hpp"
#include "model/checkpoint.hpp"
#include "ingest/tile_scene.hpp"
#include "io/raster.hpp"
#include "support/test_support.hpp"

using namespace drshym;
namespace fs = std::filesystem;

namespace {
const infer::Predictor& predictor() {
  static infer::Predictor p([] {
    infer::PredictorParams pp;
    pp.checkpoint = std::string(DRSHYM_SOURCE_DIR) + "/models/default";
    pp.threads = 1;
    return pp;
  }());
  return p;
}

// Files left in a folder (none of ours may remain after a failed or interrupted run).
using drshym::testing::files_in;

std::string synthetic_scene(const drshym::testing::TempDir& tmp, int w, int h) {
  ingest::SyntheticSceneParams sp;
  sp.width = w;
  sp.height = h;
  std::string path = tmp.file("scene.tif");
  ingest::write_synthetic_scene(sp, path);
  return path;
}

void expect_same_grid(const std::string& a, const std::string& b) {
  auto ra = io::Raster::open(a), rb = io::Raster::open(b);
  EXPECT_EQ(ra.width(), rb.width());
  EXPECT_EQ(ra.height(), rb.height());
  EXPECT_EQ(ra.info().geotransform, rb.info().geotransform);
  EXPECT_TRUE(io::same_crs(ra.info().crs_wkt, rb.info().crs_wkt));
}
// Water IoU of a run's mask against the demo generator's own truth (same grid).
double demo_water_iou(const ingest::SyntheticSceneParams& sp, const std::string& mask_path) {
  std::vector<float> vv, vh;
  std::vector<uint8_t> truth;
  ingest::synthesize_window(sp, Window{0, 0, sp.width, sp.height}, vv, vh, truth);
  auto mask = io::Raster::open(mask_path).read(Window{0, 0, sp.width, sp.height}, {1});
  int64_t inter = 0, uni = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] == 255 || !mask.valid[i]) continue;
    const bool t = truth[i] == 1, m = mask.data[i] == 1;
    inter += t && m;
    uni += t || m;
  }
  return uni ? double(inter) / double(uni) : 0.0;
}
}  // namespace

TEST(Segment, DemoSceneOutputsKeepGridNodataAndMatchStitch) {
  drshym::testing::TempDir tmp;
  ingest::SyntheticSceneParams sp;
  sp.width = 300;
  sp.height = 260;
  std::string scene = tmp.file("demo.tif");
  ingest::write_synthetic_scene(sp, scene);
  infer::SegmentParams p;
  p.scene_uri = scene;
  p.out_dir = tmp.file("seg");
  p.grid = {128, 16};
  p.progress = false;
  auto r = infer::segment_scene(p, predictor());
  for (const char* k : {"proba", "mask", "geojson", "record"})
    EXPECT_TRUE(fs::exists(r.outputs[k].get<std::string>())) << k;
  EXPECT_FALSE(r.outputs.contains("overlay_png"));  // drawn only by a render hook (explain)
  expect_same_grid(scene, r.outputs["proba"]);
  expect_same_grid(scene, r.outputs["mask"]);
  // Nodata in → nodata out (255 is the mask's nodata, so read() reports it invalid).
  EXPECT_EQ(*io::Raster::open(r.outputs["mask"].get<std::string>()).info().nodata[0], 255.0);
  auto src = io::Raster::open(scene).read(Window{0, 0, 300, 260}, {1});
  auto mask = io::Raster::open(r.outputs["mask"].get<std::string>()).read(Window{0, 0, 300, 260}, {1});
  for (size_t i = 0; i < src.valid.size(); ++i) {
    if (!src.valid[i]) {
      ASSERT_EQ(mask.valid[i], 0) << "pixel " << i << " had no data in but has a mask value";
    }
  }
  // The demo's river and lake against the generator's truth: 0.82 measured (a broken model,
  // threshold or blend falls well below).
  EXPECT_GT(demo_water_iou(sp, r.outputs["mask"]), 0.78);
  // tile → predict → stitch reproduces segment.
  ingest::tile_scene({scene, "", tmp.file("tiles"), {128, 16}, false, false});
  infer::PredictFolderParams pf{tmp.file("tiles/images"), tmp.file("pred"), 4, false};
  auto pr = infer::predict_folder(pf, predictor());
  EXPECT_TRUE(pr.failed.empty());
  auto st = infer::stitch_tiles({tmp.file("pred"), tmp.file("tiles/scene_meta.json"), tmp.file("stitched"), std::nullopt, true});
  auto a = io::Raster::open(r.outputs["proba"].get<std::string>()).read(Window{0, 0, 300, 260}, {1});
  auto b = io::Raster::open(st.proba_path).read(Window{0, 0, 300, 260}, {1});
  EXPECT_EQ(a.valid, b.valid);
  for (size_t i = 0; i < a.data.size(); ++i) {
    if (a.valid[i]) {
      ASSERT_NEAR(a.data[i], b.data[i], 1e-4);
    }
  }
}

TEST(Segment, SceneAnchorCancelsACalibrationOffset) {
  // A copy of the default model whose recipe anchors each scene's VV p80 at -8 dB: the same
  // scene calibrated 3 dB brighter must give the same probabilities, tile for tile.
  drshym::testing::TempDir tmp;
  auto model_copy = [&](const std::string& name, const nlohmann::json& anchor) {
    fs::create_directories(tmp.file(name));
    for (const char* f : {"model.pt", "model.json"})
      fs::copy_file(std::string(DRSHYM_SOURCE_DIR) + "/models/default/" + f, tmp.file(name + "/") + f);
    auto meta = core::read_json_file(tmp.file(name + "/model.json"));
    meta["preprocess"].erase("anchor");
    if (!anchor.is_null()) meta["preprocess"]["anchor"] = anchor;
    core::write_json_file(tmp.file(name + "/model.json"), meta);
    infer::PredictorParams pp;
    pp.checkpoint = tmp.file(name);
    pp.threads = 1;
    return infer::Predictor(pp);
  };
  infer::Predictor anchored = model_copy("anchored", {{"percentile", 80}, {"reference_db", -8}});
  infer::Predictor unanchored = model_copy("unanchored", nullptr);
  ASSERT_TRUE(anchored.preprocess().anchor.enabled);

  std::string scene = synthetic_scene(tmp, 300, 260);
  const std::string brighter = tmp.file("brighter.tif");
  {
    auto src = io::Raster::open(scene);
    auto all = src.read(Window{0, 0, 300, 260}, {1, 2});
    for (float& x : all.data) x += 3.0f;
    auto o = io::like(src.info(), 2, io::DataType::Float32, std::numeric_limits<double>::quiet_NaN());
    o.descriptions = {"VV", "VH"};
    auto dst = io::Raster::create_geotiff(brighter, o);
    for (int b = 0; b < 2; ++b) dst.write_band(b + 1, Window{0, 0, 300, 260}, all.band(b));
    dst.close();
  }
  // Probabilities and the record's anchor of one run.
  auto run = [&](const std::string& uri, const std::string& out, const infer::Predictor& model) {
    infer::SegmentParams p;
    p.scene_uri = uri;
    p.out_dir = tmp.file(out);
    p.grid = {128, 16};
    p.progress = false;
    p.write_overlay = false;
    p.write_polygons = false;
    auto r = infer::segment_scene(p, model);
    return std::pair{io::Raster::open(r.outputs["proba"].get<std::string>()).read(Window{0, 0, 300, 260}, {1}).data,
                     r.record["provenance"]["anchor"]};
  };
  auto [p0, a0] = run(scene, "out", anchored);
  auto [p3, a3] = run(brighter, "out", anchored);
  EXPECT_NEAR(a0["shift_db"].get<double>() - a3["shift_db"].get<double>(), 3.0, 1e-4);
  EXPECT_EQ(a0["measured_on"], "scene");
  ASSERT_EQ(p0.size(), p3.size());
  for (size_t i = 0; i < p0.size(); ++i) {
    if (std::isnan(p0[i])) {
      ASSERT_TRUE(std::isnan(p3[i])) << i;
    } else {
      ASSERT_NEAR(p0[i], p3[i], 1e-4) << i;
    }
  }
  // The same model without the anchor does see the offset (so the check above can fail).
  auto plain = run(brighter, "plain", unanchored).first;
  double max_diff = 0;
  for (size_t i = 0; i < plain.size(); ++i)
    if (!std::isnan(plain[i])) max_diff = std::max(max_diff, double(std::fabs(plain[i] - p0[i])));
  EXPECT_GT(max_diff, 0.01);
}

TEST(Segment, ParallelModelWorkersGiveBitIdenticalOutputs) {
  // Tiles finish out of order across workers; the writer blends them in grid order, so the
  // result must not depend on scheduling: bit-identical for any worker count. Another batch
  // size may take another convolution path in oneDNN: equal to float rounding.
  drshym::testing::TempDir tmp;
  std::string scene = synthetic_scene(tmp, 300, 260);
  infer::SegmentParams p;
  p.scene_uri = scene;
  p.grid = {64, 8};  // 5 x 5 tiles
  p.progress = false;
  p.write_overlay = false;
  std::vector<std::vector<float>> probas;
  for (auto [workers, batch] : {std::pair{1, 1}, std::pair{3, 1}, std::pair{2, 3}}) {
    p.model_workers = workers;
    p.batch_size = batch;
    p.out_dir = tmp.file("w" + std::to_string(workers) + "b" + std::to_string(batch));
    auto r = infer::segment_scene(p, predictor());
    EXPECT_EQ(r.record["provenance"]["model_workers"], workers);
    probas.push_back(io::Raster::open(r.outputs["proba"].get<std::string>()).read(Window{0, 0, 300, 260}, {1}).data);
  }
  for (size_t k = 1; k < probas.size(); ++k) {
    ASSERT_EQ(probas[k].size(), probas[0].size());
    for (size_t i = 0; i < probas[0].size(); ++i) {
      if (std::isnan(probas[0][i])) {
        ASSERT_TRUE(std::isnan(probas[k][i])) << "run " << k << " pixel " << i;
      } else if (k == 1) {
        ASSERT_EQ(probas[k][i], probas[0][i]) << "3 workers vs 1, pixel " << i;
      } else {
        ASSERT_NEAR(probas[k][i], probas[0][i], 1e-5) << "batch 3 vs 1, pixel " << i;
      }
    }
  }
}

TEST(Segment, WindowsWithoutValidPixelsSkipTheModelAndStayNodata) {
  drshym::testing::TempDir tmp;
  std::string scene = synthetic_scene(tmp, 256, 256);
  // Blank the top-left 128 x 128 (NaN, the scene's nodata): 4 of the 16 64-px windows.
  auto src = io::Raster::open(scene);
  auto all = src.read(Window{0, 0, 256, 256}, {1, 2});
  for (int b = 0; b < 2; ++b)
    for (int row = 0; row < 128; ++row)
      for (int col = 0; col < 128; ++col) all.band(b)[size_t(row) * 256 + col] = std::nanf("");
  {
    auto out = io::Raster::create_geotiff(tmp.file("holed.tif"), io::like(src.info(), 2, io::DataType::Float32,
                                                                          std::numeric_limits<double>::quiet_NaN()));
    out.write_band(1, Window{0, 0, 256, 256}, all.band(0));
    out.write_band(2, Window{0, 0, 256, 256}, all.band(1));
  }
  infer::SegmentParams p;
  p.scene_uri = tmp.file("holed.tif");
  p.out_dir = tmp.file("out");
  p.grid = {64, 0};
  p.progress = false;
  p.model_workers = 2;  // skipped tiles interleave with run ones across workers
  auto r = infer::segment_scene(p, predictor());
  EXPECT_EQ(r.record["stats"]["tiles"], 16);
  EXPECT_EQ(r.record["stats"]["tiles_skipped_no_valid_pixel"], 4);
  auto in = io::Raster::open(tmp.file("holed.tif")).read(Window{0, 0, 256, 256}, {1, 2});
  auto mask = io::Raster::open(r.outputs["mask"].get<std::string>()).read(Window{0, 0, 256, 256}, {1});
  EXPECT_EQ(in.valid, mask.valid);
}

TEST(Segment, AResNetEncoderNeedsTilesInMultiplesOf32) {
  // README: ResNet encoders downsample 32x, so their tiles are multiples of 32; segment says so
  // (with the nearest size that works) before any output, and runs at a size that is.
  drshym::testing::TempDir tmp;
  nlohmann::json meta = core::read_json_file(std::string(DRSHYM_SOURCE_DIR) + "/models/default/model.json");
  model::ModelConfig cfg;
  cfg.arch = "unet_resnet18";
  cfg.base_width = 4;
  cfg.in_channels = 2;
  torch::manual_seed(42);
  model::SegNet net = model::make_model(cfg);
  net->eval();
  meta.erase("heads");
  meta["model"] = net->config().to_json();
  model::save_checkpoint(tmp.file("resnet/model.pt"), net, meta);
  infer::PredictorParams pp;
  pp.checkpoint = tmp.file("resnet");
  pp.threads = 1;
  infer::Predictor resnet(pp);
  const std::string scene = synthetic_scene(tmp, 128, 128);
  infer::SegmentParams p;
  p.scene_uri = scene;
  p.out_dir = tmp.file("out");
  p.grid = {48, 8};
  p.progress = false;
  p.write_classes = false;
  drshym::testing::expect_error([&] { infer::segment_scene(p, resnet); }, ErrorKind::Usage,
                                {"tile size 48 is not a multiple of 32", "unet_resnet18", "try 32"});
  EXPECT_TRUE(files_in(p.out_dir).empty());
  p.grid = {64, 8};
  EXPECT_NO_THROW(infer::segment_scene(p, resnet));
  EXPECT_TRUE(fs::exists(p.out_dir + "/scene_mask.tif"));
}

TEST(Segment, ANetworkOnA20mGridRunsA20mSceneOnItsOwnPixels) {
  // A grid-2 network averages 10 m pixels to 20 m before it runs. A 10 m scene is averaged
  // (factor 2); a 20 m scene is not (factor 1): its probabilities are exactly those of the same
  // weights saved as a grid-1 network. The record says which.
  drshym::testing::TempDir tmp;
  nlohmann::json meta = core::read_json_file(std::string(DRSHYM_SOURCE_DIR) + "/models/default/model.json");
  meta.erase("heads");
  model::ModelConfig cfg;
  cfg.base_width = 4;
  cfg.grid = 2;
  torch::manual_seed(42);
  model::SegNet net = model::make_model(cfg);
  net->eval();
  meta["model"] = net->config().to_json();
  model::save_checkpoint(tmp.file("g2/model.pt"), net, meta);
  cfg.grid = 1;
  model::SegNet same = model::make_model(cfg);
  model::copy_state(*net, *same, "the grid-2 network");
  same->eval();
  meta["model"] = same->config().to_json();
  model::save_checkpoint(tmp.file("g1/model.pt"), same, meta);
  auto load = [&](const std::string& dir) {
    infer::PredictorParams pp;
    pp.checkpoint = tmp.file(dir);
    pp.threads = 1;
    return std::make_unique<infer::Predictor>(pp);
  };
  const auto g2 = load("g2"), g1 = load("g1");
  auto run = [&](double pixel, const infer::Predictor& model, const std::string& out) {
    ingest::SyntheticSceneParams sp;
    sp.width = sp.height = 192;
    sp.pixel_size = pixel;
    const std::string scene = tmp.file("scene.tif");
    ingest::write_synthetic_scene(sp, scene);
    infer::SegmentParams p;
    p.scene_uri = scene;
    p.out_dir = tmp.file(out);
    p.grid = {64, 16};
    p.progress = false;
    p.write_classes = false;
    return infer::segment_scene(p, model).record["provenance"]["network_grid"];
  };
  auto ten = run(10.0, *g2, "ten");
  EXPECT_EQ(ten["factor"], 2) << ten.dump();
  EXPECT_NEAR(ten["pixel_m"].get<double>(), 10.0, 1e-6);
  EXPECT_NEAR(ten["processing_m"].get<double>(), 20.0, 1e-6);
  auto twenty = run(20.0, *g2, "twenty");
  EXPECT_EQ(twenty["factor"], 1) << twenty.dump();
  EXPECT_NEAR(twenty["processing_m"].get<double>(), 20.0, 1e-6);
  EXPECT_EQ(run(20.0, *g1, "plain")["factor"], 1);
  const Window all{0, 0, 192, 192};
  auto a = io::Raster::open(tmp.file("twenty/scene_proba.tif")).read(all, {1});
  auto b = io::Raster::open(tmp.file("plain/scene_proba.tif")).read(all, {1});
  ASSERT_EQ(a.data.size(), b.data.size());
  size_t differ = 0;
  for (size_t i = 0; i < a.data.size(); ++i) differ += a.valid[i] && std::abs(a.data[i] - b.data[i]) > 1e-5f;
  EXPECT_EQ(differ, 0u);
  // The 10 m scene's map is not the unaveraged one (the averaging really ran).
  run(10.0, *g1, "plain10");
  auto c = io::Raster::open(tmp.file("ten/scene_proba.tif")).read(all, {1});
  auto d = io::Raster::open(tmp.file("plain10/scene_proba.tif")).read(all, {1});
  differ = 0;
  for (size_t i = 0; i < c.data.size(); ++i) differ += c.valid[i] && std::abs(c.data[i] - d.data[i]) > 1e-3f;
  EXPECT_GT(differ, c.data.size() / 10);
}

TEST(Segment, BadInputsFailBeforeWriting) {
  drshym::testing::TempDir tmp;
  infer::SegmentParams p;
  p.progress = false;
  p.out_dir = tmp.file("out");
  p.scene_uri = tmp.file("missing.tif");
  try {
    infer::segment_scene(p, predictor());
    ADD_FAILURE() << "a missing scene was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound) << e.what();
    EXPECT_NE(std::string(e.what()).find("missing.tif"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(tmp.file("out")));  // the folder is not even created
  // An output folder that cannot be created: an Io error naming it, before any compute.
  p.out_dir = "/proc/not_writable";
  ingest::SyntheticSceneParams sp;
  sp.width = sp.height = 64;
  ingest::write_synthetic_scene(sp, tmp.file("s.tif"));
  p.scene_uri = tmp.file("s.tif");
  try {
    infer::segment_scene(p, predictor());
    ADD_FAILURE() << "an unwritable output folder was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Io) << e.what();
    EXPECT_NE(std::string(e.what()).find("/proc/not_writable"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists("/proc/not_writable"));
  // A negative worker count is a usage error, raised before any output exists.
  p.out_dir = tmp.file("out_workers");
  p.model_workers = -1;
  try {
    infer::segment_scene(p, predictor());
    FAIL() << "negative model_workers accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    EXPECT_NE(std::string(e.what()).find("workers"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(files_in(p.out_dir).empty());
}

TEST(Segment, AoiCropsOutputsAndMasksOutsideThePolygon) {
  drshym::testing::TempDir tmp;
  // Synthetic scene: EPSG:32644, 10 m, upper-left (500000, 2900000). A right triangle AOI
  // (given in the scene's UTM zone) spanning pixels 64..192 in x and y.
  std::string scene = synthetic_scene(tmp, 256, 256);
  const double x0 = 500640, y0 = 2899360;
  std::ofstream(tmp.file("aoi.geojson"))
      << R"({"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"EPSG:32644"}},)"
      << R"("features":[{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[)" << "["
      << x0 << "," << y0 << "],[" << x0 + 1280 << "," << y0 << "],[" << x0 << "," << y0 - 1280 << "],[" << x0 << ","
      << y0 << "]]]}}]}";
  infer::SegmentParams p;
  p.scene_uri = scene;
  p.out_dir = tmp.file("out");
  p.aoi_path = tmp.file("aoi.geojson");
  p.grid = {64, 8};
  p.progress = false;
  auto r = infer::segment_scene(p, predictor());
  auto mask = io::Raster::open(r.outputs["mask"].get<std::string>());
  EXPECT_EQ(mask.width(), 128);
  EXPECT_EQ(mask.height(), 128);
  EXPECT_EQ(mask.info().geotransform, (GeoTransform{{x0, 10, 0, y0, 0, -10}}));
  auto m = mask.read(Window{0, 0, 128, 128}, {1});
  for (int row = 0; row < 128; ++row)
    for (int col = 0; col < 128; ++col)
      if (row + col > 128) {
        ASSERT_EQ(m.valid[size_t(row) * 128 + col], 0) << "pixel outside the AOI has a value: " << row << "," << col;
      }
  EXPECT_GT(m.valid_count(), 7000);
  EXPECT_EQ(r.record["provenance"]["window"], nlohmann::json({64, 64, 128, 128}));
  // The scene's grid (windows at 0, 56, 112, 168, 192) has 3 x 3 windows touching the AOI's
  // bounding box [64, 192); the three at the bottom-right (x + y >= 280 > 256) miss the
  // triangle and are neither read nor run.
  EXPECT_EQ(r.record["stats"]["tiles"], 9);
  EXPECT_EQ(r.record["stats"]["tiles_skipped_no_valid_pixel"], 3);

  // No overlap: a polygon on the other side of the world. Not a polygon: a LineString.
  std::ofstream(tmp.file("far.geojson"))
      << R"({"type":"Polygon","coordinates":[[[-100,40],[-99.9,40],[-99.9,40.1],[-100,40]]]})";
  std::ofstream(tmp.file("line.geojson")) << R"({"type":"LineString","coordinates":[[86,26],[86.1,26.1]]})";
  for (auto [aoi, needle] : {std::pair{"far.geojson", "does not overlap"}, std::pair{"line.geojson", "polygon"}}) {
    p.aoi_path = tmp.file(aoi);
    p.out_dir = tmp.file(std::string("out_") + aoi);
    try {
      infer::segment_scene(p, predictor());
      FAIL() << aoi << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(aoi), std::string::npos) << e.what();
    }
    EXPECT_TRUE(files_in(p.out_dir).empty());
  }
}

TEST(Segment, AoiNeverChangesPredictionsInsideIt) {
  // The AOI crops outputs; it must not alter what the model sees. Every pixel inside it gets
  // the probability of the uncropped run (before the fix, pixels outside the polygon were
  // blanked to -30 dB before the model ran and probabilities near its edge moved by up to 0.7).
  drshym::testing::TempDir tmp;
  std::string scene = synthetic_scene(tmp, 256, 256);
  infer::SegmentParams p;
  p.scene_uri = scene;
  p.grid = {64, 8};
  p.progress = false;
  p.write_overlay = false;
  p.write_polygons = false;
  p.out_dir = tmp.file("full");
  auto full = infer::segment_scene(p, predictor());
  auto fp = io::Raster::open(full.outputs["proba"].get<std::string>()).read(Window{0, 0, 256, 256}, {1});
  // A quadrilateral inset 50-60 px from the edges, in the scene's UTM zone.
  const double X = 500000, Y = 2900000;
  std::ofstream(tmp.file("aoi.geojson"))
      << R"({"type":"Polygon","crs":{"type":"name","properties":{"name":"EPSG:32644"}},"coordinates":[[)"
      << "[" << X + 500 << "," << Y - 600 << "],[" << X + 2000 << "," << Y - 550 << "],[" << X + 1950 << ","
      << Y - 2000 << "],[" << X + 600 << "," << Y - 1900 << "],[" << X + 500 << "," << Y - 600 << "]]]}";
  p.aoi_path = tmp.file("aoi.geojson");
  p.out_dir = tmp.file("aoi");
  auto cropped = infer::segment_scene(p, predictor());
  const auto win = cropped.record["provenance"]["window"];
  const int x0 = win[0], y0 = win[1], w = win[2], h = win[3];
  EXPECT_EQ(x0, 50);
  EXPECT_EQ(y0, 55);
  auto cp = io::Raster::open(cropped.outputs["proba"].get<std::string>()).read(Window{0, 0, w, h}, {1});
  int inside = 0;
  double max_diff = 0;
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c) {
      const size_t i = size_t(r) * w + c;
      if (!cp.valid[i]) continue;
      ++inside;
      max_diff = std::max(max_diff, double(std::fabs(cp.data[i] - fp.data[size_t(r + y0) * 256 + c + x0])));
    }
  EXPECT_GT(inside, 15000);
  EXPECT_LT(max_diff, 1e-4);
}

TEST(Segment, FloodAreaIsInSquareKilometresForGeographicScenes) {
  // The synthetic scene relabelled EPSG:4326 and EPSG:4269 (0.0001° pixels near 26°N): the
  // record's km² must be the ellipsoidal area of the flooded pixels, not degrees² (EPSG:4269
  // gave 1e-9 "km²") or nothing (EPSG:4326).
  drshym::testing::TempDir tmp;
  std::string scene = synthetic_scene(tmp, 128, 128);
  for (const char* crs : {"EPSG:4326", "EPSG:4269"}) {
    const std::string relabelled = tmp.file(std::string("geo_") + (crs + 5) + ".tif");
    {
      auto src = io::Raster::open(scene);
      auto all = src.read(Window{0, 0, 128, 128}, {1, 2});
      auto o = io::like(src.info(), 2, io::DataType::Float32, std::numeric_limits<double>::quiet_NaN());
      o.crs_wkt = io::crs_wkt_of(crs);
      o.geotransform = GeoTransform{{86.0, 1e-4, 0, 26.0, 0, -1e-4}};
      o.descriptions = {"VV", "VH"};
      auto dst = io::Raster::create_geotiff(relabelled, o);
      for (int b = 0; b < 2; ++b) dst.write_band(b + 1, Window{0, 0, 128, 128}, all.band(b));
    }
    infer::SegmentParams p;
    p.scene_uri = relabelled;
    p.out_dir = tmp.file(std::string("out_") + (crs + 5));
    p.grid = {64, 8};
    p.progress = false;
    p.write_overlay = false;
    p.min_area_m2 = 0;  // every polygon kept
    auto r = infer::segment_scene(p, predictor());
    const auto& stats = r.record["stats"];
    ASSERT_TRUE(stats.contains("flood_area_km2")) << crs << ": " << stats.dump();
    ASSERT_GT(r.flood_pixels, 100) << crs;
    // 0.0001° at 26°N: 11.07 m (lat) x 10.01 m (lon) ≈ 110.8 m² a pixel.
    EXPECT_NEAR(stats["flood_area_km2"].get<double>() / (double(r.flood_pixels) * 110.8e-6), 1.0, 0.01) << crs;
    EXPECT_NE(stats["area_method"].get<std::string>().find("ellipsoidal"), std::string::npos);
    // Polygon areas agree with the pixel count (the same pixels, measured two ways: the
    // polygons' geodesic areas against the pixels' ellipsoidal ones) when no polygon is
    // dropped for its size: equal to 0.1% (they agree to 1e-6 today), where dropping the speckle
    // below the default 1000 m² costs 4.4% here.
    EXPECT_EQ(stats["polygons_dropped_below_min_area"], 0) << crs;
    EXPECT_NEAR(stats["flood_polygon_area_km2"].get<double>(), stats["flood_area_km2"].get<double>(),
                0.001 * stats["flood_area_km2"].get<double>())
        << crs;
  }
}

// Speckled land only (VV -8 dB, VH -15 dB, 4-look gamma speckle), no water anywhere; NaN (no
// data) where nodata(x, y) says so.
static std::string land_scene(const drshym::testing::TempDir& tmp, int w, int h, const char* crs, const std::string& name,
                              const std::function<bool(int, int)>& nodata = {}) {
  io::CreateOptions o;
  o.width = w;
  o.height = h;
  o.bands = 2;
  o.type = io::DataType::Float32;
  o.nodata = std::numeric_limits<double>::quiet_NaN();
  o.crs_wkt = io::crs_wkt_of(crs);
  o.geotransform = std::string(crs) == "EPSG:4326" ? GeoTransform{{-1.5, 1e-4, 0, 6.5, 0, -1e-4}}
                                                   : GeoTransform{{500000, 10, 0, 5000000, 0, -10}};
  o.descriptions = {"VV", "VH"};
  const std::string path = tmp.file(name);
  auto dst = io::Raster::create_geotiff(path, o);
  std::mt19937 rng(42);
  std::gamma_distribution<float> speckle(4.0f, 0.25f);
  for (int b = 0; b < 2; ++b) {
    std::vector<float> v(size_t(w) * h);
    const float db = b == 0 ? -8.0f : -15.0f;
    for (auto& x : v) x = db + 10.0f * std::log10(speckle(rng));
    if (nodata)
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          if (nodata(x, y)) v[size_t(y) * w + x] = std::numeric_limits<float>::quiet_NaN();
    dst.write_band(b + 1, Window{0, 0, w, h}, v.data());
  }
  return path;
}

TEST(Segment, LandOnlyScenesOfAnySizeHaveNoWaterAlongTheirEdges) {
  // A scene smaller than one tile is padded out to the tile: the padding must not leak into
  // the outputs (a constant pad read as dark water and mapped the whole last row and column
  // as water on 360 and 500 px scenes). Sizes below, at and above one 512 px tile; the 360 px
  // scene is also in lon/lat, where a dry scene failed to measure its (absent) polygons.
  drshym::testing::TempDir tmp;
  struct Case { int w, h; const char* crs; };
  for (const Case c : {Case{200, 200, "EPSG:32633"}, Case{360, 360, "EPSG:32633"}, Case{500, 500, "EPSG:32633"},
                       Case{500, 300, "EPSG:32633"}, Case{512, 512, "EPSG:32633"}, Case{700, 600, "EPSG:32633"},
                       Case{360, 360, "EPSG:4326"}}) {
    const std::string tag = fmt::format("{}x{}_{}", c.w, c.h, c.crs + 5);
    infer::SegmentParams p;
    p.scene_uri = land_scene(tmp, c.w, c.h, c.crs, "land_" + tag + ".tif");
    p.out_dir = tmp.file("out_" + tag);
    p.progress = false;
    p.write_overlay = false;
    infer::SegmentResult r;
    ASSERT_NO_THROW(r = infer::segment_scene(p, predictor())) << tag;
    auto mask = io::Raster::open(r.outputs["mask"].get<std::string>());
    std::vector<float> m(size_t(c.w) * c.h);
    mask.read_band(1, Window{0, 0, c.w, c.h}, m.data());
    int64_t water = 0, last_row = 0, last_col = 0;
    for (int y = 0; y < c.h; ++y)
      for (int x = 0; x < c.w; ++x)
        if (m[size_t(y) * c.w + x] == 1.0f) {
          ++water;
          last_row += y == c.h - 1;
          last_col += x == c.w - 1;
        }
    EXPECT_EQ(last_row, 0) << tag << ": water along the bottom row";
    EXPECT_EQ(last_col, 0) << tag << ": water along the right column";
    EXPECT_LT(double(water) / (double(c.w) * c.h), 0.002) << tag;
    if (water == 0) {
      EXPECT_EQ(r.record["stats"]["flood_area_km2"].get<double>(), 0.0) << tag;
      const auto fc = core::read_json_file(r.outputs["geojson"].get<std::string>());
      EXPECT_EQ(fc["type"], "FeatureCollection") << tag;
      EXPECT_TRUE(fc["features"].empty()) << tag;
    }
  }
}

// No data inside a scene (the swath's edge, a wedge of a GRD frame) is not water: land next to it
// was mapped as water along the whole edge (the model input filled no data with 0, which the
// reference normalization reads as -30 dB; on the 20 m grid a 2x2 average of land and that fill
// is as dark as water). Both embedded models, a wedge and a strip of no data in a land scene.
TEST(Segment, LandNextToNoDataIsNotMappedWater) {
  drshym::testing::TempDir tmp;
  const int w = 512, h = 384;
  auto nodata = [](int x, int y) { return x + y < 200 || x >= 440; };
  const std::string vvvh = land_scene(tmp, w, h, "EPSG:32633", "edge.tif", nodata);
  const std::string vv = tmp.file("edge_vv.tif");
  drshym::testing::write_crop(vvvh, Window{0, 0, w, h}, {1}, vv, {"VV"});
  for (const auto& [model, scene] : {std::pair{"default", vvvh}, std::pair{"default_vv", vv}}) {
    infer::PredictorParams pp;
    pp.checkpoint = infer::default_model_path(model);
    pp.threads = 1;
    const infer::Predictor pred(pp);
    infer::SegmentParams p;
    p.scene_uri = scene;
    p.out_dir = tmp.file(std::string("out_") + model);
    p.progress = false;
    p.write_overlay = false;
    p.write_classes = false;
    const auto r = infer::segment_scene(p, pred);
    std::vector<float> m(size_t(w) * h);
    io::Raster::open(r.outputs["mask"].get<std::string>()).read_band(1, Window{0, 0, w, h}, m.data());
    int64_t rim = 0, rim_water = 0, water = 0;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        if (nodata(x, y)) {
          EXPECT_EQ(m[size_t(y) * w + x], 255.0f);
          continue;
        }
        bool near = false;  // within 2 px of no data
        for (int dy = -2; dy <= 2 && !near; ++dy)
          for (int dx = -2; dx <= 2 && !near; ++dx)
            near = x + dx >= 0 && x + dx < w && y + dy >= 0 && y + dy < h && nodata(x + dx, y + dy);
        const bool wet = m[size_t(y) * w + x] == 1.0f;
        rim += near, rim_water += near && wet, water += wet;
      }
    std::printf("%s: %lld of %lld land pixels next to no data mapped water, %lld in all\n", model, (long long)rim_water,
                (long long)rim, (long long)water);
    EXPECT_EQ(rim_water, 0) << model;
    EXPECT_LT(double(water) / double(rim), 0.01) << model;
  }
}

TEST(Segment, OptionsTheRunCannotHonourFailBeforeWork) {
  drshym::testing::TempDir tmp;
  std::string scene = synthetic_scene(tmp, 64, 64);
  infer::SegmentParams p;
  p.scene_uri = scene;
  p.progress = false;
  p.out_dir = tmp.file("out");
  auto expect_usage = [&](const char* needle) {
    try {
      infer::segment_scene(p, predictor());
      FAIL() << "accepted: " << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Usage) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(p.out_dir));
  };
  p.geojson_crs = "EPSG:43266";
  expect_usage("EPSG:43266");
  p.geojson_crs = "rfc7946";
  p.grid = {72, 8};  // the compact U-Net needs multiples of 16
  expect_usage("is not a multiple of");  // 16, or 32 for a network on a 20 m grid
}

TEST(Batch, TilePredictAndStitchStopOnInterruptLeavingNothing) {
  // Each step of the tile -> predict -> stitch route honours Ctrl-C: Interrupted (exit 130
  // in the CLI), and none of its outputs left behind. (Before: tile exited 0 with the tiles
  // written so far, predict logged every remaining file as failed, stitch ignored it.)
  drshym::testing::TempDir tmp;
  std::string scene = synthetic_scene(tmp, 200, 200);
  ingest::tile_scene({scene, "", tmp.file("tiles"), {64, 8}, false, false});
  infer::PredictFolderParams pf{tmp.file("tiles/images"), tmp.file("pred"), 4, false};
  infer::predict_folder(pf, predictor());
  auto expect_interrupted = [&](const std::function<void()>& f, const std::string& what) {
    core::request_interrupt();
    try {
      f();
      core::clear_interrupt();
      ADD_FAILURE() << what << " ignored the interrupt";
    } catch (const Error& e) {
      core::clear_interrupt();
      EXPECT_EQ(e.kind(), ErrorKind::Interrupted) << what << ": " << e.what();
    }
  };
  expect_interrupted([&] { ingest::tile_scene({scene, "", tmp.file("tiles2"), {64, 8}, false, false}); }, "tile");
  EXPECT_FALSE(fs::exists(tmp.file("tiles2")));
  expect_interrupted([&] { infer::predict_folder({tmp.file("tiles/images"), tmp.file("pred2"), 4, false}, predictor()); },
                     "predict");
  EXPECT_TRUE(files_in(tmp.file("pred2")).empty());
  expect_interrupted(
      [&] { infer::stitch_tiles({tmp.file("pred"), tmp.file("tiles/scene_meta.json"), tmp.file("st"), std::nullopt, true}); },
      "stitch");
  EXPECT_TRUE(files_in(tmp.file("st")).empty());
}

// A w x h synthetic scene whose columns from x_nodata on are all nodata (NaN), as a scene
// warped onto a larger extent: tiles there hold no valid pixel.
std::string scene_with_nodata_right(const drshym::testing::TempDir& tmp, int w, int h, int x_nodata) {
  ingest::SyntheticSceneParams sp;
  sp.width = w;
  sp.height = h;
  sp.nodata_border = false;
  ingest::write_synthetic_scene(sp, tmp.file("full.tif"));
  auto src = io::Raster::open(tmp.file("full.tif"));
  io::Block b = src.read(Window{0, 0, w, h}, {1, 2});
  for (int band = 0; band < 2; ++band)
    for (int y = 0; y < h; ++y)
      for (int x = x_nodata; x < w; ++x) b.band(band)[size_t(y) * w + x] = std::numeric_limits<float>::quiet_NaN();
  io::CreateOptions o;
  o.width = w;
  o.height = h;
  o.bands = 2;
  o.geotransform = src.info().geotransform;
  o.crs_wkt = src.info().crs_wkt;
  o.nodata = std::numeric_limits<double>::quiet_NaN();
  o.descriptions = {"VV", "VH"};
  const std::string path = tmp.file("edge.tif");
  auto r = io::Raster::create_geotiff(path, o);
  for (int band = 0; band < 2; ++band) r.write_band(band + 1, Window{0, 0, w, h}, b.band(band));
  r.close();
  return path;
}

TEST(Batch, PredictNotesTilesWithoutValidPixelsWithoutFailingThem) {
  // A tile of `drshym tile` beyond the swath's edge has nothing to predict: not a failure (before:
  // listed as skipped "holds no valid pixel", so predict exited 1 unless tile had --skip-empty).
  drshym::testing::TempDir tmp;
  const std::string scene = scene_with_nodata_right(tmp, 128, 128, 64);
  ingest::tile_scene({scene, "", tmp.file("tiles"), {64, 0}, false, false});
  ASSERT_EQ(files_in(tmp.file("tiles/images")).size(), 4u);
  const auto r = infer::predict_folder({tmp.file("tiles/images"), tmp.file("pred"), 4, false}, predictor());
  EXPECT_TRUE(r.failed.empty()) << r.failed.front().second;
  EXPECT_EQ(r.predicted.size(), 2u);
  ASSERT_EQ(r.empty.size(), 2u);
  EXPECT_NE(r.empty[0].find("edge_tile_00001"), std::string::npos) << r.empty[0];
  EXPECT_FALSE(fs::exists(tmp.file("pred/edge_tile_00001_proba.tif")));
  EXPECT_TRUE(fs::exists(tmp.file("pred/edge_tile_00000_proba.tif")));
}

TEST(Batch, StitchRefusesMissingTilesWithValidPixelsUnlessAllowed) {
  // Tiles that held no valid pixel when tiled (valid_fraction 0, or left out by --skip-empty)
  // are never missing; a tile with valid pixels but no prediction is an error naming how many
  // (before: stitched with an info note, exit 0, that part of the scene silently nodata).
  drshym::testing::TempDir tmp;
  const std::string scene = scene_with_nodata_right(tmp, 128, 128, 64);
  for (bool skip_empty : {false, true}) {
    const std::string tiles = tmp.file(skip_empty ? "tiles_skip" : "tiles");
    ingest::tile_scene({scene, "", tiles, {64, 0}, skip_empty, false});
    const std::string pred = tmp.file(skip_empty ? "pred_skip" : "pred");
    infer::predict_folder({tiles + "/images", pred, 4, false}, predictor());
    const auto st = infer::stitch_tiles({pred, tiles + "/scene_meta.json", tmp.file("st"), std::nullopt, true});
    EXPECT_EQ(st.tiles_used, 2);
    EXPECT_EQ(st.tiles_empty, 2);
    EXPECT_EQ(st.tiles_missing, 0);
  }
  fs::remove(tmp.file("pred/edge_tile_00002_proba.tif"));
  drshym::testing::expect_error(
      [&] { infer::stitch_tiles({tmp.file("pred"), tmp.file("tiles/scene_meta.json"), tmp.file("st2"), std::nullopt, true}); },
      ErrorKind::NotFound, {"1 of 2 tiles with valid pixels", "edge_tile_00002_proba.tif", "--allow-missing"});
  EXPECT_TRUE(files_in(tmp.file("st2")).empty());
  infer::StitchParams sp{tmp.file("pred"), tmp.file("tiles/scene_meta.json"), tmp.file("st3"), std::nullopt, true};
  sp.allow_missing = true;
  const auto st = infer::stitch_tiles(sp);
  EXPECT_EQ(st.tiles_used, 1);
  EXPECT_EQ(st.tiles_missing, 1);
  EXPECT_TRUE(fs::exists(st.proba_path));
}

TEST(Batch, StitchRefusesAThresholdOutsideZeroOne) {
  // Unset (std::nullopt) means the tiles' threshold; any given value must lie in (0, 1): before,
  // -1 meant 'unset' and 1.5 mapped everything dry.
  drshym::testing::TempDir tmp;
  for (double t : {-1.0, 0.0, 1.0, 1.5})
    drshym::testing::expect_error(
        [&] { infer::stitch_tiles({tmp.path(), tmp.file("none.json"), tmp.file("st"), t, true}); }, ErrorKind::Usage,
        {"--threshold must be in (0, 1)"});
  EXPECT_FALSE(fs::exists(tmp.file("st")));
}

TEST(Batch, PredictRefusesTwoInputsSharingAStemBeforeAnyWork) {
  // a.tif and a.tiff both write a_proba.tif: before, "2 of 2 predicted" and one set of outputs.
  drshym::testing::TempDir tmp;
  const std::string scene = synthetic_scene(tmp, 64, 64);
  fs::create_directories(tmp.file("in"));
  fs::copy_file(scene, tmp.file("in/a.tif"));
  fs::copy_file(scene, tmp.file("in/a.tiff"));
  drshym::testing::expect_error(
      [&] { infer::predict_folder({tmp.file("in"), tmp.file("pred"), 4, false}, predictor()); },
      ErrorKind::InvalidInput, {"in/a.tif'", "in/a.tiff'", "share the name 'a'"});
  EXPECT_FALSE(fs::exists(tmp.file("pred")));
}

TEST(Batch, StitchRefusesCraftedSceneIdsAndFoldersWithoutPredictions) {
  drshym::testing::TempDir tmp;
  std::string scene = synthetic_scene(tmp, 128, 128);
  ingest::tile_scene({scene, "", tmp.file("tiles"), {64, 8}, false, false});
  infer::predict_folder({tmp.file("tiles/images"), tmp.file("pred"), 4, false}, predictor());
  auto meta = core::read_json_file(tmp.file("tiles/scene_meta.json"));
  fs::create_directories(tmp.file("out"));
  for (const char* crafted : {"../escaped", "/tmp/escaped", "..", ""}) {
    meta["scene_id"] = crafted;
    core::write_json_file(tmp.file("crafted.json"), meta);
    try {
      infer::stitch_tiles({tmp.file("pred"), tmp.file("crafted.json"), tmp.file("out"), std::nullopt, true});
      ADD_FAILURE() << "scene_id " << crafted << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
      EXPECT_NE(std::string(e.what()).find("plain file name"), std::string::npos) << e.what();
    }
  }
  EXPECT_FALSE(fs::exists(tmp.file("escaped_proba.tif")));
  EXPECT_TRUE(files_in(tmp.file("out")).empty());
  // A folder holding no prediction of this scene's tiles: an error, not an all-nodata scene.
  fs::create_directories(tmp.file("empty_pred"));
  try {
    infer::stitch_tiles({tmp.file("empty_pred"), tmp.file("tiles/scene_meta.json"), tmp.file("out"), std::nullopt, true});
    ADD_FAILURE() << "stitched nothing";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("empty_pred"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(files_in(tmp.file("out")).empty());
}

TEST(Segment, InterruptedRunLeavesNothingBehind) {
  drshym::testing::TempDir tmp;
  std::string scene = synthetic_scene(tmp, 200, 200);
  infer::SegmentParams p;
  p.scene_uri = scene;
  p.out_dir = tmp.file("out");
  p.grid = {64, 8};
  p.progress = false;
  core::request_interrupt();  // as if Ctrl-C arrived while the model was running
  try {
    infer::segment_scene(p, predictor());
    core::clear_interrupt();
    FAIL() << "segment ignored the interrupt";
  } catch (const Error& e) {
    core::clear_interrupt();
    EXPECT_EQ(e.kind(), ErrorKind::Interrupted);
  }
  EXPECT_TRUE(files_in(p.out_dir).empty()) << files_in(p.out_dir).front();
}

TEST(Segment, ReadFailureMidSceneLeavesNothingBehind) {
  drshym::testing::TempDir tmp;
  // An uncompressed GeoTIFF in 64 px blocks (band-interleaved) that is cut short while the run
  // is under way, once the first tile has been blended: the checks of the prepare stage read it
  // whole, so the failure must come from a later tile read, after outputs were staged.
  std::string scene = synthetic_scene(tmp, 512, 1024);
  const std::string plain = tmp.file("plain.tif");
  {
    auto src = io::Raster::open(scene);
    io::CreateOptions o = io::like(src.info(), 2, io::DataType::Float32, std::nullopt);
    o.compress = "NONE";
    o.block_size = 64;
    auto dst = io::Raster::create_geotiff(plain, o);
    auto all = src.read(Window{0, 0, 512, 1024}, {1, 2});
    dst.write_band(1, Window{0, 0, 512, 1024}, all.band(0));
    dst.write_band(2, Window{0, 0, 512, 1024}, all.band(1));
  }
  infer::SegmentParams p;
  p.scene_uri = plain;
  p.out_dir = tmp.file("out");
  p.grid = {64, 8};
  p.batch_size = 2;  // the reader runs at most a few batches ahead of the blended tiles
  p.progress = false;
  std::atomic<double> model_done{0};
  std::once_flag cut;
  infer::SegmentHooks hooks;
  hooks.progress = [&](const std::string& stage, double f) {
    if (stage != "model") return;
    std::call_once(cut, [&] { fs::resize_file(plain, fs::file_size(plain) * 3 / 4); });
    if (f > model_done) model_done = f;
  };
  std::string why;
  try {
    infer::segment_scene(p, predictor(), hooks);
    FAIL() << "a truncated scene was segmented";
  } catch (const Error& e) {
    why = e.what();
    EXPECT_NE(why.find("plain.tif"), std::string::npos) << why;
  }
  EXPECT_GT(model_done.load(), 0.0) << "the read failed before any tile ran: " << why;
  EXPECT_LT(model_done.load(), 1.0);
  EXPECT_TRUE(files_in(p.out_dir).empty()) << files_in(p.out_dir).front();
}

TEST(Segment, DefaultModelFollowsTheScenesPolarisations) {
  drshym::testing::TempDir tmp;
  std::string dual = synthetic_scene(tmp, 64, 64);
  io::CreateOptions o = io::like(io::Raster::open(dual).info(), 1, io::DataType::Float32, std::nullopt);
  {
    auto vv = io::Raster::create_geotiff(tmp.file("vv.tif"), o);
    auto b = io::Raster::open(dual).read(Window{0, 0, 64, 64}, {1});
    vv.write_band(1, Window{0, 0, 64, 64}, b.band(0));
  }
  EXPECT_EQ(fs::path(infer::default_model_for_scene(dual)).filename(), "default");
  EXPECT_EQ(fs::path(infer::default_model_for_scene(tmp.file("vv.tif"))).filename(), "default_vv");
  infer::PredictorParams pp;
  pp.checkpoint = infer::default_model_for_scene(tmp.file("vv.tif"));
  pp.threads = 1;
  infer::Predictor vv_model(pp);
  EXPECT_EQ(vv_model.preprocess().bands, std::vector<std::string>{"VV"});
  drshym::testing::expect_error([&] { infer::default_model_for_scene(tmp.file("missing.tif")); }, ErrorKind::NotFound,
                                {"missing.tif"});
  // predict: chosen by the first tile in the folder that opens (unreadable ones are passed over).
  fs::create_directories(tmp.file("tiles"));
  std::ofstream(tmp.file("tiles/a_corrupt.tif")) << "not a tiff";
  fs::copy_file(tmp.file("vv.tif"), tmp.file("tiles/b_vv.tif"));
  EXPECT_EQ(fs::path(infer::default_model_for_folder(tmp.file("tiles"))).filename(), "default_vv");
  fs::create_directories(tmp.file("dual_tiles"));
  fs::copy_file(dual, tmp.file("dual_tiles/t.tif"));
  EXPECT_EQ(fs::path(infer::default_model_for_folder(tmp.file("dual_tiles"))).filename(), "default");
}

TEST(RealData, Sen1Floods11ChipSegmentKeepsCrsAndBounds) {
  DRSHYM_REQUIRE_SHARED(root, "sen1floods11/v1.1/data/flood_events/HandLabeled/S1Hand/USA_905409_S1Hand.tif");
  drshym::testing::TempDir tmp;
  infer::SegmentParams p;
  p.scene_uri = root;
  p.out_dir = tmp.path();
  p.progress = false;
  auto r = infer::segment_scene(p, predictor());
  expect_same_grid(root, r.outputs["proba"]);
  expect_same_grid(root, r.outputs["mask"]);
  EXPECT_EQ(r.record["crs"], "EPSG:4326");
}

TEST(RealData, PyrosarUtmSceneWithTheVvModelKeepsCrsBoundsAndNodata) {
  DRSHYM_REQUIRE_SHARED(path, "pyrosar/S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif");
  drshym::testing::TempDir tmp;
  infer::PredictorParams pp;
  pp.checkpoint = infer::default_model_for_scene(path);
  pp.threads = 1;
  infer::Predictor vv_model(pp);
  EXPECT_EQ(fs::path(pp.checkpoint).filename(), "default_vv");
  infer::SegmentParams p;
  p.scene_uri = path;
  p.out_dir = tmp.file("full");
  p.progress = false;
  auto r = infer::segment_scene(p, vv_model);
  for (const char* k : {"proba", "mask", "geojson", "record"})
    EXPECT_TRUE(fs::exists(r.outputs[k].get<std::string>())) << k;
  EXPECT_FALSE(r.outputs.contains("overlay_png"));  // drawn only by a render hook (explain)
  expect_same_grid(path, r.outputs["proba"]);
  expect_same_grid(path, r.outputs["mask"]);
  EXPECT_EQ(r.record["crs"], "EPSG:32631");
  EXPECT_GT(r.flood_pixels, 0);  // the Camargue's flooded fields and marshes

  // The real scene carries NoData -99 but every pixel is valid: blank a block of it with -99
  // (a copy, same grid and tags) and check that exactly those pixels come out as nodata.
  const Window all{0, 0, 268, 217};
  auto src = io::Raster::open(path);
  auto vv = src.read(all, {1});
  ASSERT_EQ(vv.valid_count(), int64_t(268) * 217);
  auto holed_info = src.info();
  {
    auto out = io::Raster::create_geotiff(tmp.file("holed.tif"), io::like(holed_info, 1, io::DataType::Float32, -99.0));
    for (int row = 50; row < 120; ++row)
      for (int col = 0; col < 90; ++col) vv.data[size_t(row) * 268 + col] = -99.0f;
    out.write_band(1, all, vv.data.data());
  }
  p.scene_uri = tmp.file("holed.tif");
  p.out_dir = tmp.file("holed");
  auto rh = infer::segment_scene(p, vv_model);
  expect_same_grid(path, rh.outputs["mask"]);
  auto in = io::Raster::open(tmp.file("holed.tif")).read(all, {1});
  auto mask = io::Raster::open(rh.outputs["mask"].get<std::string>()).read(all, {1});
  EXPECT_EQ(in.valid_count(), int64_t(268) * 217 - 70 * 90);
  EXPECT_EQ(in.valid, mask.valid);  // nodata in ⇔ 255 out
}

TEST(RealData, PyrosarVvOnlySceneNamesMissingVh) {
  DRSHYM_REQUIRE_SHARED(path, "pyrosar/S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif");
  drshym::testing::TempDir tmp;
  infer::SegmentParams p;
  p.scene_uri = path;
  p.out_dir = tmp.file("out");
  p.progress = false;
  try {
    infer::segment_scene(p, predictor());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("VH"), std::string::npos) << e.what();
  }
}

TEST(Segment, HooksReportEveryStageInOrderAndATokenCancelsCleanly) {
  drshym::testing::TempDir tmp;
  std::string scene = synthetic_scene(tmp, 256, 256);
  infer::SegmentParams p;
  p.scene_uri = scene;
  p.out_dir = tmp.file("seg");
  p.grid = {64, 8};
  p.progress = false;
  std::mutex m;
  std::vector<std::pair<std::string, double>> seen;
  infer::SegmentHooks hooks;
  hooks.progress = [&](const std::string& stage, double f) {
    std::lock_guard<std::mutex> lk(m);
    seen.emplace_back(stage, f);
  };
  auto r = infer::segment_scene(p, predictor(), hooks);
  ASSERT_FALSE(seen.empty());
  // Stages arrive in kSegmentStages order, each ending at 1, fractions never going back.
  std::vector<std::string> order;
  for (size_t i = 0; i < seen.size(); ++i) {
    if (order.empty() || order.back() != seen[i].first) {
      order.push_back(seen[i].first);
    } else {
      EXPECT_GE(seen[i].second, seen[i - 1].second) << seen[i].first;
    }
  }
  EXPECT_EQ(order, (std::vector<std::string>{"prepare", "model", "finish", "record"}));
  int model_calls = 0;
  for (const auto& [s, f] : seen) model_calls += s == "model";
  EXPECT_EQ(model_calls, r.tiles);  // one report per tile
  EXPECT_DOUBLE_EQ(seen.back().second, 1.0);

  // A cancelled token stops the run: Unavailable, and nothing is left in the output folder.
  core::CancelToken token;
  token.cancel("test");
  infer::SegmentHooks stop;
  stop.cancel = &token;
  p.out_dir = tmp.file("cancelled");
  try {
    infer::segment_scene(p, predictor(), stop);
    ADD_FAILURE() << "a cancelled run finished";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unavailable) << e.what();
  }
  EXPECT_TRUE(files_in(p.out_dir).empty());
  // A deadline already passed: Timeout, nothing left.
  core::CancelToken late(1e-9);
  stop.cancel = &late;
  try {
    infer::segment_scene(p, predictor(), stop);
    ADD_FAILURE() << "a run past its deadline finished";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Timeout) << e.what();
  }
  EXPECT_TRUE(files_in(p.out_dir).empty());
  // A threshold outside (0, 1) is a usage error before any work.
  p.threshold = 1.5;
  drshym::testing::expect_error([&] { infer::segment_scene(p, predictor()); }, ErrorKind::Usage,
                                {"threshold must be in (0, 1), got 1.5"});
}
