#pragma once
// Error slices for `drshym eval`: the same pixels as the totals, scored bin by bin so an
// analyst sees where a model fails, with the Otsu baseline on the same pixels in every bin.
//   intensity  VV dB quintiles of the valid pixels of the whole evaluation (edges exact to
//              kIntensityStepDb: pixels are tallied in fine bins, then merged into quintiles)
//   region     the dataset's group of each chip (Sen1Floods11 region, ETCI scene, OMBRIA
//              split), or the chip id's first '_'-separated token when the dataset has none
//   water_type where the data knows it (ETCI water_body_label vs flood_label): labelled
//              permanent water, labelled flood water and dry land, each its own bin. The water
//              bins hold only water, so their IoU equals their recall (the share detected);
//              the dry bin's precision is 0 and what matters there is its false_alarm share.
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/metrics.hpp"

namespace drshym::eval {

class SliceEvaluator {
 public:
  static constexpr double kIntensityLoDb = -50.0, kIntensityHiDb = 20.0, kIntensityStepDb = 0.1;

  // One chip: per pixel VV dB, validity, label and the two predictions (0/1). otsu may be
  // null (no baseline for this dataset); water_type (RawSample::water_type) may be null.
  void add(const std::string& group, const float* vv_db, const uint8_t* valid, const uint8_t* label,
           const uint8_t* model, const uint8_t* otsu, size_t n, const uint8_t* water_type = nullptr);
  // {"intensity": {"definition", "bins": [{"range_db", "pixels", "water_pixels", "model", "otsu_vv_db"}]},
  //  "region": {"definition", "bins": [{"name", ...same fields}]}}; each model / otsu_vv_db entry
  //  holds the confusion and IoU, F1, precision, recall.
  nlohmann::json to_json() const;

 private:
  struct Cell {
    Confusion model, otsu;
  };
  static size_t intensity_bin(float db);
  std::vector<Cell> fine_ = std::vector<Cell>(size_t((kIntensityHiDb - kIntensityLoDb) / kIntensityStepDb + 0.5));
  std::map<std::string, Cell> groups_;
  std::array<Cell, 3> types_{};  // dry, permanent, flood
  bool has_types_ = false;
  bool has_otsu_ = true;
};

}  // namespace drshym::eval
