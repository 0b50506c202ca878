#include "data/memory_dataset.hpp"

#include "core/error.hpp"

namespace drshym::data {

MemoryDataset::MemoryDataset(std::vector<RawSample> samples, const ingest::Preprocess& pp, std::string name)
    : RawDataset(pp), samples_(std::move(samples)), name_(std::move(name)) {
  for (auto& s : samples_) {
    const size_t n = s.pixels();
    if (s.vv.size() != n || s.label.size() != n || s.valid.size() != n || (s.has_vh() && s.vh.size() != n))
      throw Error(ErrorKind::InvalidInput, "data",
                  name_ + ": sample " + quoted(s.id) + " has planes that disagree with its size " +
                      std::to_string(s.width) + "x" + std::to_string(s.height));
    s.normalize_validity();
  }
}

}  // namespace drshym::data
