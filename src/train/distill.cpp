#include "train/distill.hpp"

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/sha256.hpp"
#include "data/raw_dataset.hpp"
#include "model/checkpoint.hpp"

namespace drshym::train {

DistillConfig DistillConfig::from_json(const nlohmann::json& j, const std::string& origin) {
  if (!j.is_object()) throw Error(ErrorKind::InvalidInput, "train", origin + ": expected a mapping");
  DistillConfig c;
  for (const auto& [key, v] : j.items()) {
    const std::string at = origin + "." + key;
    try {
      if (key == "teacher") c.teacher = v.get<std::string>();
      else if (key == "weight") c.weight = v.get<double>();
      else if (key == "temperature") c.temperature = v.get<double>();
      else if (key == "confidence_weighting") c.confidence_weighting = v.get<bool>();
      else
        throw Error(ErrorKind::InvalidInput, "train",
                    "unknown key " + quoted(at) + " (teacher, weight, temperature, confidence_weighting)");
    } catch (const nlohmann::json::exception&) {
      throw Error(ErrorKind::InvalidInput, "train", quoted(at) + ": wrong type, got " + v.dump());
    }
  }
  if (c.teacher.empty()) throw Error(ErrorKind::InvalidInput, "train", quoted(origin + ".teacher") + ": missing (a checkpoint)");
  if (!(c.weight >= 0.0 && c.weight <= 1.0))
    throw Error(ErrorKind::InvalidInput, "train", quoted(origin + ".weight") + " must be in [0, 1]");
  if (!(c.temperature > 0.0 && c.temperature <= 20.0))
    throw Error(ErrorKind::InvalidInput, "train", quoted(origin + ".temperature") + " must be in (0, 20]");
  return c;
}

nlohmann::json DistillConfig::to_json() const {
  return {{"teacher", teacher}, {"weight", weight}, {"temperature", temperature},
          {"confidence_weighting", confidence_weighting}};
}

Teacher load_teacher(const DistillConfig& cfg) {
  Teacher t;
  model::Checkpoint ck;
  try {
    t.path = model::resolve_checkpoint_path(cfg.teacher);
    ck = model::load_checkpoint(t.path);
  } catch (const Error& e) {
    throw Error(e.kind(), "train", "distill.teacher " + quoted(cfg.teacher) + ": " + e.what());
  }
  t.net = ck.net;
  t.net->eval();
  t.preprocess = ingest::Preprocess::from_json(ck.meta.value("preprocess", nlohmann::json::object()));
  t.sha256 = core::file_sha256(t.path);
  t.recipe = cfg.to_json();
  t.recipe["teacher_path"] = t.path;
  t.recipe["teacher_sha256"] = t.sha256;
  t.recipe["teacher_bands"] = t.preprocess.bands;
  t.recipe["teacher_temperature_calibrated"] = ck.meta.value("temperature", 1.0);
  return t;
}

ingest::Preprocess teacher_preprocess(const DistillConfig& cfg) {
  nlohmann::json meta;
  try {
    meta = core::read_json_file(model::metadata_path_for(model::resolve_checkpoint_path(cfg.teacher)));
  } catch (const Error& e) {
    throw Error(e.kind(), "train", "distill.teacher " + quoted(cfg.teacher) + ": " + e.what());
  }
  return ingest::Preprocess::from_json(meta.value("preprocess", nlohmann::json::object()));
}

Teacher prepare_teacher(const DistillConfig& cfg, const data::Dataset& train) {
  Teacher t = load_teacher(cfg);
  if (train.size() == 0) throw Error(ErrorKind::InvalidInput, "train", "distill: the training set is empty");
  if (auto raw = data::raw_sample_of(train, 0)) {
    const auto missing = data::bands_not_supplied(t.preprocess, *raw);
    if (!missing.empty())
      throw Error(ErrorKind::InvalidInput, "train",
                  "distill: the teacher " + quoted(t.path) + " reads bands " + data::first_names(missing, 8) +
                      " that the training data " + quoted(train.name()) + " does not supply");
  }
  if (!train.get(0).teacher_image.defined())
    throw Error(ErrorKind::Internal, "train", "distill: the training set " + quoted(train.name()) +
                                                  " was built without the teacher's inputs");
  return t;
}

torch::Tensor with_distillation(const DistillConfig& cfg, const Teacher& teacher, const torch::Tensor& hard,
                                const torch::Tensor& student_logits, const torch::Tensor& teacher_image,
                                const torch::Tensor& teacher_valid) {
  torch::Tensor tl;
  {
    torch::NoGradGuard no_grad;
    tl = teacher.net->forward(teacher_image.to(student_logits.device()));
  }
  const auto soft = distill_loss(student_logits, tl, teacher_valid.to(student_logits.device()), cfg.temperature,
                                 cfg.confidence_weighting);
  return (1.0 - cfg.weight) * hard + cfg.weight * soft;
}

torch::Tensor distill_loss(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits,
                           const torch::Tensor& valid, double temperature, bool confidence_weighting) {
  if (student_logits.sizes() != teacher_logits.sizes() || student_logits.sizes() != valid.sizes())
    throw Error(ErrorKind::InvalidInput, "train", "distill_loss: student, teacher and valid shapes differ");
  const auto s = student_logits.to(torch::kFloat32) / temperature;
  const auto t = teacher_logits.detach().to(torch::kFloat32) / temperature;
  const auto q = torch::sigmoid(t);
  // KL(q || p) per pixel in log-sigmoid form: stable, 0 where the student matches.
  namespace F = torch::nn::functional;
  const auto kl = q * (F::logsigmoid(t) - F::logsigmoid(s)) + (1 - q) * (F::logsigmoid(-t) - F::logsigmoid(-s));
  auto w = (valid > 0.5).to(torch::kFloat32);
  if (confidence_weighting) w = w * (2 * q - 1).abs();
  const auto denom = w.sum().clamp_min(1e-6);
  return temperature * temperature * (kl * w).sum() / denom;
}

}  // namespace drshym::train
