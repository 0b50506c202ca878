#include "io/gdal_env.hpp"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal.h>

#include <mutex>

#include "core/log.hpp"

namespace drshym::io {
namespace {

thread_local std::string t_last_error;
thread_local int t_quiet = 0;

void CPL_STDCALL route_error(CPLErr cls, CPLErrorNum num, const char* msg) {
  if (cls == CE_Failure || cls == CE_Fatal) t_last_error = msg ? msg : "";
  if (t_quiet > 0) return;
  switch (cls) {
    case CE_Debug: core::log().debug("gdal: {}", msg); break;
    case CE_Warning: core::log().debug("gdal warning: {}", msg); break;
    default: core::log().debug("gdal error {}: {}", int(num), msg); break;
  }
}

}  // namespace

void gdal_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    GDALAllRegister();
    CPLSetErrorHandler(route_error);
    // GDAL's block cache defaults to 5% of RAM (over 1 GB on a 24 GB machine) and fills with
    // dirty blocks while a large scene is written, which would make memory grow with scene
    // size. Streaming never revisits old blocks, so a small cache costs nothing; an explicit
    // GDAL_CACHEMAX (environment or config option) still wins.
    if (!CPLGetConfigOption("GDAL_CACHEMAX", nullptr)) GDALSetCacheMax64(kDefaultCacheBytes);
    // Remote reads (/vsicurl, /vsis3, /vsigs) must not hang on a stalled server: GDAL's
    // defaults have no overall timeout. Environment or config options still win.
    for (const auto& [key, value] : kRemoteDefaults)
      if (!CPLGetConfigOption(key, nullptr)) CPLSetConfigOption(key, value);
  });
}

std::string last_gdal_error() { return t_last_error; }
void reset_gdal_error() { t_last_error.clear(); }

QuietGdal::QuietGdal() { ++t_quiet; }
QuietGdal::~QuietGdal() { --t_quiet; }

}  // namespace drshym::io
