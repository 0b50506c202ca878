// One place picks and loads the models of scene jobs (segment, batch and server use it): the
// water model by polarisation, the water type model by the job's options, each loaded once.
#include "infer/model_set.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "infer/segment.hpp"
#include "ingest/synthetic_scene.hpp"
#include "io/raster.hpp"
#include "model/checkpoint.hpp"
#include "model/runtime.hpp"
#include "model/segnet.hpp"
#include "support/test_support.hpp"

#include <fstream>

using namespace drshym;

namespace {

std::string vv_only_scene(const drshym::testing::TempDir& tmp) {
  io::CreateOptions o;
  o.width = o.height = 64;
  o.bands = 1;
  o.geotransform = GeoTransform{{500000.0, 10.0, 0, 2900000.0, 0, -10.0}};
  o.crs_wkt = io::crs_wkt_of("EPSG:32644");
  o.descriptions = {"VV"};
  const std::string path = tmp.file("vv.tif");
  io::Raster r = io::Raster::create_geotiff(path, o);
  std::vector<float> v(64 * 64, -12.0f);
  r.write_band(1, Window{0, 0, 64, 64}, v.data());
  r.close();
  return path;
}

std::string dual_pol_scene(const drshym::testing::TempDir& tmp) {
  ingest::SyntheticSceneParams p;
  p.width = p.height = 64;
  const std::string path = tmp.file("vvvh.tif");
  ingest::write_synthetic_scene(p, path);
  return path;
}

// A VV-only water model without a permanent-water head (as a user's own training run may be):
// a tiny untrained network with the embedded VV-only model's preprocessing.
std::string vv_model_without_head(const drshym::testing::TempDir& tmp) {
  model::seed_everything(42);
  model::ModelConfig mc;
  mc.arch = "unet_compact";
  mc.base_width = 4;
  mc.in_channels = 1;
  model::SegNet net = model::make_model(mc);
  net->eval();
  nlohmann::json meta;
  std::ifstream(infer::default_model_path("default_vv") + "/model.json") >> meta;
  for (const char* k : {"weights_sha256", "model", "calibration", "metrics", "heads"}) meta.erase(k);
  model::save_checkpoint(tmp.file("plain_vv/model.pt"), net, meta);
  return tmp.file("plain_vv");
}

}  // namespace

TEST(ModelSet, PicksTheWaterModelByPolarisationAndLoadsEachOnce) {
  drshym::testing::TempDir tmp;
  infer::ModelSet models({});
  const infer::Predictor& dual = models.water_for(dual_pol_scene(tmp));
  const infer::Predictor& single = models.water_for(vv_only_scene(tmp));
  EXPECT_TRUE(dual.preprocess().needs_vh());
  EXPECT_FALSE(single.preprocess().needs_vh());
  EXPECT_EQ(dual.checkpoint_path(), infer::default_model_path("default") + "/model.pt");
  EXPECT_EQ(&models.water_for(tmp.file("vvvh.tif")), &dual);  // cached, not reloaded
  // A named checkpoint wins over the scene's bands (and then a VV-only scene is the model's problem).
  infer::ModelSetOptions named;
  named.water.checkpoint = infer::default_model_path("default_vv");
  infer::ModelSet fixed(named);
  EXPECT_FALSE(fixed.water_for(tmp.file("vvvh.tif")).preprocess().needs_vh());
}

TEST(ModelSet, PicksTheWaterTypeModelByTheJobsOptions) {
  drshym::testing::TempDir tmp;
  infer::ModelSet models({});
  const infer::Predictor& dual = models.water_for(dual_pol_scene(tmp));
  const std::string vv_scene = vv_only_scene(tmp);
  const infer::Predictor& single = models.water_for(vv_scene);
  infer::SegmentParams p;
  ASSERT_GT(dual.head_index("permanent_water"), 0);
  ASSERT_GT(single.head_index("permanent_water"), 0);
  EXPECT_EQ(models.type_for(p, dual), nullptr);  // each default model's own head splits the water
  EXPECT_EQ(models.type_for(p, single), nullptr);
  // A water model without the head: the separate models/permanent_vv network.
  infer::ModelSetOptions headless;
  headless.water.checkpoint = vv_model_without_head(tmp);
  infer::ModelSet plain_models(headless);
  const infer::Predictor& plain = plain_models.water_for(vv_scene);
  ASSERT_EQ(plain.head_index("permanent_water"), -1);
  const infer::Predictor* permanent = plain_models.type_for(p, plain);
  ASSERT_NE(permanent, nullptr);
  EXPECT_EQ(permanent->checkpoint_path(), infer::default_model_path("permanent_vv") + "/model.pt");
  p.before_uri = "before.tif";
  const infer::Predictor* change = models.type_for(p, dual);
  ASSERT_NE(change, nullptr);
  EXPECT_TRUE(change->preprocess().needs_before());
  EXPECT_EQ(models.type_for(p, single), change);  // one change model for every water model
  p.before_uri.clear();
  p.reference_water = "occurrence.tif";
  EXPECT_EQ(models.type_for(p, single), nullptr);  // the reference raster decides
  p.reference_water.clear();
  p.write_classes = false;
  EXPECT_EQ(models.type_for(p, single), nullptr);
  // A type checkpoint where no type model is used is a usage error that says why.
  infer::ModelSetOptions o;
  o.type_checkpoint = infer::default_model_path("permanent_vv");
  infer::ModelSet with_type(o);
  p.write_classes = true;
  p.reference_water = "occurrence.tif";
  drshym::testing::expect_error([&] { with_type.type_for(p, single); }, ErrorKind::Usage, {"reference water"});
  // A type checkpoint given explicitly is used even beside a model with its own head.
  p.reference_water.clear();
  const infer::Predictor* forced = with_type.type_for(p, dual);
  ASSERT_NE(forced, nullptr);
  EXPECT_EQ(forced->checkpoint_path(), infer::default_model_path("permanent_vv") + "/model.pt");
}

// The server's models: registered by name, picked by the scene's bands among them only, and a
// name can be used in place of a checkpoint.
TEST(ModelSet, RegisteredModelsArePickedByNameOrByTheScenesBands) {
  drshym::testing::TempDir tmp;
  infer::ModelSet models({});
  infer::PredictorParams pp;
  pp.checkpoint = infer::default_model_path("default_vv");
  const infer::Predictor& vv = models.add("vv_model", std::make_unique<infer::Predictor>(pp));
  EXPECT_THROW(models.add("vv_model", std::make_unique<infer::Predictor>(pp)), Error);
  // Only a VV-only model is registered: a VV+VH scene gets it as the last resort.
  EXPECT_EQ(&models.water_for(dual_pol_scene(tmp)), &vv);
  EXPECT_EQ(&models.water_for(vv_only_scene(tmp)), &vv);
  EXPECT_EQ(&models.water("vv_model"), &vv);
  EXPECT_EQ(&models.water_of("", tmp.file("vv.tif")), &vv);
  EXPECT_EQ(models.name_of(vv), "vv_model");
  pp.checkpoint = infer::default_model_path("default");
  const infer::Predictor& dual = models.add("dual", std::make_unique<infer::Predictor>(pp));
  EXPECT_EQ(&models.water_for(tmp.file("vvvh.tif")), &dual);
  EXPECT_EQ(&models.water_for(tmp.file("vv.tif")), &vv);
  ASSERT_EQ(models.registered().size(), 2u);
  EXPECT_EQ(models.registered()[0].first, "vv_model");
  // Only a VV+VH model registered: a VV-only scene is refused by name.
  infer::ModelSet dual_only({});
  dual_only.add("dual", std::make_unique<infer::Predictor>(pp));
  try {
    dual_only.water_for(tmp.file("vv.tif"));
    ADD_FAILURE() << "a VV-only scene was given a VV+VH model";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("vv.tif"), std::string::npos) << e.what();
  }
}
