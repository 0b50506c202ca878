// Teacher/student distillation: the soft-target loss, a student that learns from a tiny teacher
// alone, what the student's checkpoint records, and the errors before training.
#include "train/distill.hpp"

#include <gtest/gtest.h>

#include <random>

#include "core/error.hpp"
#include "core/sha256.hpp"
#include "data/memory_dataset.hpp"
#include "eval/metrics.hpp"
#include "model/checkpoint.hpp"
#include "support/test_support.hpp"
#include "train/trainer.hpp"

using namespace drshym;

namespace {

// Water is plain in the optical plane (S2_R 0.1 vs 0.6) and faint in VV (2 dB apart under 3 dB
// of noise): the teacher reads both, the student VV only.
std::vector<data::RawSample> scenes(int count, uint64_t seed) {
  std::vector<data::RawSample> v;
  std::mt19937 rng{uint32_t(seed)};
  std::uniform_real_distribution<float> u(0, 1);
  for (int k = 0; k < count; ++k) {
    auto s = data::RawSample::blank(32, 32, false);
    const size_t n = s.pixels();
    s.optical.assign(6 * n, 0.5f);
    const int edge = 6 + 2 * k;
    for (size_t i = 0; i < n; ++i) {
      const bool water = int(i % 32) < edge || int(i / 32) > 26;
      s.vv[i] = (water ? -18.0f : -9.0f) + 2.0f * (u(rng) - 0.5f);
      s.optical[i] = water ? 0.1f : 0.6f;
      s.label[i] = water;
      s.valid[i] = 1;
    }
    s.id = "scene_" + std::to_string(k);
    s.group = "g";
    s.normalize_validity();
    v.push_back(std::move(s));
  }
  return v;
}

ingest::Preprocess bands(std::vector<std::string> b) {
  ingest::Preprocess pp;
  pp.bands = std::move(b);
  return pp;
}

nlohmann::json tiny(const std::string& out, const ingest::Preprocess& pp, int epochs, int steps) {
  return {{"out_dir", out},
          {"threads", 1},
          {"preprocess", pp.to_json()},
          {"model", {{"arch", "unet_compact"}, {"base_width", 4}, {"norm", "batch"}}},
          {"data", {{"train", {{"type", "memory"}}}, {"val", {{"type", "memory"}}}}},
          {"train", {{"epochs", epochs}, {"batch_size", 4}, {"steps_per_epoch", steps}, {"lr", 0.02},
                     {"select", "last"}, {"augment", false}}}};
}

// IoU of a network's water (logit > 0) against the labels of a dataset.
double iou_of(const model::SegNet& net, const data::Dataset& ds) {
  auto out = train::evaluate_net(net, ds, train::LossConfig::default_params(), 1.0, 0.5, 4, torch::kCPU);
  return out.evaluator.total_metrics().iou;
}

}  // namespace

TEST(DistillLoss, IsZeroWhereTheStudentMatchesAndPullsItTowardTheTeacher) {
  auto t = torch::tensor({-3.0f, 0.0f, 2.0f, 5.0f}).reshape({1, 1, 2, 2});
  auto valid = torch::ones_like(t);
  EXPECT_NEAR(train::distill_loss(t, t, valid, 2.0, false).item<float>(), 0.0f, 1e-6);
  auto s = torch::zeros_like(t).requires_grad_(true);
  auto l = train::distill_loss(s, t, valid, 2.0, false);
  EXPECT_GT(l.item<float>(), 0.01f);
  l.backward();
  // The gradient moves each student logit toward its teacher's: down where the teacher is
  // negative, up where it is positive, none where both are 0.
  auto g = s.grad().flatten();
  EXPECT_GT(g[0].item<float>(), 0.0f);
  EXPECT_NEAR(g[1].item<float>(), 0.0f, 1e-7);
  EXPECT_LT(g[2].item<float>(), 0.0f);
  // Nothing valid: an exact 0 with zero gradient, never NaN.
  auto s2 = torch::zeros_like(t).requires_grad_(true);
  auto l0 = train::distill_loss(s2, t, torch::zeros_like(t), 2.0, false);
  l0.backward();
  EXPECT_EQ(l0.item<float>(), 0.0f);
  EXPECT_EQ(s2.grad().abs().sum().item<float>(), 0.0f);
  // Confidence weighting: an undecided teacher pixel (q = 0.5) carries no weight.
  auto only_undecided = torch::tensor({0.0f, 1.0f, 1.0f, 1.0f}).reshape({1, 1, 2, 2});
  auto lw = train::distill_loss(torch::full_like(t, 4.0f), torch::zeros_like(t), only_undecided, 1.0, true);
  EXPECT_EQ(lw.item<float>(), 0.0f);
}

TEST(DistillConfig, RejectsBadKnobsByName) {
  auto bad = [](nlohmann::json j, const std::string& needle) {
    drshym::testing::expect_error([&] { train::DistillConfig::from_json(j); }, ErrorKind::InvalidInput, {needle});
  };
  bad({{"weight", 0.5}}, "distill.teacher");
  bad({{"teacher", "t.pt"}, {"weight", 1.5}}, "distill.weight");
  bad({{"teacher", "t.pt"}, {"temperature", 0}}, "distill.temperature");
  bad({{"teacher", "t.pt"}, {"alpha", 1}}, "distill.alpha");
  bad({{"teacher", "t.pt"}, {"weight", "half"}}, "distill.weight");
}

TEST(Distill, AStudentLearnsATinyTeachersSoftTargetsWithoutAnyLabel) {
  drshym::testing::TempDir tmp;
  // The teacher: VV + S2_R, trained on labels.
  const auto tpp = bands({"VV", "S2_R"});
  auto teacher_cfg = train::TrainConfig::from_json(tiny(tmp.file("teacher"), tpp, 3, 10));
  auto teacher_train = std::make_shared<data::MemoryDataset>(scenes(6, 1), tpp, "toy");
  auto teacher_val = std::make_shared<data::MemoryDataset>(scenes(2, 2), tpp, "toy_val");
  auto tr = train::run_training(teacher_cfg, teacher_train, teacher_val, nullptr);
  auto teacher = model::load_checkpoint(tr.last_checkpoint);
  const double teacher_iou = iou_of(teacher.net, *teacher_val);
  ASSERT_GT(teacher_iou, 0.8) << "the tiny teacher must have learned the task";

  // The student: VV only, every label dropped, weight 1: the teacher is its only signal.
  const auto spp = bands({"VV"});
  nlohmann::json sj = tiny(tmp.file("student"), spp, 3, 10);
  sj["distill"] = {{"teacher", tr.last_checkpoint}, {"weight", 1.0}, {"temperature", 1.0}};
  auto student_cfg = train::TrainConfig::from_json(sj);
  auto student_train = std::make_shared<data::MemoryDataset>(scenes(6, 1), spp, "toy_unlabelled");
  student_train->drop_labels();
  student_train->enable_teacher(tpp);
  auto student_val = std::make_shared<data::MemoryDataset>(scenes(2, 2), spp, "toy_val");
  ASSERT_EQ(student_train->get(0).valid.sum().item<float>(), 0.0f);
  auto untrained = model::make_model(student_cfg.model);
  const double before = iou_of(untrained, *student_val);
  auto sr = train::run_training(student_cfg, student_train, student_val, nullptr);
  auto student = model::load_checkpoint(sr.last_checkpoint);
  const double after = iou_of(student.net, *student_val);
  EXPECT_GT(after, 0.7) << "untrained " << before << ", teacher " << teacher_iou;
  EXPECT_GT(after, before + 0.2);

  // The checkpoint records the teacher and the recipe.
  const auto& d = student.meta.at("distill");
  EXPECT_EQ(d.at("teacher_sha256"), core::file_sha256(tr.last_checkpoint));
  EXPECT_EQ(d.at("teacher_path"), tr.last_checkpoint);
  EXPECT_EQ(d.at("teacher_bands"), nlohmann::json({"VV", "S2_R"}));
  EXPECT_EQ(d.at("weight"), 1.0);
  EXPECT_EQ(student.meta.at("train_config").at("distill").at("temperature"), 1.0);
}

TEST(Distill, ATeacherWhoseBandsTheDataCannotSupplyFailsBeforeTraining) {
  drshym::testing::TempDir tmp;
  // A teacher reading VH and S2_R_BEFORE; the data has VV and one optical date.
  const auto tpp = bands({"VV", "VH", "S2_R_BEFORE"});
  auto t = model::make_model(train::TrainConfig::from_json(tiny(tmp.file("t"), tpp, 1, 1)).model);
  model::save_checkpoint(tmp.file("t.pt"), t, {{"preprocess", tpp.to_json()}});
  auto raw = scenes(2, 3);
  for (auto& s : raw) std::fill(s.optical.begin() + 3 * std::ptrdiff_t(s.pixels()), s.optical.end(), NAN);
  nlohmann::json sj = tiny(tmp.file("student"), bands({"VV"}), 1, 1);
  sj["distill"] = {{"teacher", tmp.file("t.pt")}};
  auto cfg = train::TrainConfig::from_json(sj);
  auto ds = std::make_shared<data::MemoryDataset>(raw, bands({"VV"}), "toy_vv");
  drshym::testing::expect_error([&] { train::run_training(cfg, ds, ds, nullptr); }, ErrorKind::InvalidInput,
                                {"VH, S2_R_BEFORE", "toy_vv", "t.pt"});
  EXPECT_FALSE(std::filesystem::exists(tmp.file("student/last.pt")));
  // A teacher that is not there is named as the config's distill.teacher.
  sj["distill"]["teacher"] = tmp.file("nowhere.pt");
  auto missing = train::TrainConfig::from_json(sj);
  drshym::testing::expect_error([&] { train::run_training(missing, ds, ds, nullptr); }, ErrorKind::NotFound,
                                {"distill.teacher", "nowhere.pt"});
}
