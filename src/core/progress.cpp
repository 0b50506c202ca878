#include "core/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace drshym::core {

Progress::Progress(std::string label, int64_t total, int force)
    : label_(std::move(label)), total_(total) {
  enabled_ = force >= 0 ? force == 1 : ::isatty(STDERR_FILENO) == 1;
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() { finish(); }

void Progress::advance(int64_t n, const std::string& suffix) {
  done_ += n;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (done_ < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw(suffix);
}

void Progress::draw(const std::string& suffix) {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = secs > 0 ? done_ / secs : 0.0;
  double eta = rate > 0 ? (total_ - done_) / rate : 0.0;
  const int width = 30;
  int filled = total_ > 0 ? int(width * double(done_) / double(total_)) : width;
  std::string bar(filled, '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "\r%s [%s] %lld/%lld %.1f/s ETA %.0fs %s\033[K", label_.c_str(), bar.c_str(),
               (long long)done_, (long long)total_, rate, eta, suffix.c_str());
  std::fflush(stderr);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) std::fprintf(stderr, "\n");
}

}  // namespace drshym::core
