#pragma once
// OMBRIA Sentinel-1 flood pairs (Drakonakis et al., IEEE JSTARS 2022) in the published layout
// `<root>/{train,test}/{BEFORE,AFTER,MASK}/S1_{before,after,mask}_NNNN.png`: 256x256 8-bit VV
// before and after a flood, and a 0/255 mask of *flood* (new water) from Copernicus EMS.
//
// As an all-water dataset (the semantics of Sen1Floods11 and of DrShym's mask) a sample is the
// AFTER image in dB with label 1 on the EMS flood pixels. Permanent water is 0 in the mask,
// so a pixel dark in both dates (below permanent_water_db in BEFORE and AFTER) that the mask
// leaves at 0 is unknown (invalid), not dry.
//
// The 8-bit values are no fixed function of dB: every image is stretched on its own (each of
// the 1,388 images spans 0..255; the same area reads mean 62 before and 138 after). So there is
// no global line to fit, and each image gets its own: the medians of its flood and non-flood
// pixels are matched to the class medians of the ETCI training data (water -18.1 dB, dry
// -10.6 dB VV), so OMBRIA sits on the training data's scale without using any test chip;
// images with too little flood keep the median slope of the others and match only the dry
// median. BEFORE is mapped with the AFTER image's slope and aligned to it on the pixels that
// did not flood. docs/dataset_card.md has the figures (build/src/data/ombria_calibrate).
//
//   OmbriaOptions o;  o.root = "../shared/data/ombria/OmbriaS1";  o.split = "train";
//   auto ds = std::make_shared<OmbriaDataset>(o, pp);   // VV only; group = "ombria_train"
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "data/etci_mapping.hpp"
#include "data/raw_dataset.hpp"

namespace drshym::data {

struct OmbriaOptions {
  std::string root;              // the folder holding train/ and test/
  std::string split = "train";   // train | test
  double water_db = -18.1;       // reference class medians (VV dB) each image is mapped onto
  double dry_db = -10.6;
  int min_flood_pixels = 1000;   // fewer flood pixels: the slope is not fitted on the image
  float permanent_water_db = -15.0f;  // dark in both dates and not flood → unknown
  // Evaluation must not let the mask place the image on the dB scale: with label_free, every
  // image of the split gets one line (the median slope and offset of the train split's
  // per-image lines, `ombria_calibrate`), so its absolute level is as uncertain as a real
  // scene's. make_dataset turns it on wherever there is no augmentation (validation, eval, cv
  // held-out folds); the unknown rule still uses the labelled mapping.
  bool label_free = false;
  // Bi-temporal (change) samples: the sample carries BEFORE as its pre-event plane (band
  // VV_BEFORE) and the label is the EMS mask itself, flood = 1 and everything else = 0, every
  // pixel known (permanent water is "not flood", which is what the mask says).
  bool change = false;
  // A fixed part of the split held apart (for calibration): with holdout_every = k > 0, the
  // triplets at positions k-1, 2k-1, ... of the sorted split are the held part; `holdout`
  // selects them, otherwise they are left out.
  int holdout_every = 0;
  bool holdout = false;
  // Sentinel-2 (OmbriaS2_20m): with optical, every triplet is paired by number with
  // <s2_root>/<split>/{AFTER,BEFORE}/S2_{after,before}_NNNN.png (3-band 8-bit colour composites
  // of the same site and dates) and the sample carries them as its optical planes, upsampled
  // bilinearly onto the S1 grid when they are half its size (the published 20 m files are
  // 128x128 for 256x256 S1). A site whose S2 image is missing, of another size or not 3 bands
  // is skipped by name. s2_root "" = <root>/../OmbriaS2_20m.
  bool optical = false;
  std::string s2_root;
  int threads = 0;
  static OmbriaOptions default_params() { return {}; }
};

// One triplet as stored (8-bit planes) and its file names.
struct OmbriaTriplet {
  std::string id;  // "ombria_train_0001"
  std::string before_path, after_path, mask_path;
  int width = 0, height = 0;
  std::vector<uint8_t> before, after, mask;
  LinearDb after_db, before_db;  // this image's 8-bit → dB lines (set by map_ombria_split)
  LinearDb input_db;             // what the served sample uses: after_db, or the label-free line
  bool slope_fitted = false;     // false: the split's median slope was used
  // Sentinel-2 after and before (OmbriaOptions::optical): 3 planes each, s2_width x s2_height.
  std::vector<uint8_t> s2_after, s2_before;
  int s2_width = 0, s2_height = 0;
};

// The S2 folder OMBRIA's S1 root pairs with by default: <root>/../OmbriaS2_20m.
std::string ombria_default_s2_root(const std::string& s1_root);

// Attach every triplet's Sentinel-2 pair (see OmbriaOptions::optical); triplets without a usable
// one go to *skipped with the reason and leave items. Throws NotFound when the S2 split's
// folders are absent.
void attach_ombria_s2(std::vector<OmbriaTriplet>& items, const std::string& s2_root, const std::string& split,
                      std::vector<SkippedItem>* skipped, int threads = 0);

// One 3-plane 8-bit image of sw x sh onto a w x h grid (the same size, or twice it: bilinear,
// pixel centres aligned), as 3 x w*h values in [0, 1], appended to out.
void upsample_optical(const std::vector<uint8_t>& planes, int sw, int sh, int w, int h, std::vector<float>& out);

// The label-free line: median slope and offset of the train split's per-image lines.
LinearDb ombria_label_free_mapping();

// Per-image mappings as described above, for every triplet of a split. Returns the median
// slope of the images with enough flood pixels (the fallback slope).
double map_ombria_split(std::vector<OmbriaTriplet>& items, const OmbriaOptions& opt);

// List the triplets of a split; files present for only part of a triplet, unreadable files and
// planes of mismatched size go to *skipped with the reason. Throws NotFound when the split's
// folders are absent.
std::vector<OmbriaTriplet> read_ombria_split(const std::string& root, const std::string& split,
                                             std::vector<SkippedItem>* skipped, int threads = 0);

class OmbriaDataset : public RawDataset {
 public:
  // Reads every triplet (≈ 200 KB each; S2 ≈ 100 KB more) at construction. Throws NotFound (root/split absent),
  // InvalidInput (unknown split, no usable triplet; naming the folder and the reasons).
  OmbriaDataset(const OmbriaOptions& opt, const ingest::Preprocess& pp);

  size_t size() const override { return items_.size(); }
  std::string name() const override { return "ombria:" + opt_.split; }
  std::string group_of(size_t) const override {
    return "ombria_" + opt_.split + (opt_.holdout_every > 0 ? (opt_.holdout ? "_held" : "_rest") : "");
  }
  std::string id_of(size_t index) const override { return items_.at(index).id; }
  std::vector<SkippedItem> skipped() const override { return skipped_; }
  RawSample raw(size_t index) const override;
  // The same sample's BEFORE image in dB (for change baselines and the bi-temporal work).
  std::vector<float> before_db(size_t index) const;
  const OmbriaTriplet& triplet(size_t index) const { return items_.at(index); }

 private:
  OmbriaOptions opt_;
  std::vector<OmbriaTriplet> items_;
  std::vector<SkippedItem> skipped_;
};

// What ombria_calibrate prints: how the images are stretched and the per-image mappings.
nlohmann::json describe_ombria_mapping(const std::string& ombria_root, const std::string& split,
                                       const OmbriaOptions& opt = OmbriaOptions::default_params());

}  // namespace drshym::data
