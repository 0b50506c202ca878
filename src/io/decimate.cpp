#include "io/decimate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace drshym::io {

DecimatedBand read_decimated(const Raster& r, int band, int max_side) {
  const double f = std::min(1.0, double(max_side) / double(std::max(r.width(), r.height())));
  DecimatedBand d;
  d.width = std::max(1, int(std::lround(r.width() * f)));
  d.height = std::max(1, int(std::lround(r.height() * f)));
  d.values.resize(size_t(d.width) * size_t(d.height));
  r.read_band_resampled(band, Window{0, 0, r.width(), r.height()}, d.width, d.height, d.values.data());
  if (const auto& nodata = r.info().nodata.at(size_t(band - 1)))
    for (float& x : d.values)
      if (x == float(*nodata)) x = std::numeric_limits<float>::quiet_NaN();
  return d;
}

}  // namespace drshym::io
