// Hostile requests and crashes against `drshym serve` (issue "Hostile requests and dry scenes"):
// each test reproduces one way a client or a crash hurt the server, over real loopback HTTP.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "core/text.hpp"
#include "io/raster.hpp"
#include "io/vector.hpp"
#include "serve/job_store.hpp"
#include "serve/request.hpp"
#include "serve_fixture.hpp"

namespace drshym::serve {
namespace {

using Clock = std::chrono::steady_clock;

// A raw TCP connection to the server (what a hostile client sends is not always valid HTTP).
class RawConn {
 public:
  explicit RawConn(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawConn() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  bool send(const std::string& s) { return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == ssize_t(s.size()); }
  // Everything until the server closes or `timeout_s` passes.
  std::string read_all(double timeout_s) {
    std::string out;
    const auto end = Clock::now() + std::chrono::duration<double>(timeout_s);
    while (Clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, size_t(n));
    }
    return out;
  }
  // Whether the server has closed this connection within timeout_s.
  bool closed_by_server(double timeout_s) {
    const auto end = Clock::now() + std::chrono::duration<double>(timeout_s);
    while (Clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[256];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) return true;
    }
    return false;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

// A local TCP listener that counts the connections it is offered (an SSRF target).
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c >= 0) {
          ++accepted_;
          ::close(c);
        }
      }
    });
  }
  ~Listener() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

json square_aoi(double x0, double y0, double side) {
  return {{"type", "Polygon"},
          {"coordinates", {{{x0, y0}, {x0 + side, y0}, {x0 + side, y0 + side}, {x0, y0 + side}, {x0, y0}}}}};
}

bool healthy(LiveServer& s) {
  auto c = s.client();
  auto r = c.Get("/healthz");
  return r && r->status == 200;
}

TEST(Hardening, InvalidUtf8InAPathOrACutMessageNeverKillsTheServer) {
  // GET /%ff aborted the process: the 404 body and the access log dumped the decoded path,
  // invalid UTF-8, and nlohmann's dump() threw where nothing caught it.
  Dirs d(64);
  LiveServer s(d.options());
  auto c = s.client();
  for (const char* path : {"/%ff", "/v1/jobs/%ff%fe", "/%c3", "/%ed%a0%80"}) {
    auto r = c.Get(path);
    ASSERT_TRUE(r) << path << ": the server did not answer";
    EXPECT_EQ(r->status, 404) << path;
    EXPECT_EQ(error_code(r), "not_found") << path << ": " << r->body;
  }
  // A key of 2-byte characters cut at 64 bytes split one (a 400 became a 500).
  std::string key = "x";
  for (int i = 0; i < 40; ++i) key += "\xc3\xa9";  // é
  auto r = post(c, "/v1/segment", body_for(d.scene, {{key, 1}}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("unknown option"), std::string::npos) << r->body;
  // A number past double's range made nlohmann throw out_of_range, not a parse error: a 500
  // (found by fuzz_request).
  r = c.Post("/v1/segment", R"({"domain": "flood_sar", "image_uri": "x", "options": {"threshold": 1e400}})",
             "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_TRUE(healthy(s));
  // The helpers themselves.
  EXPECT_EQ(core::clip_utf8("a\xc3\xa9" "b", 2), "a...");
  EXPECT_EQ(core::clip_utf8("abc", 3), "abc");
  EXPECT_NE(core::dump_json(json("\xff")).find("\xef\xbf\xbd"), std::string::npos);  // U+FFFD
}

TEST(Hardening, ALinkedCrsInAGeoJsonIsRefusedAndNeverFetched) {
  // GDAL's GeoJSON reader follows {"crs": {"type": "link", ...}}: a request made the server
  // connect to a listener of the client's choosing, with remote access off.
  Listener target;
  const std::string href = "http://127.0.0.1:" + std::to_string(target.port()) + "/crs";
  json linked = {{"type", "FeatureCollection"},
                 {"crs", {{"type", "link"}, {"properties", {{"href", href}, {"type", "proj4"}}}}},
                 {"features", {{{"type", "Feature"}, {"properties", json::object()}, {"geometry", square_aoi(0, 0, 1)}}}}};
  Dirs d(64);
  LiveServer s(d.options());
  auto c = s.client();
  for (const char* route : {"/v1/segment", "/v1/jobs"}) {
    auto r = post(c, route, body_for(d.scene, {{"aoi", linked}}));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << route << ": " << r->body;
    EXPECT_NE(r->body.find("named CRS"), std::string::npos) << r->body;
    r = post(c, route, body_for(d.scene, {{"explain", true}, {"explain_region", linked}}));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << route << ": " << r->body;
  }
  // Nested in a Feature, or a name that is not an EPSG code or OGC URN: refused too.
  json nested = {{"type", "Feature"}, {"properties", json::object()}, {"geometry", square_aoi(0, 0, 1)}};
  nested["geometry"]["crs"] = {{"type", "name"}, {"properties", {{"name", href}}}};
  auto r = post(c, "/v1/segment", body_for(d.scene, {{"aoi", nested}}));
  EXPECT_EQ(r->status, 400) << r->body;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(target.accepted(), 0) << "the server connected to the client's URL";
  // A named CRS is fine.
  InputPolicy policy({d.in}, {});
  json named = square_aoi(500000, 2900000, 100);
  named["crs"] = {{"type", "name"}, {"properties", {{"name", "urn:ogc:def:crs:EPSG::32644"}}}};
  EXPECT_NO_THROW(parse_segment_request(body_for(d.scene, {{"aoi", named}}), policy, RequestLimits{}));
}

TEST(Hardening, ANamedCrsGdalDoesNotKnowIsA400NotWgs84) {
  // An AOI naming a CRS GDAL cannot resolve was silently read as WGS 84.
  Dirs d(64);
  LiveServer s(d.options());
  auto c = s.client();
  json aoi = square_aoi(500000, 2900000, 100);
  aoi["crs"] = {{"type", "name"}, {"properties", {{"name", "EPSG:99999"}}}};
  for (const char* route : {"/v1/segment", "/v1/jobs"}) {
    auto r = post(c, route, body_for(d.scene, {{"aoi", aoi}}));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << route << ": " << r->body;
    EXPECT_EQ(error_code(r), "usage") << r->body;
    EXPECT_NE(r->body.find("'EPSG:99999'"), std::string::npos) << r->body;
    r = post(c, route, body_for(d.scene, {{"explain", true}, {"explain_region", aoi}}));
    EXPECT_EQ(r->status, 400) << route << ": " << r->body;
  }
  EXPECT_TRUE(d.request_folders().empty());
}

TEST(Hardening, AGeoJsonFileIsReadWithTheGeoJsonDriverOnly) {
  // A client's AOI is written to <request>/aoi.geojson; content sniffing would let an OGR VRT
  // (which names other files) through under that name.
  TempDir tmp;
  const std::string path = tmp.file("aoi.geojson");
  std::ofstream(path) << "<OGRVRTDataSource><OGRVRTLayer name=\"x\"><SrcDataSource>" << tmp.file("other.shp")
                      << "</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>";
  try {
    io::Aoi::read(path, io::crs_wkt_of("EPSG:4326"));
    ADD_FAILURE() << "an OGR VRT named .geojson was opened";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput) << e.what();
  }
}

TEST(Hardening, CompressedBodiesAre415BeforeTheyAreRead) {
  // cpp-httplib inflated gzip bodies with no bound after checking Content-Length: 48 KB of
  // gzip took the server from 551 MB to 1.2 GB.
  Dirs d(64);
  LiveServer s(d.options());
  auto c = s.client();
  httplib::Headers h{{"Content-Encoding", "gzip"}};
  auto r = c.Post("/v1/segment", h, std::string(64, 'x'), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415) << r->body;
  EXPECT_EQ(error_code(r), "usage");
  EXPECT_TRUE(d.request_folders().empty());
  EXPECT_TRUE(healthy(s));
}

TEST(Hardening, PostsWithoutAJsonContentTypeAre415SoOtherSitesCannotSubmitWork) {
  // A browser sends a cross-origin POST without a preflight when its Content-Type is missing or
  // text/plain: a missing type, or any value merely containing "application/json", let any web
  // page submit jobs to a server on localhost. "APPLICATION/JSON" (media types are
  // case-insensitive) was refused.
  Dirs d(64);
  LiveServer s(d.options());
  auto c = s.client();
  const std::string body = body_for(d.scene).dump();
  for (const char* type : {"text/plain", "text/plain; x=application/json", "application/jsonp",
                           "application/json-patch+json", "multipart/form-data; boundary=application/json",
                           "application/x-www-form-urlencoded"}) {
    for (const char* route : {"/v1/segment", "/v1/jobs"}) {
      auto r = c.Post(route, body, type);
      ASSERT_TRUE(r) << type;
      EXPECT_EQ(r->status, 415) << route << " " << type << ": " << r->body;
      EXPECT_EQ(error_code(r), "usage") << r->body;
      EXPECT_NE(r->body.find("Content-Type must be application/json"), std::string::npos) << r->body;
    }
  }
  // No Content-Type at all (httplib's client always sends one: a raw request).
  {
    RawConn raw(s.port());
    ASSERT_TRUE(raw.connected());
    raw.send("POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body);
    const std::string answer = raw.read_all(5.0);
    EXPECT_EQ(answer.rfind("HTTP/1.1 415", 0), 0u) << answer;
    EXPECT_NE(answer.find("Content-Type header is required"), std::string::npos) << answer;
  }
  EXPECT_TRUE(d.request_folders().empty()) << "a request without a JSON Content-Type was served";
  // The media type is case-insensitive and may carry parameters.
  for (const char* type : {"APPLICATION/JSON", "application/json; charset=utf-8", " Application/Json ;charset=UTF-8"}) {
    auto r = c.Post("/v1/jobs", body, type);
    ASSERT_TRUE(r) << type;
    EXPECT_EQ(r->status, 202) << type << ": " << r->body;
  }
}

// The status line of a raw GET `path` with the given Host header ("" sends none).
std::string status_with_host(int port, const std::string& path, const std::string& host) {
  RawConn raw(port);
  if (!raw.connected()) return "<not connected>";
  raw.send("GET " + path + " HTTP/1.1\r\n" + (host.empty() ? "" : "Host: " + host + "\r\n") + "Connection: close\r\n\r\n");
  const std::string answer = raw.read_all(5.0);
  return answer.substr(0, answer.find("\r\n")) + (answer.find("DNS rebinding") != std::string::npos ? " (rebinding)" : "");
}

TEST(Hardening, ALoopbackServerAnswersOnlyLoopbackHostNamesAgainstDnsRebinding) {
  // A web page whose name the attacker re-points at 127.0.0.1 (DNS rebinding) is same-origin
  // with its own name and could read and submit jobs on a server bound to loopback: such a
  // server answered any Host header.
  Dirs d(64);
  LiveServer s(d.options());  // bound to 127.0.0.1
  const std::string port = std::to_string(s.port());
  for (const std::string& host : std::vector<std::string>{"evil.example", "evil.example:" + port, "127.0.0.1.evil.example:" + port,
                                  "localhost.evil.example", "[::1]evil", "localhost:80x", "10.0.0.1:" + port}) {
    for (const char* path : {"/healthz", "/v1/jobs", "/"})
      EXPECT_EQ(status_with_host(s.port(), path, host), "HTTP/1.1 403 Forbidden (rebinding)") << host << " " << path;
  }
  auto c = s.client();
  httplib::Headers h{{"Host", "evil.example:" + port}};
  auto r = c.Post("/v1/jobs", h, body_for(d.scene).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_EQ(error_code(r), "forbidden");
  EXPECT_NE(r->body.find("'evil.example:" + port + "'"), std::string::npos) << r->body;
  EXPECT_TRUE(d.request_folders().empty());
  // Loopback names, with or without the port, in any case; no Host at all (HTTP/1.0 tools).
  for (const std::string& host : std::vector<std::string>{"localhost", "localhost:" + port, "LocalHost:" + port, "127.0.0.1", "127.0.0.1:" + port,
                                  "[::1]", "[::1]:" + port, ""})
    EXPECT_EQ(status_with_host(s.port(), "/healthz", host), "HTTP/1.1 200 OK") << host;
  EXPECT_TRUE(healthy(s));  // httplib's client sends Host: 127.0.0.1:<port>
  // Bound to every address, the server is meant to be reached by other names: Host is not checked.
  ServerOptions any;
  any.host = "0.0.0.0";
  Dirs d2(64);
  LiveServer open(d2.options(), any);
  EXPECT_EQ(status_with_host(open.port(), "/healthz", "flood.example.org"), "HTTP/1.1 200 OK");
}

TEST(Hardening, SlowSendersAreCutOffAndHealthzKeepsAnswering) {
  // Connections that trickle a byte every few seconds held every HTTP thread (httplib's
  // timeout is per read): /healthz stopped answering.
  Dirs d(64);
  ServerOptions ho;
  ho.request_read_timeout_s = 2.0;
  LiveServer s(d.options(), ho);  // 1 + 4 + 8 = 13 HTTP threads
  std::vector<std::unique_ptr<RawConn>> slow;
  for (int i = 0; i < 20; ++i) {
    slow.push_back(std::make_unique<RawConn>(s.port()));
    ASSERT_TRUE(slow.back()->connected());
    slow.back()->send("G");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  for (auto& c : slow) c->send("E");  // still sending, slowly
  const auto t0 = Clock::now();
  auto c = s.client();
  c.set_read_timeout(5, 0);
  c.set_connection_timeout(5, 0);
  auto r = c.Get("/healthz");
  ASSERT_TRUE(r) << "/healthz did not answer while slow clients held the server";
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 1.5);
  // Every slow connection is closed once its request has taken longer than the timeout.
  int closed = 0;
  for (auto& sc : slow) closed += sc->closed_by_server(3.0);
  EXPECT_EQ(closed, 20);
  // An honest keep-alive client is not affected.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(healthy(s));
}

TEST(Hardening, ConnectionsBeyondTheLimitAre503AndClosed) {
  Dirs d(64);
  ServerOptions ho;
  ho.max_connections = 14;  // the 13 threads + 1 waiting
  ho.request_read_timeout_s = 30;
  LiveServer s(d.options(), ho);
  std::vector<std::unique_ptr<RawConn>> held;
  for (int i = 0; i < 14; ++i) {
    held.push_back(std::make_unique<RawConn>(s.port()));
    held.back()->send("GET /healthz HTTP/1.1\r\n");  // headers never finished
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  RawConn extra(s.port());
  const std::string answer = extra.read_all(3.0);
  EXPECT_NE(answer.find("503"), std::string::npos) << answer;
}

TEST(Hardening, ARestartRemovesWhatACrashedRunLeftBehind) {
  // After a crash mid-job the job's folder kept its temporary files while its error said the
  // partial outputs were removed; stale explain-region scratch files stayed forever.
  Dirs d(64);
  const std::string running = "0123456789abcdef0123456789abcdef", done = "fedcba9876543210fedcba9876543210",
                    sync_crashed = "00000000000000001111111111111111";
  fs::create_directories(d.out);
  {
    auto store = open_sqlite_job_store(d.out + "/jobs.sqlite");
    store->create(running, {{"image_uri", "x"}});
    store->set_running(running);
    store->create(done, {{"image_uri", "x"}});
    store->set_running(done);
    store->set_done(done, {{"scene_id", "x"}});
  }
  for (const auto& id : {running, done, sync_crashed}) fs::create_directories(d.out + "/" + id);
  std::ofstream(d.out + "/" + running + "/.demo_proba.tif.tmp") << "half";
  std::ofstream(d.out + "/" + running + "/aoi.geojson") << "{}";
  std::ofstream(d.out + "/" + sync_crashed + "/.demo_mask.tif.tmp") << "half";
  std::ofstream(d.out + "/" + done + "/demo_mask.tif") << "kept";
  std::ofstream(d.out + "/." + running + ".explain_region.geojson") << "{}";
  LiveServer s(d.options());
  EXPECT_FALSE(fs::exists(d.out + "/" + running));
  EXPECT_FALSE(fs::exists(d.out + "/" + sync_crashed));
  EXPECT_FALSE(fs::exists(d.out + "/." + running + ".explain_region.geojson"));
  EXPECT_TRUE(fs::exists(d.out + "/" + done + "/demo_mask.tif"));
  auto c = s.client();
  auto g = c.Get(("/v1/jobs/" + running).c_str());
  EXPECT_EQ(json::parse(g->body)["status"], "failed");
}

TEST(Hardening, OldJobsAndFoldersAreRemovedAndANearlyFullDiskIs507) {
  Dirs d(64);
  const std::string old_job = "0123456789abcdef0123456789abcdef", new_job = "fedcba9876543210fedcba9876543210",
                    old_sync = "00000000000000001111111111111111";
  fs::create_directories(d.out);
  {
    auto store = open_sqlite_job_store(d.out + "/jobs.sqlite");
    for (const auto& id : {old_job, new_job}) {
      store->create(id, {{"image_uri", "x"}});
      store->set_running(id);
      store->set_done(id, {{"scene_id", "x"}});
      fs::create_directories(d.out + "/" + id);
      std::ofstream(d.out + "/" + id + "/demo_mask.tif") << "x";
    }
  }
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((d.out + "/jobs.sqlite").c_str(), &db), SQLITE_OK);
    const std::string sql = "UPDATE jobs SET updated_at='2020-01-01T00:00:00.000Z' WHERE id='" + old_job + "'";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  fs::create_directories(d.out + "/" + old_sync);
  fs::last_write_time(d.out + "/" + old_sync, fs::file_time_type::clock::now() - std::chrono::hours(24 * 40));
  ServiceOptions o = d.options();
  o.keep_jobs_days = 30;
  {
    LiveServer s(o);
    EXPECT_FALSE(fs::exists(d.out + "/" + old_job));
    EXPECT_FALSE(fs::exists(d.out + "/" + old_sync));
    EXPECT_TRUE(fs::exists(d.out + "/" + new_job + "/demo_mask.tif"));
    auto c = s.client();
    EXPECT_EQ(c.Get(("/v1/jobs/" + old_job).c_str())->status, 404);
    EXPECT_EQ(c.Get(("/v1/jobs/" + new_job).c_str())->status, 200);
    // A large AOI is stored by its hash, not its text (failed jobs with a 469 KB AOI grew the
    // store by 8.7 MB).
    json big = {{"type", "MultiPolygon"}, {"coordinates", json::array()}};
    for (int i = 0; i < 400; ++i) big["coordinates"].push_back({square_aoi(500000 + i, 2900000, 1)["coordinates"][0]});
    auto r = post(c, "/v1/jobs", body_for(d.scene, {{"aoi", big}}));
    ASSERT_EQ(r->status, 202) << r->body;
    const std::string id = json::parse(r->body)["id"];
    auto store = open_sqlite_job_store(":memory:");  // (only to prove the API; the row is read below)
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((d.out + "/jobs.sqlite").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT length(request), request FROM jobs WHERE id=?", -1, &st, nullptr);
    sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    EXPECT_LT(sqlite3_column_int(st, 0), 2000);
    const json stored = json::parse(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)));
    EXPECT_EQ(stored["options"]["aoi"]["sha256"].get<std::string>().size(), 64u) << stored.dump();
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  // A disk with less free space than the floor: new work is refused with 507, nothing written.
  o.min_free_mb = uint64_t(1) << 40;  // 1 EiB
  LiveServer s(o);
  auto c = s.client();
  const auto before = d.request_folders();
  for (const char* route : {"/v1/segment", "/v1/jobs"}) {
    auto r = post(c, route, body_for(d.scene));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 507) << r->body;
    EXPECT_EQ(error_code(r), "insufficient_storage");
  }
  EXPECT_EQ(d.request_folders(), before);
}

TEST(Hardening, ExplainedRequestsTakeSmallTilesSoOneCannotTakeGigabytes) {
  // tile 2048 with explain took 4 GB for one 512 px chip.
  Dirs d(64);
  InputPolicy policy({d.in}, {});
  try {
    parse_segment_request(body_for(d.scene, {{"tile", 2048}, {"overlap", 16}, {"explain", true}}), policy, RequestLimits{});
    ADD_FAILURE() << "tile 2048 with explain was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    EXPECT_NE(std::string(e.what()).find("at most 512"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(parse_segment_request(body_for(d.scene, {{"tile", 512}, {"explain", true}}), policy, RequestLimits{}));
  EXPECT_NO_THROW(parse_segment_request(body_for(d.scene, {{"tile", 2048}}), policy, RequestLimits{}));
}

TEST(Hardening, ErrorsNameTheClientsUrisNotTheServersFolders) {
  // An AOI off the scene failed with a 422 naming <output root>/<id>/aoi.geojson.
  Dirs d(64);
  LiveServer s(d.options());
  auto c = s.client();
  auto r = post(c, "/v1/segment", body_for(d.scene, {{"aoi", square_aoi(10.0, 10.0, 0.01)}}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422) << r->body;
  EXPECT_EQ(r->body.find(fs::canonical(d.out).string()), std::string::npos) << r->body;
  EXPECT_EQ(r->body.find(d.out), std::string::npos) << r->body;
  // The scene is named by the client's own URI, whole (its input root is not masked inside it).
  EXPECT_NE(r->body.find("file://" + d.scene), std::string::npos) << r->body;
  r = post(c, "/v1/jobs", body_for(d.scene, {{"aoi", square_aoi(10.0, 10.0, 0.01)}}));
  ASSERT_EQ(r->status, 202) << r->body;
  const json j = job_when_ended(c, json::parse(r->body)["id"]);
  ASSERT_EQ(j["status"], "failed") << j.dump();
  EXPECT_EQ(j.dump().find(fs::canonical(d.out).string()), std::string::npos) << j.dump();
}

TEST(Hardening, ATruncatedInputSceneIsA422NamingItNotA500) {
  // A scene cut short (an interrupted copy) opened fine and failed in the middle of its read:
  // a 500 io_error "IReadBlock failed", which clients retry, for a file that can never work.
  Dirs d(64);
  const std::string full = d.extra_scene("full.tif", 512, 512), cut = d.in + "/trunc.tif";
  {
    std::ifstream in(full, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  ASSERT_NO_THROW(io::Raster::open(cut)) << "the cut file should still open (its header is whole)";
  LiveServer s(d.options());
  auto c = s.client();
  auto r = post(c, "/v1/segment", body_for(cut, {{"tile", 256}, {"overlap", 16}}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422) << r->body;
  EXPECT_EQ(error_code(r), "invalid_input") << r->body;
  EXPECT_NE(r->body.find("'file://" + cut + "'"), std::string::npos) << r->body;
  EXPECT_EQ(r->body.find(fs::canonical(d.out).string()), std::string::npos) << r->body;
  // As a job, the same.
  r = post(c, "/v1/jobs", body_for(cut, {{"tile", 256}, {"overlap", 16}}));
  ASSERT_EQ(r->status, 202) << r->body;
  const json j = job_when_ended(c, json::parse(r->body)["id"]);
  ASSERT_EQ(j["status"], "failed") << j.dump();
  EXPECT_EQ(j["error"]["code"], "invalid_input") << j.dump();
  // The whole scene still maps.
  r = post(c, "/v1/segment", body_for(full, {{"tile", 256}, {"overlap", 16}}));
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST(Hardening, InputsListedWithPercentOrSpacesInTheirNamesCanBeSubmittedBack) {
  // /v1/inputs gave file:// URIs with names as they were, and a request's URI is
  // percent-decoded: "p%20q.tif" came back as "p q.tif" (404), "pct%.tif" as a malformed escape.
  Dirs d(64);
  const std::vector<std::string> names = {"p%20q.tif", "pct%.tif", "a b#1.tif"};
  for (const auto& n : names) fs::copy_file(d.scene, d.in + "/" + n);
  LiveServer s(d.options(4, 8));
  auto c = s.client();
  auto r = c.Get("/v1/inputs");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  std::map<std::string, std::string> uri_of;
  const json listed = json::parse(r->body);
  for (const auto& f : listed["files"]) uri_of[f["name"].get<std::string>()] = f["uri"].get<std::string>();
  for (const auto& n : names) {
    ASSERT_TRUE(uri_of.count(n)) << n << " not listed: " << r->body;
    json body = body_for("", json::object());
    body["image_uri"] = uri_of[n];
    auto j = post(c, "/v1/jobs", body);
    ASSERT_TRUE(j);
    EXPECT_EQ(j->status, 202) << n << " as " << uri_of[n] << ": " << j->body;
  }
}

TEST(Hardening, RequestIdsAreDistinct128BitHex) {
  std::set<std::string> ids;
  for (int i = 0; i < 2000; ++i) {
    const std::string id = new_request_id();
    ASSERT_EQ(id.size(), 32u);
    ASSERT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 2000u);
}

TEST(Hardening, APreEventSceneThroughTheApiSplitsTheWaterWithTheChangeModel) {
  Dirs d(128);
  ingest::SyntheticSceneParams sp;
  sp.width = sp.height = 128;
  const std::string after = d.in + "/after.tif", before = d.in + "/before.tif";
  ingest::write_synthetic_scene(sp, after, "", before);
  LiveServer s(d.options());
  auto c = s.client();
  auto r = post(c, "/v1/segment", body_for(after, {{"tile", 128}, {"overlap", 16}, {"before_uri", "file://" + before}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = json::parse(r->body);
  EXPECT_EQ(j["provenance"]["classes"]["source"], "change_model") << j["provenance"].dump();
  EXPECT_FALSE(j["outputs"]["classes_uri"].is_null());
  // Without it, the single-date permanent-water head splits them.
  r = post(c, "/v1/segment", body_for(after, {{"tile", 128}, {"overlap", 16}}));
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(json::parse(r->body)["provenance"]["classes"]["source"], "change_model");
  // The same policy as image_uri: outside the roots is 403, a missing file 404.
  r = post(c, "/v1/segment", body_for(after, {{"before_uri", "file:///etc/passwd"}}));
  EXPECT_EQ(r->status, 403) << r->body;
  r = post(c, "/v1/segment", body_for(after, {{"before_uri", "file://" + d.in + "/none.tif"}}));
  EXPECT_EQ(r->status, 404) << r->body;
}

TEST(Hardening, ADemThroughTheApiWritesTheExclusionLayerUnderTheSamePolicy) {
  Dirs d(128);
  // A steep DEM (26.6°, rising eastwards) under the whole scene, on the scene's own grid.
  const io::RasterInfo scene = io::Raster::open(d.scene).info();
  io::CreateOptions o = io::like(scene, 1, io::DataType::Float32, -32768.0);
  const std::string dem = d.in + "/dem.tif";
  {
    auto r = io::Raster::create_geotiff(dem, o);
    const auto px = scene.geotransform.pixel_spacing();
    std::vector<float> z(size_t(scene.width) * scene.height);
    for (size_t i = 0; i < z.size(); ++i) z[i] = float(0.5 * px[0] * double(i % size_t(scene.width)));
    r.write_band(1, Window{0, 0, scene.width, scene.height}, z.data());
    r.close();
  }
  LiveServer s(d.options());
  auto c = s.client();
  auto r = post(c, "/v1/segment", body_for(d.scene, {{"tile", 128}, {"overlap", 16}, {"dem_uri", "file://" + dem}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  ASSERT_FALSE(j["outputs"]["exclusion_uri"].is_null()) << j["outputs"].dump();
  EXPECT_TRUE(j["stats"]["exclusion"]["applied"].get<bool>());
  EXPECT_EQ(j["stats"]["exclusion"]["steep_slope_pixels"], 128 * 128);  // every pixel is steep
  EXPECT_EQ(j["stats"]["flood_pixels"], 0);                              // so no water is left
  EXPECT_EQ(j["provenance"]["terrain"]["applied"], true);
  // exclusion: false keeps the water and still writes the layer.
  r = post(c, "/v1/segment",
           body_for(d.scene, {{"tile", 128}, {"overlap", 16}, {"dem_uri", "file://" + dem}, {"exclusion", false}}));
  ASSERT_EQ(r->status, 200) << r->body;
  j = json::parse(r->body);
  EXPECT_GT(j["stats"]["flood_pixels"].get<int64_t>(), 0);
  EXPECT_EQ(j["stats"]["exclusion"]["water_on_excluded_pixels"], j["stats"]["flood_pixels"]);
  // The same policy as image_uri: outside the roots is 403, a missing file 404; the options
  // that tune the exclusion need a DEM; a bad threshold is a 400.
  r = post(c, "/v1/segment", body_for(d.scene, {{"dem_uri", "file:///etc/passwd"}}));
  EXPECT_EQ(r->status, 403) << r->body;
  r = post(c, "/v1/segment", body_for(d.scene, {{"dem_uri", "file://" + d.in + "/none.tif"}}));
  EXPECT_EQ(r->status, 404) << r->body;
  r = post(c, "/v1/segment", body_for(d.scene, {{"hand_max_m", 20}}));
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("needs options.dem_uri"), std::string::npos) << r->body;
  r = post(c, "/v1/segment", body_for(d.scene, {{"dem_uri", "file://" + dem}, {"slope_max_deg", 90}}));
  EXPECT_EQ(r->status, 400) << r->body;
}

}  // namespace
}  // namespace drshym::serve
