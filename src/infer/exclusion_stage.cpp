#include "infer/exclusion_stage.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "infer/segment.hpp"
#include "io/raster.hpp"
#include "io/uri.hpp"

namespace drshym::infer {

void check_terrain_options(const SegmentParams& p) {
  const auto& r = p.exclusion;
  if (!(r.slope_max_deg > 0 && r.slope_max_deg < 90))
    throw Error(ErrorKind::Usage, "segment", fmt::format("slope threshold must be in (0, 90) degrees, got {:g}", r.slope_max_deg));
  if (!(r.hand_max_m > 0))
    throw Error(ErrorKind::Usage, "segment", fmt::format("HAND threshold must be > 0 m, got {:g}", r.hand_max_m));
  if (!(p.terrain.hand.drainage_min_km2 > 0))
    throw Error(ErrorKind::Usage, "segment",
                fmt::format("drainage area threshold must be > 0 km², got {:g}", p.terrain.hand.drainage_min_km2));
  if (!(p.terrain.margin_m >= 0))
    throw Error(ErrorKind::Usage, "segment", fmt::format("DEM margin must be >= 0 m, got {:g}", p.terrain.margin_m));
  if (!(p.terrain.max_cell_ratio >= 1))
    throw Error(ErrorKind::Usage, "segment",
                fmt::format("DEM/scene cell ratio limit must be >= 1, got {:g}", p.terrain.max_cell_ratio));
}

ExclusionStage::ExclusionStage(const SegmentParams& p, const io::Grid& out_grid, const std::string& base)
    : p_(p), grid_(out_grid), final_path_(base + "_exclusion.tif") {
  check_terrain_options(p);
  if (grid_.crs_wkt.empty())
    throw Error(ErrorKind::InvalidInput, "segment",
                "scene " + quoted(p.scene_uri) + " has no CRS: DEM " + quoted(p.dem_uri) + " cannot be placed under it");
  dem_ = terrain::check_dem(p.dem_uri, grid_, p.terrain);
}

void ExclusionStage::compute(core::OutputSet& scratch, const std::optional<io::PixelArea>& area) {
  prefix_ = core::temp_path_for(final_path_.substr(0, final_path_.size() - 4) + "_terrain");
  for (const auto& f : terrain::layer_paths(prefix_)) scratch.adopt(f);
  flags_stage_ = prefix_ + "_flags.tif";
  scratch.adopt(flags_stage_);
  layers_ = terrain::compute_layers(dem_, grid_, p_.terrain, prefix_);
  tally_ = terrain::write_exclusion_stage(layers_, p_.exclusion, flags_stage_, area);
}

const terrain::TerrainLayers& ExclusionStage::scene_layers(const io::Grid& scene, core::OutputSet& scratch) {
  if (scene.width == grid_.width && scene.height == grid_.height && scene.geotransform == grid_.geotransform)
    return layers_;
  if (!scene_layers_) {
    const std::string prefix = prefix_ + "_scene";
    for (const auto& f : terrain::layer_paths(prefix)) scratch.adopt(f);
    scene_layers_ = terrain::compute_layers(terrain::check_dem(p_.dem_uri, scene, p_.terrain), scene, p_.terrain, prefix);
  }
  return *scene_layers_;
}

void ExclusionStage::write_output(core::OutputSet& outs, bool cog) const {
  auto staged = io::Raster::open(flags_stage_);
  const std::string tmp = outs.temp(final_path_);
  if (cog) staged.write_cog(tmp);
  else staged.write_copy(tmp, "GTiff");
}

nlohmann::json ExclusionStage::stats(const terrain::ExclusionRemoval& removal) const {
  nlohmann::json j = tally_.to_json();
  j.update(removal.to_json());
  j["slope_max_deg"] = p_.exclusion.slope_max_deg;
  j["hand_max_m"] = p_.exclusion.hand_max_m;
  return j;
}

nlohmann::json ExclusionStage::provenance() const {
  nlohmann::json j = layers_.provenance;
  j["dem_uri"] = io::is_local(p_.dem_uri) ? io::to_file_uri(io::to_gdal_path(p_.dem_uri)) : p_.dem_uri;
  j["flags"] = {{"1", fmt::format("steep slope: slope > {:g} degrees", p_.exclusion.slope_max_deg)},
                {"2", fmt::format("high above drainage: HAND > {:g} m", p_.exclusion.hand_max_m)},
                {"4", "reserved: radar shadow / layover (not computed)"},
                {"255", "no DEM data: not excluded"}};
  j["applied"] = p_.exclusion.apply;
  j["rule"] = p_.exclusion.apply ? "water on flagged ground is removed from the mask, the classes and the polygons "
                                   "(the probabilities are the model's)"
                                 : "--no-exclusion: flags written, nothing removed";
  return j;
}

std::string ExclusionStage::processing_tag() const {
  return fmt::format("exclusion:slope>{:g}deg,hand>{:g}m{}", p_.exclusion.slope_max_deg, p_.exclusion.hand_max_m,
                     p_.exclusion.apply ? "" : ",not_applied");
}

}  // namespace drshym::infer
