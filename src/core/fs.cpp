#include "core/fs.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"

namespace fs = std::filesystem;

namespace drshym::core {

std::string temp_path_for(const std::string& final_path) {
  fs::path p(final_path);
  fs::path dir = p.parent_path();
  std::string name = "." + p.filename().string() + ".tmp-" + std::to_string(::getpid());
  return (dir / name).string();
}

void write_text_file_atomic(const std::string& path, const std::string& text) {
  std::string tmp = temp_path_for(path);
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) throw Error(ErrorKind::Io, "fs", "cannot write " + quoted(path));
    out << text;
    out.close();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw Error(ErrorKind::Io, "fs", "failed writing " + quoted(path));
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    const std::string why = ec.message();  // before remove() reuses (and clears) ec
    fs::remove(tmp, ec);
    throw Error(ErrorKind::Io, "fs", "cannot rename into " + quoted(path) + ": " + why);
  }
}

void ensure_writable_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw Error(ErrorKind::Io, "fs",
                "cannot create output folder " + quoted(dir) + (ec ? ": " + ec.message() : ""));
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw Error(ErrorKind::Io, "fs", "output folder " + quoted(dir) + " is not writable");
}

OutputSet::~OutputSet() {
  if (finished_) return;
  std::error_code ec;
  for (auto& [final_path, tmp] : pending_) fs::remove(tmp, ec);
  for (auto& f : committed_) fs::remove(f, ec);
  // Put back what this operation renamed over, newest first: a failed rerun leaves the folder
  // exactly as the previous run left it.
  for (auto it = replaced_.rbegin(); it != replaced_.rend(); ++it) fs::rename(it->second, it->first, ec);
}

std::string OutputSet::temp(const std::string& final_path) {
  for (const auto& [f, t] : pending_)
    if (f == final_path) return t;  // already staged: the same temporary
  std::string t = temp_path_for(final_path);
  pending_.emplace_back(final_path, t);
  return t;
}

void OutputSet::commit(const std::string& final_path) {
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (it->first != final_path) continue;
    std::error_code ec;
    // A file already under the final name (an earlier run's) is moved aside, not overwritten,
    // until finish(): if this operation fails later, it comes back.
    std::string backup;
    if (fs::exists(fs::symlink_status(final_path, ec))) {
      backup = temp_path_for(final_path + ".previous");
      fs::rename(final_path, backup, ec);
      if (ec)
        throw Error(ErrorKind::Io, "fs", "cannot move the existing " + quoted(final_path) + " aside: " + ec.message());
      replaced_.emplace_back(final_path, backup);
    }
    fs::rename(it->second, final_path, ec);
    if (ec) {
      std::error_code ignored;
      if (!backup.empty()) {
        fs::rename(backup, final_path, ignored);
        replaced_.pop_back();
      }
      throw Error(ErrorKind::Io, "fs", "cannot rename into " + quoted(final_path) + ": " + ec.message());
    }
    committed_.push_back(final_path);
    pending_.erase(it);
    return;
  }
  throw Error(ErrorKind::Internal, "fs", "commit of unstaged output " + quoted(final_path));
}

void OutputSet::adopt(const std::string& final_path) { committed_.push_back(final_path); }

void OutputSet::finish() {
  std::error_code ec;
  for (auto& [final_path, tmp] : pending_) fs::remove(tmp, ec);
  for (auto& [final_path, backup] : replaced_) fs::remove(backup, ec);
  pending_.clear();
  replaced_.clear();
  finished_ = true;
}

}  // namespace drshym::core
