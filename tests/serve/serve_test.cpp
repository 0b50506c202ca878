// The HTTP service over real loopback HTTP (cpp-httplib client), the job store and the
// OpenAPI document. Each test starts its own server on a free port with the embedded models.
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <gdal_priv.h>

#include "core/error.hpp"
#include "ingest/synthetic_scene.hpp"
#include "serve/job_store.hpp"
#include "serve/route_guard.hpp"
#include "serve/server.hpp"
#include "serve/service.hpp"
#include "support/test_support.hpp"
#include "serve_fixture.hpp"

namespace fs = std::filesystem;
using drshym::testing::TempDir;
using nlohmann::json;

namespace drshym::serve {
namespace {

std::string local_path(const std::string& file_uri) {
  EXPECT_EQ(file_uri.rfind("file://", 0), 0u) << file_uri;
  return file_uri.substr(7);
}

TEST(Serve, SegmentsTheDemoSceneIntoItsOwnGeoreferencedFolder) {
  Dirs d;
  LiveServer s(d.options());
  auto c = s.client();
  auto r = post(c, "/v1/segment", body_for(d.scene, {{"tile", 128}, {"overlap", 16}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  expect_documented(openapi_spec(), "/v1/segment", "post", r);
  const json j = json::parse(r->body);
  EXPECT_EQ(j["scene_id"], "demo");
  EXPECT_EQ(j["provenance"]["model"], "default");  // VV+VH scene
  EXPECT_EQ(j["provenance"]["checkpoint_sha256"].get<std::string>().size(), 64u);
  // The README: the id in the access log and X-Request-Id is the body's request_id.
  EXPECT_EQ(r->get_header_value("X-Request-Id"), j["request_id"].get<std::string>());
  const std::string folder = fs::canonical(d.out).string() + "/" + j["request_id"].get<std::string>() + "/";
  for (const char* k : {"mask_uri", "proba_uri", "overlay_png", "geojson_uri", "record_uri"}) {
    const std::string p = local_path(j["outputs"][k]);
    EXPECT_EQ(p.rfind(folder, 0), 0u) << k << " = " << p << " is not in the request's folder " << folder;
    EXPECT_TRUE(fs::exists(p)) << p;
  }
  GDALAllRegister();
  for (const char* k : {"mask_uri", "proba_uri"}) {
    std::unique_ptr<GDALDataset> ds(GDALDataset::Open(local_path(j["outputs"][k]).c_str(), GDAL_OF_RASTER));
    ASSERT_TRUE(ds) << k;
    EXPECT_EQ(ds->GetRasterXSize(), 192);
    ASSERT_NE(ds->GetSpatialRef(), nullptr) << k << " lost its CRS";
    EXPECT_STREQ(ds->GetSpatialRef()->GetAuthorityCode(nullptr), "32644");
  }
  // The demo's water against the generator's own truth (0.80 measured): the served map is a map.
  {
    ingest::SyntheticSceneParams sp;
    sp.width = sp.height = 192;
    std::vector<float> vv, vh;
    std::vector<uint8_t> truth;
    ingest::synthesize_window(sp, Window{0, 0, 192, 192}, vv, vh, truth);
    std::unique_ptr<GDALDataset> ds(GDALDataset::Open(local_path(j["outputs"]["mask_uri"]).c_str(), GDAL_OF_RASTER));
    ASSERT_TRUE(ds);
    std::vector<uint8_t> mask(truth.size());
    ASSERT_EQ(ds->GetRasterBand(1)->RasterIO(GF_Read, 0, 0, 192, 192, mask.data(), 192, 192, GDT_Byte, 0, 0), CE_None);
    int64_t inter = 0, uni = 0;
    for (size_t i = 0; i < truth.size(); ++i) {
      if (truth[i] == 255 || mask[i] == 255) continue;
      inter += truth[i] == 1 && mask[i] == 1;
      uni += truth[i] == 1 || mask[i] == 1;
    }
    ASSERT_GT(uni, 0);
    EXPECT_GT(double(inter) / double(uni), 0.76);
  }
  EXPECT_EQ(j["policy"]["crs_kept"], true);
}

TEST(Serve, ExplainAddsAGradCamRasterAndOverlay) {
  Dirs d;
  LiveServer s(d.options());
  auto c = s.client();
  auto r = post(c, "/v1/segment",
                body_for(d.scene, {{"tile", 128}, {"overlap", 16}, {"explain", true}, {"explain_method", "gradcam++"}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  expect_documented(openapi_spec(), "/v1/segment", "post", r);
  const json j = json::parse(r->body);
  for (const char* k : {"cam_uri", "cam_overlay_png"}) {
    ASSERT_TRUE(j["outputs"][k].is_string()) << k;
    EXPECT_TRUE(fs::exists(local_path(j["outputs"][k]))) << k;
  }
  std::ifstream rec_file(local_path(j["outputs"]["record_uri"]));
  const json rec = json::parse(rec_file);
  EXPECT_EQ(rec["provenance"]["explain"]["method"], "gradcam++");
  EXPECT_EQ(rec["provenance"]["explain"]["layer"], "dec0");
  // A given region (GeoJSON in the scene's UTM zone) is explained instead of the predicted flood.
  auto region = [](double x0, double x1) {
    return json{{"type", "Polygon"},
                {"crs", {{"type", "name"}, {"properties", {{"name", "EPSG:32644"}}}}},
                {"coordinates", {{{x0, 2900000.0}, {x1, 2900000.0}, {x1, 2899400.0}, {x0, 2899400.0}, {x0, 2900000.0}}}}};
  };
  r = post(c, "/v1/segment",
           body_for(d.scene, {{"tile", 128}, {"overlap", 16}, {"explain", true}, {"explain_region", region(500500, 501500)}}));
  ASSERT_EQ(r->status, 200) << r->body;
  std::ifstream region_rec(local_path(json::parse(r->body)["outputs"]["record_uri"]));
  EXPECT_NE(json::parse(region_rec)["provenance"]["explain"]["target"].get<std::string>().find("explain_region"),
            std::string::npos);
  // A region off the scene: refused, nothing kept.
  r = post(c, "/v1/segment",
           body_for(d.scene, {{"tile", 128}, {"overlap", 16}, {"explain", true}, {"explain_region", region(600000, 601000)}}));
  EXPECT_EQ(r->status, 422) << r->body;
  r = post(c, "/v1/jobs",
           body_for(d.scene, {{"tile", 128}, {"overlap", 16}, {"explain", true}, {"explain_region", region(600000, 601000)}}));
  EXPECT_EQ(r->status, 422) << "a job with a region off the scene is refused at submission: " << r->body;
  // Without explain the outputs say so with null, not a missing key.
  r = post(c, "/v1/segment", body_for(d.scene, {{"tile", 128}, {"overlap", 16}}));
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(json::parse(r->body)["outputs"]["cam_uri"].is_null());
}

TEST(Serve, SegmentsASharedSen1Floods11Chip) {
  DRSHYM_REQUIRE_SHARED(chip, "sen1floods11/v1.1/data/flood_events/HandLabeled/S1Hand/USA_905409_S1Hand.tif");
  TempDir tmp;
  ServiceOptions o;
  o.input_roots = {fs::path(chip).parent_path().string()};
  o.output_root = tmp.file("out");
  o.threads = 1;
  LiveServer s(o);
  auto c = s.client();
  auto r = post(c, "/v1/segment", body_for(fs::canonical(chip).string(), {{"tile", 256}, {"overlap", 32}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = json::parse(r->body);
  EXPECT_EQ(j["scene_id"], "USA_905409_S1Hand");
  EXPECT_GT(j["stats"]["flood_area_km2"].get<double>(), 0.0);
  std::unique_ptr<GDALDataset> ds(GDALDataset::Open(local_path(j["outputs"]["mask_uri"]).c_str(), GDAL_OF_RASTER));
  ASSERT_TRUE(ds);
  ASSERT_NE(ds->GetSpatialRef(), nullptr);
  EXPECT_STREQ(ds->GetSpatialRef()->GetAuthorityCode(nullptr), "4326");
}

TEST(Serve, MalformedRequestsAre400WithAJsonError) {
  Dirs d(64);
  LiveServer s(d.options());
  auto c = s.client();
  const json spec = openapi_spec();
  struct Case {
    const char* what;
    std::string body;
    int status;
    const char* code;
  };
  const std::string ok_uri = "file://" + d.scene;
  const std::vector<Case> cases = {
      {"malformed JSON", "{\"domain\": ", 400, "usage"},
      {"not an object", "[1, 2]", 400, "usage"},
      {"wrong domain", json{{"domain", "wildfire"}, {"image_uri", ok_uri}}.dump(), 400, "usage"},
      {"missing domain", json{{"image_uri", ok_uri}}.dump(), 400, "usage"},
      {"missing image_uri", json{{"domain", "flood_sar"}}.dump(), 400, "usage"},
      {"image_uri not a string", json{{"domain", "flood_sar"}, {"image_uri", 7}}.dump(), 400, "usage"},
      {"unknown field", json{{"domain", "flood_sar"}, {"image_uri", ok_uri}, {"imageUri", "x"}}.dump(), 400, "usage"},
      {"relative path", json{{"domain", "flood_sar"}, {"image_uri", "in/demo.tif"}}.dump(), 400, "usage"},
  };
  for (const auto& k : cases) {
    auto r = c.Post("/v1/segment", k.body, "application/json");
    ASSERT_TRUE(r) << k.what;
    EXPECT_EQ(r->status, k.status) << k.what << ": " << r->body;
    EXPECT_EQ(error_code(r), k.code) << k.what;
    expect_documented(spec, "/v1/segment", "post", r);
  }
  auto r = c.Post("/v1/segment", json{{"domain", "flood_sar"}, {"image_uri", ok_uri}}.dump(), "text/plain");
  EXPECT_EQ(r->status, 415) << r->body;
  EXPECT_TRUE(d.request_folders().empty());
}

TEST(Serve, HostileOptionsAreRefusedBeforeAnyWork) {
  Dirs d(64);
  LiveServer s(d.options());
  auto c = s.client();
  const std::vector<json> bad = {
      {{"tile", 100000}}, {{"tile", 32}},     {{"tile", 100}},  // not a multiple of 16
      {{"tile", -512}},   {{"tile", "512"}},  {{"tile", 1.5}},
      {{"overlap", 256}}, {{"overlap", -1}},  {{"tile", 128}, {"overlap", 64}},
      {{"threshold", 0}}, {{"threshold", 1}}, {{"threshold", "high"}},
      {{"threshold", std::numeric_limits<double>::quiet_NaN()}},
      {{"explain", "yes"}}, {{"explain_layer", "dec0"}},  // a layer without explain: true
      {{"explain_region", {{"type", "Polygon"}, {"coordinates", json::array()}}}},  // a region without explain
      {{"explain", true}, {"explain_region", "POLYGON((0 0,1 0,1 1,0 0))"}},
      {{"explain", true}, {"explain_method", "cam"}}, {{"explain", true}, {"explain_layer", std::string(100, 'x')}},
      {{"explain", true}, {"explain_layer", "dec9"}},  // not a layer of the model
      {{"aoi", "POLYGON((0 0,1 0,1 1,0 0))"}},
      {{"aoi", json::object()}}, {{"model", "no_such_model"}}, {{"tiles", 512}}};
  for (const auto& o : bad)
    for (const char* route : {"/v1/segment", "/v1/jobs"}) {  // a job is refused at submission, not later
      auto r = post(c, route, body_for(d.scene, o));
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 400) << route << " " << o.dump() << ": " << r->body;
      EXPECT_EQ(error_code(r), "usage") << route << " " << o.dump();
    }
  auto r = post(c, "/v1/segment", {{"domain", "flood_sar"}, {"image_uri", "file://" + d.scene}, {"options", 5}});
  EXPECT_EQ(r->status, 400);
  // A body beyond the limit: 413, still a JSON error.
  const std::string huge = json{{"domain", "flood_sar"}, {"image_uri", std::string(2 << 20, 'a')}}.dump();
  r = c.Post("/v1/segment", huge, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(error_code(r), "usage");
  EXPECT_TRUE(d.request_folders().empty()) << "a refused request left a folder";
}

TEST(Serve, PathsOutsideTheInputRootsAre403BeforeAnyFileIsOpened) {
  Dirs d(64);
  fs::create_symlink("/etc/passwd", d.in + "/passwd.tif");
  fs::create_directories(d.tmp.file("elsewhere"));
  std::ofstream(d.tmp.file("elsewhere/x.tif")) << "x";
  fs::create_directory_symlink(d.tmp.file("elsewhere"), d.in + "/linkdir");
  LiveServer s(d.options());
  auto c = s.client();
  const std::vector<std::string> forbidden = {
      "file:///etc/passwd",
      "/etc/passwd",
      "file://" + d.in + "/../out/x.tif",
      "file://" + d.in + "/%2e%2e/elsewhere/x.tif",  // percent-encoded ..
      "file://" + d.in + "/passwd.tif",              // a symlink out of the root
      "file://" + d.in + "/linkdir/x.tif",           // through a linked folder
      "file://" + d.tmp.file("elsewhere/x.tif"),
      "/vsicurl/https://example.org/x.tif",
      "https://example.org/x.tif",
      "s3://bucket/x.tif",
      "ftp://example.org/x.tif",
  };
  for (const auto& u : forbidden) {
    auto r = post(c, "/v1/segment", {{"domain", "flood_sar"}, {"image_uri", u}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << u << ": " << r->body;
    EXPECT_EQ(error_code(r), "forbidden") << u;
  }
  // Inside the root but missing: 404; a file that is no raster: 422 and nothing left behind.
  auto r = post(c, "/v1/segment", body_for(d.in + "/missing.tif"));
  EXPECT_EQ(r->status, 404) << r->body;
  std::ofstream(d.in + "/notes.tif") << "not a raster";
  r = post(c, "/v1/segment", body_for(d.in + "/notes.tif"));
  EXPECT_EQ(r->status, 422) << r->body;
  EXPECT_EQ(error_code(r), "invalid_input");
  EXPECT_TRUE(d.request_folders().empty());
}

TEST(Serve, RemoteUrisOnlyUnderAnAllowedPrefix) {
  InputPolicy p({"/tmp"}, {"https://data.example.org/s1/"});
  for (const char* u :
       {"https://data.example.org/s2/a.tif", "https://data.example.org.evil.com/s1/a.tif",
        "https://data.example.org/s1/../s2/a.tif", "http://data.example.org/s1/a.tif", "https://data.example.org/s1/..",
        "https://data.example.org/s1/%2e%2e/admin", "https://data.example.org/s1/..%2fx",
        "https://data.example.org/s1/%2E%2E/x.tif", "https://data.example.org/s1/a\\..\\b.tif",
        "https://data.example.org/s1/./a.tif"}) {
    try {
      p.resolve(u);
      ADD_FAILURE() << u << " was allowed";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Forbidden) << u << ": " << e.what();
    }
  }
  // ... and a GeoTIFF under an allowed prefix is accepted: served here over loopback HTTP (with
  // range requests, as GDAL's /vsicurl/ reads it), so a policy that refuses everything fails.
  Dirs d(64);
  httplib::Server files;
  ASSERT_TRUE(files.set_mount_point("/s1", d.in));
  files.set_keep_alive_max_count(1);  // GDAL keeps its connection open; stop() must not wait for it
  const int port = files.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { files.listen_after_bind(); });
  const std::string prefix = "http://127.0.0.1:" + std::to_string(port) + "/s1/";
  InputPolicy remote({"/tmp"}, {prefix});
  const std::string name = fs::path(d.scene).filename().string();
  std::string src;
  EXPECT_NO_THROW(src = remote.resolve(prefix + name));
  EXPECT_EQ(src, prefix + name);
  drshym::testing::expect_error([&] { remote.resolve(prefix + "../" + name); }, ErrorKind::Forbidden, {".."});
  drshym::testing::expect_error([&] { remote.resolve("http://127.0.0.1:" + std::to_string(port) + "/s2/" + name); },
                                ErrorKind::Forbidden, {"not under an allowed prefix"});
  files.stop();
  serving.join();
  drshym::testing::expect_error([] { InputPolicy({"/tmp"}, {"ftp://x/"}); }, ErrorKind::Usage,
                                {"--allow-remote 'ftp://x/'", "http(s):// or s3://"});
  drshym::testing::expect_error([] { InputPolicy({"/no/such/root"}, {}); }, ErrorKind::Usage,
                                {"input root '/no/such/root' is not an existing folder"});
}

TEST(Serve, SixteenClientsAgainstOneWorkerGetOnly200Or503AndTheirOwnOutputs) {
  Dirs d(256);  // 16 tiles of 64 px on one thread: each request runs long enough for the rest to arrive
  LiveServer s(d.options(/*workers=*/1, /*queue=*/4));
  std::vector<std::thread> clients;
  std::mutex m;
  std::vector<int> statuses;
  std::vector<json> bodies;
  std::vector<std::string> retry_after;
  std::atomic<int> ready{0};
  for (int i = 0; i < 16; ++i)
    clients.emplace_back([&, i] {
      auto c = s.client();
      ++ready;
      while (ready < 16) std::this_thread::yield();  // all at once: more than the 5 slots
      auto r = post(c, "/v1/segment", body_for(d.scene, {{"tile", 64}, {"overlap", 8 + (i % 4) * 4}}));
      std::lock_guard<std::mutex> lk(m);
      statuses.push_back(r ? r->status : -1);
      if (!r) ADD_FAILURE() << "client " << i << ": " << httplib::to_string(r.error());
      if (r && r->status == 200) bodies.push_back(json::parse(r->body));
      if (r && r->status == 503) retry_after.push_back(r->get_header_value("Retry-After"));
    });
  for (auto& t : clients) t.join();
  int ok = 0, busy = 0;
  for (int st : statuses) {
    EXPECT_TRUE(st == 200 || st == 503) << "status " << st;
    ok += st == 200;
    busy += st == 503;
  }
  EXPECT_GE(ok, 1);
  EXPECT_EQ(ok + busy, 16);
  // One running and 4 waiting: the other ~11 are refused at once (an unbounded queue would
  // serve all 16). A little slack for a client that arrives after a slot freed up.
  EXPECT_GE(busy, 8) << ok << " served of 16 with 1 worker and a queue of 4";
  for (const auto& ra : retry_after) EXPECT_GE(std::atoi(ra.c_str()), 1) << "Retry-After '" << ra << "'";
  std::set<std::string> ids;
  for (const auto& b : bodies) {
    const std::string id = b["request_id"];
    EXPECT_TRUE(ids.insert(id).second) << "two responses share request " << id;
    for (const auto& [k, v] : b["outputs"].items()) {
      if (v.is_null()) continue;  // cam_uri, cam_overlay_png without explain
      EXPECT_NE(v.get<std::string>().find("/" + id + "/"), std::string::npos) << k << " of " << id << " is " << v;
    }
    // The record in that folder is this request's (its overlap), not a neighbour's.
    std::ifstream rec(local_path(b["outputs"]["record_uri"]));
    const json rj = json::parse(rec);
    EXPECT_EQ(rj["provenance"]["overlap"], b["provenance"]["overlap"]);
  }
  EXPECT_EQ(d.request_folders().size(), size_t(ok));
  // Still serving afterwards.
  auto c = s.client();
  auto h = c.Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
}

TEST(Serve, JobsRunInTheBackgroundAndSurviveARestart) {
  Dirs d(128);
  std::string id;
  {
    LiveServer s(d.options());
    auto c = s.client();
    auto r = post(c, "/v1/jobs", body_for(d.scene, {{"tile", 128}, {"overlap", 16}}));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 202) << r->body;
    expect_documented(openapi_spec(), "/v1/jobs", "post", r);
    json j = json::parse(r->body);
    id = j["id"];
    EXPECT_EQ(r->get_header_value("Location"), "/v1/jobs/" + id);
    for (int i = 0; i < 600 && j["status"] != "done" && j["status"] != "failed"; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      auto g = c.Get(("/v1/jobs/" + id).c_str());
      ASSERT_TRUE(g);
      expect_documented(openapi_spec(), "/v1/jobs/{id}", "get", g);
      j = json::parse(g->body);
    }
    ASSERT_EQ(j["status"], "done") << j.dump(2);
    EXPECT_EQ(j["result"]["scene_id"], "demo");
    EXPECT_TRUE(fs::exists(local_path(j["result"]["outputs"]["mask_uri"])));
    auto missing = c.Get("/v1/jobs/0123456789abcdef0123456789abcdef");
    EXPECT_EQ(missing->status, 404);
    expect_documented(openapi_spec(), "/v1/jobs/{id}", "get", missing);
  }
  // A job that was running when a server died: the next server marks it failed.
  {
    auto store = open_sqlite_job_store(d.out + "/jobs.sqlite");
    store->create("ffffffffffffffffffffffffffffffff", {{"image_uri", "x"}});
    store->set_running("ffffffffffffffffffffffffffffffff");
  }
  LiveServer s2(d.options());
  auto c = s2.client();
  auto g = c.Get(("/v1/jobs/" + id).c_str());
  ASSERT_TRUE(g);
  EXPECT_EQ(json::parse(g->body)["status"], "done") << g->body;
  g = c.Get("/v1/jobs/ffffffffffffffffffffffffffffffff");
  const json lost = json::parse(g->body);
  EXPECT_EQ(lost["status"], "failed") << g->body;
  EXPECT_EQ(lost["error"]["code"], "interrupted");
}

TEST(Serve, ADeadlineStopsTheRequestWith504AndNothingLeft) {
  Dirs d(64);
  // 2048² in 64 px tiles on one thread: 1024 tiles, many seconds even on a fast core, while
  // the checks before the model take well under 2 s even on a loaded machine: the deadline
  // lands while the model runs (after the request folder and staged rasters exist).
  const std::string big = d.extra_scene("big.tif", 2048, 2048);
  ServiceOptions o = d.options();
  o.timeout_s = 2.0;
  LiveServer s(o);
  auto c = s.client();
  auto r = post(c, "/v1/segment", body_for(big, {{"tile", 64}, {"overlap", 0}}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504) << r->body;
  EXPECT_EQ(error_code(r), "timeout");
  EXPECT_NE(json::parse(r->body)["error"]["message"].get<std::string>().find("segment:"), std::string::npos)
      << "the deadline should stop the run inside segment, not before it started: " << r->body;
  EXPECT_TRUE(d.request_folders().empty());
}

TEST(Serve, ShutdownFailsQueuedJobsAndRefusesNewWork) {
  Dirs d(64);
  const std::string big = d.extra_scene("big.tif", 1024, 1024);  // seconds per job on one thread
  LiveServer s(d.options(1, 8));
  auto c = s.client();
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    auto r = post(c, "/v1/jobs", body_for(big, {{"tile", 64}, {"overlap", 0}}));
    ASSERT_EQ(r->status, 202) << r->body;
    ids.push_back(json::parse(r->body)["id"]);
  }
  // A synchronous request waiting in the queue behind them gets its answer at shutdown.
  std::thread waiting([&] {
    auto c2 = s.client();
    auto r = post(c2, "/v1/segment", body_for(big));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503) << r->body;
  });
  // Shut down once the synchronous request is queued behind the three waiting jobs and the
  // worker has marked the first job running (not after a fixed sleep, which a loaded machine
  // can outlast or fall short of; the worker takes a job off the queue a moment before it
  // records it as running, and CI once looked in between).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while ((s.service().health()["queue"]["waiting"] != 4 || s.service().job(ids[0]).value()["status"] != "running") &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(s.service().health()["queue"]["waiting"], 4) << s.service().health().dump();
  ASSERT_EQ(s.service().job(ids[0]).value()["status"], "running");
  s.service().shutdown("test shutdown");
  waiting.join();
  for (const auto& id : ids) {
    const json j = *s.service().job(id);
    EXPECT_EQ(j["status"], "failed") << j.dump();  // the running one cancelled, the others never started
    EXPECT_NE(j["error"]["message"].get<std::string>().find("test shutdown"), std::string::npos) << j.dump();
  }
  EXPECT_TRUE(d.request_folders().empty());
  auto r = post(c, "/v1/segment", body_for(d.scene));
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(error_code(r), "unavailable");
  auto h = c.Get("/healthz");
  EXPECT_EQ(h->status, 503);
  EXPECT_EQ(json::parse(h->body)["status"], "stopping");
}

TEST(Serve, HostileBodiesDoNotHurtTheServer) {
  Dirs d(64);
  LiveServer s(d.options());
  auto c = s.client();
  // Nested 100k deep (200 KB, under the size limit): refused while parsing.
  const std::string deep = "{\"domain\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto r = c.Post("/v1/segment", deep, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("nested deeper"), std::string::npos) << r->body.substr(0, 300);
  json aoi = {{"type", "Polygon"}, {"coordinates", json::array()}};
  json* inner = &aoi["coordinates"];
  for (int i = 0; i < 40; ++i) {
    inner->push_back(json::array());
    inner = &inner->back();
  }
  r = post(c, "/v1/jobs", body_for(d.scene, {{"aoi", aoi}}));
  EXPECT_EQ(r->status, 400) << r->body;
  // A streamed body with a Content-Length beyond the limit: 413. A chunked body (no
  // Content-Length) is refused before it is read (411): cpp-httplib would not apply the size
  // limit to it.
  httplib::Headers h;
  r = c.Post("/v1/segment", h, 3 << 20,
             [](size_t, size_t, httplib::DataSink& sink) {
               static const std::string chunk(1 << 20, ' ');
               sink.write(chunk.data(), chunk.size());
               return true;
             },
             "application/json");
  // The server answers from the headers and closes; a client still sending may see the
  // connection reset instead of the answer. Either way nothing was read or served.
  if (r) {
    EXPECT_EQ(r->status, 413) << r->body;
  }
  // (A valid request, sent chunked: it would be served if the length check were missing.)
  const std::string valid = body_for(d.scene).dump();
  r = c.Post("/v1/segment", h,
             [&](size_t offset, httplib::DataSink& sink) {
               if (offset < valid.size())
                 sink.write(valid.data() + offset, valid.size() - offset);
               else
                 sink.done();
               return true;
             },
             "application/json");
  if (r) {
    EXPECT_EQ(r->status, 411) << r->body;
    EXPECT_EQ(error_code(r), "usage");
  } else {
    EXPECT_TRUE(r.error() == httplib::Error::Write || r.error() == httplib::Error::Read) << httplib::to_string(r.error());
  }
  EXPECT_TRUE(d.request_folders().empty()) << "the chunked request was served";
  auto ok = c.Get("/healthz");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST(Serve, OnlyGeoTiffsAreReadSoAVrtCannotReachOutsideTheRoots) {
  Dirs d(64);
  // A VRT inside the root that points at a raster outside it.
  TempDir outside;
  ingest::SyntheticSceneParams sp;
  sp.width = sp.height = 64;
  ingest::write_synthetic_scene(sp, outside.file("secret.tif"));
  std::ofstream(d.in + "/innocent.tif")
      << "<VRTDataset rasterXSize=\"64\" rasterYSize=\"64\"><VRTRasterBand dataType=\"Float32\" band=\"1\">"
         "<SimpleSource><SourceFilename relativeToVRT=\"0\">"
      << outside.file("secret.tif") << "</SourceFilename><SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>";
  LiveServer s(d.options());
  auto c = s.client();
  auto r = post(c, "/v1/segment", body_for(d.in + "/innocent.tif"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422) << r->body;
  EXPECT_NE(r->body.find("VRT"), std::string::npos) << r->body;
  EXPECT_TRUE(d.request_folders().empty());
}

TEST(Serve, OptionsTheServiceRefusesAtStart) {
  Dirs d(64);
  ServiceOptions o = d.options();
  o.queue = 0;  // every request would be refused even with an idle worker
  drshym::testing::expect_error([&] { Service{o}; }, ErrorKind::Usage, {"--queue must be in [1, 1000]"});
  o = d.options();
  o.output_root = d.in;  // outputs must not land where inputs are read
  drshym::testing::expect_error([&] { Service{o}; }, ErrorKind::Usage, {"--output-root must not be an input root"});
  // Two servers on one job store would fail each other's running jobs at start-up.
  Service first(d.options());
  try {
    Service second(d.options());
    ADD_FAILURE() << "a second server opened the same job store";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("another drshym serve"), std::string::npos) << e.what();
  }
}

TEST(Serve, ASymlinkToTheJobStoreIsTheSameStoreForTheLock) {
  // The lock was <job db>.lock by the path as given: a second server given a symlink to the
  // first's --job-db took <symlink>.lock, opened the same store and marked the first server's
  // running jobs failed. (An alias of a folder above it already reached the same lock file.)
  Dirs d(64), other(64);
  ServiceOptions o = d.options();
  o.job_db = d.tmp.file("jobs.sqlite");
  Service first(o);
  ASSERT_TRUE(fs::exists(o.job_db));
  const std::string file_alias = d.tmp.file("alias.sqlite"), dir_alias = d.tmp.file("alias_dir");
  fs::create_symlink(o.job_db, file_alias);
  fs::create_directory_symlink(d.tmp.file(""), dir_alias);
  for (const std::string& alias : {file_alias, dir_alias + "/jobs.sqlite"}) {
    ServiceOptions o2 = other.options();  // its own output root: only the store is shared
    o2.job_db = alias;
    try {
      Service second(o2);
      ADD_FAILURE() << "a second server opened the job store through the alias " << alias;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("another drshym serve"), std::string::npos) << e.what();
    }
  }
}

TEST(Serve, OpenApiDocumentMatchesTheRoutes) {
  Dirs d(64);
  LiveServer s(d.options());
  auto c = s.client();
  auto r = c.Get("/openapi.json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const json spec = json::parse(r->body);
  EXPECT_EQ(spec, openapi_spec());
  std::set<std::string> documented, served;
  for (const auto& [path, ops] : spec["paths"].items())
    for (const auto& [method, op] : ops.items()) documented.insert(method + " " + path);
  for (const auto& rt : api_routes()) {
    std::string m = rt.method;
    std::transform(m.begin(), m.end(), m.begin(), ::tolower);
    served.insert(m + " " + rt.path);
  }
  EXPECT_EQ(documented, served);
  // Every GET route answers as documented; an unknown route is a documented-style 404.
  expect_documented(spec, "/healthz", "get", c.Get("/healthz"));
  expect_documented(spec, "/openapi.json", "get", c.Get("/openapi.json"));
  auto m = c.Get("/v1/models");
  expect_documented(spec, "/v1/models", "get", m);
  const json models = json::parse(m->body)["models"];
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0]["bands"], json({"VV", "VH"}));
  EXPECT_EQ(models[1]["bands"], json({"VV"}));
  auto nf = c.Get("/v1/nothing");
  EXPECT_EQ(nf->status, 404);
  EXPECT_EQ(error_code(nf), "not_found");
  EXPECT_NE(json::parse(nf->body)["error"]["message"].get<std::string>().find("no route"), std::string::npos);
  // The server registers its routes from that same table: every route in it reaches a handler
  // (whatever the handler then says about "x"), none falls through to httplib's "no route".
  for (const auto& rt : api_routes()) {
    std::string path = rt.path;
    for (size_t at; (at = path.find('{')) != std::string::npos;) path.replace(at, path.find('}', at) - at + 1, "1");
    auto res = std::string(rt.method) == "GET" ? c.Get(path.c_str()) : c.Post(path.c_str(), "{}", "application/json");
    ASSERT_TRUE(res) << rt.method << " " << path;
    if (res->status == 404 && res->get_header_value("Content-Type").find("json") != std::string::npos) {
      EXPECT_EQ(json::parse(res->body)["error"]["message"].get<std::string>().find("no route"), std::string::npos)
          << rt.method << " " << rt.path << " is in api_routes() but not registered";
    }
  }
}

TEST(Serve, AnUnexpectedExceptionIsAJson500AndAnUnavailableOneA503WithRetryAfter) {
  // README: "An unexpected exception is a JSON 500 and the server keeps serving" — every route
  // runs in this guard, so nothing but a response leaves a handler.
  httplib::Request req;
  req.method = "GET";
  req.path = "/v1/jobs";
  httplib::Response res;
  run_guarded([](const httplib::Request&, httplib::Response&) { throw std::runtime_error("boom"); }, req, res,
              [] { return 7; });
  EXPECT_EQ(res.status, 500);
  const json body = json::parse(res.body);
  EXPECT_EQ(body["error"]["code"], "internal");
  EXPECT_NE(body["error"]["message"].get<std::string>().find("boom"), std::string::npos);
  httplib::Response busy;
  run_guarded([](const httplib::Request&, httplib::Response&) { throw Error(ErrorKind::Unavailable, "jobs", "full"); },
              req, busy, [] { return 7; });
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(busy.get_header_value("Retry-After"), "7");
  EXPECT_EQ(json::parse(busy.body)["error"]["code"], "unavailable");
  httplib::Response ok;
  run_guarded([](const httplib::Request&, httplib::Response& r) { r.status = 200; }, req, ok, [] { return 7; });
  EXPECT_EQ(ok.status, 200);
  EXPECT_TRUE(ok.body.empty());
}

TEST(Serve, RoutePatternsAreOnePathSegmentPerParameter) {
  EXPECT_EQ(route_pattern("/healthz"), "/healthz");
  EXPECT_EQ(route_pattern("/openapi.json"), "/openapi\\.json");
  EXPECT_EQ(route_pattern("/v1/jobs/{id}"), "/v1/jobs/([^/]+)");
  EXPECT_EQ(route_pattern("/v1/jobs/{id}/tiles/{layer}/{z}/{x}/{y}.png"),
            "/v1/jobs/([^/]+)/tiles/([^/]+)/([^/]+)/([^/]+)/([^/]+)\\.png");
  EXPECT_THROW(route_pattern("/v1/jobs/{id"), Error);
}

TEST(JobStore, StatusesRoundTripThroughTheirStoredWords) {
  for (auto st : {JobStatus::queued, JobStatus::running, JobStatus::done, JobStatus::failed})
    EXPECT_EQ(parse_job_status(to_string(st)), st) << to_string(st);
  EXPECT_STREQ(to_string(JobStatus::done), "done");
  drshym::testing::expect_error([] { parse_job_status("finished"); }, ErrorKind::Io, {"unknown status 'finished'"});
}

TEST(JobStore, KeepsJobsAndRecoversInterruptedOnes) {
  TempDir tmp;
  const std::string db = tmp.file("jobs.sqlite");
  {
    auto s = open_sqlite_job_store(db);
    s->create("a", {{"k", 1}});
    s->create("b", {{"k", 2}});
    s->create("c", {{"k", 3}});
    s->set_running("a");
    s->set_progress("a", "model", 0.5);
    s->set_running("b");
    s->set_done("b", {{"scene_id", "x"}});
    auto a = s->get("a");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->status, JobStatus::running);
    EXPECT_EQ(a->stage, "model");
    EXPECT_DOUBLE_EQ(a->fraction, 0.5);
    EXPECT_EQ(a->request["k"], 1);
    EXPECT_FALSE(s->get("zzz"));
  }
  auto s = open_sqlite_job_store(db);
  EXPECT_EQ(s->recover(), (std::vector<std::string>{"a", "c"}));  // a (running) and c (queued)
  EXPECT_EQ(s->get("a")->status, JobStatus::failed);
  EXPECT_EQ(s->get("c")->status, JobStatus::failed);
  EXPECT_EQ(s->get("b")->status, JobStatus::done);
  EXPECT_EQ(s->get("b")->to_json()["result"]["scene_id"], "x");
  EXPECT_TRUE(s->recover().empty());
  drshym::testing::expect_error([&] { open_sqlite_job_store(tmp.file("no/such/dir/jobs.sqlite")); }, ErrorKind::Io,
                                {"cannot open job store", "no/such/dir/jobs.sqlite"});
}

TEST(ErrorKinds, OneTableGivesCodesExitCodesAndStatuses) {
  EXPECT_EQ(http_status(ErrorKind::Usage), 400);
  EXPECT_EQ(http_status(ErrorKind::Forbidden), 403);
  EXPECT_EQ(http_status(ErrorKind::NotFound), 404);
  EXPECT_EQ(http_status(ErrorKind::InvalidInput), 422);
  EXPECT_EQ(http_status(ErrorKind::Unavailable), 503);
  EXPECT_EQ(http_status(ErrorKind::Timeout), 504);
  EXPECT_EQ(exit_code(ErrorKind::Usage), 2);
  EXPECT_EQ(exit_code(ErrorKind::Interrupted), 130);
  EXPECT_EQ(exit_code(ErrorKind::Io), 1);
  EXPECT_STREQ(to_string(ErrorKind::Forbidden), "forbidden");
}

}  // namespace
}  // namespace drshym::serve
