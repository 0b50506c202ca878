#pragma once
#include <chrono>
// Logging: one spdlog logger named "drshym" writing to stderr, so stdout stays for data.
#include <spdlog/spdlog.h>

namespace drshym::core {

// The project logger (created on first use).
spdlog::logger& log();

// "trace" | "debug" | "info" | "warn" | "error" | "off"; unknown names throw a Usage error.
void set_log_level(const std::string& level);

// The current UTC time as ISO 8601 with milliseconds: "2026-11-25T06:01:02.345Z".
std::string utc_now_iso();
// The same for any time point (e.g. a retention cut-off).
std::string utc_iso(std::chrono::system_clock::time_point t);

}  // namespace drshym::core
