#pragma once
// GDAL set-up: drivers registered once, GDAL's own error messages routed into the project log
// and captured so that failures become drshym::Error with GDAL's reason attached.
#include <string>

namespace drshym::io {

// Register drivers and install the error handler (idempotent, thread-safe).
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
