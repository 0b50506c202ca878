#pragma once
// Teacher/student distillation (Garg et al., "Cross-modal distillation for flood extent
// mapping", Environmental Data Science 2023): a teacher that sees more (Sentinel-1 + Sentinel-2)
// gives soft targets to a student that sees Sentinel-1 only. In `drshym train` a `distill:`
// section turns it on:
//
//   distill:
//     teacher: runs/ombria_teacher/best.pt   # a checkpoint (or its folder)
//     weight: 0.5              # share of the teacher's soft targets; the hard labels get 1 - weight
//     temperature: 2.0         # softens teacher and student logits alike (Hinton et al.)
//     confidence_weighting: false   # weight each pixel by the teacher's confidence |2q - 1|
//
// The teacher runs once per batch (no gradient) on its own input, built from the same augmented
// pixels in its own recipe (RawDataset::enable_teacher); pixels without a label (`labels: false`
// sources, unknown label pixels) carry the teacher's targets only.
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

#include "data/dataset.hpp"
#include "ingest/preprocess.hpp"
#include "model/segnet.hpp"

namespace drshym::train {

struct DistillConfig {
  std::string teacher;  // "" = no distillation
  double weight = 0.5;
  double temperature = 2.0;
  bool confidence_weighting = false;

  bool enabled() const { return !teacher.empty(); }
  // Keys as above; absent keys keep defaults. Unknown keys, weight outside [0, 1], temperature
  // outside (0, 20] or a missing teacher throw InvalidInput naming the key.
  static DistillConfig from_json(const nlohmann::json& j, const std::string& origin = "distill");
  nlohmann::json to_json() const;
};

// A loaded teacher: its network (eval mode), its input recipe and where it came from.
struct Teacher {
  model::SegNet net;
  ingest::Preprocess preprocess;
  std::string path;    // the .pt file
  std::string sha256;  // of the .pt file
  nlohmann::json recipe;  // what the student's checkpoint records: teacher path, SHA-256, bands, knobs
};
// Throws NotFound / InvalidInput from the checkpoint loader, naming the file.
Teacher load_teacher(const DistillConfig& cfg);
// The teacher's input recipe alone, from its checkpoint's metadata (no weights read): what a
// training set needs to build the teacher's inputs. Errors as load_teacher.
ingest::Preprocess teacher_preprocess(const DistillConfig& cfg);

// load_teacher, then check that the training data supplies every band the teacher reads (on its
// first sample) and that its samples carry the teacher's input. Throws InvalidInput naming the
// bands and the dataset, before any training step.
Teacher prepare_teacher(const DistillConfig& cfg, const data::Dataset& train);

// The training loss with distillation: (1 - weight) x hard + weight x distill_loss of the
// teacher's logits on teacher_image (run here without gradient) over teacher_valid.
torch::Tensor with_distillation(const DistillConfig& cfg, const Teacher& teacher, const torch::Tensor& hard,
                                const torch::Tensor& student_logits, const torch::Tensor& teacher_image,
                                const torch::Tensor& teacher_valid);

// T^2 x the mean over pixels where valid > 0.5 of KL(q || p), q = sigmoid(teacher / T) and
// p = sigmoid(student / T), each pixel weighted by |2q - 1| with confidence weighting. Zero
// (with zero gradient) where nothing counts. All tensors [N, 1, H, W]; teacher carries no grad.
torch::Tensor distill_loss(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits,
                           const torch::Tensor& valid, double temperature, bool confidence_weighting);

}  // namespace drshym::train
