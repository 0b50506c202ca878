#pragma once
// What the serve tests share: a live server on loopback, an input/output folder pair with a
// demo scene, and request helpers.
#include <httplib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "ingest/synthetic_scene.hpp"
#include "serve/server.hpp"
#include "serve/service.hpp"
#include "support/test_support.hpp"

namespace drshym::serve {
namespace fs = std::filesystem;
using drshym::testing::TempDir;
using nlohmann::json;

// A running server: service + HTTP on 127.0.0.1:<free port>, stopped at scope end.
class LiveServer {
 public:
  explicit LiveServer(ServiceOptions so, ServerOptions ho = {}) {
    service_ = std::make_unique<Service>(so);
    ho.port = 0;
    ho.http_threads = so.workers + so.queue + 8;  // as drshym serve sizes it
    http_ = std::make_unique<HttpServer>(*service_, ho);
    port_ = http_->bind();
    thread_ = std::thread([this] { http_->run(); });
  }
  ~LiveServer() {
    http_->stop();
    if (thread_.joinable()) thread_.join();
    service_->shutdown();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120, 0);
    return c;
  }
  Service& service() { return *service_; }
  int port() const { return port_; }

 private:
  std::unique_ptr<Service> service_;
  std::unique_ptr<HttpServer> http_;
  int port_ = 0;
  std::thread thread_;
};

struct Dirs {
  TempDir tmp;
  std::string in = tmp.file("in"), out = tmp.file("out"), scene;
  explicit Dirs(int side = 192) {
    fs::create_directories(in);
    ingest::SyntheticSceneParams sp;
    sp.width = side;
    sp.height = side;
    scene = in + "/demo.tif";
    ingest::write_synthetic_scene(sp, scene);
  }
  // A second scene: width x height of the demo generator, in the input root.
  std::string extra_scene(const std::string& name, int w, int h) const {
    ingest::SyntheticSceneParams sp;
    sp.width = w;
    sp.height = h;
    const std::string p = in + "/" + name;
    ingest::write_synthetic_scene(sp, p);
    return p;
  }
  ServiceOptions options(int workers = 1, int queue = 4) const {
    ServiceOptions o;
    o.input_roots = {in};
    o.output_root = out;
    o.workers = workers;
    o.queue = queue;
    o.threads = 1;
    return o;
  }
  // What is left in the output root besides the job store.
  std::vector<std::string> request_folders() const {
    std::vector<std::string> v;
    for (const auto& n : drshym::testing::files_in(out))
      if (n.rfind("jobs.sqlite", 0) != 0) v.push_back(n);
    return v;
  }
};

inline json body_for(const std::string& path, json options = json::object()) {
  return {{"domain", "flood_sar"}, {"image_uri", "file://" + path}, {"options", options}};
}

inline httplib::Result post(httplib::Client& c, const std::string& route, const json& body) {
  return c.Post(route.c_str(), body.dump(), "application/json");
}

inline std::string error_code(const httplib::Result& r) {
  auto j = json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.contains("error")) return "<not an error body: " + r->body + ">";
  return j["error"]["code"].get<std::string>();
}

}  // namespace drshym::serve
