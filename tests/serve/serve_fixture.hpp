#pragma once
// What the serve tests share: a live server on loopback, an input/output folder pair with a
// demo scene, and request helpers.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
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

// GET /v1/jobs/{id} until the job is failed or done (at most 30 s); its last answer.
inline json job_when_ended(httplib::Client& c, const std::string& id) {
  json j;
  for (int i = 0; i < 300; ++i) {
    j = json::parse(c.Get(("/v1/jobs/" + id).c_str())->body);
    if (j["status"] == "failed" || j["status"] == "done") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return j;
}

inline std::string error_code(const httplib::Result& r) {
  auto j = json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.contains("error")) return "<not an error body: " + r->body + ">";
  return j["error"]["code"].get<std::string>();
}

// Checks `value` against an OpenAPI schema (required properties, types, enums; $ref followed):
// enough to catch a response drifting from the published document.
inline void expect_matches(const json& value, const json& schema, const json& spec, const std::string& where) {
  if (schema.contains("$ref")) {
    const std::string ref = schema["$ref"];
    const std::string name = ref.substr(ref.rfind('/') + 1);
    return expect_matches(value, spec["components"]["schemas"][name], spec, where);
  }
  if (schema.contains("type")) {
    const std::string t = schema["type"];
    const bool ok = (t == "object" && value.is_object()) || (t == "array" && value.is_array()) ||
                    (t == "string" && value.is_string()) || (t == "boolean" && value.is_boolean()) ||
                    (t == "integer" && value.is_number_integer()) || (t == "number" && value.is_number());
    EXPECT_TRUE(ok) << where << ": expected " << t << ", got " << value.dump().substr(0, 200);
    if (!ok) return;
  }
  if (schema.contains("enum")) {
    bool found = false;
    for (const auto& e : schema["enum"]) found = found || e == value;
    EXPECT_TRUE(found) << where << ": " << value.dump() << " not in " << schema["enum"].dump();
  }
  if (schema.contains("required")) {
    for (const auto& k : schema["required"]) {
      EXPECT_TRUE(value.contains(k.get<std::string>())) << where << ": missing " << k;
    }
  }
  if (schema.contains("properties") && value.is_object())
    for (auto it = schema["properties"].begin(); it != schema["properties"].end(); ++it)
      if (value.contains(it.key()) && !value[it.key()].is_null())
        expect_matches(value[it.key()], it.value(), spec, where + "." + it.key());
  if (schema.contains("items") && value.is_array())
    for (size_t i = 0; i < value.size(); ++i) expect_matches(value[i], schema["items"], spec, where + "[" + std::to_string(i) + "]");
}

// The schema the spec gives for `status` of `method path` (nullptr when undocumented).
inline json response_schema(const json& spec, const std::string& path, const std::string& method, int status) {
  const json& op = spec["paths"][path][method];
  const std::string s = std::to_string(status);
  if (!op["responses"].contains(s)) return nullptr;
  json r = op["responses"][s];
  if (r.contains("$ref")) {
    const std::string ref = r["$ref"];
    r = spec["components"]["responses"][ref.substr(ref.rfind('/') + 1)];
  }
  return r["content"]["application/json"]["schema"];
}

inline void expect_documented(const json& spec, const std::string& path, const std::string& method,
                       const httplib::Result& r) {
  ASSERT_TRUE(r) << method << " " << path << ": no response";
  const json schema = response_schema(spec, path, method, r->status);
  ASSERT_FALSE(schema.is_null()) << method << " " << path << " answered " << r->status << ", which the spec omits";
  expect_matches(json::parse(r->body), schema, spec, method + " " + path);
}

}  // namespace drshym::serve
