#include "io/uri.hpp"

#include <filesystem>

#include "core/error.hpp"

namespace drshym::io {
namespace {
bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }
}  // namespace

std::string to_gdal_path(const std::string& uri) {
  if (uri.empty()) throw Error(ErrorKind::Usage, "io", "empty path or URI");
  if (starts_with(uri, "file://")) return uri.substr(7);
  if (starts_with(uri, "http://") || starts_with(uri, "https://")) return "/vsicurl/" + uri;
  if (starts_with(uri, "s3://")) return "/vsis3/" + uri.substr(5);
  if (starts_with(uri, "gs://")) return "/vsigs/" + uri.substr(5);
  auto scheme = uri.find("://");
  if (scheme != std::string::npos && scheme < 10)
    throw Error(ErrorKind::Usage, "io", "unsupported URI scheme in " + quoted(uri) +
                                            " (use a path, file://, http(s)://, s3:// or gs://)");
  return uri;
}

bool is_local(const std::string& uri) {
  std::string p = to_gdal_path(uri);
  return !starts_with(p, "/vsi");
}

std::string to_file_uri(const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return "file://" + (ec ? path : abs.lexically_normal().string());
}

std::string stem_of(const std::string& uri) {
  std::string p = uri;
  auto q = p.find('?');
  if (q != std::string::npos) p = p.substr(0, q);
  return std::filesystem::path(p).stem().string();
}

}  // namespace drshym::io
