#pragma once
// The raw-sample layer: one dataset item as backscatter in dB (VV, VH planes), a 0/1 label
// and a validity mask, before augmentation and before the preprocessing recipe. Every dataset
// reader produces RawSamples; torch only enters afterwards (raw_dataset.hpp).
//
//   RawSample s = RawSample::blank(512, 512, true);   // NaN dB, label 0, nothing valid
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/geo.hpp"

namespace drshym::data {

// An item a dataset found on disk (or in its split list) but does not serve, and why.
struct SkippedItem {
  std::string id;
  std::string reason;
};

struct RawSample {
  int width = 0;
  int height = 0;
  // width*height dB, row-major; NaN where the input has no data (loaders must set it: the
  // model input is filled there, while a pixel whose label alone is unknown keeps its value).
  std::vector<float> vv;
  std::vector<float> vh;       // same, or empty when the source has no VH band
  // VV dB of the same pixels before the event (bi-temporal sources: OMBRIA with change on), or
  // empty. When present, a pixel is valid only where it is finite too.
  std::vector<float> before;
  // Terrain of the same pixels (3 x width*height: height m, slope degrees, HAND m, in
  // ingest::kTerrainPlanes' order; NaN unknown), or empty. Only recipes with terrain bands read it.
  std::vector<float> terrain;
  // Sentinel-2 colour composites of the same pixels (6 x width*height in ingest::kOpticalPlanes'
  // order: R, G, B after the event, then R, G, B before; [0, 1], NaN unknown or absent, e.g. the
  // before planes of a single-date source), or empty. Only teacher recipes (S2_* bands) read it,
  // and only they are invalidated by its NaN.
  std::vector<float> optical;
  std::vector<uint8_t> label;  // 1 water, 0 dry (0 where invalid)
  std::vector<uint8_t> valid;  // 1 where the pixel counts (label known and input finite)
  // Where the source tells permanent from flood water (ETCI): 1 permanent water, 2 flood water,
  // 0 dry or invalid. Empty when the source does not know. Not carried through augmentation.
  std::vector<uint8_t> water_type;
  // Labels of a network's extra heads (model::ModelConfig::heads, in that order), one plane per
  // head over the same pixels as label (1 yes, 0 no); carried through augmentation. Empty when
  // the dataset was not asked for them (ETCI with label water+permanent_water fills one).
  std::vector<std::vector<uint8_t>> head_labels;
  std::string id;
  std::string group;
  // The pixels' grid where the source is georeferenced (GeoTIFF chips): CRS as WKT and the
  // geotransform. Unknown (empty / nullopt) for PNG chips (ETCI, OMBRIA) and after augmentation.
  std::string crs_wkt;
  std::optional<GeoTransform> geotransform;

  size_t pixels() const { return size_t(width) * size_t(height); }
  bool has_vh() const { return !vh.empty(); }
  bool has_before() const { return !before.empty(); }
  bool has_terrain() const { return !terrain.empty(); }
  bool has_optical() const { return !optical.empty(); }
  bool has_grid() const { return !crs_wkt.empty() && geotransform.has_value(); }
  int64_t valid_count() const;
  int64_t water_count() const;  // valid water pixels
  // Bytes held (for cache budgets).
  size_t bytes() const;
  // A sample of the given size with NaN dB, label 0 and no valid pixel.
  static RawSample blank(int width, int height, bool with_vh);
  // Enforce the invariants: valid only where the label is known and every dB plane is finite;
  // label 0 wherever invalid. Throws Internal when plane sizes disagree.
  void normalize_validity();
};

// "a, b, c, d, e and 12 more": the first names of a list, for log lines and error messages.
std::string first_names(const std::vector<std::string>& names, size_t max_names = 5);
// The same for skipped items: "a (reason), b (reason) and 3 more".
std::string first_names(const std::vector<SkippedItem>& items, size_t max_names = 5);

}  // namespace drshym::data
