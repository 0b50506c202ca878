#include "infer/model_set.hpp"

#include "infer/segment.hpp"
#include "infer/water_classes.hpp"

namespace drshym::infer {

const Predictor& ModelSet::water_for(const std::string& scene_uri) {
  return water(opt_.water.checkpoint.empty() ? default_model_for_scene(scene_uri) : opt_.water.checkpoint);
}

const Predictor& ModelSet::water(const std::string& checkpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = water_[checkpoint];
  if (!slot) {
    PredictorParams pp = opt_.water;
    pp.checkpoint = checkpoint;
    slot = std::make_unique<Predictor>(pp);
  }
  return *slot;
}

const Predictor* ModelSet::type_for(const SegmentParams& p, const Predictor& water) {
  const std::string name = type_model_name(p);
  if (!opt_.type_checkpoint.empty() && name.empty())
    (void)load_type_model(p, opt_.water, opt_.type_checkpoint);  // throws the usage error that says why
  // A water model with a permanent-water head splits the water itself: no second network.
  if (name.empty() || (opt_.type_checkpoint.empty() && classes_from_main_head(p, water))) return nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = types_[name];
  if (!slot) slot = load_type_model(p, opt_.water, opt_.type_checkpoint);
  return slot.get();
}

}  // namespace drshym::infer
