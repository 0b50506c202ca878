#pragma once
// GDAL set-up: drivers registered once, GDAL's own error messages routed into the project log
// and captured so that failures become drshym::Error with GDAL's reason attached.
#include <cstdint>
#include <string>

namespace drshym::io {

// GDAL block cache used unless GDAL_CACHEMAX is set: 128 MiB keeps memory flat for any scene.
constexpr int64_t kDefaultCacheBytes = int64_t(128) << 20;

// Register drivers, install the error handler and bound the block cache (idempotent, thread-safe).
void gdal_init();

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
