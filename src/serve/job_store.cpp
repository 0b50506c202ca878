#include "serve/job_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <mutex>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/text.hpp"

namespace drshym::serve {
namespace {

std::string utc_now() { return core::utc_now_iso(); }

nlohmann::json parse_or_null(const unsigned char* text) {
  if (!text) return nullptr;
  return nlohmann::json::parse(reinterpret_cast<const char*>(text), nullptr, false);
}

class SqliteJobStore final : public JobStore {
 public:
  explicit SqliteJobStore(const std::string& path) : path_(path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
      std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      db_ = nullptr;
      throw Error(ErrorKind::Io, "serve", "cannot open job store " + quoted(path) + ": " + why);
    }
    sqlite3_busy_timeout(db_, 5000);
    try {
      exec("PRAGMA journal_mode=WAL");
      exec("PRAGMA synchronous=NORMAL");
      exec("CREATE TABLE IF NOT EXISTS jobs ("
           " id TEXT PRIMARY KEY, status TEXT NOT NULL, stage TEXT NOT NULL DEFAULT '',"
           " fraction REAL NOT NULL DEFAULT 0, request TEXT NOT NULL, result TEXT, error TEXT,"
           " created_at TEXT NOT NULL, updated_at TEXT NOT NULL)");
    } catch (...) {
      sqlite3_close(db_);
      db_ = nullptr;
      throw;
    }
  }
  ~SqliteJobStore() override { sqlite3_close(db_); }

  void create(const std::string& id, const nlohmann::json& request) override {
    const std::string now = utc_now();
    run("INSERT INTO jobs (id, status, request, created_at, updated_at) VALUES (?, 'queued', ?, ?, ?)",
        {id, core::dump_json(request), now, now});
  }
  void set_running(const std::string& id) override {
    run("UPDATE jobs SET status='running', updated_at=? WHERE id=? AND status='queued'", {utc_now(), id});
  }
  void set_progress(const std::string& id, const std::string& stage, double fraction) override {
    std::lock_guard<std::mutex> lk(m_);
    sqlite3_stmt* st = prepare("UPDATE jobs SET stage=?, fraction=?, updated_at=? WHERE id=? AND status='running'");
    const std::string now = utc_now();
    sqlite3_bind_text(st, 1, stage.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 2, fraction);
    sqlite3_bind_text(st, 3, now.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, id.c_str(), -1, SQLITE_TRANSIENT);
    step_done(st);
  }
  void set_done(const std::string& id, const nlohmann::json& result) override {
    run("UPDATE jobs SET status='done', stage='record', fraction=1, result=?, updated_at=? WHERE id=? AND "
        "status='running'",
        {core::dump_json(result), utc_now(), id});
  }
  void set_failed(const std::string& id, const nlohmann::json& error) override {
    run("UPDATE jobs SET status='failed', error=?, updated_at=? WHERE id=? AND status IN ('queued', 'running')",
        {core::dump_json(error), utc_now(), id});
  }
  void remove(const std::string& id) override {
    run("DELETE FROM jobs WHERE id=? AND status='queued'", {id});
  }
  std::optional<JobRecord> get(const std::string& id) const override {
    std::lock_guard<std::mutex> lk(m_);
    sqlite3_stmt* st = prepare((std::string(kSelect) + " WHERE id=?").c_str());
    sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    std::optional<JobRecord> out;
    const int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      out = row(st);
    } else if (rc != SQLITE_DONE) {
      fail_stmt(st, "read");
    }
    sqlite3_finalize(st);
    return out;
  }
  std::vector<JobRecord> list(size_t limit) const override {
    std::lock_guard<std::mutex> lk(m_);
    sqlite3_stmt* st = prepare((std::string(kSelect) + " ORDER BY created_at DESC, rowid DESC LIMIT ?").c_str());
    sqlite3_bind_int64(st, 1, sqlite3_int64(std::min<size_t>(limit, 1000000)));
    std::vector<JobRecord> out;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) out.push_back(row(st));
    if (rc != SQLITE_DONE) fail_stmt(st, "read");
    sqlite3_finalize(st);
    return out;
  }
  std::vector<std::string> recover() override {
    const std::string now = utc_now();
    const nlohmann::json running = {
        {"code", to_string(ErrorKind::Interrupted)},
        {"message", "the server stopped while this job was running; its partial outputs were removed"}};
    const nlohmann::json queued = {{"code", to_string(ErrorKind::Interrupted)},
                                   {"message", "the server stopped before this job started; submit it again"}};
    std::lock_guard<std::mutex> lk(m_);
    std::vector<std::string> ids;
    for (const auto& [status, err] : {std::pair<const char*, const nlohmann::json&>{"running", running},
                                      std::pair<const char*, const nlohmann::json&>{"queued", queued}}) {
      for (auto& id : ids_where("SELECT id FROM jobs WHERE status=?", status)) ids.push_back(std::move(id));
      sqlite3_stmt* st = prepare("UPDATE jobs SET status='failed', error=?, updated_at=? WHERE status=?");
      const std::string e = err.dump();
      sqlite3_bind_text(st, 1, e.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 2, now.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 3, status, -1, SQLITE_TRANSIENT);
      step_done(st);
    }
    return ids;
  }
  std::vector<std::string> purge_finished_before(const std::string& before_utc) override {
    std::lock_guard<std::mutex> lk(m_);
    const char* where = "status IN ('done', 'failed') AND updated_at < ?";
    std::vector<std::string> ids = ids_where(std::string("SELECT id FROM jobs WHERE ") + where, before_utc);
    sqlite3_stmt* st = prepare((std::string("DELETE FROM jobs WHERE ") + where).c_str());
    sqlite3_bind_text(st, 1, before_utc.c_str(), -1, SQLITE_TRANSIENT);
    step_done(st);
    return ids;
  }

 private:
  static constexpr const char* kSelect =
      "SELECT id, status, stage, fraction, request, result, error, created_at, updated_at FROM jobs";
  // The record of the row a kSelect statement stands on.
  static JobRecord row(sqlite3_stmt* st) {
    auto text = [&](int col) {
      const unsigned char* t = sqlite3_column_text(st, col);
      return t ? std::string(reinterpret_cast<const char*>(t)) : std::string();
    };
    JobRecord r;
    r.id = text(0);
    r.status = parse_job_status(text(1));
    r.stage = text(2);
    r.fraction = sqlite3_column_double(st, 3);
    r.request = parse_or_null(sqlite3_column_text(st, 4));
    r.result = parse_or_null(sqlite3_column_text(st, 5));
    r.error = parse_or_null(sqlite3_column_text(st, 6));
    r.created_at = text(7);
    r.updated_at = text(8);
    return r;
  }
  // Ids of the rows a one-parameter SELECT id ... returns (the lock is held by the caller).
  std::vector<std::string> ids_where(const std::string& sql, const std::string& param) const {
    sqlite3_stmt* st = prepare(sql.c_str());
    sqlite3_bind_text(st, 1, param.c_str(), -1, SQLITE_TRANSIENT);
    std::vector<std::string> ids;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(st, 0);
      if (t) ids.emplace_back(reinterpret_cast<const char*>(t));
    }
    if (rc != SQLITE_DONE) fail_stmt(st, "read");
    sqlite3_finalize(st);
    return ids;
  }
  void exec(const char* sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
      std::string why = msg ? msg : "?";
      sqlite3_free(msg);
      throw Error(ErrorKind::Io, "serve", "job store " + quoted(path_) + ": " + why);
    }
  }
  sqlite3_stmt* prepare(const char* sql) const {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) != SQLITE_OK)
      throw Error(ErrorKind::Internal, "serve", std::string("job store: ") + sqlite3_errmsg(db_));
    return st;
  }
  [[noreturn]] void fail_stmt(sqlite3_stmt* st, const char* what) const {
    std::string why = sqlite3_errmsg(db_);
    sqlite3_finalize(st);
    throw Error(ErrorKind::Io, "serve", "job store " + quoted(path_) + ": " + what + " failed: " + why);
  }
  void step_done(sqlite3_stmt* st) const {
    if (sqlite3_step(st) != SQLITE_DONE) fail_stmt(st, "write");
    sqlite3_finalize(st);
  }
  // A statement whose parameters are all text.
  void run(const char* sql, std::initializer_list<std::string> params) {
    std::lock_guard<std::mutex> lk(m_);
    sqlite3_stmt* st = prepare(sql);
    int i = 1;
    for (const auto& v : params) sqlite3_bind_text(st, i++, v.c_str(), -1, SQLITE_TRANSIENT);
    step_done(st);
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  mutable std::mutex m_;
};

}  // namespace

const char* to_string(JobStatus s) {
  switch (s) {
    case JobStatus::queued: return "queued";
    case JobStatus::running: return "running";
    case JobStatus::done: return "done";
    case JobStatus::failed: return "failed";
  }
  return "failed";
}

JobStatus parse_job_status(const std::string& s) {
  for (JobStatus v : {JobStatus::queued, JobStatus::running, JobStatus::done, JobStatus::failed})
    if (s == to_string(v)) return v;
  throw Error(ErrorKind::Io, "jobs", "the job store holds a job with an unknown status " + quoted(s));
}

nlohmann::json JobRecord::to_json() const {
  nlohmann::json j = {{"id", id},
                      {"status", to_string(status)},
                      {"progress", {{"stage", stage}, {"fraction", fraction}}},
                      {"created_at", created_at},
                      {"updated_at", updated_at}};
  if (status == JobStatus::done) j["result"] = result;
  if (status == JobStatus::failed) j["error"] = error;
  return j;
}

std::unique_ptr<JobStore> open_sqlite_job_store(const std::string& path) {
  return std::make_unique<SqliteJobStore>(path);
}

}  // namespace drshym::serve
