#pragma once
// Opening a Sentinel-1 scene for processing, with every check that must fail loudly before
// any output is written: readable raster, 1-2 bands (VV[, VH]), a CRS and a geotransform,
// at least one valid pixel; and a label raster on exactly the same grid.
#include <string>

#include "ingest/preprocess.hpp"
#include "io/raster.hpp"

namespace drshym::ingest {

struct Scene {
  io::Raster raster;
  SourceBands bands;
  std::string id;  // file stem
};

// Throws (stage "ingest", naming the file): NotFound, InvalidInput for wrong band count,
// missing CRS, missing geotransform.
Scene open_scene(const std::string& uri, bool need_vh);

// Throws InvalidInput when every pixel of the VV band (and VH when present) is nodata or NaN.
// Reads strip by strip and stops at the first valid pixel.
void require_some_valid(const Scene& scene);

// Throws InvalidInput naming both files unless the label has the scene's size, geotransform
// (within 1e-6 of a pixel) and CRS (when the label has one).
void require_same_grid(const io::Raster& scene, const io::Raster& label);

}  // namespace drshym::ingest
