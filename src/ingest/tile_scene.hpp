#pragma once
// `drshym tile`: cut a scene (and optionally its label) into overlapping georeferenced tile
// GeoTIFFs plus one DrShymRecord JSON per tile and a scene_meta.json that `stitch` uses to put
// predictions back together. Output layout (FolderDataset-compatible):
//   OUT/scene_meta.json  OUT/images/<id>_tile_NNNNN.tif  OUT/labels/...tif  OUT/records/...json
#include <string>

#include "tiling/window_grid.hpp"

namespace drshym::ingest {

struct TileParams {
  std::string scene_uri;
  std::string label_uri;  // optional
  std::string out_dir;
  tiling::GridParams grid;  // 512 / 64 by default
  bool skip_empty = false;  // do not write tiles without any valid pixel
  bool progress = true;
};

struct TileResult {
  int tiles_written = 0;
  int tiles_skipped = 0;
  std::string scene_meta_path;
};

// All checks run before anything is written; on any failure every file written so far is
// removed (no partial outputs).
TileResult tile_scene(const TileParams& p);

}  // namespace drshym::ingest
