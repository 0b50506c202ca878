#include "core/cancel.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/interrupt.hpp"

namespace drshym::core {

CancelToken::CancelToken(double seconds) {
  if (seconds > 0) {
    has_deadline_ = true;
    seconds_ = seconds;
    deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  }
}

void CancelToken::cancel(const std::string& reason) {
  std::lock_guard<std::mutex> lk(m_);
  if (!cancelled_.load()) reason_ = reason;
  cancelled_.store(true);
}

bool CancelToken::expired() const { return has_deadline_ && Clock::now() >= deadline_; }

void CancelToken::check(const std::string& stage) const {
  if (cancelled_.load()) {
    std::lock_guard<std::mutex> lk(m_);
    throw Error(ErrorKind::Unavailable, stage, "cancelled: " + reason_ + "; partial outputs removed");
  }
  if (expired())
    throw Error(ErrorKind::Timeout, stage,
                fmt::format("did not finish within {:g} s; partial outputs removed", seconds_));
}

void check_cancelled(const CancelToken* token, const std::string& stage) {
  check_interrupted(stage);
  if (token) token->check(stage);
}

}  // namespace drshym::core
