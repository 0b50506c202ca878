// One scene pipeline for every front-end: `drshym segment` (the real binary), the library call
// pipeline::run_scene, the batch's SceneRunner and the server's Service map their options onto a
// SceneJob and must write the same bytes for the same job (the records differ only in paths and
// timings). Run on a demo scene with classes from the default model's head, and on a real
// Sentinel-1 chip from ../shared.
#include "pipeline/scene_job.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "batch/batch.hpp"
#include "batch/manifest.hpp"
#include "core/error.hpp"
#include "infer/model_set.hpp"
#include "infer/predictor.hpp"
#include "ingest/synthetic_scene.hpp"
#include "io/uri.hpp"
#include "serve/service.hpp"
#include "support/test_support.hpp"

using namespace drshym;
namespace fs = std::filesystem;

namespace {

std::string bytes_of(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Every front-end runs one single-threaded model worker in the same arithmetic.
infer::PredictorParams one_thread() {
  infer::PredictorParams pp;
  pp.threads = 1;
  pp.precision = infer::Precision::automatic;  // what segment, serve and batch use by default
  return pp;
}

// The named outputs of each front-end's folder for `scene` (a path).
void expect_same_outputs(const std::string& scene, const drshym::testing::TempDir& tmp) {
  const std::string stem = io::stem_of(scene);
  // The library call.
  pipeline::SceneJob job;
  job.segment.scene_uri = scene;
  job.segment.out_dir = tmp.file("library");
  job.segment.progress = false;
  infer::ModelSet models({one_thread(), ""});
  const infer::SegmentResult lib = pipeline::run_scene(job, models);
  // The CLI binary.
  const std::string cmd = std::string(DRSHYM_BINARY_DIR) + "/bin/drshym segment '" + scene + "' --out '" +
                          tmp.file("cli") + "' --threads 1 > '" + tmp.file("cli.log") + "' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << bytes_of(tmp.file("cli.log"));
  // The batch's runner for one scene.
  batch::BatchOptions bo;
  bo.out_dir = tmp.file("batch");
  bo.threads = 1;
  batch::SceneEntry entry;
  entry.uri = scene;
  entry.id = "scene";
  const batch::SceneOutcome bat = batch::SceneRunner(bo, 0, 1).run(entry);
  ASSERT_EQ(bat.status, batch::SceneStatus::done) << bat.error_message;
  // The server, synchronous request.
  serve::ServiceOptions so;
  so.input_roots = {fs::path(scene).parent_path().string()};
  so.output_root = tmp.file("serve");
  so.workers = 1;
  so.threads = 1;
  so.queue = 1;
  const std::string id = "0123456789abcdef0123456789abcdef";
  nlohmann::json answer;
  {
    serve::Service service(so);
    answer = service.segment({{"domain", "flood_sar"}, {"image_uri", io::to_file_uri(scene)}}, id);
  }
  const std::map<std::string, std::string> dirs = {{"cli", tmp.file("cli")},
                                                   {"batch", tmp.file("batch") + "/scene"},
                                                   {"serve", tmp.file("serve") + "/" + id}};
  for (const char* suffix : {"_mask.tif", "_proba.tif", "_classes.tif", "_flood.geojson", "_overlay.png"}) {
    const std::string ref = bytes_of(job.segment.out_dir + "/" + stem + suffix);
    ASSERT_FALSE(ref.empty()) << "the library call wrote no " << stem << suffix;
    for (const auto& [name, dir] : dirs)
      EXPECT_TRUE(bytes_of(dir + "/" + stem + suffix) == ref) << name << " wrote another " << stem << suffix;
  }
  // The records agree on what was found and said, and on what made them.
  const nlohmann::json cli = nlohmann::json::parse(bytes_of(tmp.file("cli") + "/" + stem + "_record.json"));
  for (const nlohmann::json* r : {&cli, &bat.record}) {
    EXPECT_EQ((*r)["stats"], lib.record["stats"]);
    EXPECT_EQ((*r)["caption"], lib.record["caption"]);
    EXPECT_EQ((*r)["provenance"]["checkpoint_sha256"], lib.record["provenance"]["checkpoint_sha256"]);
    EXPECT_EQ((*r)["provenance"]["classes"], lib.record["provenance"]["classes"]);
  }
  EXPECT_EQ(answer["stats"], lib.record["stats"]);
  EXPECT_EQ(answer["caption"], lib.record["caption"]);
}

}  // namespace

TEST(FrontEnds, SegmentServeAndBatchWriteTheSameBytesOnADemoScene) {
  drshym::testing::TempDir tmp;
  ingest::SyntheticSceneParams sp;
  sp.width = sp.height = 320;
  fs::create_directories(tmp.file("in"));
  const std::string scene = tmp.file("in") + "/demo.tif";
  ingest::write_synthetic_scene(sp, scene);
  expect_same_outputs(scene, tmp);
}

TEST(SharedFrontEnds, SegmentServeAndBatchWriteTheSameBytesOnARealChip) {
  DRSHYM_REQUIRE_SHARED(chip, "sen1floods11/v1.1/data/flood_events/HandLabeled/S1Hand/USA_905409_S1Hand.tif");
  drshym::testing::TempDir tmp;
  fs::create_directories(tmp.file("in"));
  const std::string scene = tmp.file("in") + "/USA_905409_S1Hand.tif";
  fs::copy_file(chip, scene);
  expect_same_outputs(scene, tmp);
}

// Explain options without explain are refused by the pipeline, for every front-end, before
// any output.
TEST(FrontEnds, ExplainOptionsWithoutExplainAreAUsageError) {
  drshym::testing::TempDir tmp;
  ingest::SyntheticSceneParams sp;
  sp.width = sp.height = 64;
  const std::string scene = tmp.file("demo.tif");
  ingest::write_synthetic_scene(sp, scene);
  infer::ModelSet models({one_thread(), ""});
  pipeline::SceneJob job;
  job.segment.scene_uri = scene;
  job.segment.out_dir = tmp.file("out");
  job.explain.layer = "dec0";
  drshym::testing::expect_error([&] { pipeline::run_scene(job, models); }, ErrorKind::Usage, {"explain", "layer"});
  job.explain.layer.clear();
  job.explain.method = "gradcam++";
  drshym::testing::expect_error([&] { pipeline::scene_output_key(job, models); }, ErrorKind::Usage, {"--explain"});
  EXPECT_TRUE(drshym::testing::files_in(tmp.file("out")).empty());
  // With explain on, the same job runs and writes the explanation.
  job.explain.enabled = true;
  const infer::SegmentResult r = pipeline::run_scene(job, models);
  EXPECT_TRUE(r.outputs.contains("cam"));
  EXPECT_EQ(r.record["provenance"]["output_key"], pipeline::scene_output_key(job, models));
}
