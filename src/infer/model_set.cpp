#include "infer/model_set.hpp"

#include "core/error.hpp"
#include "ingest/scene.hpp"
#include "infer/segment.hpp"
#include "infer/water_classes.hpp"

namespace drshym::infer {

const Predictor& ModelSet::water_for(const std::string& scene_uri) {
  if (!opt_.water.checkpoint.empty()) return water(opt_.water.checkpoint);
  const auto models = registered();
  if (models.empty()) return water(default_model_for_scene(scene_uri));
  const bool has_vh = ingest::open_scene(scene_uri, false).bands.vh != 0;
  for (const auto& [name, m] : models)
    if (m->preprocess().needs_vh() == has_vh) return *m;
  for (const auto& [name, m] : models)
    if (!m->preprocess().needs_vh()) return *m;
  throw Error(ErrorKind::InvalidInput, "infer", quoted(scene_uri) + " has no VH band and every loaded model needs one");
}

const Predictor& ModelSet::water(const std::string& name_or_checkpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, m] : named_)
    if (name == name_or_checkpoint) return *m;
  auto& slot = water_[name_or_checkpoint];
  if (!slot) {
    PredictorParams pp = opt_.water;
    pp.checkpoint = name_or_checkpoint;
    slot = std::make_unique<Predictor>(pp);
  }
  return *slot;
}

const Predictor& ModelSet::add(const std::string& name, std::unique_ptr<Predictor> model) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& n : named_)
    if (n.first == name) throw Error(ErrorKind::Usage, "infer", "a model named " + quoted(name) + " is already loaded");
  named_.emplace_back(name, std::move(model));
  return *named_.back().second;
}

std::vector<std::pair<std::string, const Predictor*>> ModelSet::registered() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<std::string, const Predictor*>> out;
  for (const auto& [name, m] : named_) out.emplace_back(name, m.get());
  return out;
}

std::string ModelSet::name_of(const Predictor& model) const {
  for (const auto& [name, m] : registered())
    if (m == &model) return name;
  return model.checkpoint_path();
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
