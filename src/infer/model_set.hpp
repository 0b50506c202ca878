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
//   infer::segment_scene(p, {water, models.type_for(p, water)});   // type null: none, or the model's own head
// A server registers the models it offers by name (add); water_for then picks among them.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

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

  // The water model for a scene: opt.water.checkpoint; else, when models were registered
  // (add), the first whose bands match the scene's (VV+VH, or VV only; a VV-only model for a
  // VV+VH scene as a last resort); else the embedded default that matches the scene's bands.
  // Reads the scene's metadata only. Loaded on first use. InvalidInput when no registered model
  // can read the scene.
  const Predictor& water_for(const std::string& scene_uri);
  // A registered model's name, or a checkpoint (loaded on first use with opt.water's other settings).
  const Predictor& water(const std::string& name_or_checkpoint);
  // water(model), or water_for(scene_uri) when model is "".
  const Predictor& water_of(const std::string& model, const std::string& scene_uri) {
    return model.empty() ? water_for(scene_uri) : water(model);
  }
  // Registers a loaded water model under a name (the server's --model list); returns it.
  // Usage error when the name is taken.
  const Predictor& add(const std::string& name, std::unique_ptr<Predictor> model);
  // The registered models, in the order added: name and model.
  std::vector<std::pair<std::string, const Predictor*>> registered() const;
  // A registered model's name, or its checkpoint path.
  std::string name_of(const Predictor& model) const;
  // The water type model p needs beside `water` (see the top); null when none is needed.
  // Throws Usage when type_checkpoint is set but p's options use no type model.
  const Predictor* type_for(const SegmentParams& p, const Predictor& water);

  const ModelSetOptions& options() const { return opt_; }

 private:
  ModelSetOptions opt_;
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, std::unique_ptr<Predictor>>> named_;  // add(), in order
  std::map<std::string, std::unique_ptr<Predictor>> water_;        // by checkpoint as given
  std::map<std::string, std::shared_ptr<const Predictor>> types_;  // by type_model_name
};

}  // namespace drshym::infer
