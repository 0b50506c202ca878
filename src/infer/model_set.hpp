#pragma once
// The models of scene jobs, chosen and loaded in one place for `segment`, the batch and the
// server: the water model (a named checkpoint, or the embedded one that matches each scene's
// polarisations) and the water type model a job's options need (the change model with a
// pre-event scene; the permanent-water network when the water model has no head of its own;
// none with a reference raster or without classes). Each checkpoint loads once and is shared.
// Thread-safe: the server's workers ask one ModelSet.
//
//   infer::ModelSet models({pred_params, /*type_checkpoint*/ ""});
//   const infer::Predictor& water = models.water_for(p.scene_uri);
//   p.type_model = models.type_for(p, water);   // null: none needed, or the water model's own head
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "infer/predictor.hpp"

namespace drshym::infer {

struct SegmentParams;  // infer/segment.hpp

struct ModelSetOptions {
  // The water model's settings; checkpoint "" = the embedded model by each scene's
  // polarisations (default_model_for_scene). Type models take its device, threads and
  // precision, never its threshold or test-time augmentation.
  PredictorParams water;
  std::string type_checkpoint;  // the water type model; "" = the embedded one type_model_name names
};

class ModelSet {
 public:
  explicit ModelSet(ModelSetOptions opt) : opt_(std::move(opt)) {}

  // The water model for a scene: opt.water.checkpoint, else the embedded default that matches
  // the scene's bands (reads its metadata only). Loaded on first use.
  const Predictor& water_for(const std::string& scene_uri);
  // The water model of one checkpoint, with opt.water's other settings. Loaded on first use.
  const Predictor& water(const std::string& checkpoint);
  // The water type model p needs beside `water` (see the top); null when none is needed.
  // Throws Usage when type_checkpoint is set but p's options use no type model.
  const Predictor* type_for(const SegmentParams& p, const Predictor& water);

  const ModelSetOptions& options() const { return opt_; }

 private:
  ModelSetOptions opt_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Predictor>> water_;        // by checkpoint as given
  std::map<std::string, std::shared_ptr<const Predictor>> types_;  // by type_model_name
};

}  // namespace drshym::infer
