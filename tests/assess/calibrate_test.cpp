#include <gtest/gtest.h>

#include <filesystem>

#include "core/config.hpp"
#include "core/error.hpp"
#include "infer/predictor.hpp"
#include "ingest/synthetic_scene.hpp"
#include "ingest/tile_scene.hpp"
#include "io/raster.hpp"
#include "support/test_support.hpp"
#include "assess/evaluate.hpp"

using namespace drshym;
namespace fs = std::filesystem;

namespace {
// A copy of the embedded default model and a labelled folder dataset cut from a synthetic scene.
struct Fixture {
  drshym::testing::TempDir tmp;
  std::string model, data;
  Fixture() {
    model = tmp.file("model");
    fs::create_directories(model);
    for (const char* f : {"model.pt", "model.json"})
      fs::copy_file(std::string(DRSHYM_SOURCE_DIR) + "/models/default/" + f, model + "/" + f);
    ingest::SyntheticSceneParams sp;
    sp.width = sp.height = 256;
    ingest::write_synthetic_scene(sp, tmp.file("scene.tif"), tmp.file("truth.tif"));
    data = tmp.file("data");
    ingest::TileParams tp{tmp.file("scene.tif"), tmp.file("truth.tif"), data + "/valid", {128, 0}, false, false};
    ingest::tile_scene(tp);
  }
  assess::CalibrateParams params(const std::string& objective) const {
    assess::CalibrateParams p;
    p.checkpoint = model;
    p.data = {{"type", "folder"}, {"root", data}, {"split", "valid"}};
    p.split = "valid";
    p.objective = objective;
    p.threads = 1;
    return p;
  }
};

infer::Predictor load(const std::string& ckpt) {
  infer::PredictorParams pp;
  pp.checkpoint = ckpt;
  pp.threads = 1;
  return infer::Predictor(pp);
}
}  // namespace

TEST(Calibrate, WritesThresholdsBesideTheCheckpointAndThePredictorUsesThem) {
  Fixture fx;
  const auto before = load(fx.model);
  EXPECT_EQ(before.calibration_source(), "checkpoint metadata");
  auto r = assess::calibrate_checkpoint(fx.params("recall@precision>=0.5"));
  ASSERT_TRUE(fs::exists(fx.model + "/thresholds.json"));
  ASSERT_TRUE(fs::exists(fx.model + "/reliability.png"));
  const auto file = core::read_json_file(fx.model + "/thresholds.json");
  EXPECT_EQ(file, r);
  EXPECT_EQ(file["objective"], "recall@precision>=0.5");
  for (const char* k : {"before", "after"})
    for (const char* m : {"ece", "brier", "nll"}) EXPECT_TRUE(file[k][m].is_number()) << k << "." << m;
  // Minimum NLL: the fitted temperature cannot be worse than T = 1 on the same pixels.
  EXPECT_LE(file["after"]["nll"].get<double>(), file["before"]["nll"].get<double>() + 1e-9);
  EXPECT_GT(file["data"]["pixels_used"].get<int64_t>(), 10000);
  EXPECT_EQ(file["checkpoint_sha256"], before.checkpoint_sha256());
  // The curve's precision at the chosen threshold meets the floor.
  for (const auto& c : file["threshold_curve"])
    if (std::abs(c["threshold"].get<double>() - file["threshold"].get<double>()) < 1e-9) {
      EXPECT_GE(c["precision"].get<double>(), 0.5);
    }
  const auto after = load(fx.model);
  EXPECT_EQ(after.calibration_source(), fx.model + "/thresholds.json");
  EXPECT_DOUBLE_EQ(after.temperature(), file["temperature"].get<double>());
  EXPECT_DOUBLE_EQ(after.threshold(), file["threshold"].get<double>());
  // A thresholds.json fitted for another checkpoint is ignored (with a warning), never applied.
  auto other = file;
  other["checkpoint_sha256"] = std::string(64, '0');
  other["temperature"] = 7.0;
  core::write_json_file(fx.model + "/thresholds.json", other);
  const auto mismatched = load(fx.model);
  EXPECT_EQ(mismatched.calibration_source(), "checkpoint metadata");
  EXPECT_DOUBLE_EQ(mismatched.temperature(), before.temperature());
}

TEST(Calibrate, BadObjectiveFailsBeforeAnyWork) {
  Fixture fx;
  try {
    assess::calibrate_checkpoint(fx.params("recall@precision>=2"));
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
  }
  EXPECT_FALSE(fs::exists(fx.model + "/thresholds.json"));
}

TEST(Calibrate, DataWithoutWaterIsRefusedWritingNothing) {
  // Only dry labels: before, calibrate wrote a thresholds.json (score 0, T fitted on one class)
  // that segment and predict then applied.
  Fixture fx;
  auto truth = io::Raster::open(fx.tmp.file("truth.tif"));
  io::CreateOptions o;
  o.width = truth.width();
  o.height = truth.height();
  o.type = io::DataType::Byte;
  o.geotransform = truth.info().geotransform;
  o.crs_wkt = truth.info().crs_wkt;
  o.nodata = 255.0;
  {
    std::vector<float> dry(size_t(o.width) * o.height, 0.0f);
    auto r = io::Raster::create_geotiff(fx.tmp.file("dry.tif"), o);
    r.write_band(1, Window{0, 0, o.width, o.height}, dry.data());
    r.close();
  }
  ingest::tile_scene({fx.tmp.file("scene.tif"), fx.tmp.file("dry.tif"), fx.tmp.file("dry_data/valid"), {128, 0}, false, false});
  auto p = fx.params("f1");
  p.data["root"] = fx.tmp.file("dry_data");
  drshym::testing::expect_error([&] { assess::calibrate_checkpoint(p); }, ErrorKind::InvalidInput,
                                {"no water pixel in the calibration data", "cannot be fitted"});
  EXPECT_FALSE(fs::exists(fx.model + "/thresholds.json"));
  EXPECT_FALSE(fs::exists(fx.model + "/reliability.png"));
}
