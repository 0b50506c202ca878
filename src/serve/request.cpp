#include "serve/request.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/text.hpp"
#include "io/raster.hpp"
#include "io/vector.hpp"
#include "io/uri.hpp"

namespace drshym::serve {
namespace fs = std::filesystem;
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

[[noreturn]] void bad(const std::string& msg) { throw Error(ErrorKind::Usage, "request", msg); }
[[noreturn]] void forbidden(const std::string& msg) { throw Error(ErrorKind::Forbidden, "request", msg); }

bool under(const fs::path& p, const fs::path& root) {
  auto r = root.begin(), q = p.begin();
  for (; r != root.end(); ++r, ++q)
    if (q == p.end() || *q != *r) return false;
  return true;
}

int int_option(const nlohmann::json& v, const char* name, int lo, int hi) {
  if (!v.is_number_integer()) bad(fmt::format("options.{} must be an integer", name));
  const auto x = v.get<int64_t>();
  if (x < lo || x > hi) bad(fmt::format("options.{} must be in [{}, {}], got {}", name, lo, hi, x));
  return int(x);
}

// Positions in a GeoJSON object (bodies are at most kMaxJsonDepth deep, so recursion is bounded).
size_t count_positions(const nlohmann::json& j) {
  if (j.is_array() && !j.empty() && j[0].is_number()) return 1;
  size_t n = 0;
  if (j.is_array() || j.is_object())
    for (const auto& v : j) n += count_positions(v);
  return n;
}

std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A remote URI's path may not climb: no '.' or '..' segment, no encoded '.', '/' or '\\'.
void require_plain_remote_path(const std::string& uri) {
  const size_t host = uri.find("://") + 3;
  const size_t path_at = uri.find('/', host);
  std::string path = uri.substr(path_at == std::string::npos ? uri.size() : path_at);
  path = path.substr(0, path.find_first_of("?#"));
  const std::string l = lower(path);
  if (l.find("%2e") != std::string::npos || l.find("%2f") != std::string::npos || l.find("%5c") != std::string::npos ||
      path.find('\\') != std::string::npos)
    forbidden(quoted(uri) + " has an encoded '.', '/' or '\\' in its path");
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = std::min(path.find('/', start), path.size());
    const std::string seg = path.substr(start, end - start);
    if (seg == "." || seg == "..") forbidden(quoted(uri) + " contains a '.' or '..' segment");
    start = end + 1;
  }
}

void require_geotiff(const std::string& source, const std::string& uri) {
  const std::string driver = io::identify_driver(source);
  if (driver.empty())
    throw Error(ErrorKind::InvalidInput, "request", "cannot open " + quoted(uri) + ": not a raster GDAL can read");
  if (driver != "GTiff")
    throw Error(ErrorKind::InvalidInput, "request",
                quoted(uri) + " is a " + driver + " raster; the server reads GeoTIFF (and COG) files only");
}

}  // namespace

InputPolicy::InputPolicy(const std::vector<std::string>& roots, const std::vector<std::string>& remote_prefixes)
    : remote_(remote_prefixes) {
  for (const auto& r : roots) {
    std::error_code ec;
    const fs::path c = fs::canonical(r, ec);
    if (ec || !fs::is_directory(c))
      throw Error(ErrorKind::Usage, "serve", "input root " + quoted(r) + " is not an existing folder");
    roots_.push_back(c.string());
  }
  for (const auto& p : remote_)
    if (!(starts_with(p, "https://") || starts_with(p, "http://") || starts_with(p, "s3://")) ||
        p.find('/', p.find("://") + 3) == std::string::npos)
      throw Error(ErrorKind::Usage, "serve",
                  "--allow-remote " + quoted(p) + " must be an http(s):// or s3:// prefix with a host and a '/'");
}

std::string InputPolicy::resolve(const std::string& uri, const std::string& field) const {
  if (uri.empty()) bad(field + " is empty");
  if (uri.size() > 4096) bad(field + " is longer than 4096 characters");
  if (uri.find('\0') != std::string::npos) bad(field + " contains a NUL character");
  if (starts_with(uri, "http://") || starts_with(uri, "https://") || starts_with(uri, "s3://")) {
    require_plain_remote_path(uri);
    for (const auto& p : remote_)
      if (starts_with(uri, p)) {
        require_geotiff(uri, uri);
        return uri;
      }
    forbidden("remote image " + quoted(uri) +
              " is not under an allowed prefix (the server allows remote inputs only with --allow-remote)");
  }
  if (starts_with(uri, "/vsi")) forbidden("GDAL virtual paths are not accepted: " + quoted(uri));
  if (!starts_with(uri, "file://") && uri.find("://") != std::string::npos)
    forbidden("unsupported URI scheme in " + quoted(uri) + " (use file://, or an allowed http(s):// or s3:// prefix)");
  std::string path;
  try {
    path = io::to_gdal_path(uri);  // file:// decoded, other hosts refused
  } catch (const Error& e) {
    bad(e.what());
  }
  const fs::path p(path);
  if (!p.is_absolute()) bad(field + " must be a file:// URI or an absolute path, got " + quoted(uri));
  for (const auto& part : p)
    if (part == "..") forbidden(quoted(uri) + " contains '..'");
  // Every symlink resolved: a link inside a root that points outside it is refused.
  std::error_code ec;
  const fs::path real = fs::weakly_canonical(p, ec);
  if (ec) forbidden("cannot resolve " + quoted(uri));
  bool inside = false;
  for (const auto& r : roots_) inside = inside || under(real, fs::path(r));
  if (!inside) forbidden(quoted(uri) + " is outside the server's input roots");
  if (!fs::exists(real, ec)) throw Error(ErrorKind::NotFound, "request", "no such file: " + quoted(uri));
  if (!fs::is_regular_file(real, ec)) throw Error(ErrorKind::InvalidInput, "request", quoted(uri) + " is not a file");
  require_geotiff(real.string(), uri);
  return real.string();
}

nlohmann::json SegmentRequest::to_json() const {
  nlohmann::json o = {{"tile", tile}, {"overlap", overlap}};
  if (threshold) o["threshold"] = *threshold;
  if (aoi) o["aoi"] = *aoi;
  if (!model.empty()) o["model"] = model;
  if (!before_uri.empty()) o["before_uri"] = before_uri;
  if (!dem_uri.empty()) {
    o["dem_uri"] = dem_uri;
    o["exclusion"] = exclusion;
    if (slope_max_deg) o["slope_max_deg"] = *slope_max_deg;
    if (hand_max_m) o["hand_max_m"] = *hand_max_m;
  }
  if (explain) {
    o["explain"] = true;
    o["explain_method"] = explain_method;
    if (!explain_layer.empty()) o["explain_layer"] = explain_layer;
    if (explain_region) o["explain_region"] = *explain_region;
  }
  return {{"domain", "flood_sar"}, {"image_uri", image_uri}, {"options", o}};
}

nlohmann::json parse_request_json(const std::string& text) {
  nlohmann::json::parser_callback_t depth_guard = [](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > kMaxJsonDepth) {
      throw Error(ErrorKind::Usage, "request", fmt::format("JSON nested deeper than {} levels", kMaxJsonDepth));
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text, depth_guard);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for a number past double's range (1e400): both the
    // client's malformed input (a 400), never a 500.
    bad(std::string("malformed JSON: ") + e.what());
  }
}

SegmentRequest parse_segment_request(const nlohmann::json& body, const InputPolicy& policy,
                                     const RequestLimits& limits) {
  if (!body.is_object()) bad("the request body must be a JSON object");
  for (auto it = body.begin(); it != body.end(); ++it)
    if (it.key() != "domain" && it.key() != "image_uri" && it.key() != "options")
      bad("unknown field " + quoted(core::clip_utf8(it.key(), 64)) + " (expected domain, image_uri, options)");
  if (!body.contains("domain")) bad("missing field 'domain' (\"flood_sar\")");
  if (!body["domain"].is_string()) bad("domain must be the string \"flood_sar\"");
  if (body["domain"] != "flood_sar")
    bad("unsupported domain " + quoted(core::clip_utf8(body["domain"].get<std::string>(), 64)) +
        "; this server maps \"flood_sar\"");
  if (!body.contains("image_uri")) bad("missing field 'image_uri'");
  if (!body["image_uri"].is_string()) bad("image_uri must be a string");
  SegmentRequest r;
  r.image_uri = body["image_uri"].get<std::string>();
  const nlohmann::json opts = body.value("options", nlohmann::json::object());
  if (!opts.is_object()) bad("options must be a JSON object");
  for (auto it = opts.begin(); it != opts.end(); ++it) {
    const std::string& k = it.key();
    const auto& v = it.value();
    if (k == "tile") {
      r.tile = int_option(v, "tile", limits.min_tile, limits.max_tile);
    } else if (k == "overlap") {
      r.overlap = int_option(v, "overlap", 0, limits.max_tile);
    } else if (k == "threshold") {
      if (!v.is_number() || !(v.get<double>() > 0.0 && v.get<double>() < 1.0))
        bad("options.threshold must be a number in (0, 1)");
      r.threshold = v.get<double>();
    } else if (k == "explain") {
      if (!v.is_boolean()) bad("options.explain must be true or false");
      r.explain = v.get<bool>();
    } else if (k == "explain_method") {
      if (!v.is_string() || (v != "gradcam" && v != "gradcam++")) bad("options.explain_method must be \"gradcam\" or \"gradcam++\"");
      r.explain_method = v.get<std::string>();
    } else if (k == "explain_layer") {
      // Checked against the model's layers before any work (the names are short identifiers).
      if (!v.is_string() || v.get<std::string>().empty() || v.get<std::string>().size() > 32)
        bad("options.explain_layer must be a layer name (see GET /v1/models)");
      r.explain_layer = v.get<std::string>();
    } else if (k == "aoi" || k == "explain_region") {
      if (!v.is_object() || !v.contains("type") || !v["type"].is_string())
        bad("options." + k + " must be a GeoJSON object (geometry, Feature or FeatureCollection)");
      if (count_positions(v) > limits.max_aoi_vertices)
        bad(fmt::format("options.{} has more than {} vertices", k, limits.max_aoi_vertices));
      try {
        io::require_named_geojson_crs(v);
      } catch (const Error& e) {
        bad("options." + k + ": " + e.what());
      }
      (k == "aoi" ? r.aoi : r.explain_region) = v;
    } else if (k == "before_uri") {
      if (!v.is_string()) bad("options.before_uri must be a string (the pre-event scene's URI)");
      r.before_uri = v.get<std::string>();
    } else if (k == "dem_uri") {
      if (!v.is_string()) bad("options.dem_uri must be a string (the DEM's URI)");
      r.dem_uri = v.get<std::string>();
    } else if (k == "exclusion") {
      if (!v.is_boolean()) bad("options.exclusion must be true or false");
      r.exclusion = v.get<bool>();
    } else if (k == "slope_max_deg") {
      if (!v.is_number() || !(v.get<double>() > 0.0 && v.get<double>() < 90.0))
        bad("options.slope_max_deg must be a number in (0, 90)");
      r.slope_max_deg = v.get<double>();
    } else if (k == "hand_max_m") {
      if (!v.is_number() || !(v.get<double>() > 0.0 && v.get<double>() < 10000.0))
        bad("options.hand_max_m must be a number in (0, 10000)");
      r.hand_max_m = v.get<double>();
    } else if (k == "model") {
      if (!v.is_string() || v.get<std::string>().empty()) bad("options.model must be a model name (see GET /v1/models)");
      r.model = v.get<std::string>();
      if (!limits.models.empty() &&
          std::find(limits.models.begin(), limits.models.end(), r.model) == limits.models.end())
        bad("unknown model " + quoted(core::clip_utf8(r.model, 64)) + " (see GET /v1/models)");
    } else {
      bad("unknown option " + quoted(core::clip_utf8(k, 64)) +
          " (expected tile, overlap, threshold, explain, explain_method, explain_layer, explain_region, aoi, model, "
          "before_uri, dem_uri, exclusion, slope_max_deg, hand_max_m)");
    }
  }
  if (r.tile % limits.tile_multiple != 0)
    bad(fmt::format("options.tile must be a multiple of {} (what the networks accept), got {}", limits.tile_multiple,
                    r.tile));
  if (!r.explain && (opts.contains("explain_method") || opts.contains("explain_layer") || opts.contains("explain_region")))
    bad("options.explain_method, explain_layer and explain_region need options.explain: true");
  if (r.dem_uri.empty() && (opts.contains("exclusion") || opts.contains("slope_max_deg") || opts.contains("hand_max_m")))
    bad("options.exclusion, slope_max_deg and hand_max_m need options.dem_uri");
  if (2 * r.overlap >= r.tile) bad(fmt::format("options.overlap must be less than tile/2 = {}, got {}", r.tile / 2, r.overlap));
  if (r.explain && r.tile > limits.max_explain_tile)
    bad(fmt::format("options.tile must be at most {} with options.explain (Grad-CAM keeps every activation of a "
                    "tile for its backward pass), got {}",
                    limits.max_explain_tile, r.tile));
  r.source = policy.resolve(r.image_uri);  // last: a malformed body is a 400 whatever the URI
  if (!r.before_uri.empty()) r.before_source = policy.resolve(r.before_uri, "before_uri");
  if (!r.dem_uri.empty()) r.dem_source = policy.resolve(r.dem_uri, "dem_uri");
  return r;
}

}  // namespace drshym::serve
