#pragma once
// The overlay PNG analysts look at first: SAR backdrop (VV dB) with flood drawn in blue, more
// opaque where the model is more confident, uncertain dry land tinted amber, nodata darkened.
#include <string>

#include "core/geo.hpp"

namespace drshym::infer {

// Reads decimated views (GDAL resamples into a buffer at most max_side a side), so memory stays
// small for any scene size. region: the scene window the proba and mask rasters cover.
void write_overlay_png(const std::string& scene_uri, int vv_band, const Window& region,
                       const std::string& proba_path, const std::string& mask_path, const std::string& out_png,
                       int max_side = 1600);

}  // namespace drshym::infer
