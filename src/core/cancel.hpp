#pragma once
// Cancellation of one piece of work (an API request, a job), beside the process-wide interrupt
// flag (core/interrupt.hpp): a token carries a "cancel now" flag and an optional deadline.
// Long loops call check() at safe points; it throws Error(Interrupted) when the process got a
// signal, Error(Unavailable) when the token was cancelled, Error(Timeout) past the deadline,
// so that RAII (OutputSet) removes everything written so far.
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>

namespace drshym::core {

class CancelToken {
 public:
  using Clock = std::chrono::steady_clock;
  CancelToken() = default;
  // A token whose deadline is `seconds` from now (<= 0: no deadline).
  explicit CancelToken(double seconds);

  void cancel(const std::string& reason);
  bool cancelled() const { return cancelled_.load(); }
  bool expired() const;
  // Throws as described above; `stage` starts the message ("segment: ...").
  void check(const std::string& stage) const;

 private:
  std::atomic<bool> cancelled_{false};
  mutable std::mutex m_;
  std::string reason_;
  bool has_deadline_ = false;
  Clock::time_point deadline_{};
  double seconds_ = 0;
};

// check_interrupted(stage) and, when token is not null, token->check(stage).
void check_cancelled(const CancelToken* token, const std::string& stage);

}  // namespace drshym::core
