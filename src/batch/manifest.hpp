#pragma once
// The list of scenes a `drshym batch` run works through. Three forms, chosen by extension:
//   *.yaml / *.yml  a list of scenes (or {scenes: [...]}), each a path/URI or a map with
//                   path (or uri), and optional id, aoi, before, dem
//   *.csv           a header row naming path (or uri) and optionally id, aoi, before, dem
//   anything else   one path or URI per line; blank lines and lines starting with # are skipped
// Relative paths (scenes, AOIs, pre-event scenes and DEMs) are resolved against the manifest's folder; URIs
// (scheme://...) are kept as they are. Every problem is a usage error naming the manifest and
// line, found before any scene runs.
#include <string>
#include <vector>

namespace drshym::batch {

struct SceneEntry {
  std::string uri;     // scene path or URI, as segment takes it
  std::string id;      // output folder name under --out: the manifest's id, else the file stem
  std::string aoi;     // optional polygon GeoJSON (any CRS)
  std::string before;  // optional pre-event scene (segment --before: the change model splits the water)
  std::string dem;     // optional DEM (segment --dem: terrain exclusion layer); else the batch's --dem
  int line = 0;        // 1-based line (text/CSV) or list position (YAML), for messages
};

std::vector<SceneEntry> read_manifest(const std::string& path);

// Whether s is a valid scene id: 1-100 of [A-Za-z0-9._-], not starting with '.'.
bool valid_scene_id(const std::string& s);

// Whether s names one of the batch's own top-level outputs (catalog.json, batch_summary.json,
// mosaic_*.vrt): a scene folder of that name would block them after every scene has run.
bool is_reserved_output_name(const std::string& s);

// The id a scene gets without an explicit one: its file stem ("a/b/S1_x.tif" -> "S1_x").
std::string default_scene_id(const std::string& uri);

}  // namespace drshym::batch
