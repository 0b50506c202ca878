#pragma once
// `drshym serve`: the HTTP front-end over serve::Service (cpp-httplib). No pipeline logic here:
// routes parse JSON, call the service and map drshym::Error kinds to statuses through the one
// table in core/error.hpp. Every response is JSON, errors as {"error": {"code", "message"}};
// one structured access-log line per request (id, method, path, status, duration).
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/pages.hpp"
#include "serve/tiles.hpp"

namespace drshym::serve {

class Service;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                       // 0: any free port (see HttpServer::port())
  size_t max_body_bytes = 1 << 20;       // larger bodies get 413
  int read_timeout_s = 10;               // a client that stops sending is dropped
  // A whole request (line, headers and body) must arrive within this: a client that trickles
  // a byte every few seconds (slowloris) is cut off here, not by the per-read timeout above.
  double request_read_timeout_s = 10;
  // Connections served at once. A synchronous /v1/segment holds one while its scene waits or
  // runs, so this should be workers + queue + a few for /healthz and job polling.
  int http_threads = 16;
  // Connections open at once (served or waiting for a thread); more are closed at once with a
  // 503. While every thread is busy, a new connection evicts the connection that has spent the
  // longest (over 1 s) still sending its request, so slow senders cannot starve /healthz.
  int max_connections = 256;
  // The map page (GET /, /map/{id}): where Leaflet's files are (Debian's libjs-leaflet), and the
  // map tiles' render slots and disk cache.
  std::string leaflet_dir = kDefaultLeafletDir;
  TileOptions tiles;
};

// The API routes, in the order they are registered and documented.
struct RouteInfo {
  const char* method;
  const char* path;  // OpenAPI form: /v1/jobs/{id}
};
const std::vector<RouteInfo>& api_routes();

// The pattern the server registers for an OpenAPI path: each {name} one path segment,
// "/v1/jobs/{id}" -> "/v1/jobs/([^/]+)"; regex characters of the literal parts escaped.
std::string route_pattern(const std::string& openapi_path);

// The OpenAPI 3 document GET /openapi.json serves (tests compare it with api_routes()).
nlohmann::json openapi_spec();

class HttpServer {
 public:
  HttpServer(Service& service, const ServerOptions& options);
  ~HttpServer();
  // Binds (port 0: any free one) and returns the port; throws Error(Io) when it cannot.
  int bind();
  int port() const;
  // Serves until stop(); call bind() first. Returns at once if stop() came first.
  void run();
  // Stops accepting connections; requests in progress finish. Safe from any thread; a stop()
  // that lands while run() is starting may be missed, so callers that race it call it again
  // until run() has returned (serve_cmd does).
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace drshym::serve
