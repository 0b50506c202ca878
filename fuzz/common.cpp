// Set-up shared by the harnesses: GDAL initialised the project's way, its network access
// trapped, a scratch folder per process.
#include <cpl_conv.h>
#include <cpl_http.h>
#include <cpl_string.h>
#include <cpl_vsi_virtual.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "core/log.hpp"
#include "harness.hpp"
#include "io/gdal_env.hpp"

namespace drshym::fuzz {
namespace fs = std::filesystem;
namespace {

// CPLHTTPFetch (OSR's importFromUrl, WMS, ...): any call is a request the input caused.
CPLHTTPResult* http_trap(const char* url, CSLConstList options, GDALProgressFunc, void*, CPLHTTPFetchWriteFunc,
                         void*, void*) {
  if (CSLFetchNameValue(options, "CLOSE_PERSISTENT"))
    return static_cast<CPLHTTPResult*>(CPLCalloc(1, sizeof(CPLHTTPResult)));
  bug(std::string("GDAL tried to fetch a URL (CPLHTTPFetch): ") + (url ? url : "(null)"));
}

// The network file systems (/vsicurl/, /vsis3/, ...): opening or even stat'ing one is a request.
class NetworkTrap final : public VSIFilesystemHandler {
 public:
  explicit NetworkTrap(std::string prefix) : prefix_(std::move(prefix)) {}
  VSIVirtualHandle* Open(const char* name, const char*, bool, CSLConstList) override {
    bug("GDAL tried to open " + std::string(name ? name : prefix_) + " (network file system " + prefix_ + ")");
  }
  int Stat(const char* name, VSIStatBufL*, int) override {
    bug("GDAL tried to stat " + std::string(name ? name : prefix_) + " (network file system " + prefix_ + ")");
  }
  char** ReadDirEx(const char* name, int) override {
    bug("GDAL tried to list " + std::string(name ? name : prefix_) + " (network file system " + prefix_ + ")");
  }

 private:
  std::string prefix_;
};

constexpr const char* kNetworkPrefixes[] = {
    "/vsicurl/",  "/vsicurl?",  "/vsicurl_streaming/", "/vsis3/",     "/vsis3_streaming/", "/vsigs/",
    "/vsigs_streaming/", "/vsiaz/", "/vsiaz_streaming/", "/vsiadls/", "/vsioss/", "/vsioss_streaming/",
    "/vsiswift/", "/vsiswift_streaming/", "/vsiwebhdfs/", "/vsihdfs/"};

}  // namespace

void bug(const std::string& what) {
  std::fprintf(stderr, "drshym-fuzz: BUG: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

void setup() {
  static std::once_flag once;
  std::call_once(once, [] {
    core::set_log_level("off");
    io::gdal_init();
    // No sibling listing on open: every AOI sits alone in the scratch folder anyway.
    CPLSetConfigOption("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR");
    CPLHTTPPushFetchCallback(http_trap, nullptr);
    for (const char* p : kNetworkPrefixes) VSIFileManager::InstallHandler(p, new NetworkTrap(p));
  });
}

const std::string& scratch_dir() {
  static const std::string dir = [] {
    std::string tmpl = (fs::temp_directory_path() / "drshym-fuzz-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) bug("cannot create a scratch folder under " + fs::temp_directory_path().string());
    static std::string to_remove;
    to_remove = tmpl;
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(to_remove, ec);
    });
    return tmpl;
  }();
  return dir;
}

void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  if (!f) bug("cannot write " + path);
}

}  // namespace drshym::fuzz
