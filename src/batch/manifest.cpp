#include "batch/manifest.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/config.hpp"
#include "core/error.hpp"
#include "io/uri.hpp"

namespace drshym::batch {
namespace fs = std::filesystem;

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

bool has_scheme(const std::string& s) { return s.find("://") != std::string::npos || s.rfind("/vsi", 0) == 0; }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && std::equal(suffix.rbegin(), suffix.rend(), s.rbegin(),
                                                  [](char a, char b) { return std::tolower(a) == b; });
}

class ManifestReader {
 public:
  explicit ManifestReader(std::string path) : path_(std::move(path)), dir_(fs::path(path_).parent_path()) {}

  [[noreturn]] void fail(int line, const std::string& what) const {
    throw Error(ErrorKind::Usage, "batch",
                "manifest " + quoted(path_) + (line > 0 ? " line " + std::to_string(line) : "") + ": " + what);
  }

  // A scene or AOI path as given → what segment takes (relative to the manifest's folder).
  std::string resolve(const std::string& p) const {
    // Absolute, so records (and --resume's comparison of them) do not depend on the working
    // directory a batch was started from.
    if (p.empty() || has_scheme(p)) return p;
    return fs::absolute(fs::path(p).is_absolute() ? fs::path(p) : dir_ / p).lexically_normal().string();
  }

  void add(SceneEntry e) {
    if (e.uri.empty()) fail(e.line, "no scene path");
    e.uri = resolve(e.uri);
    e.aoi = resolve(e.aoi);
    e.before = resolve(e.before);
    e.dem = resolve(e.dem);
    if (e.id.empty()) e.id = default_scene_id(e.uri);
    if (!valid_scene_id(e.id))
      fail(e.line, "scene id " + quoted(e.id) +
                       " is not a usable folder name (1-100 of A-Z a-z 0-9 . _ -, not starting with '.'); give an id");
    if (is_reserved_output_name(e.id))
      fail(e.line, "scene id " + quoted(e.id) +
                       " is the name of one of the batch's own outputs (catalog.json, batch_summary.json, "
                       "mosaic_*.vrt); choose another id");
    if (e.id == default_scene_id(e.uri) + "_record")
      fail(e.line, "scene id " + quoted(e.id) + " would make its STAC item <id>.json overwrite the scene's record; "
                   "choose another id");
    if (auto it = ids_.find(e.id); it != ids_.end())
      fail(e.line, "scene id " + quoted(e.id) + " is also used on line " + std::to_string(it->second) +
                       "; give each scene a distinct id");
    ids_[e.id] = e.line;
    entries_.push_back(std::move(e));
  }

  std::vector<SceneEntry> read() {
    std::ifstream f(path_);
    if (!fs::is_regular_file(path_) || !f)
      throw Error(fs::exists(path_) ? ErrorKind::Usage : ErrorKind::NotFound, "batch",
                  "cannot read manifest " + quoted(path_));
    if (ends_with(path_, ".yaml") || ends_with(path_, ".yml"))
      read_yaml();
    else if (ends_with(path_, ".csv"))
      read_csv(f);
    else
      read_lines(f);
    if (entries_.empty()) fail(0, "lists no scene");
    return std::move(entries_);
  }

 private:
  void read_lines(std::istream& in) {
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      line = trim(line);
      if (line.empty() || line[0] == '#') continue;
      SceneEntry e;
      e.uri = line;
      e.line = n;
      add(std::move(e));
    }
  }

  // RFC 4180 fields: commas separate, double quotes may wrap a field ("" is a quote).
  std::vector<std::string> split_csv(const std::string& line, int n) const {
    std::vector<std::string> out;
    std::string cur;
    bool quoted_field = false;
    for (size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (quoted_field) {
        if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
          cur += '"';
          ++i;
        } else if (c == '"') {
          quoted_field = false;
        } else {
          cur += c;
        }
      } else if (c == '"') {
        quoted_field = true;
      } else if (c == ',') {
        out.push_back(trim(cur));
        cur.clear();
      } else {
        cur += c;
      }
    }
    if (quoted_field) fail(n, "unterminated quote");
    out.push_back(trim(cur));
    return out;
  }

  void read_csv(std::istream& in) {
    std::string line;
    std::vector<std::string> header;
    std::map<std::string, size_t> col;
    for (int n = 1; std::getline(in, line); ++n) {
      if (trim(line).empty() || trim(line)[0] == '#') continue;
      auto fields = split_csv(line, n);
      if (header.empty()) {
        header = fields;
        for (size_t i = 0; i < header.size(); ++i) {
          std::string h = header[i];
          std::transform(h.begin(), h.end(), h.begin(), [](unsigned char ch) { return std::tolower(ch); });
          if (h == "uri") h = "path";
          if (h != "path" && h != "id" && h != "aoi" && h != "before" && h != "dem")
            fail(n, "unknown column " + quoted(header[i]) + " (known: path or uri, id, aoi, before, dem)");
          if (col.count(h)) fail(n, "column " + quoted(h) + " appears twice");
          col[h] = i;
        }
        if (!col.count("path")) fail(n, "the header names no 'path' (or 'uri') column");
        continue;
      }
      if (fields.size() != header.size())
        fail(n, std::to_string(fields.size()) + " fields, but the header has " + std::to_string(header.size()));
      auto get = [&](const char* k) { return col.count(k) ? fields[col[k]] : std::string(); };
      add(SceneEntry{get("path"), get("id"), get("aoi"), get("before"), get("dem"), n});
    }
  }

  void read_yaml() {
    core::Json doc;
    try {
      doc = core::load_yaml(path_);
    } catch (const Error& e) {
      throw Error(ErrorKind::Usage, "batch", std::string("manifest: ") + e.what());
    }
    if (doc.is_object() && doc.contains("scenes")) {
      for (auto it = doc.begin(); it != doc.end(); ++it)
        if (it.key() != "scenes") fail(0, "unknown key " + quoted(it.key()) + " (known: scenes)");
      doc = doc["scenes"];
    }
    if (!doc.is_array()) fail(0, "must be a list of scenes, or a map with a 'scenes' list");
    int n = 0;
    for (const auto& item : doc) {
      ++n;
      SceneEntry e;
      e.line = n;
      if (item.is_string()) {
        e.uri = item.get<std::string>();
      } else if (item.is_object()) {
        for (auto it = item.begin(); it != item.end(); ++it) {
          const std::string& k = it.key();
          if (!it.value().is_string()) fail(n, "scene " + std::to_string(n) + ": " + k + " must be a string");
          const std::string v = it.value().get<std::string>();
          if (k == "path" || k == "uri")
            e.uri = v;
          else if (k == "id")
            e.id = v;
          else if (k == "aoi")
            e.aoi = v;
          else if (k == "before")
            e.before = v;
          else if (k == "dem")
            e.dem = v;
          else
            fail(n, "scene " + std::to_string(n) + ": unknown key " + quoted(k) +
                        " (known: path or uri, id, aoi, before, dem)");
        }
      } else {
        fail(n, "scene " + std::to_string(n) + " is neither a path nor a map");
      }
      add(std::move(e));
    }
  }

  std::string path_;
  fs::path dir_;
  std::vector<SceneEntry> entries_;
  std::map<std::string, int> ids_;
};

}  // namespace

bool is_reserved_output_name(const std::string& s) {
  auto ends_with = [&](const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return s == "catalog.json" || s == "batch_summary.json" || (s.rfind("mosaic_", 0) == 0 && ends_with(".vrt"));
}

bool valid_scene_id(const std::string& s) {
  if (s.empty() || s.size() > 100 || s[0] == '.') return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isalnum(c) || c == '.' || c == '_' || c == '-'; });
}

std::string default_scene_id(const std::string& uri) { return io::stem_of(uri); }

std::vector<SceneEntry> read_manifest(const std::string& path) { return ManifestReader(path).read(); }

}  // namespace drshym::batch
