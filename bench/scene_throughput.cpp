// bench/scene_throughput: how fast and how lean is `drshym segment` on this machine?
//
// In one run it measures, on a synthetic UTM scene (ingest::write_synthetic_scene, 10 m pixels):
//   1. the machine's peak FP32 rate: the best of a large channels-last 3x3 convolution (oneDNN)
//      and a large GEMM (the system BLAS), in GFLOP/s;
//   2. the model-only rate on tiles of the scene (tiles/s and GFLOP/s from model::count_flops);
//   3. end-to-end `segment` on a --size scene (km²/s) and its ratio to the model-only time for
//      the same number of tiles (1.0 = reading, blending and writing entirely hidden);
//   4. peak RSS of `segment` on two scene sizes (--rss-sizes), each in a fresh child process.
// Each segment run happens in a child process (this binary re-executed with --child-segment)
// so its peak RSS (VmHWM) is its own. Prints a table and writes the figures as JSON.
//
//   build/bin/scene_throughput --size 8192 --rss-sizes 4096,16384 --json out/bench.json
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "core/log.hpp"
#include "infer/predictor.hpp"
#include "infer/predictor.hpp"
#include "infer/segment.hpp"
#include "ingest/scene.hpp"
#include "ingest/synthetic_scene.hpp"
#include "io/raster.hpp"
#include "model/runtime.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Peak resident set size of this process so far, in MiB (VmHWM from /proc/self/status).
double peak_rss_mib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return -1;
}

// Run fn repeatedly (after one warm-up call) until at least min_seconds have passed; return the
// best single-call time in seconds.
template <class F>
double best_time(F&& fn, double min_seconds = 1.5, int min_reps = 3) {
  fn();
  double best = 1e30, total = 0;
  for (int rep = 0; rep < min_reps || total < min_seconds; ++rep) {
    auto t0 = Clock::now();
    fn();
    double s = since(t0);
    best = std::min(best, s);
    total += s;
  }
  return best;
}

// Runs body(k) on `workers` threads at once; with more than one, LibTorch is single-threaded
// in each (the layout `segment` uses on a CPU). Returns the wall time in seconds.
template <class F>
double run_workers(int workers, F&& body) {
  const int previous = at::get_num_threads();
  if (workers > 1) at::set_num_threads(1);
  auto t0 = Clock::now();
  if (workers == 1) {
    body(0);
  } else {
    std::vector<std::thread> ts;
    for (int k = 0; k < workers; ++k) ts.emplace_back([&, k] {
      torch::NoGradGuard ng;
      body(k);
    });
    for (auto& t : ts) t.join();
  }
  double s = since(t0);
  at::set_num_threads(previous);
  return s;
}

json measure_peak(int workers) {
  torch::NoGradGuard ng;
  json out = json::array();
  // The same convolution run as one multi-threaded call, and (when there are several cores)
  // as one single-threaded call per core at once: the best of the two is the machine's rate.
  if (workers > 1) {
    auto x = torch::randn({4, 64, 128, 128}).contiguous(torch::MemoryFormat::ChannelsLast);
    auto w = torch::randn({64, 64, 3, 3}).contiguous(torch::MemoryFormat::ChannelsLast);
    double s = best_time([&] { run_workers(workers, [&](int) { torch::conv2d(x, w, {}, 1, 1); }); });
    double flops = 2.0 * workers * 4 * 128 * 128 * 64 * 64 * 9;
    out.push_back({{"kernel", "conv3x3 64->64 channels-last N=4 128x128, " + std::to_string(workers) +
                                  " single-threaded at once"},
                   {"gflops", flops / s / 1e9}});
  }
  // 64 -> 64 channel 3x3 convolutions, channels-last (oneDNN's fastest layout on CPU).
  for (auto shape : std::vector<std::array<int64_t, 3>>{{8, 128, 128}, {4, 256, 256}, {16, 64, 64}}) {
    auto x = torch::randn({shape[0], 64, shape[1], shape[2]}).contiguous(torch::MemoryFormat::ChannelsLast);
    auto w = torch::randn({64, 64, 3, 3}).contiguous(torch::MemoryFormat::ChannelsLast);
    double s = best_time([&] { torch::conv2d(x, w, {}, 1, 1); });
    double flops = 2.0 * shape[0] * shape[1] * shape[2] * 64 * 64 * 9;
    out.push_back({{"kernel", "conv3x3 64->64 channels-last N=" + std::to_string(shape[0]) + " " +
                                  std::to_string(shape[1]) + "x" + std::to_string(shape[2])},
                   {"gflops", flops / s / 1e9}});
  }
  for (int64_t n : {2048, 4096}) {
    auto a = torch::randn({n, n}), b = torch::randn({n, n});
    double s = best_time([&] { torch::mm(a, b); });
    out.push_back({{"kernel", "sgemm " + std::to_string(n) + "^3"}, {"gflops", 2.0 * n * n * n / s / 1e9}});
  }
  return out;
}

std::string scene_path(const std::string& dir, int size) {
  return dir + "/synthetic_" + std::to_string(size) + ".tif";
}

void ensure_scene(const std::string& dir, int size) {
  const std::string path = scene_path(dir, size);
  if (fs::exists(path)) return;  // deterministic: same size + seed → same file
  drshym::ingest::SyntheticSceneParams sp;
  sp.width = sp.height = size;
  std::cerr << "generating " << path << " ...\n";
  auto t0 = Clock::now();
  drshym::ingest::write_synthetic_scene(sp, path + ".part");
  fs::rename(path + ".part", path);
  std::cerr << "  " << since(t0) << " s\n";
}

// Child mode: one segment run; prints one JSON line with its timings and peak RSS.
int child_segment(const std::string& scene, const std::string& out, const drshym::infer::PredictorParams& pp,
                  const drshym::infer::SegmentParams& base) {
  auto t0 = Clock::now();
  drshym::infer::Predictor predictor(pp);
  double load_s = since(t0);
  auto sp = base;
  sp.scene_uri = scene;
  sp.out_dir = out;
  sp.progress = false;
  auto r = drshym::infer::segment_scene(sp, predictor);
  json j = {{"tiles", r.tiles},
            {"tiles_run", r.tiles - r.record["stats"].value("tiles_skipped_no_valid_pixel", 0)},
            {"seconds_segment", r.seconds_total},
            {"seconds_model", r.seconds_model},
            {"timings_s", r.record["provenance"]["timings_s"]},
            {"seconds_load_model", load_s},
            {"valid_pixels", r.valid_pixels},
            {"peak_rss_mib", peak_rss_mib()}};
  std::cout << "RESULT " << j.dump() << std::endl;
  return 0;
}

json run_child(const std::string& self, const std::vector<std::string>& args) {
  std::string cmd = "'" + self + "'";
  for (const auto& a : args) cmd += " '" + a + "'";
  auto t0 = Clock::now();
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) throw std::runtime_error("cannot start " + cmd);
  std::string all;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, f)) all.append(buf, n);
  int rc = pclose(f);
  double wall = since(t0);
  auto pos = all.rfind("RESULT ");
  if (rc != 0 || pos == std::string::npos) throw std::runtime_error("child failed (rc " + std::to_string(rc) + "): " + cmd);
  json j = json::parse(all.substr(pos + 7));
  j["seconds_process_wall"] = wall;
  return j;
}

// Model-only rate: tiles read and preprocessed once from the scene (`count` tiles from the
// middle of its grid), then pushed through the model repeatedly with nothing else running,
// by `workers` workers as `segment` runs them (one worker: LibTorch's own threads).
json measure_model(const std::string& scene_uri, const drshym::infer::PredictorParams& pp,
                   const drshym::infer::SegmentParams& sp, int count, int workers) {
  drshym::infer::Predictor predictor(pp);
  const auto& pre = predictor.preprocess();
  auto scene = drshym::ingest::open_scene(scene_uri, pre.needs_vh());
  auto info = scene.raster.info();
  drshym::tiling::WindowGrid grid(info.width, info.height, sp.grid);
  const int T = sp.grid.tile;
  const int64_t C = int64_t(pre.bands.size());
  std::vector<int> bands{scene.bands.vv};
  if (scene.bands.vh) bands.push_back(scene.bands.vh);
  // Tiles from the middle rows of the scene (typical content, not the no-data border).
  const auto& tiles = grid.tiles();
  size_t first = tiles.size() / 2 - std::min<size_t>(tiles.size() / 2, size_t(count) / 2);
  auto batches = std::vector<torch::Tensor>();
  std::vector<float> in;
  std::vector<uint8_t> valid;
  for (int k = 0; k < count; k += sp.batch_size) {
    int n = std::min(sp.batch_size, count - k);
    auto x = torch::zeros({n, C, T, T});
    for (int i = 0; i < n; ++i) {
      const auto& t = tiles[(first + size_t(k + i)) % tiles.size()];
      auto blk = scene.raster.read(t.window, bands);
      pre.apply(blk.band(0), scene.bands.vh ? blk.band(1) : nullptr, blk.valid.size(), in, valid, blk.valid.data());
      std::memcpy(x[i].data_ptr<float>(), in.data(), in.size() * sizeof(float));
    }
    batches.push_back(x);
  }
  const double flops_tile = double(drshym::model::count_flops(predictor.net(), int(C), T, T));
  // One pass: worker k takes batches k, k + workers, ...
  auto pass = [&] {
    return run_workers(workers, [&](int k) {
      for (size_t b = size_t(k); b < batches.size(); b += size_t(workers)) predictor.predict(batches[b]);
    });
  };
  pass();  // warm-up (oneDNN primitive creation)
  double seconds = 0;
  int64_t done = 0;
  for (int passes = 0; passes < 2 || seconds < 20.0; ++passes) {
    seconds += pass();
    done += count;
  }
  double tps = double(done) / seconds;
  return {{"tiles_per_s", tps},
          {"gflop_per_tile", flops_tile / 1e9},
          {"gflops", tps * flops_tile / 1e9},
          {"tiles_timed", done},
          {"workers", workers},
          {"threads_per_worker", workers > 1 ? 1 : at::get_num_threads()},
          {"model", predictor.describe()}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Benchmark drshym segment: end-to-end km²/s, model-only rate, machine peak GFLOP/s, peak RSS"};
  int size = 8192, threads = 0;
  std::string rss_sizes = "4096,16384", work_dir = "/tmp/drshym_bench", json_out, child_scene, child_out;
  bool keep = false;
  drshym::infer::PredictorParams pp;
  drshym::infer::SegmentParams sp;
  app.add_option("--size", size, "Side of the end-to-end scene in pixels (10 m)")->capture_default_str()->check(CLI::Range(1024, 65536));
  app.add_option("--rss-sizes", rss_sizes, "Two or more scene sides for the peak-RSS runs")->capture_default_str();
  app.add_option("--work-dir", work_dir, "Where scenes and outputs go (scenes are reused)")->capture_default_str();
  app.add_option("--ckpt", pp.checkpoint, "Checkpoint; default: the embedded model");
  app.add_option("--tile", sp.grid.tile, "Tile size")->capture_default_str();
  app.add_option("--overlap", sp.grid.overlap, "Tile overlap")->capture_default_str();
  app.add_option("--batch", sp.batch_size, "Tiles per batch")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0 = all)")->capture_default_str();
  app.add_option("--workers", sp.model_workers, "Model workers (0 = one single-threaded worker per thread, as segment)")
      ->capture_default_str();
  bool classes = false;
  app.add_flag("--classes", classes,
               "Also split the water into flood and permanent water (the permanent-water head: a second\n"
               "network pass); off by default, so the figures compare the same work as the Python baseline");
  app.add_option("--json", json_out, "Write the figures here as JSON");
  app.add_flag("--keep", keep, "Keep the segment outputs");
  app.add_option("--child-segment", child_scene)->group("");
  app.add_option("--child-out", child_out)->group("");
  CLI11_PARSE(app, argc, argv);
  sp.write_classes = classes;
  pp.threads = threads;
  drshym::core::log().set_level(spdlog::level::warn);
  try {
    if (!child_scene.empty()) return child_segment(child_scene, child_out, pp, sp);

    std::vector<int> rss;
    std::stringstream ss(rss_sizes);
    for (std::string tok; std::getline(ss, tok, ',');) rss.push_back(std::stoi(tok));
    fs::create_directories(work_dir);
    const std::string self = fs::read_symlink("/proc/self/exe").string();
    std::vector<std::string> common{"--tile", std::to_string(sp.grid.tile), "--overlap", std::to_string(sp.grid.overlap),
                                    "--batch", std::to_string(sp.batch_size), "--threads", std::to_string(threads),
                                    "--workers", std::to_string(sp.model_workers)};
    if (!pp.checkpoint.empty()) common.insert(common.end(), {"--ckpt", pp.checkpoint});
    if (classes) common.push_back("--classes");
    auto segment_child = [&](int s) {
      ensure_scene(work_dir, s);
      const std::string out = work_dir + "/out_" + std::to_string(s);
      fs::remove_all(out);
      fs::create_directories(out);
      auto args = common;
      args.insert(args.end(), {"--child-segment", scene_path(work_dir, s), "--child-out", out});
      std::cerr << "segment " << s << "x" << s << " ...\n";
      json j = run_child(self, args);
      if (!keep) fs::remove_all(out);
      j["size"] = s;
      j["km2"] = double(s) * s * 100.0 / 1e6;
      j["km2_per_s"] = j["km2"].get<double>() / j["seconds_segment"].get<double>();
      return j;
    };

    drshym::model::set_threads(threads);
    json report;
    report["threads"] = at::get_num_threads();
    report["hardware_threads"] = std::thread::hardware_concurrency();
    report["tile"] = sp.grid.tile;
    report["overlap"] = sp.grid.overlap;
    report["batch"] = sp.batch_size;
    const int workers = sp.model_workers > 0 ? sp.model_workers : at::get_num_threads();
    report["model_workers"] = workers;

    std::cerr << "peak FP32 ...\n";
    report["peak_kernels"] = measure_peak(at::get_num_threads());
    double peak = 0;
    for (auto& k : report["peak_kernels"]) peak = std::max(peak, k["gflops"].get<double>());
    report["peak_gflops"] = peak;

    json e2e = segment_child(size);
    report["end_to_end"] = e2e;
    std::cerr << "model only ...\n";
    const int count = std::max(16, 4 * sp.batch_size * workers);
    json model = measure_model(scene_path(work_dir, size), pp, sp, count, workers);
    report["model_only"] = model;
    // For reference: the same tiles through one multi-threaded network.
    if (workers > 1) report["model_only_one_worker"] = measure_model(scene_path(work_dir, size), pp, sp, count, 1);
    // Model-only time for the tiles segment actually ran (windows without a valid pixel skip
    // the model, so they must not pad the comparison).
    const double model_only_s = e2e["tiles_run"].get<double>() / model["tiles_per_s"].get<double>();
    report["model_only_seconds_for_scene"] = model_only_s;
    report["ratio_end_to_end_over_model"] = e2e["seconds_segment"].get<double>() / model_only_s;
    report["model_fraction_of_peak"] = model["gflops"].get<double>() / peak;

    json rss_runs = json::array();
    for (int s : rss) rss_runs.push_back(s == size ? e2e : segment_child(s));
    report["rss_runs"] = rss_runs;
    double lo = 1e30, hi = 0;
    for (auto& r : rss_runs) {
      lo = std::min(lo, r["peak_rss_mib"].get<double>());
      hi = std::max(hi, r["peak_rss_mib"].get<double>());
    }
    report["peak_rss_max_mib"] = hi;
    report["peak_rss_growth"] = hi / lo;

    std::printf("\nscene_throughput (%d threads, tile %d, overlap %d, batch %d per worker)\n", report["threads"].get<int>(),
                sp.grid.tile, sp.grid.overlap, sp.batch_size);
    for (auto& k : report["peak_kernels"])
      std::printf("  peak kernel  %-44s %8.1f GFLOP/s\n", k["kernel"].get<std::string>().c_str(), k["gflops"].get<double>());
    std::printf("  machine peak FP32 (best kernel)                           %8.1f GFLOP/s\n", peak);
    std::printf("  model only   %.2f tiles/s, %.2f GFLOP/tile → %.1f GFLOP/s = %.0f%% of peak (target ≥ 40%%), %d worker(s)\n",
                model["tiles_per_s"].get<double>(), model["gflop_per_tile"].get<double>(), model["gflops"].get<double>(),
                100.0 * report["model_fraction_of_peak"].get<double>(), workers);
    if (report.contains("model_only_one_worker"))
      std::printf("  (one %d-thread worker instead: %.2f tiles/s, %.1f GFLOP/s)\n", at::get_num_threads(),
                  report["model_only_one_worker"]["tiles_per_s"].get<double>(),
                  report["model_only_one_worker"]["gflops"].get<double>());
    std::printf("  end to end   %dx%d (%.0f km², %d tiles, %d run): %.1f s → %.2f km²/s (model %.1f s inside)\n", size,
                size, e2e["km2"].get<double>(), e2e["tiles"].get<int>(), e2e["tiles_run"].get<int>(), e2e["seconds_segment"].get<double>(),
                e2e["km2_per_s"].get<double>(), e2e["seconds_model"].get<double>());
    std::printf("  end-to-end / model-only time: %.2f (target ≤ 1.25)\n", report["ratio_end_to_end_over_model"].get<double>());
    for (auto& r : rss_runs)
      std::printf("  peak RSS     %5dx%-5d %8.0f MiB (%.1f s, %.2f km²/s)\n", r["size"].get<int>(), r["size"].get<int>(),
                  r["peak_rss_mib"].get<double>(), r["seconds_segment"].get<double>(), r["km2_per_s"].get<double>());
    std::printf("  peak RSS largest/smallest: %.2f (target: < 1024 MiB and flat)\n", report["peak_rss_growth"].get<double>());
    if (!json_out.empty()) {
      std::ofstream(json_out) << report.dump(2) << "\n";
      std::printf("  figures → %s\n", json_out.c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "scene_throughput: " << e.what() << "\n";
    return 1;
  }
}
