#include "model/feature_tap.hpp"

namespace drshym::model {
namespace {
thread_local FeatureTap* active_tap = nullptr;
}

FeatureTap::FeatureTap(std::string layer) : layer_(std::move(layer)), previous_(active_tap) { active_tap = this; }

FeatureTap::~FeatureTap() { active_tap = previous_; }

torch::Tensor tap(const char* name, torch::Tensor h) {
  FeatureTap* t = active_tap;
  if (t == nullptr || t->layer_ != name) return h;
  t->activation_ = h.detach().requires_grad_(true);
  return t->activation_;
}

}  // namespace drshym::model
