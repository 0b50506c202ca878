#include "batch/catalog.hpp"

#include <fmt/format.h>
#include <gdal_priv.h>
#include <gdal_utils.h>
#include <ogr_spatialref.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <regex>

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "drshym/version.hpp"
#include "io/raster.hpp"
#include "io/warp.hpp"
#include "io/uri.hpp"

namespace drshym::batch {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kStacVersion = "1.0.0";
constexpr const char* kProjExtension = "https://stac-extensions.github.io/projection/v1.1.0/schema.json";
constexpr const char* kCog = "image/tiff; application=geotiff; profile=cloud-optimized";

// "2019:03:02 23:46:51", "2019-03-02T23:46:51.123456Z", "2019-03-02 23:46:51" → ISO 8601 UTC.
std::string normalize_time(const std::string& s) {
  static const std::regex re(R"((\d{4})[-:](\d{2})[-:](\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)?Z?)");
  std::smatch m;
  if (!std::regex_match(s, m, re)) return "";
  return fmt::format("{}-{}-{}T{}:{}:{}{}Z", m[1].str(), m[2].str(), m[3].str(), m[4].str(), m[5].str(), m[6].str(),
                     m[7].str());
}

// A file beside `dir` named like the output at `path` (records hold absolute paths; the batch
// folder may have moved since).
std::string local_name(const json& path) { return fs::path(path.get<std::string>()).filename().string(); }

struct AssetKind {
  const char* key;
  const char* type;
  const char* role;
  const char* title;
};

const AssetKind* asset_kind(const std::string& output) {
  static const std::map<std::string, AssetKind> kinds{
      {"mask", {"mask", kCog, "data", "Flood mask: 1 flood, 0 dry, 255 no data"}},
      {"proba", {"proba", kCog, "data", "Calibrated flood probability (NaN no data)"}},
      {"classes", {"classes", kCog, "data", "Classes: 0 dry, 1 permanent water, 2 flood water, 255 no data"}},
      {"geojson", {"flood_polygons", "application/geo+json", "data", "Flood polygons with area and mean probability"}},
      {"overlay_png", {"overlay", "image/png", "overview", "Flood overlay with legend and scale bar"}},
      {"cam", {"gradcam", kCog, "data", "Grad-CAM relevance of the flood call"}},
      {"cam_overlay_png", {"gradcam_overlay", "image/png", "overview", "Grad-CAM overlay"}},
  };
  const auto it = kinds.find(output);
  return it == kinds.end() ? nullptr : &it->second;
}

std::string crs_tag(const io::RasterInfo& info, std::map<std::string, std::string>& unnamed) {
  if (!info.crs_code.empty()) {
    std::string t = info.crs_code;
    std::replace(t.begin(), t.end(), ':', '-');
    return t;
  }
  auto it = unnamed.find(info.crs_wkt);
  if (it == unnamed.end()) it = unnamed.emplace(info.crs_wkt, "crs" + std::to_string(unnamed.size() + 1)).first;
  return it->second;
}

// One VRT of `files` (all in one CRS) at vrt_path, written under a temporary name first.
void build_vrt(const std::string& vrt, const std::vector<std::string>& files) {
  // Absolute paths on both sides: GDAL then stores sources under the VRT's folder relative to it.
  const std::string vrt_path = fs::absolute(vrt).lexically_normal().string();
  std::vector<std::string> abs;
  for (const auto& f : files) abs.push_back(fs::absolute(f).lexically_normal().string());
  std::vector<const char*> srcs;
  for (const auto& f : abs) srcs.push_back(f.c_str());
  const char* argv[] = {"-resolution", "highest", nullptr};
  GDALBuildVRTOptions* o = GDALBuildVRTOptionsNew(const_cast<char**>(argv), nullptr);
  const std::string tmp = core::temp_path_for(vrt_path);
  int usage_error = 0;
  GDALDatasetH ds = GDALBuildVRT(tmp.c_str(), int(srcs.size()), nullptr, srcs.data(), o, &usage_error);
  GDALBuildVRTOptionsFree(o);
  if (ds) GDALClose(ds);
  if (!ds || !fs::exists(tmp)) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw Error(ErrorKind::Io, "batch", "GDAL BuildVRT could not write " + quoted(vrt_path) + ": " + CPLGetLastErrorMsg());
  }
  fs::rename(tmp, vrt_path);
}

double round4(double v) { return std::round(v * 1e4) / 1e4; }  // km² to 100 m², as records give them

json flood_of(const json& record) {
  const auto& fs_ = record.value("flood_summary", json::object());
  const auto& st = record.value("stats", json::object());
  return {{"flood_km2", st.value("flood_area_km2", fs_.value("flood_km2", json(nullptr)))},
          {"flood_km2_band",
           {{"likely", fs_.value("likely_km2", json(nullptr))},
            {"possible", fs_.value("possible_km2", json(nullptr))},
            {"definition", "likely: pixels with calibrated p >= 0.8; possible: p >= 0.2 (flood: p >= threshold)"}}},
          {"valid_km2", fs_.value("valid_km2", json(nullptr))}};
}

}  // namespace

std::string scene_datetime(const std::string& uri, std::string* source) {
  try {
    const auto r = io::Raster::open(uri);
    for (const char* key : {"ACQUISITION_START_TIME", "ACQUISITION_DATETIME", "DATETIME_ACQUISITION", "DATETIME"}) {
      const char* v = r.handle()->GetMetadataItem(key);
      if (v) {
        const std::string t = normalize_time(v);
        if (!t.empty()) {
          *source = std::string("metadata ") + key;
          return t;
        }
      }
    }
  } catch (const std::exception&) {
    // The scene may have gone since it was mapped; its file name may still say when.
  }
  static const std::regex re(R"((?:^|[^0-9])((\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2}))(?:[^0-9]|$))");
  std::smatch m;
  const std::string name = fs::path(uri).filename().string();
  if (std::regex_search(name, m, re)) {
    *source = "file name";
    return fmt::format("{}-{}-{}T{}:{}:{}Z", m[2].str(), m[3].str(), m[4].str(), m[5].str(), m[6].str(), m[7].str());
  }
  *source = "";
  return "";
}

json stac_item(const SceneOutcome& o, const io::RasterInfo& info) {
  const json& rec = o.record;
  const auto& outputs = rec.at("outputs");
  const auto ring = io::footprint_wgs84(info);
  double x0 = 1e300, y0 = 1e300, x1 = -1e300, y1 = -1e300;
  json coords = json::array();
  for (const auto& p : ring) {
    x0 = std::min(x0, p[0]), x1 = std::max(x1, p[0]);
    y0 = std::min(y0, p[1]), y1 = std::max(y1, p[1]);
    coords.push_back({p[0], p[1]});
  }
  const auto& gt = info.geotransform.t;
  const auto nb = info.geotransform.bounds(Window{0, 0, info.width, info.height});
  std::string dt_source;
  std::string dt = scene_datetime(o.uri, &dt_source);
  const std::string created = core::utc_now_iso();
  if (dt.empty()) {
    dt = created;
    dt_source = "processing time (the scene's acquisition time is unknown)";
  }
  json props = {{"datetime", dt},
                {"created", created},
                {"drshym:datetime_source", dt_source},
                {"proj:shape", {info.height, info.width}},
                {"proj:transform", {gt[1], gt[2], gt[0], gt[4], gt[5], gt[3]}},
                {"proj:bbox", {nb[0], nb[1], nb[2], nb[3]}},
                {"drshym:caption", rec.value("caption", std::string())},
                {"drshym:checkpoint_sha256", rec.value("provenance", json::object()).value("checkpoint_sha256", "")},
                {"drshym:source_uri", o.uri}};
  props.update(flood_of(rec));
  if (info.crs_code.rfind("EPSG:", 0) == 0) {
    props["proj:epsg"] = std::stoi(info.crs_code.substr(5));
  } else {
    props["proj:epsg"] = nullptr;
    OGRSpatialReference srs;
    char* wkt2 = nullptr;
    const char* opts[] = {"FORMAT=WKT2_2019", nullptr};
    if (srs.importFromWkt(info.crs_wkt.c_str()) == OGRERR_NONE && srs.exportToWkt(&wkt2, opts) == OGRERR_NONE)
      props["proj:wkt2"] = wkt2;
    CPLFree(wkt2);
  }
  json assets = json::object();
  for (const auto& [name, path] : outputs.items()) {
    const AssetKind* k = asset_kind(name);
    if (!k) continue;
    assets[k->key] = {{"href", "./" + local_name(path)}, {"type", k->type}, {"roles", {k->role}}, {"title", k->title}};
  }
  assets["record"] = {{"href", "./" + io::stem_of(o.uri) + "_record.json"},
                      {"type", "application/json"},
                      {"roles", {"metadata"}},
                      {"title", "DrShymRecord with provenance and caption"}};
  return {{"type", "Feature"},
          {"stac_version", kStacVersion},
          {"stac_extensions", {kProjExtension}},
          {"id", o.id},
          {"geometry", {{"type", "Polygon"}, {"coordinates", {coords}}}},
          {"bbox", {x0, y0, x1, y1}},
          {"properties", props},
          {"links",
           {{{"rel", "root"}, {"href", "../catalog.json"}, {"type", "application/json"}},
            {{"rel", "parent"}, {"href", "../catalog.json"}, {"type", "application/json"}}}},
          {"assets", assets}};
}

json write_batch_outputs(const CatalogInputs& in) {
  const auto& opt = in.opt;
  json scenes = json::array();
  json catalog_links = json::array({{{"rel", "root"}, {"href", "./catalog.json"}, {"type", "application/json"}}});
  // CRS tag → mask and proba files, scene ids (manifest order: later scenes on top).
  struct Group {
    std::vector<std::string> masks, probas, ids;
    std::string crs;
  };
  std::map<std::string, Group> groups;
  std::map<std::string, std::string> unnamed_crs;
  int done = 0, resumed = 0, failed = 0;
  double flood = 0, likely = 0, possible = 0;
  std::vector<std::string> failed_ids;
  for (size_t i = 0; i < in.scenes.size(); ++i) {
    const auto& s = in.scenes[i];
    const auto& o = in.outcomes[i];
    json e = {{"id", s.id}, {"uri", s.uri}, {"status", to_string(o.status)}, {"rank", o.rank}, {"seconds", o.seconds}};
    if (!s.aoi.empty()) e["aoi"] = s.aoi;
    if (!o.ok()) {
      ++failed;
      failed_ids.push_back(s.id);
      e["error"] = {{"code", o.error_code}, {"message", o.error_message}};
      scenes.push_back(e);
      continue;
    }
    const std::string dir = scene_dir(opt, s);
    json item;
    std::optional<io::Raster> mask;
    try {
      mask.emplace(io::Raster::open(dir + "/" + local_name(o.record.at("outputs").at("mask"))));
      item = stac_item(o, mask->info());
      core::write_json_file(dir + "/" + s.id + ".json", item);
    } catch (const std::exception& ex) {
      // Mapped, but not cataloguable (e.g. its mask has no CRS GDAL can transform): listed as
      // failed, with why, and the other scenes are still catalogued.
      ++failed;
      failed_ids.push_back(s.id);
      e["status"] = "failed";
      e["error"] = {{"code", "catalog"}, {"message", std::string("STAC item or mosaic: ") + ex.what()}};
      scenes.push_back(e);
      continue;
    }
    (o.status == SceneStatus::done ? done : resumed)++;
    catalog_links.push_back({{"rel", "item"}, {"href", "./" + s.id + "/" + s.id + ".json"}, {"type", "application/json"},
                             {"title", s.id}});
    const json f = flood_of(o.record);
    e.update(f);
    if (f["flood_km2"].is_number()) flood += f["flood_km2"].get<double>();
    if (f["flood_km2_band"]["likely"].is_number()) likely += f["flood_km2_band"]["likely"].get<double>();
    if (f["flood_km2_band"]["possible"].is_number()) possible += f["flood_km2_band"]["possible"].get<double>();
    e["item"] = s.id + "/" + s.id + ".json";
    e["outputs"] = json::object();
    for (const auto& [name, path] : o.record.at("outputs").items()) e["outputs"][name] = s.id + "/" + local_name(path);
    e["timings_s"] = o.record.value("provenance", json::object()).value("timings_s", json(nullptr));
    e["error"] = nullptr;
    scenes.push_back(e);
    auto& g = groups[crs_tag(mask->info(), unnamed_crs)];
    g.crs = mask->info().crs_code.empty() ? mask->info().crs_wkt : mask->info().crs_code;
    g.masks.push_back(dir + "/" + local_name(o.record["outputs"]["mask"]));
    g.probas.push_back(dir + "/" + local_name(o.record["outputs"]["proba"]));
    g.ids.push_back(s.id);
  }
  json mosaics = json::array();
  for (const auto& [tag, g] : groups) {
    // In DIR itself, so GDAL writes the scenes' paths relative to the VRT and the batch folder
    // can be moved or served as a whole.
    build_vrt(opt.out_dir + "/mosaic_mask_" + tag + ".vrt", g.masks);
    build_vrt(opt.out_dir + "/mosaic_proba_" + tag + ".vrt", g.probas);
    mosaics.push_back({{"crs", g.crs},
                       {"mask", "mosaic_mask_" + tag + ".vrt"},
                       {"proba", "mosaic_proba_" + tag + ".vrt"},
                       {"scenes", g.ids}});
  }
  const json catalog = {{"type", "Catalog"},
                        {"stac_version", kStacVersion},
                        {"id", "drshym-batch-" + fs::path(opt.manifest).stem().string()},
                        {"title", "DrShym flood maps: " + fs::path(opt.manifest).filename().string()},
                        {"description", fmt::format("Flood maps of {} Sentinel-1 scenes from drshym batch ({} mapped, {} failed)",
                                                    in.scenes.size(), done + resumed, failed)},
                        {"links", catalog_links}};
  core::write_json_file(opt.out_dir + "/catalog.json", catalog);
  json summary = {{"drshym_version", kVersion},
                  {"created", core::utc_now_iso()},
                  {"manifest", opt.manifest},
                  {"ranks", in.ranks},
                  {"threads_per_rank", in.threads_per_rank},
                  {"wall_seconds", in.wall_seconds},
                  {"counts", {{"scenes", in.scenes.size()}, {"done", done}, {"resumed", resumed}, {"failed", failed}}},
                  {"failed", failed_ids},
                  {"flood_km2_total",
                   {{"flood", round4(flood)},
                    {"likely", round4(likely)},
                    {"possible", round4(possible)},
                    {"definition", "sums over the mapped scenes: where scenes overlap, the overlap counts once per scene"}}},
                  {"catalog", "catalog.json"},
                  {"mosaics", mosaics},
                  {"scenes", scenes}};
  core::write_json_file(opt.out_dir + "/batch_summary.json", summary);
  return summary;
}

std::vector<std::string> check_stac(const std::string& path) {
  std::vector<std::string> problems;
  json j;
  try {
    j = core::read_json_file(path);
  } catch (const std::exception& e) {
    return {path + ": " + e.what()};
  }
  const fs::path base = fs::path(path).parent_path();
  auto need = [&](const char* key, bool (json::*is)() const noexcept) {
    if (!j.contains(key) || !(j[key].*is)()) problems.push_back(path + ": '" + key + "' is missing or of the wrong type");
  };
  need("stac_version", &json::is_string);
  need("id", &json::is_string);
  need("links", &json::is_array);
  need("type", &json::is_string);
  if (!problems.empty()) return problems;
  if (j["stac_version"] != kStacVersion) problems.push_back(path + ": stac_version is not " + std::string(kStacVersion));
  const std::string type = j["type"];
  if (type == "Catalog") {
    need("description", &json::is_string);
  } else if (type == "Feature") {
    need("geometry", &json::is_object);
    need("bbox", &json::is_array);
    need("properties", &json::is_object);
    need("assets", &json::is_object);
    if (j.contains("properties") && j["properties"].is_object()) {
      const auto& p = j["properties"];
      static const std::regex rfc3339(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}))");
      const bool has_dt = p.contains("datetime") && p["datetime"].is_string() &&
                          std::regex_match(p["datetime"].get<std::string>(), rfc3339);
      if (!has_dt) problems.push_back(path + ": properties.datetime is not an RFC 3339 time");
    }
    if (j.contains("bbox") && j["bbox"].is_array() && j["bbox"].size() != 4 && j["bbox"].size() != 6)
      problems.push_back(path + ": bbox has " + std::to_string(j["bbox"].size()) + " numbers");
    if (j.contains("assets") && j["assets"].is_object())
      for (const auto& [k, a] : j["assets"].items()) {
        if (!a.contains("href") || !a["href"].is_string()) {
          problems.push_back(path + ": asset '" + k + "' has no href");
          continue;
        }
        if (!fs::exists(base / a["href"].get<std::string>()))
          problems.push_back(path + ": asset '" + k + "' points at a missing file " + a["href"].get<std::string>());
      }
  } else {
    problems.push_back(path + ": type " + type + " is neither Catalog nor Feature");
  }
  for (const auto& l : j["links"]) {
    if (!l.contains("rel") || !l.contains("href")) {
      problems.push_back(path + ": a link lacks rel or href");
      continue;
    }
    const fs::path target = base / l["href"].get<std::string>();
    if (!fs::exists(target)) {
      problems.push_back(path + ": link '" + l["rel"].get<std::string>() + "' points at a missing file " + target.string());
      continue;
    }
    if (type == "Catalog" && l["rel"] == "item")
      for (auto& p : check_stac(target.lexically_normal().string())) problems.push_back(p);
  }
  return problems;
}

}  // namespace drshym::batch
