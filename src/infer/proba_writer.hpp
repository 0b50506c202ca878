#pragma once
// Blends tile probabilities into scene-level probability and mask rasters with bounded memory:
// tiles arrive in row-major grid order, finished rows stream to staged GeoTIFFs, and finish()
// turns them into the final COGs. Shared by `segment` and `stitch`, so both blend identically.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/fs.hpp"
#include "io/area.hpp"
#include "io/raster.hpp"
#include "terrain/exclusion.hpp"
#include "tiling/window_grid.hpp"

namespace drshym::infer {

// Outputs that cover only part of the tile grid (an AOI): the output rasters are `region` of
// the grid, and pixels where `inside` (given a window in grid pixels) is 0 are nodata. Tiles
// are still laid out and blended on the whole grid, so every output pixel gets exactly the
// value a run without the crop would give it.
struct OutputCrop {
  Window region;
  std::function<std::vector<uint8_t>(const Window&)> inside;  // empty: the whole region
};

// Ground areas (m²) tallied while blending, so a summary of the map (explain/caption) needs no
// second pass over full-resolution rasters. Pixel counts stand in for areas when the output
// grid has no CRS (has_area false).
struct FloodTally {
  bool has_area = false;
  int64_t pixels = 0;        // output pixels, valid or not
  int64_t outside_aoi_pixels = 0;  // of those, outside the AOI polygon: nodata by choice, not missing data
  int64_t valid_pixels = 0;
  int64_t flood_pixels = 0;
  double valid_m2 = 0;
  double flood_m2 = 0;       // the mask: p >= threshold
  double expected_m2 = 0;    // sum of area x p: the expected flooded area if p is calibrated
  double likely_m2 = 0;      // p >= kLikely
  double possible_m2 = 0;    // p >= kPossible
  double flood_p_sum = 0;    // sum of p over flood pixels (their mean confidence = / flood_pixels)
  double ambiguous_m2 = 0;   // kPossible <= p < kLikely
  static constexpr float kLikely = 0.8f, kPossible = 0.2f;
  // The pixels a summary judges: those inside the AOI polygon (all of them without one).
  int64_t judged_pixels() const { return pixels - outside_aoi_pixels; }
};

// One float band blended from tiles (cosine weights, in row-major grid order), cropped to the
// output region and streamed to a staged GeoTIFF as its rows finish, so memory stays a few tile
// rows deep. on_rows, when given, sees each finished block first (its window on the output
// grid and its values, NaN where no tile had a valid pixel or outside the crop) and may change
// the values. Used for the probabilities (ProbaWriter) and explanation maps (segment --explain).
class BlendedBand {
 public:
  static constexpr int kFlushRows = 64;  // finished rows are taken, hooked and written in blocks this tall
  using RowsHook = std::function<void(const Window& out, std::vector<float>& values)>;
  // geo: size, transform and CRS of the output raster (the grid's or the crop region's).
  BlendedBand(const io::CreateOptions& geo, const tiling::WindowGrid& grid, const std::string& final_path,
              const char* description, const OutputCrop& crop, RowsHook on_rows = {});
  ~BlendedBand();
  BlendedBand(const BlendedBand&) = delete;
  BlendedBand& operator=(const BlendedBand&) = delete;

  // Add one tile's values (tile x tile) where valid != 0.
  void add(const tiling::Tile& t, const float* values, const uint8_t* valid);
  // A tile with no valid pixel: nothing to blend, but its place in grid order still lets
  // finished rows above it be written.
  void skip(const tiling::Tile& t);
  // Flush the remaining rows and close the staged raster: from then on stage() is complete.
  void close_staging();
  const std::string& stage() const { return stage_; }
  // Output pixels written so far that crop.inside put outside the output (the AOI polygon).
  int64_t outside_pixels() const { return outside_; }
  // Close the staging if open, then write the final raster (COG or tiled GeoTIFF) to
  // outs.temp(final path); the caller commits it.
  void write_output(core::OutputSet& outs, bool cog);

 private:
  void start_tile(const tiling::Tile& t);
  void flush(int up_to);
  void flush_block(int up_to);
  const tiling::WindowGrid& grid_;
  std::string final_path_, stage_;
  io::Raster raster_;
  tiling::StripAccumulator acc_;
  OutputCrop crop_;
  RowsHook on_rows_;
  std::vector<float> rows_;
  int64_t outside_ = 0;
  bool closed_ = false;
};

// Staged-raster creation options shared by the blended outputs: one band of type t.
io::CreateOptions staged_band(io::CreateOptions geo, io::DataType t, std::optional<double> nodata, const char* desc);

class ProbaWriter {
 public:
  // geo: georeferencing of the output rasters (size, transform, CRS): the grid's, or the
  // crop region's. Staged files live beside the final ones under temporary names and are
  // removed whatever happens.
  ProbaWriter(const io::CreateOptions& geo, const tiling::WindowGrid& grid, float threshold,
              const std::string& proba_path, const std::string& mask_path,
              std::optional<OutputCrop> crop = std::nullopt);
  ~ProbaWriter();

  // Terrain exclusion (segment --dem): flags on the output grid (terrain/exclusion.hpp). Water
  // on flagged ground is counted (removal()) and, when `apply`, written as dry and left out of
  // the tally (flood, expected, likely and possible areas); the probabilities stay the model's.
  // Call before the first tile.
  void exclude(const std::string& flags_path, bool apply);
  const terrain::ExclusionRemoval& removal() const { return removal_; }

  // Add one tile's probabilities (tile x tile) where valid != 0.
  void add(const tiling::Tile& t, const float* proba, const uint8_t* valid) { proba_.add(t, proba, valid); }
  // A tile with no valid pixel (outside the AOI or all nodata): see BlendedBand::skip.
  void skip(const tiling::Tile& t) { proba_.skip(t); }
  // Flush remaining rows and close the staged rasters: from then on proba_stage() and
  // mask_stage() are complete, readable GeoTIFFs (until this writer is destroyed).
  void close_staging();
  const std::string& proba_stage() const { return proba_.stage(); }
  const std::string& mask_stage() const { return mask_stage_; }
  // Close the staging if still open, then write the final rasters (COG or tiled GeoTIFF) to
  // outs' temporary paths for them (outs.temp(proba_path), outs.temp(mask_path)); the caller
  // commits them.
  void write_outputs(core::OutputSet& outs, bool cog);

  int64_t valid_pixels() const { return tally_.valid_pixels; }
  int64_t flood_pixels() const { return tally_.flood_pixels; }
  // Ground area of the flood pixels in m² (nullopt when the output grid has no CRS).
  std::optional<double> flood_area_m2() const {
    return area_ ? std::optional<double>(tally_.flood_m2) : std::nullopt;
  }
  const std::optional<io::PixelArea>& pixel_area() const { return area_; }
  const FloodTally& tally() const { return tally_; }

 private:
  // Derives the mask and the tally from a finished block of probabilities.
  void on_rows(const Window& out, std::vector<float>& proba);
  float threshold_;
  std::string mask_path_, mask_stage_;
  io::Raster mask_;
  std::optional<io::PixelArea> area_;
  std::vector<uint8_t> mask_rows_;
  FloodTally tally_;
  std::optional<io::Raster> flags_;  // exclusion flags on the output grid
  std::vector<float> flag_rows_;
  terrain::ExclusionRemoval removal_;
  BlendedBand proba_;  // last: its hook uses the members above
  bool staging_closed_ = false;
};

}  // namespace drshym::infer
