// fuzz_manifest: a `drshym batch` manifest.
//   first byte: which form (value % 3: 0 .csv, 1 .yaml, 2 .txt; 'c', 'y' and 't' are those),
//   the rest: the file's bytes → batch::read_manifest
// Expected: drshym::Error. Bugs: any other exception (yaml-cpp, nlohmann, std::filesystem), and
// a manifest that is read but breaks what read_manifest promises (a scene without a path, an
// unusable or repeated id).
#include <set>

#include "batch/manifest.hpp"
#include "core/error.hpp"
#include "harness.hpp"

int drshym_fuzz_manifest(const uint8_t* data, size_t size) {
  using drshym::fuzz::bug;
  drshym::fuzz::setup();
  if (size == 0) return 0;
  static const char* const kExt[3] = {".csv", ".yaml", ".txt"};  // 'c' % 3 == 0, 'y' % 3 == 1, 't' % 3 == 2
  const std::string path = drshym::fuzz::scratch_dir() + "/manifest" + kExt[data[0] % 3];
  drshym::fuzz::write_file(path, data + 1, size - 1);
  std::vector<drshym::batch::SceneEntry> scenes;
  try {
    scenes = drshym::batch::read_manifest(path);
  } catch (const drshym::Error&) {
    return 0;
  }
  if (scenes.empty()) bug("read_manifest returned no scene without an error");
  std::set<std::string> ids;
  for (const auto& s : scenes) {
    if (s.uri.empty()) bug("a scene without a path (line " + std::to_string(s.line) + ")");
    if (!drshym::batch::valid_scene_id(s.id)) bug("scene id '" + s.id + "' is not valid");
    if (!ids.insert(s.id).second) bug("scene id '" + s.id + "' is repeated");
  }
  return 0;
}
