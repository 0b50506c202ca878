#pragma once
// A progress bar for long work: drawn on stderr when it is a terminal (done/total, rate, ETA),
// silent otherwise so logs and CI output stay clean.
#include <chrono>
#include <cstdint>
#include <string>

namespace drshym::core {

class Progress {
 public:
  // force: true/false overrides terminal detection (tests); -1 = auto.
  Progress(std::string label, int64_t total, int force = -1);
  ~Progress();
  void advance(int64_t n = 1, const std::string& suffix = "");
  void finish();
  int64_t done() const { return done_; }

 private:
  void draw(const std::string& suffix);
  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace drshym::core
