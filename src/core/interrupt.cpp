#include "core/interrupt.hpp"

#include <atomic>
#include <csignal>

#include "core/error.hpp"

namespace drshym::core {
namespace {

std::atomic<int> g_signal{0};

extern "C" void on_signal(int sig) {
  if (g_signal.exchange(sig) != 0) {
    std::signal(sig, SIG_DFL);  // second signal: give up waiting for a safe point
    std::raise(sig);
  }
}

}  // namespace

void install_interrupt_handler() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

bool interrupted() { return g_signal.load() != 0; }

void check_interrupted(const std::string& stage) {
  if (int sig = g_signal.load())
    throw Error(ErrorKind::Interrupted, stage,
                "interrupted by signal " + std::to_string(sig) + "; partial outputs removed");
}

void request_interrupt() { g_signal.store(SIGINT); }
void clear_interrupt() { g_signal.store(0); }

}  // namespace drshym::core
