#include "batch/batch.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <set>
#include <thread>

#include "batch/catalog.hpp"
#include "batch/world.hpp"
#include "core/cancel.hpp"
#include "core/config.hpp"
#include "core/cpus.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/interrupt.hpp"
#include "core/log.hpp"
#include "infer/exclusion_stage.hpp"
#include "infer/model_set.hpp"
#include "infer/predictor.hpp"
#include "io/raster.hpp"
#include "io/uri.hpp"
#include "io/vector.hpp"
#include "model/checkpoint.hpp"
#include "model/runtime.hpp"
#include "pipeline/scene_job.hpp"
#include "tiling/window_grid.hpp"

namespace drshym::batch {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// JSON text that never throws on bytes that are not UTF-8 (a GDAL message quoting a Latin-1
// file name): they become U+FFFD.
std::string safe_dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }
std::string valid_utf8(const std::string& s) { return nlohmann::json::parse(safe_dump(s)).get<std::string>(); }

// Identifies the scene list, so ranks that read a different manifest (another working
// directory, an edited file) are caught before they work on the wrong scenes.
std::string manifest_fingerprint(const std::vector<SceneEntry>& scenes) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& e : scenes) j.push_back({e.id, e.uri, e.aoi});
  return std::to_string(std::hash<std::string>{}(safe_dump(j))) + ":" + std::to_string(scenes.size());
}

// Message tags between ranks: a worker sends kReady once, then kResult after each scene (which
// also asks for more); rank 0 answers kWork (a manifest index) or kStop.
enum Tag : int { kReady = 1, kResult = 2, kWork = 3, kStop = 4 };

// Fault injection for the tests of a dying rank: DRSHYM_BATCH_FAULT=abort:<scene id> makes the
// rank that picks that scene die at once (SIGABRT), as a node failure would.
void maybe_inject_fault(const std::string& id) {
  const char* f = std::getenv("DRSHYM_BATCH_FAULT");
  if (f && std::string(f) == "abort:" + id) {
    core::log().warn("batch: DRSHYM_BATCH_FAULT: aborting on scene {}", id);
    std::abort();
  }
}

}  // namespace

// ---- SceneOutcome ----

nlohmann::json SceneOutcome::to_json() const {
  return {{"id", id},
          {"uri", uri},
          {"status", to_string(status)},
          {"error_code", error_code},
          {"error_message", error_message},
          {"record", record},
          {"seconds", seconds},
          {"rank", rank},
          {"index", index}};
}

const char* to_string(SceneStatus s) {
  switch (s) {
    case SceneStatus::not_run: return "not_run";
    case SceneStatus::done: return "done";
    case SceneStatus::resumed: return "resumed";
    case SceneStatus::failed: return "failed";
    case SceneStatus::interrupted: return "interrupted";
  }
  return "not_run";
}

SceneStatus parse_scene_status(const std::string& s) {
  for (SceneStatus v : {SceneStatus::not_run, SceneStatus::done, SceneStatus::resumed, SceneStatus::failed,
                        SceneStatus::interrupted})
    if (s == to_string(v)) return v;
  throw Error(ErrorKind::Internal, "batch", "unknown scene status " + quoted(s));
}

SceneOutcome SceneOutcome::from_json(const nlohmann::json& j) {
  SceneOutcome o;
  o.id = j.at("id").get<std::string>();
  o.uri = j.at("uri").get<std::string>();
  o.status = parse_scene_status(j.at("status").get<std::string>());
  o.error_code = j.at("error_code").get<std::string>();
  o.error_message = j.at("error_message").get<std::string>();
  o.record = j.at("record");
  o.seconds = j.at("seconds").get<double>();
  o.rank = j.at("rank").get<int>();
  o.index = j.at("index").get<long>();
  return o;
}

std::string scene_dir(const BatchOptions& opt, const SceneEntry& scene) { return opt.out_dir + "/" + scene.id; }

// ---- SceneRunner ----

struct SceneRunner::Impl {
  const BatchOptions& opt;
  int rank, threads;
  infer::ModelSet models;  // loaded once per rank, on first use

  static infer::ModelSetOptions model_options(const BatchOptions& opt, int threads) {
    infer::ModelSetOptions mo;
    mo.water.checkpoint = opt.checkpoint;
    mo.water.device = opt.device;
    mo.water.threads = threads;
    mo.water.precision = infer::Precision::automatic;  // as segment: bf16 where this machine runs it faster
    return mo;
  }
  Impl(const BatchOptions& o, int r, int t) : opt(o), rank(r), threads(t), models(model_options(o, t)) {}

  // The outputs in dir are complete and were made with `key`; otherwise says why not in *why.
  static bool complete(const std::string& dir, const std::string& uri, const nlohmann::json& key,
                       nlohmann::json* record, std::string* why) {
    const std::string rec_path = dir + "/" + io::stem_of(uri) + "_record.json";
    if (!fs::exists(rec_path)) {
      *why = "no record";
      return false;
    }
    try {
      *record = core::read_json_file(rec_path);
    } catch (const std::exception& e) {
      *why = std::string("unreadable record (") + e.what() + ")";
      return false;
    }
    try {
      const auto& prov = record->at("provenance");
      if (!prov.contains("output_key") || prov["output_key"] != key) {
        *why = "made with another model or other options";
        return false;
      }
      const auto& outputs = record->at("outputs");
      if (!outputs.contains("mask") || !outputs.contains("proba")) {
        *why = "the record lists no mask or probabilities";
        return false;
      }
      for (const auto& [name, path] : outputs.items()) {
        const std::string f = dir + "/" + fs::path(path.get<std::string>()).filename().string();
        std::error_code ec;
        if (!fs::is_regular_file(f, ec) || fs::file_size(f, ec) == 0) {
          *why = "missing " + fs::path(f).filename().string();
          return false;
        }
      }
    } catch (const std::exception& e) {
      *why = std::string("a record of another shape (") + e.what() + ")";
      return false;
    }
    return true;
  }
};

SceneRunner::SceneRunner(const BatchOptions& opt, int rank, int threads)
    : impl_(std::make_unique<Impl>(opt, rank, threads)) {}
SceneRunner::~SceneRunner() = default;

SceneOutcome SceneRunner::run(const SceneEntry& scene) {
  const auto& opt = impl_->opt;
  SceneOutcome o;
  o.id = scene.id;
  o.uri = scene.uri;
  o.rank = impl_->rank;
  const auto t0 = Clock::now();
  try {
    maybe_inject_fault(scene.id);
    core::check_interrupted("batch");
    pipeline::SceneJob job = opt.job;
    infer::SegmentParams& p = job.segment;
    p.scene_uri = scene.uri;
    p.out_dir = scene_dir(opt, scene);
    p.aoi_path = scene.aoi;
    p.before_uri = scene.before;
    if (!scene.dem.empty()) p.dem_uri = scene.dem;  // else the batch's --dem, if any
    p.progress = false;
    core::CancelToken deadline(opt.scene_timeout_s);
    pipeline::SceneControl control;
    if (opt.scene_timeout_s > 0) control.cancel = &deadline;
    if (opt.resume) {
      std::string why;
      if (Impl::complete(p.out_dir, scene.uri, pipeline::scene_output_key(job, impl_->models), &o.record, &why)) {
        o.status = SceneStatus::resumed;
        return o;
      }
      if (fs::exists(p.out_dir)) core::log().info("batch: {}: recomputing ({})", scene.id, why);
      o.record = nullptr;
    }
    // The earlier record goes first: if this run is killed while its outputs are renamed into
    // place, no record is left to vouch for a mix of old and new files, and --resume redoes it.
    std::error_code ec;
    fs::remove(p.out_dir + "/" + io::stem_of(scene.uri) + "_record.json", ec);
    auto r = pipeline::run_scene(job, impl_->models, control);
    o.record = std::move(r.record);
    o.status = SceneStatus::done;
  } catch (const Error& e) {
    o.status = e.kind() == ErrorKind::Interrupted ? SceneStatus::interrupted : SceneStatus::failed;
    o.error_code = to_string(e.kind());
    o.error_message = valid_utf8(e.what());
  } catch (const std::exception& e) {
    o.status = SceneStatus::failed;
    o.error_code = to_string(ErrorKind::Internal);
    o.error_message = valid_utf8(e.what());
  }
  o.seconds = seconds_since(t0);
  return o;
}

// ---- scheduling ----

namespace {

// Scenes in the order they are handed out: largest (pixels) first, so the longest ones do not
// start last and leave every other rank idle at the end. A scene whose header cannot be read
// goes last; it fails there with its error.
std::vector<size_t> largest_first(const std::vector<SceneEntry>& scenes) {
  std::vector<int64_t> pixels(scenes.size(), -1);
  for (size_t i = 0; i < scenes.size(); ++i) {
    try {
      const auto r = io::Raster::open(scenes[i].uri);
      pixels[i] = int64_t(r.width()) * r.height();
    } catch (const std::exception&) {
    }
  }
  std::vector<size_t> order(scenes.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return pixels[a] > pixels[b]; });
  return order;
}

// Threads each rank gives its model: the CPUs a launcher pinned it to (Open MPI binds ranks to
// cores or sockets by default), else the node's usable CPUs shared among the ranks on it.
int threads_per_rank(const BatchOptions& opt, const World& w) {
  if (opt.threads > 0) return opt.threads;
  if (w.size() > 1 && core::cpu_affinity_restricted()) return core::available_cpus();
  return std::max(1, core::available_cpus() / std::max(1, w.local_size()));
}

// Rank 0: hands out scenes and gathers outcomes; its own worker thread takes scenes too.
std::vector<SceneOutcome> coordinate(const BatchOptions& opt, const std::vector<SceneEntry>& scenes, const World& w,
                                     int threads) {
  const size_t n = scenes.size();
  const std::string fingerprint = manifest_fingerprint(scenes);
  std::vector<SceneOutcome> out(n);
  std::mutex m;
  size_t next = 0, finished = 0;
  std::atomic<bool> stop{false};
  const auto order = largest_first(scenes);
  auto take = [&]() -> long {
    std::lock_guard<std::mutex> lk(m);
    if (next >= n || stop || core::interrupted()) return -1;
    return long(order[next++]);
  };
  auto store = [&](SceneOutcome o) {
    std::lock_guard<std::mutex> lk(m);
    if (o.index < 0 || size_t(o.index) >= n || scenes[size_t(o.index)].id != o.id)
      throw Error(ErrorKind::Internal, "batch", "rank " + std::to_string(o.rank) + " returned scene " + quoted(o.id) +
                                                    " at an index this manifest does not have");
    ++finished;
    if (o.status == SceneStatus::failed)
      core::log().warn("batch: [{}/{}] {} failed on rank {}: {}", finished, n, o.id, o.rank, o.error_message);
    else if (o.status == SceneStatus::resumed)
      core::log().info("batch: [{}/{}] {} already complete (resumed)", finished, n, o.id);
    else if (o.status == SceneStatus::done)
      core::log().info("batch: [{}/{}] {} done on rank {} in {:.1f} s", finished, n, o.id, o.rank, o.seconds);
    out[size_t(o.index)] = std::move(o);
  };
  // The local worker: no MPI calls (only the main thread may make them).
  std::exception_ptr local_error;
  std::thread local([&] {
    try {
      SceneRunner runner(opt, 0, threads);
      for (long i; (i = take()) >= 0;) {
        SceneOutcome o = runner.run(scenes[size_t(i)]);
        o.index = i;
        store(std::move(o));
      }
    } catch (...) {
      local_error = std::current_exception();
    }
  });
  // Whatever happens below, the local worker is told to stop and joined before this returns.
  struct Join {
    std::thread& t;
    std::atomic<bool>& stop;
    ~Join() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } join{local, stop};
  int active = w.size() - 1;
  while (active > 0) {
    auto msg = w.poll();
    if (!msg) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    if (msg->tag == kReady && msg->payload != fingerprint)
      throw Error(ErrorKind::Usage, "batch",
                  "rank " + std::to_string(msg->source) + " read a different manifest from " + quoted(opt.manifest) +
                      " (other working directory or an edited file?): every rank must see the same scenes");
    if (msg->tag == kResult) store(SceneOutcome::from_json(nlohmann::json::parse(msg->payload)));
    const long i = take();
    if (i >= 0) {
      w.send(msg->source, kWork, std::to_string(i));
    } else {
      w.send(msg->source, kStop, "");
      --active;
    }
  }
  local.join();
  if (local_error) std::rethrow_exception(local_error);
  return out;
}

// Ranks > 0: ask for work, run it, send the outcome back, until told to stop.
void work(const BatchOptions& opt, const std::vector<SceneEntry>& scenes, const World& w, int threads) {
  SceneRunner runner(opt, w.rank(), threads);
  w.send(0, kReady, manifest_fingerprint(scenes));
  for (;;) {
    const auto msg = w.receive(0);
    if (msg.tag == kStop) return;
    const long i = std::stol(msg.payload);
    SceneOutcome o = runner.run(scenes.at(size_t(i)));
    o.index = i;
    w.send(0, kResult, safe_dump(o.to_json()));
  }
}

// Every option the scenes share is checked once, before any rank starts: a bad one is a usage
// error (exit 2), not the same failure repeated for every scene.
void check_options(const BatchOptions& opt) {
  if (opt.scene_timeout_s < 0) throw Error(ErrorKind::Usage, "batch", "--scene-timeout must be >= 0");
  if (opt.job.segment.threshold) require_threshold(*opt.job.segment.threshold, "batch", "--threshold");
  tiling::WindowGrid(opt.job.segment.grid.tile, opt.job.segment.grid.tile, opt.job.segment.grid);  // tile and overlap
  io::parse_geojson_crs(opt.job.segment.geojson_crs);
  infer::check_terrain_options(opt.job.segment);
  model::parse_device(opt.device);
  if (!opt.checkpoint.empty()) {
    try {
      model::resolve_checkpoint_path(opt.checkpoint);
    } catch (const Error& e) {
      throw Error(ErrorKind::Usage, "batch", std::string("--ckpt: ") + e.what());
    }
  }
}

}  // namespace

BatchResult run_batch(const BatchOptions& opt) {
  const auto t0 = Clock::now();
  const auto scenes = read_manifest(opt.manifest);
  check_options(opt);
  core::ensure_writable_dir(opt.out_dir);  // every rank: each writes its scenes' folders there
  World& w = World::instance();
  const int threads = threads_per_rank(opt, w);
  BatchResult res;
  try {
    if (w.rank() == 0) {
      // A catalog or summary from an earlier run must not pass for this run's if it stops early.
      for (const char* f : {"/catalog.json", "/batch_summary.json"}) {
        std::error_code ec;
        fs::remove(opt.out_dir + f, ec);
      }
      core::log().info("batch: {} scenes on {} rank{} ({} thread{} each){}", scenes.size(), w.size(),
                       w.size() == 1 ? "" : "s", threads, threads == 1 ? "" : "s", opt.resume ? ", resuming" : "");
      res.outcomes = coordinate(opt, scenes, w, threads);
    } else {
      work(opt, scenes, w, threads);
      return res;
    }
  } catch (const std::exception& e) {
    if (w.size() > 1) {
      // One rank's unexpected failure must not leave the others waiting for it.
      core::log().error("batch: rank {}: {}", w.rank(), e.what());
      w.abort(1);
    }
    throw;
  }
  for (const auto& o : res.outcomes) {
    res.failed += o.status == SceneStatus::failed;
    res.interrupted = res.interrupted || o.status == SceneStatus::interrupted || o.status == SceneStatus::not_run;
  }
  if (res.interrupted || core::interrupted()) {
    res.interrupted = true;
    return res;
  }
  CatalogInputs in{opt, scenes, res.outcomes, w.size(), threads, seconds_since(t0)};
  res.summary = write_batch_outputs(in);
  return res;
}

}  // namespace drshym::batch
