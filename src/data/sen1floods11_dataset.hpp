#pragma once
// Sen1Floods11 v1.1 hand-labeled chips in the official layout, one split at a time. Chips the
// split lists but the folder lacks are reported (missing()), and unusable chips (odd size or
// band count, entirely NaN, label entirely -1) are left out with their reason (skipped()).
//
//   Sen1Floods11Options o;  o.root = "../shared/data/sen1floods11";  o.split = "test";
//   auto ds = std::make_shared<Sen1Floods11Dataset>(o, pp);
//   Sample s = ds->get(0);   // group = region ("India")
#include <string>
#include <vector>

#include "data/raw_dataset.hpp"
#include "data/sample_cache.hpp"
#include "data/sen1floods11_layout.hpp"

namespace drshym::data {

struct Sen1Floods11Options {
  std::string root;            // the folder that holds v1.1/
  std::string split = "test";  // train | valid | test | bolivia | all (every chip on disk)
  size_t cache_mb = 4096;      // chips kept in memory (~2.6 MB each); 0 = re-read every time
  bool progress = true;        // progress bar while reading chips (terminals only)
  // Read each chip's S2Hand too (sample optical planes); chips without a usable one are skipped
  // by name. On whenever the recipe reads S2 bands (a teacher's).
  bool optical = false;

  static Sen1Floods11Options default_params() { return {}; }
};

class Sen1Floods11Dataset : public RawDataset {
 public:
  // Throws NotFound (root or split CSV absent), InvalidInput (unknown split; no listed chip on
  // disk, naming the split and the folder; no usable chip, naming the reasons).
  Sen1Floods11Dataset(const Sen1Floods11Options& opt, const ingest::Preprocess& pp);

  size_t size() const override { return chips_.size(); }
  std::string name() const override { return "sen1floods11:" + opt_.split; }
  std::string group_of(size_t index) const override;
  std::string id_of(size_t index) const override;
  std::vector<SkippedItem> skipped() const override { return skipped_; }
  RawSample raw(size_t index) const override;

  // Chip ids the split lists whose S1Hand or LabelHand file is not on disk.
  const std::vector<std::string>& missing() const { return missing_; }
  const std::vector<ChipRef>& chips() const { return chips_; }
  size_t listed() const { return listed_; }

 private:
  Sen1Floods11Options opt_;
  std::vector<ChipRef> chips_;
  std::vector<std::string> missing_;
  std::vector<SkippedItem> skipped_;
  size_t listed_ = 0;
  mutable SampleCache<RawSample> cache_;
};

}  // namespace drshym::data
