#include "data/raw_sample.hpp"

#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace drshym::data {

int64_t RawSample::valid_count() const {
  int64_t n = 0;
  for (uint8_t v : valid) n += v ? 1 : 0;
  return n;
}

int64_t RawSample::water_count() const {
  int64_t n = 0;
  for (size_t i = 0; i < label.size() && i < valid.size(); ++i) n += (valid[i] && label[i]) ? 1 : 0;
  return n;
}

size_t RawSample::bytes() const {
  return (vv.size() + vh.size() + before.size() + terrain.size() + optical.size()) * sizeof(float) + label.size() + valid.size() + water_type.size() + id.size() +
         group.size() +
         crs_wkt.size() + sizeof(RawSample);
}

RawSample RawSample::blank(int width, int height, bool with_vh) {
  RawSample s;
  s.width = width;
  s.height = height;
  const size_t n = s.pixels();
  s.vv.assign(n, std::numeric_limits<float>::quiet_NaN());
  if (with_vh) s.vh.assign(n, std::numeric_limits<float>::quiet_NaN());
  s.label.assign(n, 0);
  s.valid.assign(n, 0);
  return s;
}

void RawSample::normalize_validity() {
  const size_t n = pixels();
  if (vv.size() != n || label.size() != n || valid.size() != n || (!vh.empty() && vh.size() != n) ||
      (!before.empty() && before.size() != n) || (!terrain.empty() && terrain.size() != 3 * n) ||
      (!optical.empty() && optical.size() != 6 * n) ||
      (!water_type.empty() && water_type.size() != n))
    throw Error(ErrorKind::Internal, "data", "sample " + quoted(id) + ": plane sizes disagree with " +
                                                 std::to_string(width) + "x" + std::to_string(height));
  for (size_t i = 0; i < n; ++i) {
    bool ok = valid[i] && std::isfinite(vv[i]) && (vh.empty() || std::isfinite(vh[i])) &&
              (before.empty() || std::isfinite(before[i]));
    valid[i] = ok ? 1 : 0;
    if (!ok) label[i] = 0;
    if (!water_type.empty() && !label[i]) water_type[i] = 0;
  }
}

std::string first_names(const std::vector<std::string>& names, size_t max_names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < max_names; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > max_names) out += " and " + std::to_string(names.size() - max_names) + " more";
  return out;
}

std::string first_names(const std::vector<SkippedItem>& items, size_t max_names) {
  std::vector<std::string> names;
  for (const auto& it : items) names.push_back(it.id + " (" + it.reason + ")");
  return first_names(names, max_names);
}

}  // namespace drshym::data
