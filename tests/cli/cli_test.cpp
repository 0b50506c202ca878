// End-to-end tests of the real `drshym` binary: exit codes, --help, outputs of the main job,
// and that Ctrl-C (SIGINT) during `segment` leaves nothing behind.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <filesystem>
#include <map>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/config.hpp"
#include "io/raster.hpp"
#include "io/warp.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
extern char** environ;

namespace {

const std::string kBin = std::string(DRSHYM_BINARY_DIR) + "/bin/drshym";

// Starts argv[0] (a full path) with its arguments, stdout+stderr into log_path; returns the pid.
pid_t spawn_argv(std::vector<std::string> all, const std::string& log_path) {
  const std::string exe = all.at(0);
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + exe);
  return pid;
}

// Starts the drshym binary with args (see spawn_argv).
pid_t spawn(const std::vector<std::string>& args, const std::string& log_path) {
  std::vector<std::string> all{kBin};
  all.insert(all.end(), args.begin(), args.end());
  return spawn_argv(all, log_path);
}

// The exit code, or -N when the process was killed by signal N (never confused with exit(130)).
int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

struct Run {
  int code;
  std::string output;
};

Run run(const drshym::testing::TempDir& tmp, const std::vector<std::string>& args) {
  const std::string log = tmp.file("cmd.log");
  int code = wait_exit(spawn(args, log));
  std::ifstream f(log);
  std::stringstream ss;
  ss << f.rdbuf();
  return {code, ss.str()};
}

using drshym::testing::files_in;

bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

}  // namespace

TEST(Cli, HelpAndUsageErrors) {
  drshym::testing::TempDir tmp;
  auto h = run(tmp, {"--help"});
  EXPECT_EQ(h.code, 0);
  for (const char* sub : {"segment", "batch", "predict", "stitch", "tile", "train", "eval", "cv", "demo-scene"})
    EXPECT_TRUE(contains(h.output, sub)) << sub;
  // Every subcommand explains itself.
  for (const char* sub : {"segment", "batch", "predict", "stitch", "tile", "train", "eval", "cv", "demo-scene"}) {
    auto sh = run(tmp, {sub, "--help"});
    EXPECT_EQ(sh.code, 0) << sub;
    EXPECT_TRUE(contains(sh.output, "--out") || contains(sh.output, "--config") || contains(sh.output, "--ckpt"))
        << sub << ": " << sh.output;
  }
  auto hs = run(tmp, {"segment", "--help"});
  EXPECT_EQ(hs.code, 0);
  for (const char* opt : {"--aoi", "--tile", "--overlap", "--threshold", "--ckpt", "--min-area", "--dem", "--slope-max",
                          "--hand-max", "--no-exclusion", "_exclusion.tif", "2 high above drainage"})
    EXPECT_TRUE(contains(hs.output, opt)) << opt;
  // Usage errors exit 2 and say what is wrong (an exit code alone passes for any failure).
  auto usage = [&](const std::vector<std::string>& args, const std::string& says) {
    const auto r = run(tmp, args);
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_TRUE(contains(r.output, says)) << "expected '" << says << "' in: " << r.output;
  };
  usage({"segment"}, "scene is required");
  usage({"segment", "x.tif", "--out", tmp.path(), "--tile", "7"}, "--tile: must be in [32, 4096], got 7");
  // The unknown word is named (before: "A subcommand is required"), and ranges are the real ones
  // (before: "Value 0 not in range 0.000000 to 1797...").
  usage({"no-such-command"}, "unknown subcommand 'no-such-command' (one of: segment, batch, tile");
  usage({"--log-level", "debug", "segmnt", "x.tif"}, "unknown subcommand 'segmnt'");
  usage({}, "A subcommand is required");
  usage({"tile", "x.tif", "--out", tmp.file("t"), "--tile", "0"}, "--tile: must be in [1, 16384], got 0");
  usage({"tile", "x.tif", "--out", tmp.file("t"), "--overlap", "-1"}, "--overlap: must be in [0, 16384], got -1");
  usage({"serve", "--input-root", tmp.path(), "--output-root", tmp.file("srv"), "--timeout", "0"},
        "--timeout: must be > 0, got 0");
  usage({"batch", "m.txt", "--out", tmp.file("bo"), "--threads", "-1"}, "--threads: must be >= 0, got -1");
  usage({"batch", "m.txt"}, "--out is required");
  auto dup = tmp.file("dup.txt");
  { std::ofstream(dup) << "a.tif\nsub/a.tif\n"; }
  auto bd = run(tmp, {"batch", dup, "--out", tmp.file("bo")});
  EXPECT_EQ(bd.code, 2) << bd.output;
  EXPECT_TRUE(contains(bd.output, "also used on line 1")) << bd.output;
  EXPECT_FALSE(drshym::testing::exists(tmp.file("bo")));
  // Options the run could not honour are usage errors (2) before any work.
  ASSERT_EQ(run(tmp, {"demo-scene", "--out", tmp.file("s.tif"), "--width", "64", "--height", "64"}).code, 0);
  auto crs = run(tmp, {"segment", tmp.file("s.tif"), "--out", tmp.file("o"), "--geojson-crs", "EPSG:43266"});
  EXPECT_EQ(crs.code, 2) << crs.output;
  EXPECT_TRUE(contains(crs.output, "EPSG:43266")) << crs.output;
  usage({"segment", tmp.file("s.tif"), "--out", tmp.file("o"), "--tile", "100"}, "tile size 100 is not a multiple of 32");
  usage({"segment", tmp.file("s.tif"), "--out", tmp.file("o"), "--hand-max", "20"}, "--hand-max needs --dem");
  usage({"segment", tmp.file("s.tif"), "--out", tmp.file("o"), "--no-exclusion"}, "--no-exclusion needs --dem");
  usage({"segment", tmp.file("s.tif"), "--out", tmp.file("o"), "--dem", tmp.file("s.tif"), "--slope-max", "95"},
        "--slope-max: must be in (0, 90), got 95");
  EXPECT_FALSE(fs::exists(tmp.file("o")));
}

TEST(Cli, EveryThresholdOptionRefusesValuesOutsideZeroOneAlike) {
  // Before: stitch ignored --threshold -1 (its internal 'use the default') and applied 1.5, eval
  // ignored -0.2; only segment and eval's 1.5 were refused. Now every --threshold is checked at
  // parse time with one message, before any work.
  drshym::testing::TempDir tmp;
  { std::ofstream(tmp.file("meta.json")) << "{}"; }
  const std::vector<std::vector<std::string>> commands = {
      {"segment", tmp.file("s.tif"), "--out", tmp.file("o")},
      {"batch", tmp.file("m.txt"), "--out", tmp.file("o")},
      {"stitch", "--proba-dir", tmp.path(), "--scene-meta", tmp.file("meta.json"), "--out", tmp.file("o")},
      {"eval", "--dataset", "folder", "--root", tmp.path()}};
  for (const auto& cmd : commands)
    for (const char* t : {"-1", "-0.2", "0", "1", "1.5"}) {
      auto args = cmd;
      args.insert(args.end(), {"--threshold", t});
      const auto r = run(tmp, args);
      EXPECT_EQ(r.code, 2) << cmd[0] << " --threshold " << t << ": " << r.output;
      EXPECT_TRUE(contains(r.output, std::string("--threshold: must be in (0, 1), got ") + t))
          << cmd[0] << " --threshold " << t << ": " << r.output;
    }
  EXPECT_FALSE(fs::exists(tmp.file("o")));
}

TEST(Cli, EvalChecksItsReportPathsBeforeEvaluating) {
  // Before: a --report in a folder that cannot be created failed only after the whole evaluation.
  // The dataset root here does not exist either: the report's folder must be the first error.
  drshym::testing::TempDir tmp;
  { std::ofstream(tmp.file("file")) << "x"; }
  const std::vector<std::string> eval{"eval", "--dataset", "folder", "--root", tmp.file("no_data")};
  for (const char* flag : {"--report", "--reliability-png"}) {
    auto args = eval;
    args.insert(args.end(), {flag, tmp.file("file/sub/r.json")});
    const auto r = run(tmp, args);
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_TRUE(contains(r.output, std::string("eval: ") + flag + " '" + tmp.file("file/sub/r.json") + "'")) << r.output;
    EXPECT_FALSE(contains(r.output, "no_data")) << r.output;
  }
  auto args = eval;
  args.insert(args.end(), {"--report", tmp.path()});
  const auto dir = run(tmp, args);
  EXPECT_EQ(dir.code, 2) << dir.output;
  EXPECT_TRUE(contains(dir.output, "is a folder")) << dir.output;
}

TEST(Cli, SegmentRuntimeErrorsNameTheFileAndWriteNothing) {
  drshym::testing::TempDir tmp;
  auto missing = run(tmp, {"segment", tmp.file("nowhere.tif"), "--out", tmp.file("out")});
  EXPECT_EQ(missing.code, 1);
  EXPECT_TRUE(contains(missing.output, "nowhere.tif")) << missing.output;
  EXPECT_TRUE(files_in(tmp.file("out")).empty());

  std::ofstream(tmp.file("corrupt.tif")) << "II*\0 this is not a GeoTIFF";
  auto corrupt = run(tmp, {"segment", tmp.file("corrupt.tif"), "--out", tmp.file("out")});
  EXPECT_EQ(corrupt.code, 1);
  EXPECT_TRUE(contains(corrupt.output, "corrupt.tif")) << corrupt.output;
  EXPECT_TRUE(files_in(tmp.file("out")).empty());

  ASSERT_EQ(run(tmp, {"demo-scene", "--out", tmp.file("scene.tif"), "--width", "96", "--height", "96"}).code, 0);
  // A regular file where the output folder should be: refused before the model runs.
  std::ofstream(tmp.file("a_file")) << "x";
  auto unwritable = run(tmp, {"segment", tmp.file("scene.tif"), "--out", tmp.file("a_file/out")});
  EXPECT_EQ(unwritable.code, 1);
  EXPECT_TRUE(contains(unwritable.output, "a_file")) << unwritable.output;
}

TEST(Cli, SegmentWritesEveryOutputUnderItsFinalName) {
  drshym::testing::TempDir tmp;
  ASSERT_EQ(run(tmp, {"demo-scene", "--out", tmp.file("scene.tif"), "--width", "200", "--height", "160"}).code, 0);
  auto r = run(tmp, {"segment", tmp.file("scene.tif"), "--out", tmp.file("out"), "--tile", "128", "--overlap", "16",
                     "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.output;
  auto files = files_in(tmp.file("out"));
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"scene_classes.tif", "scene_flood.geojson", "scene_mask.tif",
                                             "scene_overlay.png", "scene_proba.tif", "scene_record.json"}));
}

TEST(Cli, ADryLonLatChipIsNoFloodNotAnError) {
  // "No flood here" failed with exit 1 ("cannot build an equal-area projection") on dry
  // EPSG:4326 chips: with no polygon the projection was centred on an empty envelope.
  DRSHYM_REQUIRE_SHARED(chip, "sen1floods11/v1.1/data/flood_events/HandLabeled/S1Hand/Ghana_83483_S1Hand.tif");
  drshym::testing::TempDir tmp;
  auto r = run(tmp, {"segment", chip, "--out", tmp.file("out"), "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.output;
  const auto rec = drshym::core::read_json_file(tmp.file("out/Ghana_83483_S1Hand_record.json"));
  EXPECT_EQ(rec["stats"]["flood_area_km2"].get<double>(), 0.0);
  EXPECT_TRUE(contains(rec["caption"].get<std::string>(), "No flooding detected")) << rec["caption"];
  const auto fc = drshym::core::read_json_file(tmp.file("out/Ghana_83483_S1Hand_flood.geojson"));
  EXPECT_EQ(fc["type"], "FeatureCollection");
  EXPECT_TRUE(fc["features"].empty());
}

TEST(Cli, TerrainWritesHeightSlopeAndHandOnEachImagesGridForTraining) {
  // `drshym terrain` makes the <split>/terrain/<name> planes that folder datasets read for
  // models with DEM, SLOPE or HAND bands: same grid as the image, 3 bands in that order.
  DRSHYM_REQUIRE_SHARED(dem, "dem/Rome-30m-DEM.tif");
  drshym::testing::TempDir tmp;
  namespace io = drshym::io;
  io::CreateOptions co;
  co.width = co.height = 150;
  co.geotransform = drshym::GeoTransform{{289500, 20, 0, 4654600, 0, -20}};  // UTM 33N, inside the DEM
  co.crs_wkt = io::crs_wkt_of("EPSG:32633");
  std::filesystem::create_directories(tmp.file("images"));
  {
    auto chip = io::Raster::create_geotiff(tmp.file("images/chip_a.tif"), co);
    std::vector<float> v(150 * 150, -12.0f);
    chip.write_band(1, drshym::Window{0, 0, 150, 150}, v.data());
    chip.close();
  }
  auto r = run(tmp, {"terrain", "--dem", dem, "--out", tmp.file("terrain"), tmp.file("images/chip_a.tif")});
  ASSERT_EQ(r.code, 0) << r.output;
  auto t = io::Raster::open(tmp.file("terrain/chip_a.tif"));
  ASSERT_EQ(t.info().bands, 3);
  EXPECT_EQ(t.width(), 150);
  EXPECT_EQ(t.info().geotransform.t, co.geotransform.t);
  std::vector<float> h(150 * 150), slope(h.size()), hand(h.size());
  t.read_band(1, drshym::Window{0, 0, 150, 150}, h.data());
  t.read_band(2, drshym::Window{0, 0, 150, 150}, slope.data());
  t.read_band(3, drshym::Window{0, 0, 150, 150}, hand.data());
  size_t finite = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    if (!std::isfinite(hand[i])) continue;
    ++finite;
    EXPECT_GE(h[i], 0.0f);   // the Rome DEM spans 5-115 m
    EXPECT_LE(h[i], 120.0f);
    EXPECT_GE(slope[i], 0.0f);
    EXPECT_LT(slope[i], 60.0f);
    EXPECT_GE(hand[i], 0.0f);
    EXPECT_LE(hand[i], h[i] + 1.0f);  // never above the ground's own height over sea level
  }
  EXPECT_GT(finite, h.size() * 8 / 10);
  const auto written = files_in(tmp.file("terrain"));  // no scratch layers or partial files left
  EXPECT_TRUE(std::none_of(written.begin(), written.end(),
                           [](const std::string& f) { return f[0] == '.' || contains(f, "partial"); }));
  // An image without a CRS cannot be placed on the DEM: an error naming it.
  io::CreateOptions bare = co;
  bare.crs_wkt.clear();
  io::Raster::create_geotiff(tmp.file("images/bare.tif"), bare).close();
  auto bad = run(tmp, {"terrain", "--dem", dem, "--out", tmp.file("terrain"), tmp.file("images/bare.tif")});
  EXPECT_NE(bad.code, 0);
  EXPECT_TRUE(contains(bad.output, "bare.tif")) << bad.output;
  EXPECT_TRUE(contains(bad.output, "no CRS")) << bad.output;
}

TEST(Cli, ThreadDefaultsFollowTheCpuAffinityNotTheHostsCores) {
  // --threads 0 (the default) must follow the affinity mask: under `taskset -c 0` one model
  // worker, whatever the host has (a regression to hardware_concurrency would run one per host core).
  drshym::testing::TempDir tmp;
  ASSERT_EQ(run(tmp, {"demo-scene", "--out", tmp.file("scene.tif"), "--width", "128", "--height", "128"}).code, 0);
  const std::vector<std::string> args{"/usr/bin/taskset", "-c", "0", kBin,          "segment",   tmp.file("scene.tif"),
                                      "--out",            tmp.file("out"), "--tile", "64", "--overlap", "8"};
  ASSERT_EQ(wait_exit(spawn_argv(args, tmp.file("taskset.log"))), 0);
  const auto rec = drshym::core::read_json_file(tmp.file("out/scene_record.json"));
  EXPECT_EQ(rec["provenance"]["model_workers"], 1) << rec["provenance"].dump();
}

namespace {
// The first number after `key` in `text` (NaN when `key` is absent).
double number_after(const std::string& text, const std::string& key) {
  const auto at = text.find(key);
  return at == std::string::npos ? std::nan("") : std::strtod(text.c_str() + at + key.size(), nullptr);
}
}  // namespace

TEST(Cli, TheCaptionStatesTheAreasOfTheRunsOwnRasters) {
  // The caption's numbers, counted independently from the rasters the same run wrote (a 10 m
  // UTM grid: 1 px = 1e-4 km²): flood = mask pixels, likely = p >= 0.8, possibly = p >= 0.2,
  // the share of the valid area, and the flood / permanent split of the classes raster.
  drshym::testing::TempDir tmp;
  ASSERT_EQ(run(tmp, {"demo-scene", "--out", tmp.file("scene.tif"), "--width", "512", "--height", "512"}).code, 0);
  auto r = run(tmp, {"segment", tmp.file("scene.tif"), "--out", tmp.file("out"), "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.output;
  const auto rec = drshym::core::read_json_file(tmp.file("out/scene_record.json"));
  const std::string caption = rec["caption"];
  auto count = [&](const std::string& file, auto pred) {
    auto ras = drshym::io::Raster::open(tmp.file("out/" + file));
    auto blk = ras.read(drshym::Window{0, 0, ras.width(), ras.height()}, {1});
    int64_t n = 0;
    for (size_t i = 0; i < blk.valid.size(); ++i) n += blk.valid[i] && pred(blk.band(0)[i]);
    return n;
  };
  const int64_t flood = count("scene_mask.tif", [](float v) { return v == 1; });
  const int64_t valid = count("scene_mask.tif", [](float) { return true; });
  const int64_t likely = count("scene_proba.tif", [](float p) { return p >= 0.8f; });
  const int64_t possible = count("scene_proba.tif", [](float p) { return p >= 0.2f; });
  const int64_t permanent = count("scene_classes.tif", [](float v) { return v == 1; });
  const int64_t flood_water = count("scene_classes.tif", [](float v) { return v == 2; });
  ASSERT_GT(flood, 10000) << caption;  // the demo's river and lake: a caption with numbers to check
  EXPECT_EQ(permanent + flood_water, flood);
  EXPECT_NEAR(number_after(caption, "Flooding detected over "), flood * 1e-4, 0.005) << caption;
  EXPECT_NEAR(number_after(caption, "(likely "), likely * 1e-4, 0.005) << caption;
  EXPECT_NEAR(number_after(caption, "possibly up to "), possible * 1e-4, 0.005) << caption;
  EXPECT_NEAR(number_after(caption, "km²), "), std::round(100.0 * double(flood) / double(valid)), 0.5) << caption;
  EXPECT_NEAR(number_after(caption, "Of the water, "), flood_water * 1e-4, 0.005) << caption;
  EXPECT_NEAR(number_after(caption, "flood water and "), permanent * 1e-4, 0.005) << caption;
}

TEST(Cli, SegmentBeforeSplitsFloodFromPermanentWaterAndSaysSo) {
  drshym::testing::TempDir tmp;
  ASSERT_EQ(run(tmp, {"demo-scene", "--out", tmp.file("after.tif"), "--before", tmp.file("before.tif"), "--label",
                      tmp.file("truth.tif"), "--width", "256", "--height", "256"})
                .code,
            0);
  auto r = run(tmp, {"segment", tmp.file("after.tif"), "--before", tmp.file("before.tif"), "--out", tmp.file("out"),
                     "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "flood water")) << r.output;  // the caption splits the water
  std::ifstream f(tmp.file("out/after_record.json"));
  const auto rec = nlohmann::json::parse(f);
  EXPECT_EQ(rec["stats"]["classes"]["source"], "change_model");
  EXPECT_NE(rec["caption"].get<std::string>().find("permanent water"), std::string::npos);
  // Both at once, and --no-classes with --before, are usage errors before any work.
  r = run(tmp, {"segment", tmp.file("after.tif"), "--before", tmp.file("before.tif"), "--reference-water",
                tmp.file("truth.tif"), "--out", tmp.file("out2")});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "not both")) << r.output;
  r = run(tmp, {"segment", tmp.file("after.tif"), "--before", tmp.file("before.tif"), "--no-classes", "--out",
                tmp.file("out3")});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "not with --no-classes")) << r.output;
  // A missing pre-event scene is named.
  r = run(tmp, {"segment", tmp.file("after.tif"), "--before", tmp.file("nope.tif"), "--out", tmp.file("out4")});
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "nope.tif")) << r.output;
  EXPECT_TRUE(!fs::exists(tmp.file("out4")) || files_in(tmp.file("out4")).empty());
}

TEST(Cli, SegmentExplainWritesTheHeatmapAndRefusesAnUnknownLayer) {
  drshym::testing::TempDir tmp;
  ASSERT_EQ(run(tmp, {"demo-scene", "--out", tmp.file("scene.tif"), "--width", "160", "--height", "128"}).code, 0);
  auto r = run(tmp, {"segment", tmp.file("scene.tif"), "--out", tmp.file("out"), "--tile", "128", "--overlap", "16",
                     "--threads", "1", "--explain", "--no-polygons"});
  ASSERT_EQ(r.code, 0) << r.output;
  auto files = files_in(tmp.file("out"));
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"scene_cam.tif", "scene_cam_overlay.png", "scene_classes.tif",
                                             "scene_mask.tif", "scene_overlay.png", "scene_proba.tif",
                                             "scene_record.json"}));
  // A layer the model does not have: a usage error listing the valid ones, before any output.
  auto bad = run(tmp, {"segment", tmp.file("scene.tif"), "--out", tmp.file("out2"), "--explain", "--explain-layer",
                       "dec9"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_TRUE(contains(bad.output, "dec0")) << bad.output;
  EXPECT_TRUE(files_in(tmp.file("out2")).empty());
  // Explanation options without --explain are a mistake, not silently ignored.
  EXPECT_EQ(run(tmp, {"segment", tmp.file("scene.tif"), "--out", tmp.file("out3"), "--explain-method", "gradcam++"}).code,
            2);
}

namespace {
// Starts `segment` on `scene` into `out` (256 tiles of 128 px on one thread for a 2048² scene:
// many seconds on any machine), waits until it has staged files beyond `before` (the checks
// passed, the model loop started), sends `sig` and returns the exit code and the log.
std::pair<int, std::string> interrupt_segment(const drshym::testing::TempDir& tmp, const std::string& scene,
                                              const std::string& out, int sig, size_t before) {
  pid_t pid = spawn({"segment", scene, "--out", out, "--tile", "128", "--overlap", "0", "--batch", "1", "--threads",
                     "1"},
                    tmp.file("seg.log"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (files_in(out).size() <= before && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_GT(files_in(out).size(), before) << "segment never started writing";
  kill(pid, sig);
  const int code = wait_exit(pid);
  std::ifstream log(tmp.file("seg.log"));
  std::stringstream ss;
  ss << log.rdbuf();
  return {code, ss.str()};
}

std::string file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

TEST(Cli, InterruptedSegmentExits130AndLeavesNothing) {
  // Ctrl-C and SIGTERM alike (README: exit 130, nothing left behind).
  drshym::testing::TempDir tmp;
  ASSERT_EQ(run(tmp, {"demo-scene", "--out", tmp.file("scene.tif"), "--width", "2048", "--height", "2048"}).code, 0);
  for (int sig : {SIGINT, SIGTERM}) {
    const std::string out = tmp.file("out_" + std::to_string(sig));
    auto [code, log] = interrupt_segment(tmp, tmp.file("scene.tif"), out, sig, 0);
    EXPECT_EQ(code, 130) << sig;  // a clean exit after rolling back, not death by the signal
    EXPECT_TRUE(contains(log, "interrupted")) << log;
    auto left = files_in(out);
    EXPECT_TRUE(left.empty()) << sig << ": " << left.size() << " file(s) left, first: " << left.front();
  }
}

TEST(Cli, AnInterruptedRerunIntoTheSameOutKeepsThePreviousOutputs) {
  // README: "a failed rerun into the same --out puts the previous run's outputs back".
  drshym::testing::TempDir tmp;
  ASSERT_EQ(run(tmp, {"demo-scene", "--out", tmp.file("scene.tif"), "--width", "256", "--height", "256"}).code, 0);
  const std::string out = tmp.file("out");
  ASSERT_EQ(run(tmp, {"segment", tmp.file("scene.tif"), "--out", out, "--threads", "1"}).code, 0);
  const auto first = files_in(out);
  std::map<std::string, std::string> bytes;
  for (const auto& f : first) bytes[f] = file_bytes(out + "/" + f);
  // The same scene name, now large: the rerun stages its outputs beside the old ones, then stops.
  ASSERT_EQ(run(tmp, {"demo-scene", "--out", tmp.file("scene.tif"), "--width", "2048", "--height", "2048"}).code, 0);
  auto [code, log] = interrupt_segment(tmp, tmp.file("scene.tif"), out, SIGINT, first.size());
  EXPECT_EQ(code, 130) << log;
  auto now = files_in(out);
  std::sort(now.begin(), now.end());
  auto want = first;
  std::sort(want.begin(), want.end());
  EXPECT_EQ(now, want);
  for (const auto& [f, b] : bytes) EXPECT_TRUE(file_bytes(out + "/" + f) == b) << f << " changed";
}

TEST(Cli, AnInterruptedBatchWritesNoCatalogOrSummaryAndKeepsFinishedScenes) {
  // README: "An interrupted batch (Ctrl-C) writes no catalog or summary"; finished scenes stay
  // for --resume.
  drshym::testing::TempDir tmp;
  std::ofstream manifest(tmp.file("m.txt"));
  for (const char* id : {"s1", "s2", "s3"}) {
    ASSERT_EQ(run(tmp, {"demo-scene", "--out", tmp.file(std::string(id) + ".tif"), "--width", "1024", "--height",
                        "1024"})
                  .code,
              0);
    manifest << tmp.file(std::string(id) + ".tif") << "\n";
  }
  manifest.close();
  const std::string out = tmp.file("out");
  pid_t pid = spawn({"batch", tmp.file("m.txt"), "--out", out, "--tile", "128", "--overlap", "0", "--threads", "1"},
                    tmp.file("batch.log"));
  // Ctrl-C once the first scene is complete (its record is committed with its outputs), the
  // second under way.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(out + "/s1/s1_record.json") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(fs::exists(out + "/s1/s1_record.json")) << "the first scene never finished";
  kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid), 130);
  EXPECT_FALSE(fs::exists(out + "/catalog.json"));
  EXPECT_FALSE(fs::exists(out + "/batch_summary.json"));
  EXPECT_TRUE(fs::exists(out + "/s1/s1_mask.tif"));
  EXPECT_TRUE(files_in(out + "/s3").empty()) << "a scene after the interrupt ran";
  // --resume finishes the job: the first scene is resumed, the others computed.
  auto r = run(tmp, {"batch", tmp.file("m.txt"), "--out", out, "--tile", "128", "--overlap", "0", "--resume"});
  ASSERT_EQ(r.code, 0) << r.output;
  const auto sum = drshym::core::read_json_file(out + "/batch_summary.json");
  EXPECT_EQ(sum["scenes"][0]["status"], "resumed") << sum.dump();
  EXPECT_EQ(sum["scenes"][2]["status"], "done") << sum.dump();
}

TEST(Cli, TilePredictStitchAcceptEmptyTilesAndStitchRefusesMissingOnes) {
  // A scene whose right half is nodata: its empty tiles are nothing to predict (predict exits 0),
  // never missing for stitch; a tile with valid pixels but no prediction fails stitch (exit 1,
  // a warning with --allow-missing). Before: predict exited 1, stitch 0 with any tile missing.
  drshym::testing::TempDir tmp;
  ASSERT_EQ(run(tmp, {"demo-scene", "--out", tmp.file("full.tif"), "--width", "128", "--height", "128"}).code, 0);
  {
    auto src = drshym::io::Raster::open(tmp.file("full.tif"));
    drshym::io::Block b = src.read(drshym::Window{0, 0, 128, 128}, {1, 2});
    drshym::io::CreateOptions o;
    o.width = o.height = 128;
    o.bands = 2;
    o.geotransform = src.info().geotransform;
    o.crs_wkt = src.info().crs_wkt;
    o.nodata = std::nan("");
    o.descriptions = {"VV", "VH"};
    auto r = drshym::io::Raster::create_geotiff(tmp.file("edge.tif"), o);
    for (int band = 0; band < 2; ++band) {
      float* v = b.band(band);
      for (int y = 0; y < 128; ++y)
        for (int x = 64; x < 128; ++x) v[y * 128 + x] = std::nanf("");
      r.write_band(band + 1, drshym::Window{0, 0, 128, 128}, v);
    }
    r.close();
  }
  ASSERT_EQ(run(tmp, {"tile", tmp.file("edge.tif"), "--out", tmp.file("t"), "--tile", "64", "--overlap", "0"}).code, 0);
  const auto pr = run(tmp, {"predict", "--in", tmp.file("t/images"), "--out", tmp.file("p"), "--threads", "1"});
  EXPECT_EQ(pr.code, 0) << pr.output;
  EXPECT_TRUE(contains(pr.output, "2 file(s) hold no valid pixel")) << pr.output;
  const std::vector<std::string> stitch{"stitch", "--proba-dir", tmp.file("p"), "--scene-meta", tmp.file("t/scene_meta.json")};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = stitch;
    a.insert(a.end(), extra.begin(), extra.end());
    return run(tmp, a);
  };
  const auto ok = with({"--out", tmp.file("s")});
  EXPECT_EQ(ok.code, 0) << ok.output;
  fs::remove(tmp.file("p/edge_tile_00000_proba.tif"));
  const auto gap = with({"--out", tmp.file("s2")});
  EXPECT_EQ(gap.code, 1) << gap.output;
  EXPECT_TRUE(contains(gap.output, "1 of 2 tiles with valid pixels have no prediction")) << gap.output;
  EXPECT_TRUE(files_in(tmp.file("s2")).empty());
  const auto allowed = with({"--out", tmp.file("s3"), "--allow-missing"});
  EXPECT_EQ(allowed.code, 0) << allowed.output;
  EXPECT_TRUE(contains(allowed.output, "[warning] stitch: 1 of 2 tiles")) << allowed.output;
}

TEST(Cli, InterruptedTileExits130AndLeavesNothing) {
  // The case from the hardening review: tile on a large scene, Ctrl-C after it started writing.
  drshym::testing::TempDir tmp;
  ASSERT_EQ(run(tmp, {"demo-scene", "--out", tmp.file("scene.tif"), "--width", "2048", "--height", "2048"}).code, 0);
  const std::string out = tmp.file("tiles");
  pid_t pid = spawn({"tile", tmp.file("scene.tif"), "--out", out, "--tile", "64", "--overlap", "0"}, tmp.file("tile.log"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (files_in(out + "/images").size() < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_GE(files_in(out + "/images").size(), 3u) << "tile never started writing";
  kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid), 130);
  EXPECT_FALSE(fs::exists(out)) << files_in(out + "/images").size() << " tile(s) left";
}

namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Waits for "listening on http://HOST:PORT" in a serve log; returns the port (0 on timeout).
int wait_for_port(const std::string& log) {
  const std::string key = "listening on http://127.0.0.1:";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = read_file(log);
    if (auto at = text.find(key); at != std::string::npos) return std::atoi(text.c_str() + at + key.size());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;
}

}  // namespace

namespace {
// A folder dataset (what `drshym tile --label` writes) of three demo scenes, 64 labelled
// 128 px tiles each, under <root>/train; the groups (cv folds) are the scene names a, b, c.
std::string demo_folder_dataset(const drshym::testing::TempDir& tmp) {
  const std::string root = tmp.file("root");
  for (const std::string id : {"a", "b", "c"}) {
    EXPECT_EQ(run(tmp, {"demo-scene", "--out", tmp.file(id + ".tif"), "--label", tmp.file(id + "_truth.tif"), "--seed",
                        std::to_string(id[0]), "--width", "1024", "--height", "1024"})
                  .code,
              0);
    EXPECT_EQ(run(tmp, {"tile", tmp.file(id + ".tif"), "--label", tmp.file(id + "_truth.tif"), "--out",
                        tmp.file("tiles_" + id), "--tile", "128", "--overlap", "0"})
                  .code,
              0);
    for (const char* sub : {"images", "labels"}) {
      fs::create_directories(root + "/train/" + sub);
      for (const auto& f : fs::directory_iterator(tmp.file("tiles_" + id + "/" + sub)))
        fs::rename(f.path(), root + "/train/" + sub + "/" + f.path().filename().string());
    }
  }
  return root;
}

// Waits (up to a minute) until `path` exists.
bool wait_for_file(const std::string& path) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(path) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return fs::exists(path);
}
}  // namespace

TEST(Cli, AnInterruptedCvKeepsTheFinishedFoldsAndAnInterruptedEvalWritesNoReport) {
  // README: Ctrl-C stops `cv` keeping the folds that finished (cv_partial.json, no summary) and
  // `eval` writing no report.
  drshym::testing::TempDir tmp;
  const std::string root = demo_folder_dataset(tmp);
  std::ofstream(tmp.file("cv.yaml")) << "seed: 42\nthreads: 1\nout_dir: " << tmp.file("cv") << "\n"
                                     << "model: {arch: unet_compact, base_width: 4, norm: batch}\n"
                                        "preprocess: {bands: [VV, VH], normalization: {method: reference}}\n"
                                        "data:\n  train: {type: folder, root: " << root << ", split: train}\n"
                                     << "  val: {type: folder, root: " << root << ", split: train}\n"
                                     << "train: {epochs: 1, batch_size: 4, steps_per_epoch: 60, crop: 64, lr: 0.002}\n";
  pid_t pid = spawn({"cv", "--config", tmp.file("cv.yaml")}, tmp.file("cv.log"));
  ASSERT_TRUE(wait_for_file(tmp.file("cv/cv_partial.json"))) << "no fold finished";
  kill(pid, SIGINT);  // fold 'b' is training
  EXPECT_EQ(wait_exit(pid), 130);
  const auto partial = drshym::core::read_json_file(tmp.file("cv/cv_partial.json"));
  ASSERT_EQ(partial.size(), 1u) << partial.dump();
  EXPECT_EQ(partial[0]["held_out"], "a");
  EXPECT_FALSE(fs::exists(tmp.file("cv/cv_summary.json")));

  // eval: interrupted once the model is running on the 192 tiles (seconds on one thread).
  pid = spawn({"eval", "--ckpt", std::string(DRSHYM_SOURCE_DIR) + "/models/default", "--dataset", "folder", "--root",
               root, "--split", "train", "--threads", "1", "--report", tmp.file("report.json"), "--report-dir",
               tmp.file("report")},
              tmp.file("eval.log"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!contains(read_file(tmp.file("eval.log")), "192 samples") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid), 130) << read_file(tmp.file("eval.log"));
  EXPECT_FALSE(fs::exists(tmp.file("report.json")));
  EXPECT_TRUE(files_in(tmp.file("report")).empty());
}

TEST(Cli, ServeStopsOnSigtermCancelsRunningWorkAndARestartReportsIt) {
  drshym::testing::TempDir tmp;
  const std::string in = tmp.file("in"), out = tmp.file("out");
  fs::create_directories(in);
  ASSERT_EQ(run(tmp, {"demo-scene", "--out", in + "/scene.tif", "--width", "2048", "--height", "2048"}).code, 0);
  const std::vector<std::string> args = {"serve", "--port", "0", "--input-root", in, "--output-root", out,
                                         "--threads", "1"};
  pid_t pid = spawn(args, tmp.file("serve.log"));
  const int port = wait_for_port(tmp.file("serve.log"));
  ASSERT_GT(port, 0) << read_file(tmp.file("serve.log"));
  httplib::Client c("127.0.0.1", port);
  const nlohmann::json body = {{"domain", "flood_sar"},
                               {"image_uri", "file://" + in + "/scene.tif"},
                               {"options", {{"tile", 64}, {"overlap", 0}}}};
  auto r = c.Post("/v1/jobs", body.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 202) << r->body;
  const std::string id = nlohmann::json::parse(r->body)["id"];
  // Wait until the model is running on it, then SIGTERM.
  nlohmann::json j;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto g = c.Get(("/v1/jobs/" + id).c_str());
    ASSERT_TRUE(g);
    j = nlohmann::json::parse(g->body);
  } while (j["progress"]["stage"] != "model" && j["status"] != "done" && std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(j["status"], "running") << j.dump();
  kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid), 0) << read_file(tmp.file("serve.log"));
  EXPECT_TRUE(contains(read_file(tmp.file("serve.log")), "serve: stopped"));
  {  // README: one access line per request (JSON: request id, method, path, status, duration),
     // its id the X-Request-Id header.
    std::istringstream lines(read_file(tmp.file("serve.log")));
    std::string line;
    nlohmann::json post;
    while (std::getline(lines, line))
      if (auto at = line.find("access {"); at != std::string::npos) {
        const auto a = nlohmann::json::parse(line.substr(at + 7));
        if (a["request_id"] == r->get_header_value("X-Request-Id")) post = a;
      }
    ASSERT_TRUE(post.is_object()) << "no access line for request " << r->get_header_value("X-Request-Id");
    EXPECT_EQ(post["method"], "POST");
    EXPECT_EQ(post["path"], "/v1/jobs");
    EXPECT_EQ(post["status"], 202);
    EXPECT_GE(post["duration_ms"].get<double>(), 0.0);
  }
  for (const auto& f : files_in(out))
    EXPECT_EQ(f.rfind("jobs.sqlite", 0), 0u) << "left behind by the cancelled job: " << f;
  // A new server on the same output root reports the job failed, not running.
  pid = spawn(args, tmp.file("serve2.log"));
  const int port2 = wait_for_port(tmp.file("serve2.log"));
  ASSERT_GT(port2, 0) << read_file(tmp.file("serve2.log"));
  httplib::Client c2("127.0.0.1", port2);
  auto g = c2.Get(("/v1/jobs/" + id).c_str());
  ASSERT_TRUE(g);
  const auto after = nlohmann::json::parse(g->body);
  EXPECT_EQ(after["status"], "failed") << after.dump();
  // Recorded by the stopping server itself (the cancelled run), not guessed by the next one.
  EXPECT_EQ(after["error"]["message"].get<std::string>().find("stopped while"), std::string::npos) << after.dump();
  EXPECT_EQ(after["error"]["code"], "interrupted") << after.dump();
  kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid), 0);
}
