#include "core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include "core/error.hpp"

namespace drshym::core {

spdlog::logger& log() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_color_mt("drshym");
    l->set_pattern("[%H:%M:%S] [%^%l%$] %v");
    l->set_level(spdlog::level::info);
    return l;
  }();
  return *logger;
}

void set_log_level(const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    throw Error(ErrorKind::Usage, "log", "unknown log level " + quoted(level));
  }
  log().set_level(lvl);
}

}  // namespace drshym::core
