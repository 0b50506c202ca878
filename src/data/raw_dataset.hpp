#pragma once
// The common path of every file-backed dataset: raw(index) → optional augmentation (seeded by
// seed, epoch, index) → ingest::Preprocess → Sample tensors. Concrete datasets only say how
// to list and read their items.
//
//   Sample s = dataset.get(i, epoch);   // [C,H,W] image, [1,H,W] label and valid
#include <optional>

#include "data/augment.hpp"
#include "data/dataset.hpp"
#include "data/raw_sample.hpp"
#include "ingest/preprocess.hpp"

namespace drshym::data {

// RawSample → Sample. Pixels invalid in the raw sample or made invalid by the recipe (NaN in a
// needed band) get image 0, label 0, valid 0. Throws InvalidInput when the recipe needs VH and
// the sample has none. With an anchor in the recipe, shift_db is the sample's anchor shift;
// when not given it is computed from the sample's own valid VV pixels (one chip = one scene).
Sample to_sample(const RawSample& raw, const ingest::Preprocess& pp, std::optional<float> shift_db = std::nullopt,
                 std::optional<float> before_shift_db = std::nullopt);

// The anchor shifts of a sample's two dates (dB; 0 where there is no anchor or no such date).
struct DateShifts {
  float after = 0.0f;
  float before = 0.0f;
};

// RawSample → Sample for distillation: the student's input (pp) and the teacher's
// (Sample::teacher_image) from the same pixels, each with its own anchor shifts. Unlike
// to_sample, the inputs are not zeroed where the label is unknown: label/valid count the
// labelled pixels, teacher_valid every pixel where both inputs are finite.
Sample to_distill_sample(const RawSample& raw, const ingest::Preprocess& pp, const ingest::Preprocess& teacher,
                         const DateShifts& student_shift, const DateShifts& teacher_shift);

// The bands of a recipe a raw sample cannot supply: VH, pre-event, terrain or optical planes it
// lacks (optical: a plane with no finite value, e.g. the pre-event S2 of a one-date source).
std::vector<std::string> bands_not_supplied(const ingest::Preprocess& pp, const RawSample& raw);

// The raw pixels behind item `index` of any dataset built from RawDatasets (directly, or through
// ConcatDataset / SubsetDataset views), without augmentation; nullopt for other datasets.
std::optional<RawSample> raw_sample_of(const Dataset& ds, size_t index);

class RawDataset : public Dataset {
 public:
  using Dataset::get;
  Sample get(size_t index) const override { return get(index, 0); }
  Sample get(size_t index, uint64_t epoch) const override;

  // Pixels of one item before augmentation and preprocessing (dB, label, validity).
  virtual RawSample raw(size_t index) const = 0;

  // Augment every get() from now on (off by default). seed fixes the draws with epoch and index.
  void enable_augmentation(const AugmentOptions& opt, uint64_t seed);
  void disable_augmentation() { augment_.reset(); }
  const std::optional<AugmentOptions>& augmentation() const { return augment_; }
  const ingest::Preprocess& preprocess() const { return pp_; }
  // Distillation: every get() also carries the teacher's input (Sample::teacher_image) in its
  // recipe, from the same augmented pixels. The reader must hold the planes it needs (optical
  // ones: construct it with wants_optical).
  void enable_teacher(const ingest::Preprocess& teacher);
  const std::optional<ingest::Preprocess>& teacher() const { return teacher_; }
  // Serve no label (every pixel unknown): the samples carry only the teacher's targets.
  void drop_labels() { labelled_ = false; }
  bool labelled() const { return labelled_; }

 protected:
  explicit RawDataset(ingest::Preprocess pp) : pp_(std::move(pp)) {}

 private:
  ingest::Preprocess pp_;
  std::optional<AugmentOptions> augment_;
  uint64_t seed_ = 0;
  std::optional<ingest::Preprocess> teacher_;
  bool labelled_ = true;
};

}  // namespace drshym::data
