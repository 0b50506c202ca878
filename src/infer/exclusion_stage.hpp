#pragma once
// The terrain part of a segment run (segment --dem): the DEM checked before any work, the
// terrain layers and the exclusion flags computed on the output grid before the model runs
// (so the mask is written with excluded water removed as it streams), and what the record says.
//
//   ExclusionStage ex(p, out_grid, base);           // checks only: throws on a bad DEM
//   ex.compute(scratch, area);                       // layers + staged flags (scratch files)
//   writer.exclude(ex.flags_stage(), p.exclusion.apply);
//   ...; ex.write_output(outs, cog); stats["exclusion"] = ex.stats(writer.removal());
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/fs.hpp"
#include "io/area.hpp"
#include "io/warp.hpp"
#include "terrain/exclusion.hpp"
#include "terrain/terrain.hpp"

namespace drshym::infer {

struct SegmentParams;  // infer/segment.hpp

class ExclusionStage {
 public:
  // Usage errors for thresholds out of range; the DEM's checks (terrain::check_dem), each
  // naming it. Reads no pixel.
  ExclusionStage(const SegmentParams& p, const io::Grid& out_grid, const std::string& base);

  // Heights, slope and HAND onto the output grid, then the flags; every file is adopted by
  // `scratch` (removed whatever happens). InvalidInput when the DEM is all nodata there.
  void compute(core::OutputSet& scratch, const std::optional<io::PixelArea>& area);

  // Heights, slope and HAND on the whole scene grid, for a model whose bands read terrain (call
  // after compute): the exclusion's own layers when the output grid is the scene's, else
  // computed once more for the whole scene (an AOI crops the outputs, never the model's input).
  const terrain::TerrainLayers& scene_layers(const io::Grid& scene, core::OutputSet& scratch);

  const std::string& flags_stage() const { return flags_stage_; }
  const std::string& final_path() const { return final_path_; }
  // The flags as <scene>_exclusion.tif (COG or tiled GeoTIFF) at outs.temp(final_path()).
  void write_output(core::OutputSet& outs, bool cog) const;

  nlohmann::json stats(const terrain::ExclusionRemoval& removal) const;  // stats.exclusion
  nlohmann::json provenance() const;                                     // provenance.terrain
  std::string processing_tag() const;                                    // for record.processing

 private:
  const SegmentParams& p_;
  io::Grid grid_;
  std::string final_path_, prefix_, flags_stage_;
  terrain::DemWindow dem_;
  terrain::TerrainLayers layers_;
  std::optional<terrain::TerrainLayers> scene_layers_;  // on the whole scene grid, when it is not grid_
  terrain::ExclusionTally tally_;
};

// Checks the terrain options of p that need no file (thresholds, margin, ratio): Usage errors.
void check_terrain_options(const SegmentParams& p);

}  // namespace drshym::infer
