#include "data/raw_dataset.hpp"

#include <cstring>

#include "core/error.hpp"
#include "data/concat_dataset.hpp"

namespace drshym::data {

Sample to_sample(const RawSample& raw, const ingest::Preprocess& pp, std::optional<float> shift_db,
                 std::optional<float> before_shift_db) {
  const size_t n = raw.pixels();
  if (pp.needs_vh() && !raw.has_vh())
    throw Error(ErrorKind::InvalidInput, "data",
                "sample " + quoted(raw.id) + " has no VH band but the preprocessing recipe needs it");
  std::vector<float> x;
  std::vector<uint8_t> valid;
  if (pp.needs_before() && !raw.has_before())
    throw Error(ErrorKind::InvalidInput, "data",
                "sample " + quoted(raw.id) + " has no pre-event (before) image but the preprocessing recipe needs it");
  if (pp.needs_terrain() && !raw.has_terrain())
    throw Error(ErrorKind::InvalidInput, "data",
                "sample " + quoted(raw.id) + " has no terrain (DEM, slope, HAND) but the preprocessing recipe needs it");
  const float shift = shift_db ? *shift_db : pp.anchor.shift(raw.vv.data(), raw.valid.data(), n);
  const float before_shift = before_shift_db ? *before_shift_db
                             : raw.has_before() ? pp.anchor.shift(raw.before.data(), raw.valid.data(), n)
                                                : 0.0f;
  pp.apply(raw.vv.data(), raw.has_vh() ? raw.vh.data() : nullptr, n, x, valid, raw.valid.data(), shift,
           raw.has_before() ? raw.before.data() : nullptr, before_shift,
           raw.has_terrain() ? raw.terrain.data() : nullptr);

  const int64_t h = raw.height, w = raw.width, c = int64_t(pp.bands.size());
  Sample s;
  s.id = raw.id;
  s.group = raw.group;
  s.image = torch::empty({c, h, w}, torch::kFloat32);
  std::memcpy(s.image.data_ptr<float>(), x.data(), x.size() * sizeof(float));
  const int64_t heads = int64_t(raw.head_labels.size());
  for (const auto& hl : raw.head_labels)
    if (hl.size() != n)
      throw Error(ErrorKind::Internal, "data", "sample " + quoted(raw.id) + ": a head label has " +
                                                   std::to_string(hl.size()) + " pixels, not " + std::to_string(n));
  s.label = torch::empty({1 + heads, h, w}, torch::kFloat32);
  s.valid = torch::empty({1, h, w}, torch::kFloat32);
  float* lab = s.label.data_ptr<float>();
  float* val = s.valid.data_ptr<float>();
  for (size_t i = 0; i < n; ++i) {
    val[i] = valid[i] ? 1.0f : 0.0f;
    lab[i] = (valid[i] && raw.label[i]) ? 1.0f : 0.0f;
  }
  for (int64_t k = 0; k < heads; ++k) {
    float* hl = lab + size_t(k + 1) * n;
    for (size_t i = 0; i < n; ++i) hl[i] = (valid[i] && raw.head_labels[size_t(k)][i]) ? 1.0f : 0.0f;
  }
  return s;
}

Sample RawDataset::get(size_t index, uint64_t epoch) const {
  if (index >= size())
    throw Error(ErrorKind::Internal, "data",
                name() + ": index " + std::to_string(index) + " out of range (size " + std::to_string(size()) + ")");
  RawSample r = raw(index);
  // The anchor is measured on the whole item, before cropping: a crop is not a scene.
  float shift = pp_.anchor.shift(r.vv.data(), r.valid.data(), r.pixels());
  float before_shift = r.has_before() ? pp_.anchor.shift(r.before.data(), r.valid.data(), r.pixels()) : 0.0f;
  if (augment_) {
    const AugmentDraw d = draw_augment(*augment_, r, seed_, epoch, index);
    r = apply_augment(r, d);
    // The dates' planes moved, so their anchors move with them.
    if (d.swap_dates) std::swap(shift, before_shift);
    if (d.no_change) before_shift = shift;
  }
  return to_sample(r, pp_, shift, before_shift);
}

std::optional<RawSample> raw_sample_of(const Dataset& ds, size_t index) {
  if (auto* r = dynamic_cast<const RawDataset*>(&ds)) return r->raw(index);
  if (auto* c = dynamic_cast<const ConcatDataset*>(&ds)) {
    auto [part, inner] = c->locate(index);
    return raw_sample_of(*c->parts().at(part), inner);
  }
  if (auto* s = dynamic_cast<const SubsetDataset*>(&ds)) return raw_sample_of(s->base(), s->indices().at(index));
  return std::nullopt;
}

void RawDataset::enable_augmentation(const AugmentOptions& opt, uint64_t seed) {
  augment_ = opt;
  seed_ = seed;
}

}  // namespace drshym::data
