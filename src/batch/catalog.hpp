#pragma once
// What a batch leaves for GIS users and catalogues, written by rank 0 once every scene is done:
//   DIR/<id>/<id>.json      STAC 1.0.0 Item per mapped scene: footprint (the output grid's
//                           outline in WGS84, densified), bbox, datetime (scene metadata or
//                           file name; else the processing time, flagged), proj: fields
//                           (projection extension v1.1.0) and assets (mask, proba, classes
//                           when present, GeoJSON, overlays, Grad-CAM, record) with
//                           relative hrefs
//   DIR/catalog.json        STAC Catalog linking the Items (self-contained: relative links)
//   DIR/mosaic_{mask,proba}_<CRS>.vrt  (e.g. mosaic_mask_EPSG-32631.vrt)
//                           GDAL BuildVRT mosaics, one per CRS, with paths relative to DIR: scenes in different UTM zones
//                           are never resampled into one grid behind the user's back; where
//                           scenes of one CRS overlap, the later one in the manifest is on top
//   DIR/batch_summary.json  per scene: status, error, flooded km² with its band, timings
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "batch/batch.hpp"
#include "io/raster.hpp"

namespace drshym::batch {

struct CatalogInputs {
  const BatchOptions& opt;
  const std::vector<SceneEntry>& scenes;
  const std::vector<SceneOutcome>& outcomes;  // same order as scenes
  int ranks = 1;
  int threads_per_rank = 1;
  double wall_seconds = 0;
};

// Writes every batch-level output above (atomically, each file) and returns the summary.
nlohmann::json write_batch_outputs(const CatalogInputs& in);

// The STAC Item of a mapped scene whose outputs are in dir, given its mask's header (the
// output grid); reads the source scene's metadata for the acquisition time.
nlohmann::json stac_item(const SceneOutcome& o, const io::RasterInfo& mask);

// Acquisition time of a scene as ISO 8601 UTC, from its metadata (ACQUISITION_START_TIME,
// ACQUISITION_DATETIME, DATETIME) or its file name (Sentinel-1 style ..._20190302T234651_...);
// "" when neither says. *source says which.
std::string scene_datetime(const std::string& uri, std::string* source);

// Checks that a STAC Item or Catalog file has what STAC 1.0.0 requires and that every link and
// asset href it holds resolves to an existing file; returns the problems found ([] = valid).
// Catalogs are followed into their items.
std::vector<std::string> check_stac(const std::string& path);

}  // namespace drshym::batch
