#pragma once
// The official Sen1Floods11 v1.1 hand-labeled layout, without torch: split lists (CSV rows
// "<S1Hand file>,<LabelHand file>"), which listed chips exist on disk, and reading one chip
// into a RawSample (S1Hand band 1 VV, band 2 VH in dB, NaN no data; LabelHand -1 no data).
//
//   ChipListing l = list_sen1floods11("/data/sen1floods11", "test");  // l.missing: not on disk
//   ChipScan s = scan_sen1floods11(l.present, /*keep_bytes*/ 1 << 30);  // s.skipped: with reasons
#include <string>
#include <vector>

#include "data/raw_sample.hpp"

namespace drshym::data {

// <root>/v1.1/data/flood_events/HandLabeled/{S1Hand,LabelHand} and
// <root>/v1.1/splits/flood_handlabeled/flood_<split>_data.csv
std::string sen1floods11_s1_dir(const std::string& root);
std::string sen1floods11_label_dir(const std::string& root);
std::string sen1floods11_s2_dir(const std::string& root);  // .../HandLabeled/S2Hand
std::string sen1floods11_split_csv(const std::string& root, const std::string& split);

// train, valid, test, bolivia (official lists) and all (every chip on disk).
const std::vector<std::string>& sen1floods11_splits();
// "India_900498" → "India" (the name before the first underscore).
std::string sen1floods11_region(const std::string& chip_id);

struct ChipRef {
  std::string id;     // "India_900498"
  std::string group;  // "India"
  std::string s1_path;
  std::string label_path;
  std::string s2_path;  // <S2Hand folder>/<id>_S2Hand.tif (may not exist: S2 is optional)
};

// Sen1Floods11's Sentinel-2 chips (S2Hand): 13 bands B1..B12 with B8A, reflectance x 10000, on
// the S1Hand grid. Only teacher recipes (S2_* bands) read them.
inline constexpr int kS2HandBands = 13;
// Why the chip's S2Hand image cannot be used with a width x height S1Hand ("" when it can):
// missing, not 13 bands, another size, unreadable.
std::string sen1floods11_s2_problem(const ChipRef& chip, int width, int height);
// Set r.optical from the chip's S2Hand: R, G, B = B4, B3, B2 as reflectance x 10000 / 3000 (so
// 0-0.3 reflectance spans [0, 1] like a colour composite), 0 (fill) and no data NaN; the before
// planes NaN (Sen1Floods11 has one date). Throws InvalidInput naming the chip and the problem.
void read_sen1floods11_s2(const ChipRef& chip, RawSample& r);

struct ChipListing {
  std::string split;
  std::string source;                // the CSV, or the S1Hand folder for split "all"
  size_t listed = 0;                 // rows of the CSV (chips found for "all")
  std::vector<ChipRef> present;      // both files exist
  std::vector<std::string> missing;  // ids listed without their S1Hand or LabelHand file
};

// List the chips of a split. Throws NotFound (root, S1Hand folder or CSV absent), Usage (unknown
// split, naming the known ones), InvalidInput (malformed CSV row, naming file and line).
ChipListing list_sen1floods11(const std::string& root, const std::string& split);

// Read one chip (no consistency checks). Throws drshym::Error from io on unreadable files.
RawSample read_sen1floods11_chip(const ChipRef& chip);

struct ChipScan {
  std::vector<ChipRef> usable;       // consistent chips with at least one valid pixel
  std::vector<RawSample> pixels;     // parallel to usable; empty (width 0) when not kept
  std::vector<SkippedItem> skipped;  // unreadable, odd size or band count, all invalid
  int width = 0, height = 0, bands = 0;  // the shape the usable chips share
};

// Check every chip: readable, the band count and size most chips have (label on the same
// size), and at least one pixel valid in both image and label. Pixels are kept for usable
// chips while their total stays within keep_bytes.
ChipScan scan_sen1floods11(const std::vector<ChipRef>& chips, size_t keep_bytes, bool progress = true);

}  // namespace drshym::data
