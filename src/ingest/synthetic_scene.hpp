#pragma once
// A deterministic synthetic Sentinel-1-like scene for demos, tests and benchmarks: VV and VH
// backscatter in dB with multiplicative speckle over land, a meandering river, a flooded plain
// beside it, a NaN no-data border like a swath edge, in a UTM CRS at 10 m. Any window can be
// generated on its own (counter-based noise), so scenes far larger than memory stream to disk.
#include <cstdint>
#include <string>
#include <vector>

#include "core/geo.hpp"

namespace drshym::ingest {

struct SyntheticSceneParams {
  int width = 1024;
  int height = 1024;
  uint64_t seed = 42;
  int epsg = 32644;             // UTM zone 44N
  double origin_x = 500000.0;   // upper-left corner, metres
  double origin_y = 2900000.0;
  double pixel_size = 10.0;
  bool nodata_border = true;    // a slanted swath edge of NaN
  // The same area before the flood: the river only, the plain dry land (its own speckle).
  bool pre_event = false;
};

// Values of one window: vv, vh in dB (NaN where no data), water = 1 where the generator put
// water (river or flood), 0 dry, 255 no data. Each vector has w*h entries. water_class, when
// given, gets 1 on the river (permanent water), 2 on the flooded plain, 0 dry, 255 no data
// (before the event: the river only).
void synthesize_window(const SyntheticSceneParams& p, const Window& win, std::vector<float>& vv,
                       std::vector<float>& vh, std::vector<uint8_t>& water,
                       std::vector<uint8_t>* water_class = nullptr);

// Write the scene as a 2-band Float32 GeoTIFF (band descriptions VV, VH; nodata NaN) and, if
// label_path is not empty, its water mask as a Byte GeoTIFF (nodata 255). Streams by strips.
// With before_path, also the pre-event scene of the same grid (p.pre_event), and the label
// holds the 3 classes instead (0 dry, 1 permanent water, 2 flood water, 255 no data).
void write_synthetic_scene(const SyntheticSceneParams& p, const std::string& path,
                           const std::string& label_path = "", const std::string& before_path = "");

}  // namespace drshym::ingest
