#include "data/raw_dataset.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "data/concat_dataset.hpp"

namespace drshym::data {

namespace {

// The checks and the recipe: bands x n model input and the per-pixel validity apply() reports.
std::vector<float> recipe_input(const RawSample& raw, const ingest::Preprocess& pp, float shift, float before_shift,
                                const uint8_t* src_valid, std::vector<uint8_t>& valid) {
  if (pp.needs_vh() && !raw.has_vh())
    throw Error(ErrorKind::InvalidInput, "data",
                "sample " + quoted(raw.id) + " has no VH band but the preprocessing recipe needs it");
  if (pp.needs_before() && !raw.has_before())
    throw Error(ErrorKind::InvalidInput, "data",
                "sample " + quoted(raw.id) + " has no pre-event (before) image but the preprocessing recipe needs it");
  if (pp.needs_terrain() && !raw.has_terrain())
    throw Error(ErrorKind::InvalidInput, "data",
                "sample " + quoted(raw.id) + " has no terrain (DEM, slope, HAND) but the preprocessing recipe needs it");
  if (pp.needs_optical() && !raw.has_optical())
    throw Error(ErrorKind::InvalidInput, "data",
                "sample " + quoted(raw.id) + " has no Sentinel-2 image but the preprocessing recipe reads " +
                    first_names(pp.optical_bands()));
  std::vector<float> x;
  pp.apply(raw.vv.data(), raw.has_vh() ? raw.vh.data() : nullptr, raw.pixels(), x, valid, src_valid, shift,
           raw.has_before() ? raw.before.data() : nullptr, before_shift,
           raw.has_terrain() ? raw.terrain.data() : nullptr, raw.has_optical() ? raw.optical.data() : nullptr);
  return x;
}

torch::Tensor image_tensor(const std::vector<float>& x, int64_t c, int64_t h, int64_t w) {
  auto t = torch::empty({c, h, w}, torch::kFloat32);
  std::memcpy(t.data_ptr<float>(), x.data(), x.size() * sizeof(float));
  return t;
}

// Label [1 + heads, H, W] and valid [1, H, W] from the raw labels where valid[i].
void fill_labels(Sample& s, const RawSample& raw, const std::vector<uint8_t>& valid) {
  const size_t n = raw.pixels();
  const int64_t h = raw.height, w = raw.width;
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
}

}  // namespace

Sample to_sample(const RawSample& raw, const ingest::Preprocess& pp, std::optional<float> shift_db,
                 std::optional<float> before_shift_db) {
  const size_t n = raw.pixels();
  // As segment sees a scene: the anchor over every finite pixel and the real input wherever it is
  // finite, including pixels whose label is unknown (Sen1Floods11's -1, OMBRIA's dark-in-both-
  // dates); only the labels count where the raw sample knows them.
  const float shift = shift_db ? *shift_db : pp.anchor.shift(raw.vv.data(), nullptr, n);
  const float before_shift = before_shift_db ? *before_shift_db
                             : raw.has_before() ? pp.anchor.shift(raw.before.data(), nullptr, n)
                                                : 0.0f;
  std::vector<uint8_t> valid;
  const std::vector<float> x = recipe_input(raw, pp, shift, before_shift, nullptr, valid);
  for (size_t i = 0; i < n; ++i) valid[i] = valid[i] && raw.valid[i];
  Sample s;
  s.id = raw.id;
  s.group = raw.group;
  s.image = image_tensor(x, int64_t(pp.bands.size()), raw.height, raw.width);
  fill_labels(s, raw, valid);
  return s;
}

Sample to_distill_sample(const RawSample& raw, const ingest::Preprocess& pp, const ingest::Preprocess& teacher,
                         const DateShifts& student_shift, const DateShifts& teacher_shift) {
  const size_t n = raw.pixels();
  // Both inputs are the real pixels wherever they are finite (unlabelled pixels are not zeroed:
  // the teacher's targets cover them); the labels count where the raw sample knows them.
  std::vector<uint8_t> in_student, in_teacher;
  const std::vector<float> xs = recipe_input(raw, pp, student_shift.after, student_shift.before, nullptr, in_student);
  const std::vector<float> xt = recipe_input(raw, teacher, teacher_shift.after, teacher_shift.before, nullptr, in_teacher);
  std::vector<uint8_t> labelled(n), both(n);
  for (size_t i = 0; i < n; ++i) {
    labelled[i] = in_student[i] && raw.valid[i];
    both[i] = in_student[i] && in_teacher[i];
  }
  Sample s;
  s.id = raw.id;
  s.group = raw.group;
  s.image = image_tensor(xs, int64_t(pp.bands.size()), raw.height, raw.width);
  s.teacher_image = image_tensor(xt, int64_t(teacher.bands.size()), raw.height, raw.width);
  s.teacher_valid = torch::empty({1, raw.height, raw.width}, torch::kFloat32);
  float* tv = s.teacher_valid.data_ptr<float>();
  for (size_t i = 0; i < n; ++i) tv[i] = both[i] ? 1.0f : 0.0f;
  fill_labels(s, raw, labelled);
  return s;
}

Sample RawDataset::get(size_t index, uint64_t epoch) const {
  if (index >= size())
    throw Error(ErrorKind::Internal, "data",
                name() + ": index " + std::to_string(index) + " out of range (size " + std::to_string(size()) + ")");
  RawSample r = raw(index);
  // Bright water changes the item itself, so it comes before the anchor (below) measures it.
  if (augment_) brighten_water(r, draw_bright_water(*augment_, seed_, epoch, index));
  // The anchor is measured on the whole item, before cropping: a crop is not a scene. Over every
  // finite pixel, as segment measures a scene, labelled or not.
  auto shifts_of = [&](const ingest::Anchor& a) {
    return DateShifts{a.shift(r.vv.data(), nullptr, r.pixels()),
                      r.has_before() ? a.shift(r.before.data(), nullptr, r.pixels()) : 0.0f};
  };
  DateShifts shift = shifts_of(pp_.anchor), teacher_shift;
  if (teacher_) teacher_shift = shifts_of(teacher_->anchor);
  if (augment_) {
    const AugmentDraw d = draw_augment(*augment_, r, seed_, epoch, index);
    r = apply_augment(r, d);
    // The dates' planes moved, so their anchors move with them.
    for (DateShifts* ds : {&shift, &teacher_shift}) {
      if (d.swap_dates) std::swap(ds->after, ds->before);
      if (d.no_change) ds->before = ds->after;
    }
  }
  if (!labelled_) {  // after the anchor and the crop, which look for known pixels
    std::fill(r.valid.begin(), r.valid.end(), uint8_t(0));
    std::fill(r.label.begin(), r.label.end(), uint8_t(0));
  }
  if (teacher_) return to_distill_sample(r, pp_, *teacher_, shift, teacher_shift);
  return to_sample(r, pp_, shift.after, shift.before);
}

void RawDataset::enable_teacher(const ingest::Preprocess& teacher) { teacher_ = teacher; }

std::vector<std::string> bands_not_supplied(const ingest::Preprocess& pp, const RawSample& raw) {
  std::vector<std::string> out;
  const size_t n = raw.pixels();
  for (const auto& b : pp.bands) {
    bool ok = true;
    if (ingest::band_needs_vh(b)) ok = raw.has_vh();
    else if (ingest::band_needs_before(b)) ok = raw.has_before();
    else if (ingest::band_needs_terrain(b)) ok = raw.has_terrain();
    else if (ingest::band_needs_optical(b)) {
      ok = false;
      for (int k = 0; k < 6 && raw.has_optical(); ++k)
        if (b == ingest::kOpticalPlanes[k]) {
          const float* p = raw.optical.data() + size_t(k) * n;
          ok = std::any_of(p, p + n, [](float v) { return std::isfinite(v); });
        }
    }
    if (!ok) out.push_back(b);
  }
  return out;
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
