#pragma once
// ETCI 2021 flood tiles (256x256 8-bit VV/VH PNGs) as a dataset of chosen scenes, so that
// training/validation splits are scene-level. 8-bit values become dB through an EtciMapping;
// tiles wholly outside the swath are skipped and counted, swath fill is marked invalid.
//
//   EtciOptions o;  o.root = "../shared/data/etci2021";  o.scenes = {"nebraska_20170213t002121"};
//   auto ds = std::make_shared<EtciDataset>(o, pp);    // group = scene name
#include <string>
#include <vector>

#include "data/etci_mapping.hpp"
#include "data/etci_tiles.hpp"
#include "data/raw_dataset.hpp"
#include "data/sample_cache.hpp"

namespace drshym::data {

// What a sample's label marks: all water (flood OR water_body, the Sen1Floods11 semantics) or
// only the reference (permanent) water bodies, for the permanent-water head: flood water and
// dry land are then both 0.
// water_and_permanent: all water as label, and the permanent water as the label of the
// network's permanent_water head (RawSample::head_labels), for multi-task training.
enum class EtciLabel { all_water, permanent_water, water_and_permanent };

struct EtciOptions {
  std::string root;
  std::vector<std::string> scenes;  // scene folder names; empty = every scene under root
  EtciMapping mapping = EtciMapping::fitted_default();
  int min_fill_area = kEtciMinFillArea;
  EtciLabel label = EtciLabel::all_water;
  size_t cache_mb = 400;  // 8-bit tiles kept in memory (~144 KB each, all 2,107 usable tiles ~300 MB)
  int threads = 0;        // threads for the construction scan (0 = hardware)
  bool progress = true;

  static EtciOptions default_params() { return {}; }
};

struct EtciPackedTile;

class EtciDataset : public RawDataset {
 public:
  // Reads every tile's VV plane once to find tiles wholly outside the swath; the rest of each
  // tile is read on first use and cached. Throws NotFound (root or a scene absent), InvalidInput
  // (no usable tile).
  EtciDataset(const EtciOptions& opt, const ingest::Preprocess& pp);
  ~EtciDataset() override;

  size_t size() const override { return tiles_.size(); }
  std::string name() const override;
  std::string group_of(size_t index) const override { return tiles_.at(index).scene; }
  std::string id_of(size_t index) const override { return tiles_.at(index).name; }
  std::vector<SkippedItem> skipped() const override { return skipped_; }
  RawSample raw(size_t index) const override;

  // The 8-bit planes of a tile with its label and validity (cached).
  EtciTile tile(size_t index) const;
  const std::vector<EtciTileRef>& tiles() const { return tiles_; }
  const std::vector<std::string>& scenes() const { return scenes_; }
  // Tiles skipped because every VV pixel is 0 or 255 (outside the swath).
  size_t outside_swath() const { return outside_swath_; }
  const EtciMapping& mapping() const { return opt_.mapping; }

 private:
  EtciOptions opt_;
  std::vector<std::string> scenes_;
  std::vector<EtciTileRef> tiles_;
  std::vector<SkippedItem> skipped_;
  size_t outside_swath_ = 0;
  mutable SampleCache<EtciPackedTile> cache_;
};

}  // namespace drshym::data
