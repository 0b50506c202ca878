#pragma once
// A generic folder of GeoTIFF pairs: <root>/<split>/images/<name>.tif (1 band VV or 2 bands
// VV, VH in dB) and <root>/<split>/labels/<name>.tif (1 water, 0 dry, -1 / nodata = unknown;
// a label holding any other value, e.g. a 0/255 mask, is refused). What `drshym tile` writes, and what users bring. Recipes with terrain bands
// (DEM, SLOPE, HAND) also read <root>/<split>/terrain/<name>.tif: 3 bands on the image's grid,
// height (m), slope (degrees), HAND (m), nodata where unknown (e.g. gdalwarp of a DEM, of
// `gdaldem slope` and of a HAND product, stacked); items without one are skipped.
//
//   FolderOptions o;  o.root = "runs/tiles";  o.split = "train";
//   auto ds = std::make_shared<FolderDataset>(o, pp);   // group = name before the first '_'
#include <string>
#include <vector>

#include "data/raw_dataset.hpp"
#include "data/sample_cache.hpp"

namespace drshym::data {

struct FolderOptions {
  std::string root;
  std::string split = "train";
  size_t cache_mb = 2048;  // samples kept in memory; 0 = re-read every time
  bool progress = true;

  static FolderOptions default_params() { return {}; }
};

struct FolderItem {
  std::string id;  // file stem
  std::string group;
  std::string image_path;
  std::string label_path;
  std::string terrain_path = "";  // <split>/terrain/<name>.tif when present
};

// Read an image/label pair (image band(s) chosen by ingest::detect_source_bands), and its
// terrain when item.terrain_path is set. Throws InvalidInput when sizes differ, the image lacks
// a band the recipe needs or the terrain raster has fewer than 3 bands, and when the label holds
// values other than 0, 1, -1 and its nodata (ingest::LabelValueCheck).
RawSample read_folder_item(const FolderItem& item, bool need_vh);

class FolderDataset : public RawDataset {
 public:
  // Reads every pair once. Images without a label, unreadable or with no valid pixel are
  // skipped with a reason. Throws NotFound (root, split or images/ folder absent) and
  // InvalidInput (no usable pair; a label off the 0/1/-1/nodata convention, naming the file).
  FolderDataset(const FolderOptions& opt, const ingest::Preprocess& pp);

  size_t size() const override { return items_.size(); }
  std::string name() const override { return "folder:" + opt_.root + "/" + opt_.split; }
  std::string group_of(size_t index) const override { return items_.at(index).group; }
  std::string id_of(size_t index) const override { return items_.at(index).id; }
  std::vector<SkippedItem> skipped() const override { return skipped_; }
  RawSample raw(size_t index) const override;
  const std::vector<FolderItem>& items() const { return items_; }

 private:
  FolderOptions opt_;
  std::vector<FolderItem> items_;
  std::vector<SkippedItem> skipped_;
  mutable SampleCache<RawSample> cache_;
};

}  // namespace drshym::data
