#pragma once
// Filesystem helpers that keep the promise "nothing half-written under a final name":
// outputs are written to a temporary sibling and renamed into place when complete, and an
// OutputSet removes everything it committed if the operation fails before finish().
#include <string>
#include <vector>

namespace drshym::core {

// "<dir>/.<name>.tmp-<pid>": a sibling temporary name on the same filesystem (rename is atomic).
std::string temp_path_for(const std::string& final_path);

// Write text to path atomically (temp + rename). Throws Io naming the path.
void write_text_file_atomic(const std::string& path, const std::string& text);

// Create dir (and parents) and verify we can write into it; throws Io naming it otherwise.
void ensure_writable_dir(const std::string& dir);

// Tracks the outputs of one operation. Stage each output with temp(final) and write to the
// returned temporary path; commit(final) renames it into place, moving any file already there
// aside. If the OutputSet is destroyed before finish(), every committed file and every pending
// temporary is removed and the files moved aside are put back: a failed rerun into the same
// folder leaves the previous run's outputs as they were.
class OutputSet {
 public:
  OutputSet() = default;
  OutputSet(const OutputSet&) = delete;
  OutputSet& operator=(const OutputSet&) = delete;
  ~OutputSet();

  // Returns the temporary path to write final_path's content to (the same one if asked again).
  std::string temp(const std::string& final_path);
  // Rename the temporary for final_path into place.
  void commit(const std::string& final_path);
  // Record a file written directly under its final name (removed on failure).
  void adopt(const std::string& final_path);
  // Keep everything; after this the destructor removes nothing.
  void finish();
  const std::vector<std::string>& committed() const { return committed_; }

 private:
  std::vector<std::pair<std::string, std::string>> pending_;  // final, temp
  std::vector<std::string> committed_;
  std::vector<std::pair<std::string, std::string>> replaced_;  // final, the earlier file moved aside
  bool finished_ = false;
};

}  // namespace drshym::core
