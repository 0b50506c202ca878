#pragma once
// Opening a Sentinel-1 scene for processing, with every check that must fail loudly before
// any output is written: readable raster, 1-2 bands (VV[, VH]), a CRS and a geotransform,
// at least one valid pixel; and a label raster on exactly the same grid.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ingest/preprocess.hpp"
#include "io/raster.hpp"

namespace drshym::ingest {

struct Scene {
  io::Raster raster;
  SourceBands bands;
  std::string id;  // file stem
};

// Throws (stage "ingest", naming the file): NotFound, InvalidInput for wrong or ambiguous
// bands (detect_source_bands), missing CRS, missing geotransform, values not in dB.
Scene open_scene(const std::string& uri, bool need_vh);
// Largest scene side open_scene accepts (2^20 pixels): keeps pixel arithmetic far from int
// overflow and refuses headers that claim absurd sizes before anything is allocated.
inline constexpr int kMaxSceneSide = 1 << 20;

// Throws InvalidInput naming the band and saying how to convert when VV or VH is not backscatter
// in dB: integer digital numbers, linear power or amplitude (>98% of values >= 0, median < 2)
// or a median outside [-45, 10] dB (e.g. an unflagged nodata value). Reads a decimated view.
void require_db_scale(const Scene& scene);

// Whether any pixel of the VV band (or VH when present) is valid (not nodata, not NaN). Reads
// window by window and stops at the first valid pixel.
bool has_some_valid(const Scene& scene);
// Throws InvalidInput when has_some_valid is false.
void require_some_valid(const Scene& scene);

// VV dB percentiles of a whole scene (every valid pixel of a decimated, nearest-neighbour read
// of at most max_side pixels on the longer side): p5, p10, ..., p95. Tiles cut from a scene
// carry them as GeoTIFF metadata (kSceneVvPercentileKey + "80" = "-7.93"), so a tile is
// anchored like the scene it came from and tile -> predict -> stitch reproduces segment.
// *land (when given) receives the same percentiles of the land mode alone when the scene is
// mostly dark water (Anchor::level's test), else nothing; tiles carry them under
// kSceneVvLandPercentileKey so a "land_mode" anchor reads a tile as segment reads its scene.
std::vector<std::pair<int, float>> scene_vv_percentiles(const Scene& scene, int max_side = 2048,
                                                        std::vector<std::pair<int, float>>* land = nullptr);
inline constexpr const char* kSceneVvPercentileKey = "DRSHYM_SCENE_VV_P";
inline constexpr const char* kSceneVvLandPercentileKey = "DRSHYM_SCENE_VV_LAND_P";

// The anchor shift (Anchor::shift) of a whole scene: from the scene's own metadata when it is
// a tile that carries its scene's percentile, else measured as in scene_vv_percentiles. The
// scene, never an AOI or a window, so that cropping cannot change the model's input.
// *vv_percentile_db receives the percentile (NaN when the anchor is off or nothing is valid);
// *from_metadata whether it came from tile metadata. Throws InvalidInput naming the scene when
// the anchor is on and no valid VV pixel is found.
// *level (when given) says how the level was measured (AnchorLevel; from metadata only db and
// land_mode are known).
float scene_anchor_shift(const Scene& scene, const Anchor& anchor, float* vv_percentile_db = nullptr,
                         bool* from_metadata = nullptr, int max_side = 2048, AnchorLevel* level = nullptr);

// Throws InvalidInput naming both files unless the label has the scene's size, geotransform
// (within 1e-6 of a pixel) and CRS (when the label has one).
void require_same_grid(const io::Raster& scene, const io::Raster& label);

// DrShym's water label convention (Sen1Floods11's): 0 dry, 1 water, -1 or the band's nodata
// value unknown. Counts the pixels of a label block (band 1) that hold any other value;
// check() throws InvalidInput (stage "data" or "ingest") naming the file, the other values
// (up to 5, with their pixel counts) and the convention: e.g. a 0/255 ETCI-style mask, whose
// 255s would otherwise be read as unknown and silently dropped.
class LabelValueCheck {
 public:
  explicit LabelValueCheck(std::string uri, std::optional<double> nodata) : uri_(std::move(uri)), nodata_(nodata) {}
  void add(const io::Block& label);
  void check(const char* stage) const;

 private:
  std::string uri_;
  std::optional<double> nodata_;
  std::map<float, int64_t> other_;  // value -> pixels (at most 64 values kept)
  int64_t other_pixels_ = 0;
};
// The whole (band 1 of a) label raster, read window by window.
void require_label_values(const io::Raster& label, const char* stage);

}  // namespace drshym::ingest
