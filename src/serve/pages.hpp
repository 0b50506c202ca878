#pragma once
// The map page of `drshym serve` and the routes behind it (issue 28):
//   GET /                                           submit a scene, watch the jobs (HTML)
//   GET /map/{id}                                   one job's result on a Leaflet map (HTML)
//   GET /static/{name}                              the pages' scripts and style (compiled in)
//   GET /static/leaflet/{name}, .../images/{name}   Leaflet, from Debian's libjs-leaflet
//   GET /v1/inputs                                  GeoTIFFs under the input roots
//   GET /v1/jobs                                    the newest jobs
//   GET /v1/jobs/{id}/map                           what the map page shows (JSON)
//   GET /v1/jobs/{id}/tiles/{layer}/{z}/{x}/{y}.png map tiles (serve/tiles.hpp)
//   GET /v1/jobs/{id}/outputs/{key}                 one of that job's own outputs, nothing else
// Pages and their files carry a Content-Security-Policy that allows this server only: the page
// fetches nothing from the internet and runs no inline script.
#include <functional>
#include <optional>
#include <map>
#include <string>

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace drshym::serve {

class Service;
class TileService;

// The Content-Security-Policy of every page and static file.
inline constexpr const char* kPageCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

// Where Debian's libjs-leaflet puts Leaflet.
inline constexpr const char* kDefaultLeafletDir = "/usr/share/javascript/leaflet";

// One of the pages' own files (src/serve/web/, compiled in); nullptr for an unknown name.
const char* web_asset(const std::string& name);
// "text/html; charset=utf-8" and the like, by the name's extension.
std::string content_type_for(const std::string& name);
// True when `dir` holds leaflet.js and leaflet.css.
bool leaflet_available(const std::string& dir);

struct PageContext {
  Service& service;
  TileService& tiles;
  std::string leaflet_dir;
};

// A route's handler, keyed by "METHOD /openapi/{form}" as in api_routes() (server.hpp): the
// server registers exactly the routes of that table, each with the handler of its key.
using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
using RouteHandlers = std::map<std::string, Handler>;

// Adds the handlers of every route above to `out`.
void add_page_handlers(PageContext& ctx, RouteHandlers& out);

}  // namespace drshym::serve
