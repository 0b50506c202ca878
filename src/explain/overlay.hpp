#pragma once
// Overlay PNGs of a segment run: the flood map and the Grad-CAM heatmap over the SAR backdrop.
#include <string>

#include "core/geo.hpp"

namespace drshym::explain {

struct OverlayInputs {
  std::string scene_uri;      // the SAR scene (GDAL-readable)
  int vv_band = 1;            // its VV band (dB values)
  Window region;              // the scene window the products below cover
  std::string proba_path;     // Float32 calibrated flood probability on the region grid, NaN = nodata
  std::string mask_path;      // Byte mask on the region grid: 1 flood, 0 dry, 255 nodata
  std::string crs_wkt;        // CRS of the region grid ("" = none)
  GeoTransform geotransform;  // of the region grid
  double threshold = 0.5;
};

void write_flood_overlay_png(const OverlayInputs& in, const std::string& out_png, int max_side = 1600);
// The heat (Float32 on the region grid, >= 0, NaN nodata) scaled to its 99th percentile.
void write_cam_overlay_png(const OverlayInputs& in, const std::string& cam_path, const std::string& out_png,
                           int max_side = 1600);

}  // namespace drshym::explain
