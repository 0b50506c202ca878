#pragma once
// Cutting test inputs out of a raster: a window and some of its bands, as a new GeoTIFF on the
// window's grid (Float32, NaN nodata).
#include <limits>
#include <string>
#include <vector>

#include "io/raster.hpp"

namespace drshym::testing {

// Writes bands (1-based) of src's window w to dst, with band descriptions names.
inline void write_crop(const std::string& src, const Window& w, const std::vector<int>& bands, const std::string& dst,
                       const std::vector<std::string>& names) {
  auto in = io::Raster::open(src);
  io::CreateOptions o =
      io::like(in.info(), int(bands.size()), io::DataType::Float32, std::numeric_limits<double>::quiet_NaN());
  o.width = w.w;
  o.height = w.h;
  o.geotransform = in.info().geotransform.shifted(w.x, w.y);
  o.descriptions = names;
  auto out = io::Raster::create_geotiff(dst, o);
  const io::Block b = in.read(w, bands);
  for (size_t k = 0; k < bands.size(); ++k) out.write_band(int(k) + 1, Window{0, 0, w.w, w.h}, b.band(k));
  out.close();
}

}  // namespace drshym::testing
