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
#include "pipeline/options.hpp"

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

namespace {

using pipeline::ApiForm;
using pipeline::JobOption;
using pipeline::OptionType;

void check_geojson(const JobOption& o, const nlohmann::json& v, const RequestLimits& limits) {
  const std::string k = o.key;
  if (!v.is_object() || !v.contains("type") || !v["type"].is_string())
    bad("options." + k + " must be a GeoJSON object (geometry, Feature or FeatureCollection)");
  if (count_positions(v) > limits.max_aoi_vertices)
    bad(fmt::format("options.{} has more than {} vertices", k, limits.max_aoi_vertices));
  try {
    io::require_named_geojson_crs(v);
  } catch (const Error& e) {
    bad("options." + k + ": " + e.what());
  }
}

void check_text(const JobOption& o, const nlohmann::json& v, const RequestLimits& limits) {
  const std::string label = pipeline::option_label(o, pipeline::kApi);
  if (o.api_form == ApiForm::GeoJson) return check_geojson(o, v, limits);
  if (!v.is_string()) bad(label + " must be a string");
  const std::string& s = v.get_ref<const std::string&>();
  if (o.api_form == ApiForm::Uri) return;  // "" = none; the policy checks the rest
  if (s.empty()) bad(label + " must not be empty");
  if (const std::string rule = o.check_text(s, pipeline::kApi); !rule.empty())
    bad(label + " " + rule + ", got " + quoted(core::clip_utf8(s, 64)));
}

// One option of a request into its job, checked against the table's type and bounds.
void set_option(const JobOption& o, const nlohmann::json& v, pipeline::SceneJob& job, const RequestLimits& limits) {
  const std::string label = pipeline::option_label(o, pipeline::kApi);
  const auto in_bounds = [&](double x) {
    if (const std::string rule = o.check_number(x, pipeline::kApi); !rule.empty())
      bad(fmt::format("{} {}, got {}", label, rule, v.dump()));
  };
  switch (o.type) {
    case OptionType::Integer:
      if (!v.is_number_integer()) bad(label + " must be an integer");
      in_bounds(double(v.get<int64_t>()));
      *o.integer(job) = int(v.get<int64_t>());
      break;
    case OptionType::Number:
    case OptionType::MaybeNumber:
      if (!v.is_number()) bad(label + " must be a number");
      in_bounds(v.get<double>());
      if (o.number) *o.number(job) = v.get<double>();
      else *o.maybe_number(job) = v.get<double>();
      break;
    case OptionType::Switch:
      if (!v.is_boolean()) bad(label + " must be true or false");
      *o.flag_value(job) = v.get<bool>();
      break;
    case OptionType::Text:
      check_text(o, v, limits);
      if (o.api_form != ApiForm::GeoJson) *o.text(job) = v.get<std::string>();  // URIs: resolved later
      break;
  }
}

const JobOption* api_option(const std::string& key) {
  for (const auto& o : pipeline::job_options())
    if (o.offered_on(pipeline::kApi) && key == o.key) return &o;
  return nullptr;
}

[[noreturn]] void unknown_option(const std::string& key) {
  std::string keys;
  for (const auto& o : pipeline::job_options())
    if (o.offered_on(pipeline::kApi)) keys += (keys.empty() ? "" : ", ") + std::string(o.key);
  bad("unknown option " + quoted(core::clip_utf8(key, 64)) + " (expected " + keys + ")");
}

// The request's checks that tie options together or depend on the server's models.
void check_combination(const SegmentRequest& r, const nlohmann::json& opts, const RequestLimits& limits) {
  const auto& sp = r.job.segment;
  if (!r.job.model.empty() && !limits.models.empty() &&
      std::find(limits.models.begin(), limits.models.end(), r.job.model) == limits.models.end())
    bad("unknown model " + quoted(core::clip_utf8(r.job.model, 64)) + " (see GET /v1/models)");
  if (sp.grid.tile % limits.tile_multiple != 0)
    bad(fmt::format("options.tile must be a multiple of {} (what the networks accept), got {}", limits.tile_multiple,
                    sp.grid.tile));
  pipeline::check_needs(r.job, pipeline::kApi, [&](const JobOption& o) { return opts.contains(o.key); });
  if (2 * sp.grid.overlap >= sp.grid.tile)
    bad(fmt::format("options.overlap must be less than tile/2 = {}, got {}", sp.grid.tile / 2, sp.grid.overlap));
  if (r.job.explain.enabled && sp.grid.tile > limits.max_explain_tile)
    bad(fmt::format("options.tile must be at most {} with options.explain (Grad-CAM keeps every activation of a "
                    "tile for its backward pass), got {}",
                    limits.max_explain_tile, sp.grid.tile));
}

}  // namespace

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
    const JobOption* o = api_option(it.key());
    if (!o) unknown_option(it.key());
    set_option(*o, it.value(), r.job, limits);
    r.options[it.key()] = it.value();
  }
  check_combination(r, opts, limits);
  for (const auto& o : pipeline::job_options())  // defaults the stored request states (tile, overlap, ...)
    if (o.offered_on(pipeline::kApi) && o.echo && !r.options.contains(o.key) &&
        (*o.needs == '\0' || pipeline::option_named(o.needs).is_set(r.job)))
      r.options[o.key] = o.value(r.job);
  r.source = policy.resolve(r.image_uri);  // last: a malformed body is a 400 whatever the URI
  for (const auto& o : pipeline::job_options())
    if (o.offered_on(pipeline::kApi) && o.api_form == ApiForm::Uri && o.is_set(r.job))
      *o.text(r.job) = policy.resolve(*o.text(r.job), o.key);
  return r;
}

}  // namespace drshym::serve
