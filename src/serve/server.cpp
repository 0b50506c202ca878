#include "serve/server.hpp"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "serve/request.hpp"
#include "serve/service.hpp"

namespace drshym::serve {
namespace {

using Clock = std::chrono::steady_clock;

// Per-request state for the access log: httplib runs a request start to end on one thread.
struct RequestClock {
  bool active = false;
  Clock::time_point start;
  std::string id;
};
thread_local RequestClock t_request;


void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(2) + "\n", "application/json");
}

void send_error(httplib::Response& res, ErrorKind kind, const std::string& message) {
  send_json(res, http_status(kind), {{"error", {{"code", to_string(kind)}, {"message", message}}}});
}

// The error kind a bare HTTP status stands for (httplib's own 404/413/400 answers).
ErrorKind kind_for_status(int status) {
  switch (status) {
    case 400: return ErrorKind::Usage;
    case 403: return ErrorKind::Forbidden;
    case 404: return ErrorKind::NotFound;
    case 503: return ErrorKind::Unavailable;
    case 504: return ErrorKind::Timeout;
    default: return status < 500 ? ErrorKind::Usage : ErrorKind::Internal;
  }
}

nlohmann::json parse_body(const httplib::Request& req) {
  const auto ct = req.get_header_value("Content-Type");
  if (!ct.empty() && ct.find("application/json") == std::string::npos)
    throw Error(ErrorKind::Usage, "request", "Content-Type must be application/json, got " + quoted(ct.substr(0, 64)));
  return parse_request_json(req.body);
}

}  // namespace

const std::vector<RouteInfo>& api_routes() {
  static const std::vector<RouteInfo> routes = {
      {"POST", "/v1/segment"}, {"POST", "/v1/jobs"},    {"GET", "/v1/jobs/{id}"},
      {"GET", "/v1/models"},   {"GET", "/healthz"},     {"GET", "/openapi.json"},
  };
  return routes;
}

struct HttpServer::Impl {
  Service& service;
  ServerOptions opt;
  httplib::Server svr;
  int port = -1;
  int listen_fd = -1;
  std::atomic<bool> stop_requested{false};

  Impl(Service& s, const ServerOptions& o) : service(s), opt(o) {}

  // Every route runs through here: errors become JSON with the table's status, and nothing a
  // handler throws takes the server down.
  template <class F>
  httplib::Server::Handler route(F f) {
    return [this, f](const httplib::Request& req, httplib::Response& res) {
      try {
        f(req, res);
      } catch (const Error& e) {
        if (http_status(e.kind()) == 503) res.set_header("Retry-After", std::to_string(service.retry_after_s()));
        send_error(res, e.kind(), e.what());
      } catch (const std::exception& e) {
        core::log().error("serve: unexpected error on {} {}: {}", req.method, req.path, e.what());
        send_error(res, ErrorKind::Internal, std::string("internal error: ") + e.what());
      }
    };
  }

  void setup() {
    const size_t threads = size_t(std::max(2, opt.http_threads));
    svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    // cpp-httplib 0.11 listens with a backlog of 5: a burst of clients overflows it and some
    // see their connection dropped. Keep its socket options (SO_REUSEADDR) and remember the
    // socket so bind() can widen the backlog.
    svr.set_socket_options([this](int fd) {
      int yes = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      listen_fd = fd;
    });
    svr.set_payload_max_length(opt.max_body_bytes);
    svr.set_read_timeout(opt.read_timeout_s, 0);
    svr.set_keep_alive_timeout(2);
    // Runs before the body is read: one id per request (the access log, X-Request-Id, the
    // response's request_id and the output folder all use it), and bodies of unknown length are
    // refused here, because cpp-httplib 0.11 enforces the size limit only on Content-Length.
    svr.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
      t_request = {true, Clock::now(), new_request_id()};
      res.set_header("X-Request-Id", t_request.id);
      if (req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
        const bool chunked = req.has_header("Transfer-Encoding");
        if (chunked || !req.has_header("Content-Length")) {
          send_error(res, ErrorKind::Usage,
                     chunked ? "chunked request bodies are not accepted; send Content-Length"
                             : "a Content-Length header is required");
          res.status = 411;
          return httplib::Server::HandlerResponse::Handled;
        }
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    svr.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      nlohmann::json line = {{"request_id", t_request.active ? t_request.id : ""},
                             {"method", req.method},
                             {"path", req.path},
                             {"status", res.status},
                             {"remote", req.remote_addr}};
      line["duration_ms"] = t_request.active
                                ? nlohmann::json(std::chrono::duration<double, std::milli>(Clock::now() - t_request.start).count())
                                : nlohmann::json(nullptr);
      t_request.active = false;
      core::log().info("access {}", line.dump());
    });
    // httplib's own answers (unknown route 404, body too large 413, bad request 400) get the
    // same JSON error body as ours; bodies a route already wrote are left alone.
    svr.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      const ErrorKind kind = kind_for_status(res.status);
      std::string msg = res.status == 404   ? "no route " + req.method + " " + req.path + " (see GET /openapi.json)"
                        : res.status == 413 ? "request body too large"
                                            : "HTTP status " + std::to_string(res.status);
      const int status = res.status;
      send_error(res, kind, msg);
      res.status = status;  // keep 413 (and the like) rather than the kind's generic status
      return httplib::Server::HandlerResponse::Handled;
    }));
    svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "internal error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what += std::string(": ") + e.what();
      } catch (...) {
      }
      send_error(res, ErrorKind::Internal, what);
    });

    svr.Post("/v1/segment", route([this](const httplib::Request& req, httplib::Response& res) {
      send_json(res, 200, service.segment(parse_body(req), t_request.id));
    }));
    svr.Post("/v1/jobs", route([this](const httplib::Request& req, httplib::Response& res) {
      nlohmann::json j = service.submit_job(parse_body(req), t_request.id);
      res.set_header("Location", "/v1/jobs/" + j["id"].get<std::string>());
      send_json(res, 202, j);
    }));
    svr.Get(R"(/v1/jobs/([^/]+))", route([this](const httplib::Request& req, httplib::Response& res) {
      const std::string id = req.matches[1];
      auto j = service.job(id);
      if (!j) throw Error(ErrorKind::NotFound, "jobs", "no job " + quoted(id));
      send_json(res, 200, *j);
    }));
    svr.Get("/v1/models", route([this](const httplib::Request&, httplib::Response& res) {
      send_json(res, 200, service.models());
    }));
    svr.Get("/healthz", route([this](const httplib::Request&, httplib::Response& res) {
      const nlohmann::json h = service.health();
      send_json(res, h["status"] == "ok" ? 200 : 503, h);  // a stopping server is not ready
    }));
    svr.Get("/openapi.json", route([](const httplib::Request&, httplib::Response& res) {
      send_json(res, 200, openapi_spec());
    }));
  }
};

HttpServer::HttpServer(Service& service, const ServerOptions& options)
    : impl_(std::make_unique<Impl>(service, options)) {
  impl_->setup();
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  auto& s = *impl_;
  if (s.opt.port < 0 || s.opt.port > 65535) throw Error(ErrorKind::Usage, "serve", "--port must be in [0, 65535]");
  if (s.opt.port == 0) {
    s.port = s.svr.bind_to_any_port(s.opt.host);
  } else {
    s.port = s.svr.bind_to_port(s.opt.host, s.opt.port) ? s.opt.port : -1;
  }
  if (s.port <= 0)
    throw Error(ErrorKind::Io, "serve", fmt::format("cannot listen on {}:{} (in use, or not an address here)", s.opt.host, s.opt.port));
  if (s.listen_fd >= 0) ::listen(s.listen_fd, SOMAXCONN);  // calling listen again only widens the backlog
  return s.port;
}

int HttpServer::port() const { return impl_->port; }

void HttpServer::run() {
  if (!impl_->stop_requested) impl_->svr.listen_after_bind();
}

void HttpServer::stop() {
  impl_->stop_requested = true;
  if (impl_->svr.is_running()) impl_->svr.stop();
}

}  // namespace drshym::serve
