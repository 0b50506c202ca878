#pragma once
// The work behind the HTTP API, free of HTTP: models loaded once and shared by every request,
// a bounded queue, `workers` scenes running at once, per-request deadlines, and the job store.
// Each request runs infer::segment_scene (the same entry point as `drshym segment`) into a
// fresh folder under the output root.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/job_store.hpp"
#include "serve/request.hpp"

namespace drshym::serve {

struct ServiceOptions {
  std::vector<std::string> input_roots;     // at least one
  std::vector<std::string> allow_remote;    // http(s)/s3 prefixes; empty: local files only
  std::string output_root;                  // created if missing
  std::string job_db;                       // default: <output_root>/jobs.sqlite
  std::vector<std::string> models;          // checkpoints; empty: the embedded default models
  int workers = 1;                          // scenes running at once
  int queue = 8;                            // scenes waiting (>= 1); beyond that requests get 503
  int threads = 0;                          // CPU threads for all workers (0 = available cores)
  double timeout_s = 900;                   // per request, from acceptance (queue wait included)
  // Finished jobs (rows and output folders) and request folders older than this many days are
  // removed, at start-up and then at most once a minute as requests finish; 0 keeps everything.
  double keep_jobs_days = 30;
  // New requests are refused (507) while the output disk has less free space than this.
  uint64_t min_free_mb = 1024;
};

// 128 random bits as 32 hex digits: request ids, job ids and output folder names.
std::string new_request_id();

// What the map page of a finished job reads: its outputs (only files inside its own folder)
// and the scene it mapped (the backdrop).
struct JobFiles {
  std::string id;
  std::string folder;                          // <output-root>/<id>
  std::map<std::string, std::string> outputs;  // "mask", "proba", "classes", "geojson", ... → file
  std::string image_uri;  // as the client gave it
  std::string scene;      // image_uri resolved again by the input policy; "" when gone
  double threshold = 0.5; // the flood threshold the job used
};

// Limits of GET /v1/inputs: files listed at most, and folder depth under a root.
inline constexpr size_t kMaxListedInputs = 500;
inline constexpr int kMaxInputDepth = 4;

class Service {
 public:
  explicit Service(const ServiceOptions& o);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // POST /v1/segment: queue, wait, return the response body. Throws drshym::Error: Usage /
  // Forbidden / NotFound before queueing; Unavailable when the queue is full or the server is
  // stopping; Timeout past the deadline; whatever segment_scene threw otherwise.
  // id: the request's id (new_request_id()); it names the output folder and the job.
  nlohmann::json segment(const nlohmann::json& body, const std::string& id);
  // POST /v1/jobs: checked and queued (or Unavailable); returns the new job's body.
  nlohmann::json submit_job(const nlohmann::json& body, const std::string& id);
  // GET /v1/jobs/{id}; nullopt when unknown.
  std::optional<nlohmann::json> job(const std::string& id) const;
  // GET /v1/jobs: the newest `limit` jobs, newest first, each as GET /v1/jobs/{id} without the
  // result, with its image_uri and, when done, "summary": {"tiles", "flood_km2"}; {"jobs": [...]}.
  nlohmann::json jobs(size_t limit) const;
  // GET /v1/inputs: the GeoTIFFs (.tif, .tiff) under the input roots, as file:// URIs a request
  // may name, sorted; at most kMaxListedInputs, kMaxInputDepth folders deep, no hidden files, no
  // symlink that leads out of its root. {"files": [{"uri", "name", "bytes"}], "truncated"}.
  nlohmann::json input_files() const;
  // The files of a done job; nullopt when the id is unknown, malformed or not done. The scene is
  // resolved (a file check) only with_scene; JobFiles::scene stays "" otherwise.
  std::optional<JobFiles> job_files(const std::string& id, bool with_scene = true) const;
  nlohmann::json models() const;    // GET /v1/models
  nlohmann::json health() const;    // GET /healthz
  // Stop taking work: queued work fails with Unavailable, running work is cancelled (its
  // outputs rolled back). Blocks until the workers have stopped. Idempotent.
  void shutdown(const std::string& reason = "the server is shutting down");
  int retry_after_s() const;        // what a 503 tells clients

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace drshym::serve
