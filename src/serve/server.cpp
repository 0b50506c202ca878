#include "serve/server.hpp"
#include "serve/route_guard.hpp"

#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "serve/pages.hpp"
#include "serve/request.hpp"
#include "serve/service.hpp"

namespace drshym::serve {

// httplib's Server::process_and_close_socket(sock) is private and virtual: a subclass may
// override it (that is how the gate below sees each connection's socket) but may not name the
// base version. The library exports it; this declares that symbol (Itanium C++ ABI: `this`
// first) so the override can call it. A cpp-httplib that renamed it fails to link, not at run
// time. Outside the anonymous namespace: the symbol is the library's, not ours.
bool httplib_process_and_close_socket(httplib::Server* self, int sock) __asm__(
    "_ZN7httplib6Server24process_and_close_socketEi");

namespace {

using Clock = std::chrono::steady_clock;

// Every open connection, with the phase it is in. A connection is "reading" from its start
// until its request has been read (the route runs), and again after each response while it
// waits for the next request on keep-alive; a request's line, headers and body must arrive
// within `read_timeout` of the start of that phase, or a watchdog shuts the socket down. That
// bounds a client that trickles bytes (httplib's own timeout is per read, so a byte every few
// seconds kept a thread forever). evict_oldest_readers() frees threads for waiting connections.
class ConnectionGate {
 public:
  explicit ConnectionGate(double read_timeout_s)
      : timeout_(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(read_timeout_s))),
        watchdog_([this] { watch(); }) {}
  ~ConnectionGate() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
    }
    cv_.notify_all();
    watchdog_.join();
  }

  // On the thread that serves the connection, around its whole life.
  void open(int sock) {
    std::lock_guard<std::mutex> lk(m_);
    // A duplicate keeps the socket alive while it is listed: httplib closes `sock` itself,
    // and a closed number could be reused by the next accept before we forget it.
    const int fd = ::dup(sock);
    t_id = next_++;
    t_gate = this;
    conns_[t_id] = Conn{fd, true, Clock::now()};
  }
  void close() {
    std::lock_guard<std::mutex> lk(m_);
    auto it = conns_.find(t_id);
    if (it != conns_.end()) {
      if (it->second.fd >= 0) ::close(it->second.fd);
      conns_.erase(it);
    }
    t_gate = nullptr;
  }
  // The calling thread's connection has read its request (the route runs) / sent its response.
  static void handling() { set_phase(false); }
  static void reading() { set_phase(true); }

  // Shuts down the n connections that have spent the longest (at least kEvictAge) reading
  // their request: used while every thread is busy and other connections wait.
  void evict_oldest_readers(size_t n) {
    std::lock_guard<std::mutex> lk(m_);
    evict_locked(n);
  }
  // How many connections wait for a thread (the pool tells; null: none).
  void set_waiting_counter(std::function<size_t()> f) {
    std::lock_guard<std::mutex> lk(m_);
    waiting_ = std::move(f);
  }
  static constexpr std::chrono::seconds kEvictAge{1};

 private:
  struct Conn {
    int fd = -1;
    bool reading = true;
    Clock::time_point since;
  };
  static thread_local ConnectionGate* t_gate;
  static thread_local uint64_t t_id;

  static void set_phase(bool reading) {
    ConnectionGate* g = t_gate;
    if (!g) return;
    std::lock_guard<std::mutex> lk(g->m_);
    auto it = g->conns_.find(t_id);
    if (it == g->conns_.end()) return;
    it->second.reading = reading;
    it->second.since = Clock::now();
  }
  void evict_locked(size_t n) {
    const auto now = Clock::now();
    for (; n > 0; --n) {
      Conn* oldest = nullptr;
      for (auto& [id, c] : conns_)
        if (c.reading && c.fd >= 0 && (!oldest || c.since < oldest->since)) oldest = &c;
      if (!oldest || now - oldest->since < kEvictAge) return;
      cut(*oldest, "evicted: every thread was busy and it was the slowest to send its request");
    }
  }
  void cut(Conn& c, const char* why) {
    ::shutdown(c.fd, SHUT_RDWR);  // the serving thread's next read or write fails; httplib closes
    c.reading = false;            // cut once
    core::log().warn("serve: a connection was closed: {}", why);
  }
  void watch() {
    std::unique_lock<std::mutex> lk(m_);
    while (!stop_) {
      cv_.wait_for(lk, std::chrono::milliseconds(200));
      const auto now = Clock::now();
      for (auto& [id, c] : conns_)
        if (c.reading && c.fd >= 0 && now - c.since > timeout_) cut(c, "its request did not arrive in time");
      if (waiting_) evict_locked(waiting_());  // a thread for every connection that waits
    }
  }

  Clock::duration timeout_;
  std::mutex m_;
  std::condition_variable cv_;
  std::map<uint64_t, Conn> conns_;
  std::function<size_t()> waiting_;
  uint64_t next_ = 1;
  bool stop_ = false;
  std::thread watchdog_;
};
thread_local ConnectionGate* ConnectionGate::t_gate = nullptr;
thread_local uint64_t ConnectionGate::t_id = 0;

// Set while a connection is refused on the accepting thread (the server is full).
thread_local bool t_refuse = false;

// httplib::Server with every connection under the gate, and refused ones answered 503 at once.
class GatedServer : public httplib::Server {
 public:
  explicit GatedServer(ConnectionGate& gate) : gate_(gate) {}

 private:
  bool process_and_close_socket(socket_t sock) override {
    if (t_refuse) {
      static const std::string body =
          "{\"error\": {\"code\": \"unavailable\", \"message\": \"too many connections; retry later\"}}\n";
      const std::string msg = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
                              "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      (void)::send(sock, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::shutdown(sock, SHUT_RDWR);
      ::close(sock);
      return false;
    }
    gate_.open(sock);
    struct Close {
      ConnectionGate& g;
      ~Close() { g.close(); }
    } close{gate_};
    return httplib_process_and_close_socket(this, sock);
  }
  ConnectionGate& gate_;
};

// httplib's thread pool, bounded: at most max_connections connections served or waiting;
// more are refused on the accepting thread. A connection that has to wait for a thread makes
// the gate evict the slowest request sender.
class GatedPool : public httplib::TaskQueue {
 public:
  GatedPool(size_t threads, size_t max_connections, ConnectionGate& gate) : max_(max_connections), gate_(gate) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
    gate_.set_waiting_counter([this] {
      std::lock_guard<std::mutex> lk(m_);
      return queue_.size();
    });
  }
  ~GatedPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lk(m_);
    if (stop_ || queue_.size() + active_ >= max_) {
      lk.unlock();
      t_refuse = true;
      fn();  // closes the socket at once (GatedServer)
      t_refuse = false;
      return;
    }
    queue_.push_back(std::move(fn));
    const bool must_wait = active_ + queue_.size() > threads_.size();
    lk.unlock();
    cv_.notify_one();
    if (must_wait) gate_.evict_oldest_readers(1);
  }
  void shutdown() override {
    gate_.set_waiting_counter(nullptr);
    {
      std::lock_guard<std::mutex> lk(m_);
      if (stop_) return;
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, nothing left
        fn = std::move(queue_.front());
        queue_.pop_front();
        ++active_;
      }
      try {
        fn();
      } catch (...) {
        core::log().error("serve: a connection ended with an unexpected exception");
      }
      std::lock_guard<std::mutex> lk(m_);
      --active_;
    }
  }

  size_t max_;
  ConnectionGate& gate_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  size_t active_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// Per-request state for the access log: httplib runs a request start to end on one thread.
struct RequestClock {
  bool active = false;
  Clock::time_point start;
  std::string id;
};
thread_local RequestClock t_request;


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

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

// Why a request body's Content-Type is refused ("" when it is application/json). The media
// type (before any ';', trimmed) must be application/json, in any case: a browser sends a
// cross-origin POST without a CORS preflight only when its type is missing, text/plain,
// multipart/form-data or application/x-www-form-urlencoded, so requiring JSON keeps other web
// pages from submitting work to a server on localhost.
std::string content_type_problem(const httplib::Request& req) {
  if (!req.has_header("Content-Type"))
    return "a Content-Type header is required: send the request body as Content-Type: application/json";
  const std::string ct = req.get_header_value("Content-Type");
  std::string media = ct.substr(0, ct.find(';'));
  const auto first = media.find_first_not_of(" \t");
  media = first == std::string::npos ? "" : media.substr(first, media.find_last_not_of(" \t") - first + 1);
  if (lower(media) == "application/json") return "";
  return "Content-Type must be application/json, got " + quoted(core::clip_utf8(ct, 64));
}

// Whether the server listens on a loopback address only (then only local clients can reach it,
// and a Host header naming anything else is a browser tricked by DNS rebinding).
bool is_loopback_bind(const std::string& host) {
  const std::string h = lower(host);
  return h == "localhost" || h == "::1" || h == "[::1]" || h.rfind("127.", 0) == 0;
}

// Whether a Host header names this loopback server: localhost, 127.0.0.1, [::1] or the bound
// address itself, each with or without a port.
bool is_loopback_host_header(const std::string& value, const std::string& bound) {
  std::string name = lower(value), port;
  if (!name.empty() && name[0] == '[') {
    const size_t close = name.find(']');
    if (close == std::string::npos) return false;
    port = name.substr(close + 1);
    name = name.substr(0, close + 1);
  } else if (const size_t colon = name.find(':'); colon != std::string::npos) {
    port = name.substr(colon);
    name = name.substr(0, colon);
  }
  if (!port.empty() && (port.size() < 2 || port[0] != ':' || port.size() > 6 ||
                        port.find_first_not_of("0123456789", 1) != std::string::npos))
    return false;
  const std::string b = lower(bound);
  return name == "localhost" || name == "127.0.0.1" || name == "[::1]" || name == b ||
         (b.find(':') != std::string::npos && b[0] != '[' && name == "[" + b + "]");
}

// The request body as JSON; its Content-Type was checked before it was read (pre-routing).
nlohmann::json parse_body(const httplib::Request& req) { return parse_request_json(req.body); }

}  // namespace

void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(core::dump_json(body, 2) + "\n", "application/json");
}

void run_guarded(const RouteHandler& handler, const httplib::Request& req, httplib::Response& res,
                 const std::function<int()>& retry_after_s) {
  try {
    handler(req, res);
  } catch (const Error& e) {
    if (http_status(e.kind()) == 503 && !res.has_header("Retry-After"))
      res.set_header("Retry-After", std::to_string(retry_after_s()));
    send_error(res, e.kind(), e.what());
  } catch (const std::exception& e) {
    core::log().error("serve: unexpected error on {} {}: {}", core::clip_utf8(req.method, 16),
                      core::clip_utf8(req.path, 200), e.what());
    send_error(res, ErrorKind::Internal, std::string("internal error: ") + e.what());
  }
}

const std::vector<RouteInfo>& api_routes() {
  static const std::vector<RouteInfo> routes = {
      {"POST", "/v1/segment"},
      {"POST", "/v1/jobs"},
      {"GET", "/v1/jobs/{id}"},
      {"GET", "/v1/models"},
      {"GET", "/healthz"},
      {"GET", "/openapi.json"},
      // The map page (serve/pages.hpp).
      {"GET", "/"},
      {"GET", "/map/{id}"},
      {"GET", "/static/leaflet/images/{name}"},
      {"GET", "/static/leaflet/{name}"},
      {"GET", "/static/{name}"},
      {"GET", "/v1/inputs"},
      {"GET", "/v1/jobs"},
      {"GET", "/v1/jobs/{id}/map"},
      {"GET", "/v1/jobs/{id}/tiles/{layer}/{z}/{x}/{y}.png"},
      {"GET", "/v1/jobs/{id}/outputs/{key}"},
  };
  return routes;
}

std::string route_pattern(const std::string& openapi_path) {
  std::string out;
  for (size_t i = 0; i < openapi_path.size(); ++i) {
    const char c = openapi_path[i];
    if (c == '{') {
      const size_t close = openapi_path.find('}', i);
      if (close == std::string::npos)
        throw Error(ErrorKind::Internal, "serve", "route " + quoted(openapi_path) + " has an unclosed '{'");
      out += "([^/]+)";
      i = close;
    } else {
      if (std::strchr(".^$|()[]*+?\\", c)) out += '\\';
      out += c;
    }
  }
  return out;
}

struct HttpServer::Impl {
  Service& service;
  ServerOptions opt;
  ConnectionGate gate;  // before svr: the pool svr creates refers to it
  GatedServer svr;
  TileService tiles;
  PageContext pages;
  int port = -1;
  int listen_fd = -1;
  std::atomic<bool> stop_requested{false};

  Impl(Service& s, const ServerOptions& o)
      : service(s), opt(o), gate(o.request_read_timeout_s), svr(gate), tiles(o.tiles), pages{s, tiles, o.leaflet_dir} {}

  // Registers exactly the routes of api_routes() (the table OpenAPI documents), in its order,
  // each with the handler of its key; a route without a handler, or a handler for a route the
  // table lacks, is a programming error caught when the server is built.
  void register_routes(RouteHandlers handlers) {
    for (const auto& r : api_routes()) {
      const std::string key = std::string(r.method) + " " + r.path;
      auto it = handlers.find(key);
      if (it == handlers.end()) throw Error(ErrorKind::Internal, "serve", "route " + key + " has no handler");
      const std::string pattern = route_pattern(r.path);
      if (key.rfind("GET ", 0) == 0)
        svr.Get(pattern, route(std::move(it->second)));
      else if (key.rfind("POST ", 0) == 0)
        svr.Post(pattern, route(std::move(it->second)));
      else
        throw Error(ErrorKind::Internal, "serve", "route " + key + ": unsupported method");
      handlers.erase(it);
    }
    if (!handlers.empty())
      throw Error(ErrorKind::Internal, "serve", "handler for " + handlers.begin()->first + ", which api_routes() lacks");
  }

  // Every route runs through here: errors become JSON with the table's status, and nothing a
  // handler throws takes the server down.
  template <class F>
  httplib::Server::Handler route(F f) {
    return [this, f](const httplib::Request& req, httplib::Response& res) {
      ConnectionGate::handling();  // the request has arrived whole; no read deadline while it runs
      run_guarded(f, req, res, [this] { return service.retry_after_s(); });
    };
  }

  // Configures the server, in this order: connections, request hooks, error answers, routes.
  void setup() {
    configure_connections();
    set_pre_routing();
    set_access_log();
    set_error_answers();
    RouteHandlers handlers = api_handlers();
    add_page_handlers(pages, handlers);
    register_routes(std::move(handlers));
    if (!leaflet_available(opt.leaflet_dir))
      core::log().warn("serve: no Leaflet in {} (install the Debian package libjs-leaflet, or pass --leaflet-dir): "
                       "the API works, the map page (GET /map/{{id}}) cannot load its map",
                       opt.leaflet_dir);
  }

  // Threads, connections, the listening socket, body size and timeouts.
  void configure_connections() {
    if (!(opt.request_read_timeout_s > 0)) throw Error(ErrorKind::Usage, "serve", "the request read timeout must be > 0 s");
    const size_t threads = size_t(std::max(2, opt.http_threads));
    const size_t max_conn = size_t(std::max(opt.max_connections, int(threads)));
    svr.new_task_queue = [this, threads, max_conn] { return new GatedPool(threads, max_conn, gate); };
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
  }

  // A request id for every request; compressed bodies and bodies of unknown length are refused.
  void set_pre_routing() {
    // Runs before the body is read: one id per request (the access log, X-Request-Id, the
    // response's request_id and the output folder all use it), and bodies of unknown length are
    // refused here, because cpp-httplib 0.11 enforces the size limit only on Content-Length.
    const bool loopback = is_loopback_bind(opt.host);
    svr.set_pre_routing_handler([loopback, bound = opt.host](const httplib::Request& req, httplib::Response& res) {
      t_request = {true, Clock::now(), new_request_id()};
      res.set_header("X-Request-Id", t_request.id);
      // DNS rebinding: a web page whose name is re-pointed at 127.0.0.1 is same-origin with
      // this server in the browser. A server bound to loopback answers only loopback names
      // (a request without Host cannot come from a browser; a server bound to another address
      // is meant to be reached by other names).
      if (loopback && req.has_header("Host") && !is_loopback_host_header(req.get_header_value("Host"), bound)) {
        send_error(res, ErrorKind::Forbidden,
                   "Host " + quoted(core::clip_utf8(req.get_header_value("Host"), 64)) +
                       " is not this server: a server bound to a loopback address answers only Host localhost, "
                       "127.0.0.1 or [::1] (DNS rebinding protection); to serve other names, bind another address (--host)");
        return httplib::Server::HandlerResponse::Handled;
      }
      // Compressed bodies are refused before they are read: cpp-httplib inflates gzip and
      // brotli bodies with no bound after checking Content-Length against --max-body.
      if (req.has_header("Content-Encoding")) {
        send_error(res, ErrorKind::Usage, "compressed request bodies (Content-Encoding) are not accepted");
        res.status = 415;
        res.set_header("Connection", "close");
        return httplib::Server::HandlerResponse::Handled;
      }
      if (req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
        const bool chunked = req.has_header("Transfer-Encoding");
        if (chunked || !req.has_header("Content-Length")) {
          send_error(res, ErrorKind::Usage,
                     chunked ? "chunked request bodies are not accepted; send Content-Length"
                             : "a Content-Length header is required");
          res.status = 411;
          return httplib::Server::HandlerResponse::Handled;
        }
        // Every body the API takes is JSON; anything else is refused before it is read.
        if (req.get_header_value("Content-Length") != "0") {
          if (const std::string problem = content_type_problem(req); !problem.empty()) {
            send_error(res, ErrorKind::Usage, problem);
            res.status = 415;
            return httplib::Server::HandlerResponse::Handled;
          }
        }
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
  }

  // The access log line of every response.
  void set_access_log() {
    // The access log runs after the response is written, outside httplib's exception
    // handling: it must never throw (client bytes in the path are not valid UTF-8 for sure).
    svr.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      ConnectionGate::reading();  // keep-alive: the next request's read deadline starts now
      try {
        nlohmann::json line = {{"request_id", t_request.active ? t_request.id : ""},
                               {"method", core::clip_utf8(req.method, 16)},
                               {"path", core::clip_utf8(req.path, 512)},
                               {"status", res.status},
                               {"remote", req.remote_addr}};
        line["duration_ms"] =
            t_request.active ? nlohmann::json(std::chrono::duration<double, std::milli>(Clock::now() - t_request.start).count())
                             : nlohmann::json(nullptr);
        core::log().info("access {}", core::dump_json(line));
      } catch (...) {
      }
      t_request.active = false;
    });
  }

  // JSON error bodies for httplib's own answers and for exceptions that escape a route.
  void set_error_answers() {
    // httplib's own answers (unknown route 404, body too large 413, bad request 400) get the
    // same JSON error body as ours; bodies a route already wrote are left alone.
    // Runs inside httplib's response step, where nothing catches: it must never throw.
    svr.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      const int status = res.status;
      try {
        const ErrorKind kind = kind_for_status(status);
        std::string msg = status == 404   ? "no route " + core::clip_utf8(req.method, 16) + " " + core::clip_utf8(req.path, 200) +
                                                " (see GET /openapi.json)"
                          : status == 413 ? "request body too large"
                                          : "HTTP status " + std::to_string(status);
        send_error(res, kind, msg);
      } catch (...) {
        res.set_content("{\"error\": {\"code\": \"internal\", \"message\": \"error\"}}\n", "application/json");
      }
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
      try {
        send_error(res, ErrorKind::Internal, what);
      } catch (...) {
        res.status = 500;
      }
    });
  }

  // The handlers of the JSON API routes (the map page's come from serve/pages.hpp), by "METHOD path".
  RouteHandlers api_handlers() {
    using Req = httplib::Request;
    using Res = httplib::Response;
    RouteHandlers handlers;
    handlers["POST /v1/segment"] = [this](const Req& req, Res& res) {
      send_json(res, 200, service.segment(parse_body(req), t_request.id));
    };
    handlers["POST /v1/jobs"] = [this](const Req& req, Res& res) {
      nlohmann::json j = service.submit_job(parse_body(req), t_request.id);
      res.set_header("Location", "/v1/jobs/" + j["id"].get<std::string>());
      send_json(res, 202, j);
    };
    handlers["GET /v1/jobs/{id}"] = [this](const Req& req, Res& res) {
      const std::string id = req.matches[1];
      auto j = service.job(id);
      if (!j) throw Error(ErrorKind::NotFound, "jobs", "no job " + quoted(id));
      send_json(res, 200, *j);
    };
    handlers["GET /v1/models"] = [this](const Req&, Res& res) { send_json(res, 200, service.models()); };
    handlers["GET /healthz"] = [this](const Req&, Res& res) {
      const nlohmann::json h = service.health();
      send_json(res, h["status"] == "ok" ? 200 : 503, h);  // a stopping server is not ready
    };
    handlers["GET /openapi.json"] = [](const Req&, Res& res) { send_json(res, 200, openapi_spec()); };
    return handlers;
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
