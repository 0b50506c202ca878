#pragma once
// Cooperative interruption for long jobs. The CLI installs a SIGINT/SIGTERM handler that only
// raises a flag; loops call check_interrupted() at safe points, which throws
// Error(Interrupted) so that RAII (OutputSet) removes everything written so far. A second
// signal while the first is being honoured terminates at once (the default action).
#include <string>

namespace drshym::core {

void install_interrupt_handler();
bool interrupted();
// Throws Error(ErrorKind::Interrupted, stage, "interrupted ...") when a signal arrived.
void check_interrupted(const std::string& stage);
// For tests and embedding (e.g. an API request being cancelled): raise or clear the flag.
void request_interrupt();
void clear_interrupt();

}  // namespace drshym::core
