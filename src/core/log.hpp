#pragma once
// Logging: one spdlog logger named "drshym" writing to stderr, so stdout stays for data.
#include <spdlog/spdlog.h>

namespace drshym::core {

// The project logger (created on first use).
spdlog::logger& log();

// "trace" | "debug" | "info" | "warn" | "error" | "off"; unknown names throw a Usage error.
void set_log_level(const std::string& level);

}  // namespace drshym::core
