#include "serve/service.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <future>
#include <mutex>
#include <numeric>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "core/blocking_queue.hpp"
#include "core/cancel.hpp"
#include "core/cpus.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "infer/model_set.hpp"
#include "infer/predictor.hpp"
#include "infer/segment.hpp"
#include "pipeline/options.hpp"
#include "pipeline/scene_job.hpp"
#include "io/raster.hpp"
#include "io/read_error.hpp"
#include "io/uri.hpp"
#include "core/sha256.hpp"
#include "core/text.hpp"

namespace drshym::serve {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

bool plain_id(const std::string& id) {
  if (id.size() != 32) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

nlohmann::json error_json(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const Error& err) {
    return {{"code", to_string(err.kind())}, {"message", err.what()}};
  } catch (const std::exception& err) {
    return {{"code", to_string(ErrorKind::Internal)}, {"message", std::string("internal error: ") + err.what()}};
  } catch (...) {
    return {{"code", to_string(ErrorKind::Internal)}, {"message", "internal error"}};
  }
}

struct Work {
  std::string id;
  SegmentRequest req;
  std::shared_ptr<core::CancelToken> token;
  bool is_job = false;
  std::shared_ptr<std::promise<nlohmann::json>> done;  // synchronous requests only
};

// Holds an exclusive lock on <job store>.lock (by the store's symlink-resolved path) for the
// server's lifetime: two servers sharing one store would mark each other's running jobs failed
// at start-up.
class StoreLock {
 public:
  explicit StoreLock(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(ErrorKind::Io, "serve", "cannot create lock file " + quoted(path));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      throw Error(ErrorKind::Usage, "serve",
                  "another drshym serve already uses this job store (" + quoted(path) +
                      " is locked); give each server its own --output-root or --job-db");
    }
  }
  ~StoreLock() { ::close(fd_); }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

std::string new_request_id() {
  // 128 bits from the kernel's CSPRNG for every id: ids are handed out in X-Request-Id and a
  // job id is all it takes to read that job's results, so they must not be predictable.
  unsigned char b[16];
  size_t got = 0;
  while (got < sizeof b) {
    const ssize_t n = ::getrandom(b + got, sizeof b - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorKind::Internal, "serve", std::string("getrandom failed: ") + std::strerror(errno));
    }
    got += size_t(n);
  }
  std::string id;
  id.reserve(32);
  static const char* hex = "0123456789abcdef";
  for (unsigned char c : b) {
    id.push_back(hex[c >> 4]);
    id.push_back(hex[c & 15]);
  }
  return id;
}

struct Service::Impl {
  ServiceOptions opt;
  InputPolicy policy;
  RequestLimits limits;
  // The water models offered (by name) and the water type models that split each scene's water
  // into flood and permanent water (the change model for a request with options.before_uri; the
  // permanent-water network for models without their own head), all loaded at start-up.
  std::unique_ptr<infer::ModelSet> models;
  std::unique_ptr<StoreLock> store_lock;
  std::unique_ptr<JobStore> store;
  core::BlockingQueue<Work> queue;
  std::vector<std::thread> workers;
  int threads_per_worker = 1;
  std::atomic<bool> stopping{false};
  std::atomic<int> busy{0};
  std::mutex running_m;
  std::set<std::shared_ptr<core::CancelToken>> running;
  std::mutex stats_m;
  double mean_run_s = 5.0;  // running mean of scene times, for Retry-After
  std::once_flag shutdown_once;
  std::atomic<int> prechecks{0};          // job explain checks running on HTTP threads
  std::mutex sweep_m;
  Clock::time_point last_sweep{};
  std::vector<std::string> previous_drivers;  // Raster::open's driver list before this service
  std::string stop_reason = "the server is shutting down";

  explicit Impl(const ServiceOptions& o)
      : opt(o), policy(o.input_roots, o.allow_remote), queue(size_t(std::max(0, o.queue))) {}

  // The request as a scene job, less its output folder and polygon files.
  pipeline::SceneJob job_of(const SegmentRequest& r) const {
    pipeline::SceneJob job = r.job;
    job.segment.scene_uri = r.source;
    job.segment.model_workers = threads_per_worker;
    job.segment.progress = false;
    return job;
  }

  // A job's explain options are checked when it is submitted, as /v1/segment checks them: an
  // unknown layer is a 400 and a region off the scene a 422 at once, not a job that fails later.
  void precheck_explain(const SegmentRequest& r, const std::string& id) const {
    if (!r.job.explain.enabled) return;
    pipeline::SceneJob job = job_of(r);
    struct Remove {
      std::string path;
      ~Remove() {
        std::error_code ec;
        if (!path.empty()) fs::remove(path, ec);
      }
    } region;
    if (const nlohmann::json* g = r.geojson("explain_region")) {
      region.path = (fs::path(opt.output_root) / ("." + id + ".explain_region.geojson")).string();
      core::write_text_file_atomic(region.path, g->dump() + "\n");
      job.explain.region_path = region.path;
    }
    pipeline::check_scene_job(job, *models);
  }

  nlohmann::json execute(const Work& w) {
    pipeline::SceneJob job = job_of(w.req);
    const infer::Predictor& water = models->water_of(job.model, job.segment.scene_uri);
    job.model = models->name_of(water);  // the model the response names runs
    const fs::path out = fs::path(opt.output_root) / w.id;
    std::error_code ec;
    if (!fs::create_directory(out, ec))  // ids are fresh: an existing folder is not ours to reuse
      throw Error(ErrorKind::Io, "serve",
                  ec ? "cannot create the request's output folder: " + ec.message()
                     : std::string("the request's output folder already exists"));
    // The request's folder is ours alone: on failure it goes, whatever segment left in it.
    struct Cleanup {
      fs::path dir;
      bool keep = false;
      ~Cleanup() {
        std::error_code ec;
        if (!keep) fs::remove_all(dir, ec);
      }
    } cleanup{out};
    job.segment.out_dir = out.string();
    // GeoJSON options become files in the request's folder (pipeline/options.hpp, ApiForm::GeoJson).
    for (const auto& o : pipeline::job_options())
      if (o.api_form == pipeline::ApiForm::GeoJson)
        if (const nlohmann::json* g = w.req.geojson(o.key)) {
          *o.text(job) = (out / (std::string(o.key) + ".geojson")).string();
          core::write_text_file_atomic(*o.text(job), g->dump() + "\n");
        }
    pipeline::SceneControl control;
    control.cancel = w.token.get();
    std::string last_stage;
    double last_fraction = -1;
    if (w.is_job)
      control.progress = [&](const std::string& stage, double f) {
        if (stage == last_stage && f < 1.0 && f - last_fraction < 0.02) return;  // a row per 2%
        last_stage = stage;
        last_fraction = f;
        store->set_progress(w.id, stage, f);
      };
    const auto t0 = Clock::now();
    infer::SegmentResult r = pipeline::run_scene(job, *models, control);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    {
      std::lock_guard<std::mutex> lk(stats_m);
      mean_run_s = 0.8 * mean_run_s + 0.2 * seconds;
    }
    cleanup.keep = true;
    return response_body(w, job.model, water, r);
  }

  static nlohmann::json response_body(const Work& w, const std::string& model_name, const infer::Predictor& model,
                                      const infer::SegmentResult& r) {
    auto uri = [&](const char* key) -> nlohmann::json {
      return r.outputs.contains(key) ? nlohmann::json(io::to_file_uri(r.outputs[key].get<std::string>()))
                                     : nlohmann::json(nullptr);
    };
    const nlohmann::json& prov = r.record["provenance"];
    return {{"scene_id", r.scene_id},
            {"request_id", w.id},
            {"caption", r.record.value("caption", std::string())},
            {"flood_summary", r.record.value("flood_summary", nlohmann::json::object())},
            {"outputs",
             {{"mask_uri", uri("mask")},
              {"proba_uri", uri("proba")},
              {"classes_uri", uri("classes")},
              {"exclusion_uri", uri("exclusion")},
              {"overlay_png", uri("overlay_png")},
              {"cam_uri", uri("cam")},
              {"cam_overlay_png", uri("cam_overlay_png")},
              {"geojson_uri", uri("geojson")},
              {"record_uri", uri("record")}}},
            {"provenance",
             {{"model", model_name},
              {"checkpoint_sha256", model.checkpoint_sha256()},
              {"threshold", prov.value("threshold", model.threshold())},
              {"temperature", model.temperature()},
              {"calibration", "temperature=" + std::to_string(model.temperature())},
              {"calibration_source", model.calibration_source()},
              {"source_uri", prov.value("source_uri", "")},
              {"tile", w.req.job.segment.grid.tile},
              {"overlap", w.req.job.segment.grid.overlap},
              {"timings_s", prov.value("timings_s", nlohmann::json::object())},
              {"classes", prov.value("classes", nlohmann::json(nullptr))},
              {"terrain", prov.value("terrain", nlohmann::json(nullptr))}}},
            {"stats", r.record.value("stats", nlohmann::json::object())},
            {"policy", r.record.value("policy", nlohmann::json::object())}};
  }

  void run(Work w) {
    ++busy;
    {
      // Under the lock shutdown() takes to cancel running work: whichever comes second sees
      // the other, so no scene starts unnoticed during a shutdown.
      std::lock_guard<std::mutex> lk(running_m);
      running.insert(w.token);
      if (stopping) w.token->cancel(stop_reason);
    }
    try {
      w.token->check("serve");  // the deadline may have passed while it waited in the queue
      if (w.is_job) store->set_running(w.id);
      nlohmann::json body = execute(w);
      if (w.is_job)
        store->set_done(w.id, body);
      else
        w.done->set_value(std::move(body));
    } catch (...) {
      const auto e = redacted(std::current_exception(), w);
      const nlohmann::json err = error_json(e);
      core::log().warn("serve: {} {} failed: {}", w.is_job ? "job" : "request", w.id, err["message"].get<std::string>());
      try {
        if (w.is_job)
          store->set_failed(w.id, err);
        else
          w.done->set_exception(e);
      } catch (const std::exception& se) {
        core::log().error("serve: cannot record the failure of {}: {}", w.id, se.what());
      }
    }
    {
      std::lock_guard<std::mutex> lk(running_m);
      running.erase(w.token);
    }
    --busy;
    try {
      sweep(false);
    } catch (const std::exception& e) {
      core::log().warn("serve: retention sweep failed: {}", e.what());
    }
  }

  // An error message as the client may see it: the server's own paths (the request's output
  // folder, the resolved input files, the roots) replaced by the client's URIs or a name.
  std::string redact(std::string msg, const Work& w) const {
    auto replace_all = [&msg](const std::string& from, const std::string& to) {
      if (from.empty()) return;
      for (size_t at = msg.find(from); at != std::string::npos; at = msg.find(from, at + to.size()))
        msg.replace(at, from.size(), to);
    };
    // The client's own URIs go in last, through markers: they may hold an input root's path,
    // which must stay as the client wrote it.
    // "\x01" "before": split literals, or the hex escape would swallow the letters a-f after it.
    const std::string src_mark = "\x01" "source" "\x01", before_mark = "\x01" "before" "\x01", dem_mark = "\x01" "dem" "\x01";
    replace_all((fs::path(opt.output_root) / w.id).string(), "<request outputs>");
    replace_all(w.req.source, src_mark);
    replace_all(w.req.job.segment.before_uri, before_mark);
    replace_all(w.req.job.segment.dem_uri, dem_mark);
    replace_all(opt.output_root, "<output-root>");
    for (const auto& r : policy.roots()) replace_all(r, "<input-root>");
    replace_all(src_mark, w.req.image_uri);
    replace_all(before_mark, w.req.given("before_uri"));
    replace_all(dem_mark, w.req.given("dem_uri"));
    return msg;
  }

  // Whether `uri` (as a raster was opened) is one of the request's local inputs. A remote
  // input's read failure may be the network's, worth a retry: it stays a 500.
  bool is_local_input(const std::string& uri, const Work& w) const {
    try {
      if (uri.empty() || !io::is_local(uri)) return false;
      for (const std::string* in : {&w.req.source, &w.req.job.segment.before_uri, &w.req.job.segment.dem_uri})
        if (!in->empty() && io::is_local(*in) && io::to_gdal_path(*in) == io::to_gdal_path(uri)) return true;
    } catch (const Error&) {  // not a path (a malformed escape): not one of the checked inputs
    }
    return false;
  }

  std::exception_ptr redacted(const std::exception_ptr& e, const Work& w) const {
    try {
      std::rethrow_exception(e);
    } catch (const Error& err) {
      std::string m = err.what();
      const std::string prefix = err.stage() + ": ";
      if (m.rfind(prefix, 0) == 0) m = m.substr(prefix.size());
      // A read of the client's own input that fails (a truncated or corrupt file) is the
      // input's fault: 422, never a 500 that clients retry. Other files' (the server's own
      // staged or output rasters) stay I/O errors.
      if (const auto* read = dynamic_cast<const io::ReadError*>(&err); read && is_local_input(read->uri(), w))
        return std::make_exception_ptr(Error(
            ErrorKind::InvalidInput, "io",
            redact("the input " + quoted(read->uri()) + " cannot be read (truncated or corrupt?): " + m, w)));
      return std::make_exception_ptr(Error(err.kind(), err.stage(), redact(m, w)));
    } catch (const std::exception& err) {
      return std::make_exception_ptr(Error(ErrorKind::Internal, "serve", "internal error: " + redact(err.what(), w)));
    } catch (...) {
      return std::make_exception_ptr(Error(ErrorKind::Internal, "serve", "internal error"));
    }
  }

  // Refuses new work while the output disk is nearly full: a run that fills it fails late and
  // takes the job store's disk with it.
  void require_free_space() const {
    std::error_code ec;
    const auto sp = fs::space(opt.output_root, ec);
    if (ec) return;  // unknown: let the run find out
    const uint64_t free_mb = uint64_t(sp.available / (1024 * 1024));
    if (free_mb < opt.min_free_mb)
      throw Error(ErrorKind::NoSpace, "serve",
                  fmt::format("the server's output disk has {} MiB free, below its {} MiB floor; retry later", free_mb,
                              opt.min_free_mb));
  }

  // A request as the job store keeps it: a large AOI or explain region by its SHA-256 and
  // size, not its text (failed jobs with big AOIs grew the store by a megabyte each).
  static nlohmann::json stored_request(const SegmentRequest& r) {
    nlohmann::json j = r.to_json();
    for (const auto& opt : pipeline::job_options()) {
      auto& o = j["options"];
      if (opt.api_form != pipeline::ApiForm::GeoJson || !o.contains(opt.key)) continue;
      const std::string text = core::dump_json(o[opt.key]);
      if (text.size() > 4096) o[opt.key] = {{"sha256", core::sha256_hex(text)}, {"bytes", text.size()}};
    }
    return j;
  }

  // Removes what runs that died with a previous server left behind (folders of jobs that were
  // running, folders of requests with half-written outputs, explain-region scratch files).
  void clean_after_crash(const std::vector<std::string>& recovered) {
    std::error_code ec;
    for (const auto& id : recovered)
      if (plain_id(id)) fs::remove_all(fs::path(opt.output_root) / id, ec);
    for (const auto& e : fs::directory_iterator(opt.output_root, ec)) {
      const std::string name = e.path().filename().string();
      const std::string suffix = ".explain_region.geojson";
      if (name.size() == 1 + 32 + suffix.size() && name[0] == '.' && plain_id(name.substr(1, 32)) &&
          name.compare(33, suffix.size(), suffix) == 0) {
        fs::remove(e.path(), ec);
        continue;
      }
      if (!plain_id(name) || !e.is_directory(ec)) continue;
      bool half_written = false;
      for (const auto& f : fs::directory_iterator(e.path(), ec))
        half_written = half_written || f.path().filename().string().rfind(".", 0) == 0;
      if (half_written) {
        core::log().warn("serve: removing {}: a run that did not finish left it half-written", name);
        fs::remove_all(e.path(), ec);
      }
    }
  }

  // Retention: finished jobs and request folders older than keep_jobs_days go, rows and files.
  // At most once a minute (force: now); never a folder of a queued or running job.
  void sweep(bool force) {
    if (!(opt.keep_jobs_days > 0)) return;
    {
      std::lock_guard<std::mutex> lk(sweep_m);
      if (!force && Clock::now() - last_sweep < std::chrono::minutes(1)) return;
      last_sweep = Clock::now();
    }
    const auto cutoff = std::chrono::system_clock::now() -
                        std::chrono::duration_cast<std::chrono::system_clock::duration>(
                            std::chrono::duration<double>(opt.keep_jobs_days * 86400.0));
    std::error_code ec;
    int removed = 0;
    for (const auto& id : store->purge_finished_before(core::utc_iso(cutoff))) {
      if (plain_id(id)) removed += fs::remove_all(fs::path(opt.output_root) / id, ec) > 0;
    }
    const auto file_cutoff = fs::file_time_type::clock::now() - (std::chrono::system_clock::now() - cutoff);
    for (const auto& e : fs::directory_iterator(opt.output_root, ec)) {
      const std::string name = e.path().filename().string();
      if (!plain_id(name) || !e.is_directory(ec)) continue;
      if (fs::last_write_time(e.path(), ec) >= file_cutoff || ec) continue;
      if (auto row = store->get(name); row && (row->status == JobStatus::queued || row->status == JobStatus::running)) continue;
      removed += fs::remove_all(e.path(), ec) > 0;
    }
    if (removed) core::log().info("serve: removed {} request folder(s) older than {:g} days", removed, opt.keep_jobs_days);
  }

  // A checked request with its deadline starting now (Usage / Forbidden / NotFound otherwise).
  Work make_work(const nlohmann::json& body, const std::string& id, bool is_job) const {
    if (!plain_id(id)) throw Error(ErrorKind::Internal, "serve", "request ids are 32 hex digits (new_request_id())");
    require_free_space();
    Work w;
    w.id = id;
    w.req = parse_segment_request(body, policy, limits);
    w.token = std::make_shared<core::CancelToken>(opt.timeout_s);
    w.is_job = is_job;
    return w;
  }

  // Queue the work or refuse it (Unavailable) without waiting.
  void enqueue(Work& w) {
    if (stopping) throw Error(ErrorKind::Unavailable, "serve", "the server is shutting down");
    if (!queue.try_push(w))  // also refused once shutdown() has closed the queue
      throw Error(ErrorKind::Unavailable, "serve",
                  fmt::format("busy: {} scene(s) running and {} waiting (the queue holds {}); retry later", busy.load(),
                              queue.size(), queue.capacity()));
  }
};

Service::Service(const ServiceOptions& o) : impl_(std::make_unique<Impl>(o)) {
  auto& s = *impl_;
  if (o.input_roots.empty()) throw Error(ErrorKind::Usage, "serve", "at least one --input-root is needed");
  if (o.output_root.empty()) throw Error(ErrorKind::Usage, "serve", "--output-root is needed");
  if (o.workers < 1 || o.workers > 256) throw Error(ErrorKind::Usage, "serve", "--workers must be in [1, 256]");
  if (o.queue < 1 || o.queue > 1000) throw Error(ErrorKind::Usage, "serve", "--queue must be in [1, 1000]");
  if (!(o.timeout_s > 0)) throw Error(ErrorKind::Usage, "serve", "--timeout must be > 0 seconds");
  core::ensure_writable_dir(o.output_root);
  s.opt.output_root = fs::canonical(o.output_root).string();
  for (const auto& r : s.policy.roots())
    if (fs::path(s.opt.output_root) == fs::path(r))
      throw Error(ErrorKind::Usage, "serve", "--output-root must not be an input root: " + quoted(r));
  const int threads = o.threads > 0 ? o.threads : core::available_cpus();
  s.threads_per_worker = std::max(1, threads / o.workers);
  // Models load once and are shared by every request. Every network runs single-threaded on
  // its own tiles (segment's model workers), so the process-wide torch thread count is 1.
  std::vector<std::string> ckpts = o.models;
  if (ckpts.empty()) ckpts = {infer::default_model_path("default"), infer::default_model_path("default_vv")};
  infer::ModelSetOptions mo;
  mo.water.threads = 1;
  mo.water.precision = infer::Precision::automatic;  // as segment: bf16 where this machine runs it faster
  s.models = std::make_unique<infer::ModelSet>(mo);
  std::set<std::string> seen;
  for (const auto& c : ckpts) {
    infer::PredictorParams pp = mo.water;
    pp.checkpoint = c;
    auto pred = std::make_unique<infer::Predictor>(pp);
    if (!seen.insert(pred->checkpoint_sha256()).second) continue;  // one model named twice
    fs::path path(pred->checkpoint_path());
    std::string name = path.parent_path().filename().string();
    if (name.empty() || path.filename() != "model.pt") name = path.stem().string();
    for (const auto& [taken, m] : s.models->registered())
      if (taken == name) name += "_" + pred->checkpoint_sha256().substr(0, 8);
    core::log().info("serve: model {} = {}", name, pred->describe());
    s.models->add(name, std::move(pred));
  }
  int multiple = 1;
  // Loaded now, so a request never waits for one: the change model, and a separate
  // permanent-water network for the models without their own head.
  infer::SegmentParams single_date, with_before;
  with_before.before_uri = "(any pre-event scene)";
  for (const auto& [name, m] : s.models->registered()) {
    s.limits.models.push_back(name);
    for (const infer::SegmentParams* p : {&single_date, &with_before}) {
      const infer::Predictor* t = s.models->type_for(*p, *m);
      if (!t) continue;
      multiple = std::max(multiple, t->input_multiple());
      core::log().info("serve: water type model for {}{}: {}", name, p == &with_before ? " with options.before_uri" : "",
                       t->describe());
    }
  }
  s.limits.tile_multiple = multiple;
  const std::string db = o.job_db.empty() ? s.opt.output_root + "/jobs.sqlite" : o.job_db;
  // The lock goes by the store's real path: a symlink to the database is the same store.
  std::error_code ec;
  const fs::path real_db = fs::weakly_canonical(db, ec);
  s.store_lock = std::make_unique<StoreLock>((ec ? db : real_db.string()) + ".lock");
  s.store = open_sqlite_job_store(db);
  // The server reads GeoTIFFs only, whatever a file turns into after its submit-time check.
  s.previous_drivers = io::restrict_raster_drivers({"GTiff"});
  const std::vector<std::string> recovered = s.store->recover();
  if (!recovered.empty())
    core::log().warn("serve: {} job(s) left queued or running by a previous server are now marked failed",
                     recovered.size());
  s.clean_after_crash(recovered);
  s.sweep(true);
  for (int k = 0; k < o.workers; ++k)
    s.workers.emplace_back([&s] {
      Work w;
      while (s.queue.pop(w)) s.run(std::move(w));
    });
}

Service::~Service() {
  shutdown();
  io::restrict_raster_drivers(impl_->previous_drivers);
}

nlohmann::json Service::segment(const nlohmann::json& body, const std::string& id) {
  auto& s = *impl_;
  Work w = s.make_work(body, id, false);
  w.done = std::make_shared<std::promise<nlohmann::json>>();
  auto result = w.done->get_future();
  auto token = w.token;
  s.enqueue(w);
  // The token's deadline stops the run at its next safe point; past a grace period the client
  // gets its 504 even if a long step (a COG conversion) has not reached one yet.
  const auto grace = std::chrono::duration<double>(s.opt.timeout_s + 10.0);
  if (result.wait_for(grace) != std::future_status::ready) {
    token->cancel("deadline passed");
    throw Error(ErrorKind::Timeout, "serve", fmt::format("did not finish within {:g} s", s.opt.timeout_s));
  }
  return result.get();
}

nlohmann::json Service::submit_job(const nlohmann::json& body, const std::string& id) {
  auto& s = *impl_;
  Work w = s.make_work(body, id, true);
  if (w.req.job.explain.enabled) {
    // The check opens the scene on this HTTP thread: bounded like the workers, or a burst of
    // job submissions would run unbounded work outside the queue.
    struct Slot {
      std::atomic<int>& n;
      ~Slot() { --n; }
    } slot{s.prechecks};
    if (++s.prechecks > s.opt.workers)
      throw Error(ErrorKind::Unavailable, "serve", "busy checking other jobs' explain options; retry later");
    try {
      s.precheck_explain(w.req, id);
    } catch (...) {
      std::rethrow_exception(s.redacted(std::current_exception(), w));
    }
  }
  s.store->create(id, s.stored_request(w.req));
  // The row exists before a worker can pick the job up; a refused job leaves no row behind
  // (a client hammering a full queue must not grow the store).
  nlohmann::json created = s.store->get(id)->to_json();
  try {
    s.enqueue(w);
  } catch (const Error&) {
    s.store->remove(id);
    throw;
  }
  return created;
}

std::optional<nlohmann::json> Service::job(const std::string& id) const {
  if (!plain_id(id)) return std::nullopt;
  auto r = impl_->store->get(id);
  if (!r) return std::nullopt;
  return r->to_json();
}

nlohmann::json Service::jobs(size_t limit) const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : impl_->store->list(limit)) {
    // A row of the list, not the whole result: the page polls this every few seconds.
    nlohmann::json j = r.to_json();
    j.erase("result");
    j["image_uri"] = r.request.is_object() ? r.request.value("image_uri", "") : "";
    if (r.status == JobStatus::done && r.result.is_object()) {
      const nlohmann::json stats = r.result.value("stats", nlohmann::json::object());
      const nlohmann::json fs_ = r.result.value("flood_summary", nlohmann::json::object());
      j["summary"] = {{"tiles", stats.value("tiles", 0)}, {"flood_km2", fs_.value("flood_km2", nlohmann::json(nullptr))}};
    }
    out.push_back(std::move(j));
  }
  return {{"jobs", out}};
}

namespace {

bool is_geotiff_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return ext == ".tif" || ext == ".tiff";
}

// Adds the GeoTIFFs under one root to `files` (real path inside the root, no hidden names).
// Returns false when the listing stopped at kMaxListedInputs.
bool list_root(const fs::path& root, nlohmann::json& files) {
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    const std::string name = p.filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_directory(ec)) {
      if (it.depth() + 1 >= kMaxInputDepth) it.disable_recursion_pending();
      continue;
    }
    if (!is_geotiff_name(p) || !it->is_regular_file(ec)) continue;
    const fs::path real = fs::weakly_canonical(p, ec);
    if (ec || real.lexically_relative(root).empty() || *real.lexically_relative(root).begin() == "..") continue;
    if (files.size() >= kMaxListedInputs) return false;
    files.push_back({{"uri", io::to_file_uri(p.string())},
                     {"name", p.lexically_relative(root).string()},
                     {"bytes", uint64_t(it->file_size(ec))}});
  }
  return true;
}

}  // namespace

nlohmann::json Service::input_files() const {
  nlohmann::json files = nlohmann::json::array();
  bool complete = true;
  for (const auto& r : impl_->policy.roots()) complete = complete && list_root(fs::path(r), files);
  std::sort(files.begin(), files.end(),
            [](const nlohmann::json& a, const nlohmann::json& b) { return a["uri"] < b["uri"]; });
  return {{"files", files}, {"truncated", !complete}};
}

std::optional<JobFiles> Service::job_files(const std::string& id, bool with_scene) const {
  const auto& s = *impl_;
  if (!plain_id(id)) return std::nullopt;
  auto r = s.store->get(id);
  if (!r || r->status != JobStatus::done || !r->result.is_object()) return std::nullopt;
  JobFiles f;
  f.id = id;
  f.folder = (fs::path(s.opt.output_root) / id).string();
  const nlohmann::json& outs = r->result.value("outputs", nlohmann::json::object());
  for (auto it = outs.begin(); it != outs.end(); ++it) {
    if (!it.value().is_string()) continue;
    std::string key = it.key();
    if (key.size() > 4 && key.compare(key.size() - 4, 4, "_uri") == 0) key.resize(key.size() - 4);
    std::error_code ec;
    const fs::path p = fs::weakly_canonical(io::to_gdal_path(it.value().get<std::string>()), ec);
    // Only files directly in the job's own folder: a tampered record cannot point elsewhere.
    if (ec || p.parent_path() != fs::path(f.folder) || !fs::is_regular_file(p, ec)) continue;
    f.outputs[key] = p.string();
  }
  f.threshold = r->result.value("provenance", nlohmann::json::object()).value("threshold", 0.5);
  try {
    if (r->request.is_object()) f.image_uri = r->request.value("image_uri", "");
    if (with_scene && !f.image_uri.empty()) f.scene = s.policy.resolve(f.image_uri);
  } catch (const Error&) {
    f.scene.clear();  // moved, removed or no longer allowed: the map has no backdrop
  }
  return f;
}

nlohmann::json Service::models() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [name, m] : impl_->models->registered()) {
    const auto& p = *m;
    out.push_back({{"name", name},
                   {"checkpoint_sha256", p.checkpoint_sha256()},
                   {"arch", p.arch()},
                   {"bands", p.preprocess().bands},
                   {"needs_vh", p.preprocess().needs_vh()},
                   {"tile_multiple", p.input_multiple()},
                   {"explain_layers", p.explain_layers()},
                   {"calibration",
                    {{"temperature", p.temperature()}, {"threshold", p.threshold()}, {"source", p.calibration_source()}}},
                   {"meta", p.meta()}});
  }
  return {{"models", out}};
}

nlohmann::json Service::health() const {
  const auto& s = *impl_;
  nlohmann::json names = nlohmann::json::array();
  for (const auto& [name, m] : s.models->registered()) names.push_back(name);
  return {{"status", s.stopping ? "stopping" : "ok"},
          {"models_loaded", names},
          {"workers", s.opt.workers},
          {"running", s.busy.load()},
          {"queue", {{"waiting", s.queue.size()}, {"capacity", s.queue.capacity()}}}};
}

int Service::retry_after_s() const {
  std::lock_guard<std::mutex> lk(impl_->stats_m);
  const double per_slot = impl_->mean_run_s * double(impl_->queue.size() + 1) / double(impl_->opt.workers);
  return std::clamp(int(std::ceil(per_slot)), 1, 600);
}

void Service::shutdown(const std::string& reason) {
  auto& s = *impl_;
  std::call_once(s.shutdown_once, [&] {
    {
      std::lock_guard<std::mutex> lk(s.running_m);
      s.stop_reason = reason;
      s.stopping = true;
      for (const auto& t : s.running) t->cancel(reason);
    }
    const auto left = s.queue.close_and_drain();  // nothing can be queued after this
    for (const auto& w : left) {
      const auto e = std::make_exception_ptr(Error(ErrorKind::Unavailable, "serve", reason + "; not started"));
      if (w.is_job)
        s.store->set_failed(w.id, error_json(e));
      else
        w.done->set_exception(e);
    }
    for (auto& t : s.workers)
      if (t.joinable()) t.join();
    if (!left.empty() || s.busy)
      core::log().info("serve: {} queued request(s) failed at shutdown", left.size());
  });
}

}  // namespace drshym::serve
