#pragma once
// Where asynchronous jobs live. A small interface, so a networked store can replace the
// embedded SQLite one; the server only ever talks to JobStore.
//   status: queued → running → done | failed
// A restart keeps every finished job; recover() turns jobs that were queued or running when
// the previous server stopped into `failed` (they would otherwise show `running` forever).
// Transitions only move forward: a finished job (done or failed) never changes again.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace drshym::serve {

enum class JobStatus { queued, running, done, failed };
const char* to_string(JobStatus s);              // the word stored and served: "queued", ...
JobStatus parse_job_status(const std::string& s);  // Io error for a word the store never writes

struct JobRecord {
  std::string id;
  JobStatus status = JobStatus::queued;
  std::string stage;           // segment stage while running (infer::kSegmentStages)
  double fraction = 0;         // of that stage
  nlohmann::json request;      // the normalized request
  nlohmann::json result;       // the /v1/segment body when done
  nlohmann::json error;        // {"code", "message"} when failed
  std::string created_at, updated_at;  // UTC, ISO 8601
  nlohmann::json to_json() const;      // the GET /v1/jobs/{id} body
};

class JobStore {
 public:
  virtual ~JobStore() = default;
  virtual void create(const std::string& id, const nlohmann::json& request) = 0;
  virtual void set_running(const std::string& id) = 0;
  virtual void set_progress(const std::string& id, const std::string& stage, double fraction) = 0;
  virtual void set_done(const std::string& id, const nlohmann::json& result) = 0;
  virtual void set_failed(const std::string& id, const nlohmann::json& error) = 0;
  virtual std::optional<JobRecord> get(const std::string& id) const = 0;
  // The newest `limit` jobs (by created_at, then insertion order), newest first.
  virtual std::vector<JobRecord> list(size_t limit) const = 0;
  // Forgets a job that was never queued (refused with 503).
  virtual void remove(const std::string& id) = 0;
  // Jobs left queued or running by a previous process become failed; returns their ids (the
  // caller removes what they left in their output folders).
  virtual std::vector<std::string> recover() = 0;
  // Forgets finished (done or failed) jobs last updated before `before_utc` (ISO 8601, as
  // created_at); returns their ids so their folders can go too.
  virtual std::vector<std::string> purge_finished_before(const std::string& before_utc) = 0;
};

// SQLite file (created if missing; ":memory:" for a throwaway store). Thread-safe.
std::unique_ptr<JobStore> open_sqlite_job_store(const std::string& path);

}  // namespace drshym::serve
