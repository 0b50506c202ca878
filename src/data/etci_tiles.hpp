#pragma once
// ETCI 2021 tiles on disk, without torch: <root>/<scene>/{vv,vh,flood_label,water_body_label}
// 256x256 8-bit PNGs, water = flood OR permanent water, and the no-data rule: the swath fill
// along the scene edge is VV and VH both 0 or both 255 over a large patch touching the tile edge.
//
//   auto tiles = list_etci_tiles(root, "nebraska_20170213t002121", &skipped);
//   EtciTile t = read_etci_tile(tiles[0]);            // 8-bit planes + label + validity
//   RawSample s = etci_to_raw(t, tiles[0], EtciMapping::fitted_default());
#include <cstdint>
#include <string>
#include <vector>

#include "data/etci_mapping.hpp"
#include "data/raw_sample.hpp"

namespace drshym::data {

// Fill patches smaller than this (pixels) are kept: dark calm water also saturates at 0/0.
constexpr int kEtciMinFillArea = 256;

struct EtciTileRef {
  std::string scene;  // folder name, also the sample group
  std::string name;   // "<scene>_x-N_y-M"
  int row = -1;       // N of x-N: the tile row in the scene mosaic (-1 if the name has none)
  int col = -1;       // M of y-M: the tile column
  std::string vv_path, vh_path, flood_path, water_body_path;
};

// Scene folders under root (those holding a vv/ folder), sorted. Throws NotFound for a missing root.
std::vector<std::string> list_etci_scenes(const std::string& root);

// Tiles of one scene, sorted by (row, col, name). Tiles lacking a vh, flood_label or
// water_body_label file are left out and reported in *skipped (when given). Throws NotFound
// naming the scene and root when the scene folder is absent.
std::vector<EtciTileRef> list_etci_tiles(const std::string& root, const std::string& scene,
                                         std::vector<SkippedItem>* skipped = nullptr);

// "..._x-12_y-30" → row 12, col 30. The names' x is the mosaic row and y the column
// (placing them the other way round breaks the swath edge into a saw-tooth).
bool parse_etci_position(const std::string& name, int& row, int& col);

// One 8-bit PNG as bytes (band 1 of a multi-band one: the original ETCI RGB tiles repeat the
// value in all three). Throws drshym::Error from io when the file is missing or unreadable.
std::vector<uint8_t> read_png_u8(const std::string& path, int& width, int& height);

struct EtciTile {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> vv, vh;  // raw 8-bit values
  std::vector<uint8_t> label;   // 1 water (flood or permanent), 0 dry; 0 where invalid
  std::vector<uint8_t> valid;   // 0 on the swath fill
  std::vector<uint8_t> water_type;  // RawSample::water_type: 1 permanent (water_body_label), 2 flood, 0 dry
  int64_t valid_count() const;
};

// 1 where a pixel is swath fill: VV and VH both 0 or both 255, in a 4-connected patch of such
// pixels that touches the tile edge and covers at least min_fill_area pixels.
std::vector<uint8_t> etci_fill_mask(const uint8_t* vv, const uint8_t* vh, int width, int height,
                                    int min_fill_area = kEtciMinFillArea);

// True when every VV pixel is 0 or 255: the tile lies wholly outside the swath.
bool etci_outside_swath(const std::vector<uint8_t>& vv);

// Read the four PNGs of a tile and derive label and validity. Throws InvalidInput when the
// planes differ in size.
EtciTile read_etci_tile(const EtciTileRef& ref, int min_fill_area = kEtciMinFillArea);

// 8-bit tile → dB raw sample (id = tile name, group = scene).
RawSample etci_to_raw(const EtciTile& tile, const EtciTileRef& ref, const EtciMapping& mapping);

}  // namespace drshym::data
