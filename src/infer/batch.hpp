#pragma once
// Batch work over tiles: `predict` runs the model over every GeoTIFF in a folder (proba + mask
// per tile, same grid), `stitch` blends such tile predictions back into scene-level COGs using
// the scene_meta.json written by `drshym tile` and the same weights as `segment`.
#include <optional>
#include <string>
#include <vector>

namespace drshym::infer {

class Predictor;  // infer/predictor.hpp: `stitch` needs no LibTorch, so this header pulls none

struct PredictFolderParams {
  std::string in_dir;
  std::string out_dir;
  int batch_size = 4;
  bool progress = true;
};

struct PredictFolderResult {
  std::vector<std::string> predicted;                       // input files done
  std::vector<std::string> empty;                           // no valid pixel: nothing to predict, no output
  std::vector<std::pair<std::string, std::string>> failed;  // file, reason
};

// The GeoTIFFs (*.tif, *.tiff, any case) directly in dir, sorted by name; [] if dir is unreadable.
std::vector<std::string> geotiffs_in(const std::string& dir);

// The default model for a folder of tiles: chosen by the first GeoTIFF in it (sorted by name)
// that opens as a scene; "default" when none does (predict then reports each file's problem).
std::string default_model_for_folder(const std::string& dir);

// Every *.tif / *.tiff in in_dir (sorted) → out_dir/<stem>_proba.tif, <stem>_mask.tif,
// <stem>_record.json. Unreadable or unusable files are skipped and listed in failed; files
// without any valid pixel (all nodata) have nothing to predict: listed in empty, not an error.
PredictFolderResult predict_folder(const PredictFolderParams& p, const Predictor& predictor);

struct StitchParams {
  std::string proba_dir;   // holds <tile>_proba.tif files (from `predict`)
  std::string scene_meta;  // scene_meta.json from `drshym tile`
  std::string out_dir;
  std::optional<double> threshold;  // in (0, 1); unset: from the tiles' records (provenance.threshold), else 0.5
  bool cog = true;
  // Stitch even when tiles that hold valid pixels have no prediction (their pixels become
  // nodata; a warning names how many). Otherwise that is a NotFound error, before any output.
  bool allow_missing = false;
};

struct StitchResult {
  std::string proba_path, mask_path;
  int tiles_used = 0;
  int tiles_empty = 0;    // held no valid pixel when tiled (valid_fraction 0 or left out): nothing to predict
  int tiles_missing = 0;  // held valid pixels but have no prediction (only with allow_missing)
  double threshold = 0.5;
};

StitchResult stitch_tiles(const StitchParams& p);

}  // namespace drshym::infer
