#pragma once
// GDAL set-up: drivers registered once, GDAL's own error messages routed into the project log
// and captured so that failures become drshym::Error with GDAL's reason attached.
#include <cstdint>
#include <string>
#include <utility>

namespace drshym::io {

// GDAL block cache used unless GDAL_CACHEMAX is set: 64 MiB keeps memory flat for any scene.
// 128 MiB filled up on a 25,000 px wide scene for no speed (peak RSS 1043-1060 MB against
// 938-990 MB at 64 MiB, wall time 46-48 s against 44-48 s, docs/performance.md "Memory").
constexpr int64_t kDefaultCacheBytes = int64_t(64) << 20;

// Register drivers, install the error handler and bound the block cache (idempotent, thread-safe).
void gdal_init();

// Timeouts and retries gdal_init() sets for remote reads unless the environment (or a GDAL
// config option) already does: a request gives up after 60 s (15 s to connect) and is tried
// 3 more times 2 s apart, so a stalled server ends in an error naming the URI, never a hang.
inline constexpr std::pair<const char*, const char*> kRemoteDefaults[] = {
    {"GDAL_HTTP_TIMEOUT", "60"}, {"GDAL_HTTP_CONNECTTIMEOUT", "15"}, {"GDAL_HTTP_MAX_RETRY", "3"},
    {"GDAL_HTTP_RETRY_DELAY", "2"}};

// The last GDAL error message on this thread ("" if none); reset_gdal_error() clears it.
std::string last_gdal_error();
void reset_gdal_error();

// Silences GDAL's logging for a scope (errors are still captured for last_gdal_error()).
class QuietGdal {
 public:
  QuietGdal();
  ~QuietGdal();
};

}  // namespace drshym::io
