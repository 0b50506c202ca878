#pragma once
// A whole raster band read small, for scene-wide statistics (anchor percentiles, "is anything
// valid", the pre-event level): one nearest-neighbour resampled read by GDAL (overviews used
// when the file has them), so memory stays bounded for any scene size.
#include <vector>

#include "io/raster.hpp"

namespace drshym::io {

struct DecimatedBand {
  int width = 0, height = 0;  // at most max_side on the longer side, at least 1 each
  std::vector<float> values;  // row-major; the band's nodata value and NaN both as NaN
};

// Band `band` (1-based) of the whole raster, scaled by min(1, max_side / longer side).
DecimatedBand read_decimated(const Raster& r, int band, int max_side);

}  // namespace drshym::io
