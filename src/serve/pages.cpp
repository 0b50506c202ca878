#include "serve/pages.hpp"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "serve/map_info.hpp"
#include "serve/route_guard.hpp"
#include "serve/service.hpp"
#include "serve/tiles.hpp"

namespace drshym::serve {
namespace fs = std::filesystem;
namespace {

struct WebAsset {
  const char* name;
  const char* body;
};
const WebAsset kWebAssets[] = {
#include "serve/web_assets.inc"
};

constexpr size_t kMaxJobList = 200;

std::string ends(const std::string& name) {
  const auto dot = name.rfind('.');
  return dot == std::string::npos ? "" : name.substr(dot + 1);
}

// Headers every page and static file carries.
void page_headers(httplib::Response& res) {
  res.set_header("Content-Security-Policy", kPageCsp);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
}

void send_asset(httplib::Response& res, const std::string& name) {
  const char* body = web_asset(name);
  if (!body) throw Error(ErrorKind::NotFound, "pages", "no static file " + quoted(core::clip_utf8(name, 64)));
  page_headers(res);
  res.set_header("Cache-Control", "no-cache");
  res.set_content(body, std::strlen(body), content_type_for(name).c_str());
}

// A file name without folders, hidden names or odd characters: [A-Za-z0-9_-] and dots.
bool plain_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '.' || name.find("..") != std::string::npos) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// GET /static/leaflet/{sub}{name}: Leaflet's script, style and images from libjs-leaflet.
void send_leaflet(httplib::Response& res, const std::string& dir, const std::string& sub, const std::string& name) {
  const std::string ext = ends(name);
  const bool allowed = plain_name(name) && (sub.empty() ? (ext == "js" || ext == "css" || ext == "map") : ext == "png");
  if (!allowed) throw Error(ErrorKind::NotFound, "pages", "no Leaflet file " + quoted(core::clip_utf8(name, 64)));
  if (!leaflet_available(dir))
    throw Error(ErrorKind::NotFound, "pages",
                "Leaflet is not installed on this server (Debian package libjs-leaflet; or start drshym serve with "
                "--leaflet-dir): the map page cannot load");
  const fs::path p = fs::path(dir) / sub / name;
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) throw Error(ErrorKind::NotFound, "pages", "no Leaflet file " + quoted(name));
  page_headers(res);
  res.set_header("Cache-Control", "max-age=86400");
  res.set_content(read_file(p), content_type_for(name).c_str());
}

std::string job_id_of(const httplib::Request& req) { return req.matches[1]; }

// Runs f. An error from below this module (GDAL, the file system, ingest) keeps its kind but
// not its message, which may name the server's files; the log keeps the message.
template <class F>
auto without_paths(const char* what, F f) {
  try {
    return f();
  } catch (const Error& e) {
    if (e.stage() == "tiles" || e.stage() == "jobs" || e.stage() == "pages") throw;
    core::log().warn("serve: {}: {}", what, e.what());
    throw Error(e.kind(), "jobs", std::string(what) + " failed (the server log has the reason)");
  }
}

[[noreturn]] void no_job(const std::string& id, const char* what) {
  throw Error(ErrorKind::NotFound, "jobs", "no " + std::string(what) + " job " + quoted(core::clip_utf8(id, 64)));
}

// The files of a finished job, or NotFound (unknown, or not finished yet).
JobFiles finished_job(const Service& service, const std::string& id, bool with_scene = true) {
  auto f = service.job_files(id, with_scene);
  if (!f) {
    auto j = service.job(id);
    if (!j) no_job(id, "such");
    throw Error(ErrorKind::NotFound, "jobs",
                "job " + quoted(id) + " is " + j->value("status", "?") + ", not done: it has no map yet");
  }
  return *f;
}

size_t list_limit(const httplib::Request& req) {
  if (!req.has_param("limit")) return 50;
  const std::string v = req.get_param_value("limit");
  if (v.empty() || v.size() > 4 || v.find_first_not_of("0123456789") != std::string::npos)
    throw Error(ErrorKind::Usage, "jobs", "limit must be a whole number in [1, " + std::to_string(kMaxJobList) + "]");
  const size_t n = size_t(std::stoul(v));
  if (n < 1 || n > kMaxJobList)
    throw Error(ErrorKind::Usage, "jobs", "limit must be in [1, " + std::to_string(kMaxJobList) + "]");
  return n;
}

void send_tile(PageContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1], layer_name = req.matches[2];
  const auto layer = parse_tile_layer(layer_name);
  if (!layer)
    throw Error(ErrorKind::NotFound, "tiles",
                "no layer " + quoted(core::clip_utf8(layer_name, 32)) + " (backdrop, proba, classes or exclusion)");
  const TileKey k = parse_tile_key(req.matches[3], req.matches[4], req.matches[5]);
  // The scene is checked only for the backdrop, and only until its COG exists.
  const JobFiles f = finished_job(ctx.service, id, *layer == TileLayer::backdrop);
  std::optional<std::string> png;
  try {
    png = without_paths("rendering the tile", [&] { return ctx.tiles.tile(f, *layer, k); });
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Unavailable) res.set_header("Retry-After", std::to_string(ctx.tiles.retry_after_s()));
    throw;
  }
  if (!png) {
    res.status = 204;  // outside the scene
    return;
  }
  res.set_header("Cache-Control", "private, max-age=3600");
  res.set_content(*png, "image/png");
}

// Streams a file (outputs may be large COGs) without holding it in memory.
void send_file(httplib::Response& res, const std::string& path, const std::string& type) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) throw Error(ErrorKind::NotFound, "jobs", "the output is gone");
  auto in = std::make_shared<std::ifstream>(path, std::ios::binary);
  if (!*in) throw Error(ErrorKind::NotFound, "jobs", "the output cannot be read");
  res.set_content_provider(size_t(size), type, [in](size_t offset, size_t length, httplib::DataSink& sink) {
    char buf[64 * 1024];
    in->seekg(std::streamoff(offset));
    const size_t n = std::min(length, sizeof buf);
    in->read(buf, std::streamsize(n));
    const auto got = in->gcount();
    return got > 0 && sink.write(buf, size_t(got));
  });
}

void send_output(PageContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1], key = req.matches[2];
  const OutputKind* kind = find_output_kind(key);
  if (!kind) throw Error(ErrorKind::NotFound, "jobs", "no output " + quoted(core::clip_utf8(key, 32)) + " (see GET /v1/jobs/{id}/map)");
  const JobFiles f = finished_job(ctx.service, id, false);
  if (key == "stac") {
    res.set_header("Content-Disposition", "attachment; filename=\"" + id + "_stac_item.json\"");
    const auto item = without_paths("writing the STAC item", [&] { return stac_item(f, *ctx.service.job(id)); });
    res.set_content(core::dump_json(item, 2) + "\n", kind->content_type);
    return;
  }
  auto it = f.outputs.find(key);
  if (it == f.outputs.end()) throw Error(ErrorKind::NotFound, "jobs", "job " + quoted(id) + " has no " + key + " output");
  // The name is the job's own file name (scene id + suffix): quote-free, as Content-Disposition needs.
  std::string name = fs::path(it->second).filename().string();
  for (char& c : name)
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = '_';
  res.set_header("Content-Disposition", "attachment; filename=\"" + name + "\"");
  send_file(res, it->second, kind->content_type);
}

}  // namespace

const char* web_asset(const std::string& name) {
  for (const auto& a : kWebAssets)
    if (name == a.name) return a.body;
  return nullptr;
}

std::string content_type_for(const std::string& name) {
  const std::string ext = ends(name);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "png") return "image/png";
  if (ext == "map" || ext == "json") return "application/json";
  return "application/octet-stream";
}

bool leaflet_available(const std::string& dir) {
  std::error_code ec;
  return !dir.empty() && fs::is_regular_file(fs::path(dir) / "leaflet.js", ec) &&
         fs::is_regular_file(fs::path(dir) / "leaflet.css", ec);
}

void add_page_handlers(PageContext& ctx, RouteHandlers& out) {
  using Req = httplib::Request;
  using Res = httplib::Response;
  out["GET /"] = [](const Req&, Res& res) { send_asset(res, "index.html"); };
  out["GET /map/{id}"] = [&ctx](const Req& req, Res& res) {
    const std::string id = job_id_of(req);
    if (!ctx.service.job(id)) no_job(id, "such");
    send_asset(res, "map.html");
  };
  out["GET /static/leaflet/images/{name}"] = [&ctx](const Req& req, Res& res) {
    send_leaflet(res, ctx.leaflet_dir, "images", req.matches[1]);
  };
  out["GET /static/leaflet/{name}"] = [&ctx](const Req& req, Res& res) {
    send_leaflet(res, ctx.leaflet_dir, "", req.matches[1]);
  };
  out["GET /static/{name}"] = [](const Req& req, Res& res) {
    const std::string name = req.matches[1];
    if (ends(name) == "html") throw Error(ErrorKind::NotFound, "pages", "no static file " + quoted(core::clip_utf8(name, 64)));
    send_asset(res, name);
  };
  out["GET /v1/inputs"] = [&ctx](const Req&, Res& res) { send_json(res, 200, ctx.service.input_files()); };
  out["GET /v1/jobs"] = [&ctx](const Req& req, Res& res) { send_json(res, 200, ctx.service.jobs(list_limit(req))); };
  out["GET /v1/jobs/{id}/map"] = [&ctx](const Req& req, Res& res) {
    const std::string id = job_id_of(req);
    const JobFiles f = finished_job(ctx.service, id);
    send_json(res, 200, without_paths("reading the job's map", [&] { return map_info(f, *ctx.service.job(id)); }));
  };
  out["GET /v1/jobs/{id}/tiles/{layer}/{z}/{x}/{y}.png"] = [&ctx](const Req& req, Res& res) { send_tile(ctx, req, res); };
  out["GET /v1/jobs/{id}/outputs/{key}"] = [&ctx](const Req& req, Res& res) { send_output(ctx, req, res); };
}

}  // namespace drshym::serve
