#include "data/sen1floods11_dataset.hpp"

#include "core/error.hpp"
#include "core/log.hpp"

namespace drshym::data {

Sen1Floods11Dataset::Sen1Floods11Dataset(const Sen1Floods11Options& opt, const ingest::Preprocess& pp)
    : RawDataset(pp), opt_(opt) {
  ChipListing listing = list_sen1floods11(opt.root, opt.split);
  listed_ = listing.listed;
  missing_ = listing.missing;
  const std::string folder = sen1floods11_s1_dir(opt.root);
  if (listing.present.empty())
    throw Error(ErrorKind::InvalidInput, "data",
                "sen1floods11: none of the " + std::to_string(listing.listed) + " chips of split " +
                    quoted(opt.split) + " (" + quoted(listing.source) + ") exist under " + quoted(folder) +
                    (missing_.empty() ? "" : "; first missing: " + first_names(missing_)));
  if (!missing_.empty())
    core::log().warn("sen1floods11: split '{}' lists {} chips; {} are missing under '{}' (first: {})", opt.split,
                     listing.listed, missing_.size(), folder, first_names(missing_));

  ChipScan scan = scan_sen1floods11(listing.present, opt.cache_mb << 20, opt.progress);
  skipped_ = scan.skipped;
  chips_ = scan.usable;
  opt_.optical = opt.optical || pp.needs_optical();
  if (opt_.optical) {
    if (pp.needs_before())
      throw Error(ErrorKind::InvalidInput, "data", "sen1floods11: one date per chip; the recipe reads pre-event bands");
    std::vector<ChipRef> with_s2;
    std::vector<RawSample> pixels;
    for (size_t i = 0; i < chips_.size(); ++i) {
      const std::string problem = sen1floods11_s2_problem(chips_[i], scan.width, scan.height);
      if (!problem.empty()) {
        skipped_.push_back({chips_[i].id, problem});
        continue;
      }
      with_s2.push_back(chips_[i]);
      pixels.push_back(std::move(scan.pixels[i]));
    }
    chips_ = std::move(with_s2);
    scan.pixels = std::move(pixels);
  }
  if (!skipped_.empty())
    core::log().warn("sen1floods11: split '{}': skipped {} of {} chips on disk: {}", opt.split, skipped_.size(),
                     listing.present.size(), first_names(skipped_));
  if (chips_.empty())
    throw Error(ErrorKind::InvalidInput, "data",
                "sen1floods11: split " + quoted(opt.split) + " has no usable chip under " + quoted(folder) + ": " +
                    first_names(skipped_));
  cache_.reset(chips_.size(), opt.cache_mb << 20);
  for (size_t i = 0; i < chips_.size(); ++i)
    if (scan.pixels[i].width > 0) {
      size_t b = scan.pixels[i].bytes();
      cache_.put(i, std::make_shared<const RawSample>(std::move(scan.pixels[i])), b);
    }
  core::log().info("sen1floods11: split '{}': {} chips ({} listed, {} missing, {} skipped)", opt.split,
                   chips_.size(), listing.listed, missing_.size(), skipped_.size());
}

std::string Sen1Floods11Dataset::group_of(size_t index) const { return chips_.at(index).group; }
std::string Sen1Floods11Dataset::id_of(size_t index) const { return chips_.at(index).id; }

RawSample Sen1Floods11Dataset::raw(size_t index) const {
  RawSample r;
  if (auto hit = cache_.find(index)) {
    r = *hit;
  } else {
    r = read_sen1floods11_chip(chips_.at(index));
    size_t b = r.bytes();
    cache_.put(index, std::make_shared<const RawSample>(r), b);
  }
  // S2 is read on demand, not cached: 6 float planes would triple a chip's bytes.
  if (opt_.optical) read_sen1floods11_s2(chips_.at(index), r);
  return r;
}

}  // namespace drshym::data
