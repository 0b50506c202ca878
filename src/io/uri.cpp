#include "io/uri.hpp"

#include <filesystem>

#include "core/error.hpp"

namespace drshym::io {
namespace {
bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 percent-decoding ("%20" -> ' '); a malformed escape or an encoded NUL is an error.
std::string percent_decode(const std::string& s, const std::string& uri) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 2 < s.size() ? hex_value(s[i + 1]) : -1, lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
      throw Error(ErrorKind::Usage, "io", "malformed percent-escape in " + quoted(uri));
    out += char(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// file://[host]/path (RFC 8089): the host must be empty or localhost; the path is decoded.
std::string file_uri_path(const std::string& uri) {
  const std::string rest = uri.substr(7);
  const size_t slash = rest.find('/');
  const std::string host = rest.substr(0, slash);
  if (slash == std::string::npos || (!host.empty() && host != "localhost"))
    throw Error(ErrorKind::Usage, "io",
                quoted(uri) + " names a file on host " + quoted(host) +
                    "; only local files are supported (file:///path or file://localhost/path)");
  return percent_decode(rest.substr(slash), uri);
}
}  // namespace

std::string to_gdal_path(const std::string& uri) {
  if (uri.empty()) throw Error(ErrorKind::Usage, "io", "empty path or URI");
  if (starts_with(uri, "file://")) return file_uri_path(uri);
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
  // Percent-encoded (RFC 3986: unreserved characters and '/' as they are), so that
  // to_gdal_path, which decodes, gives the path back: "p%20q.tif" -> "p%2520q.tif".
  static const char* hex = "0123456789ABCDEF";
  std::string out = "file://";
  for (unsigned char c : ec ? path : abs.lexically_normal().string()) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                            c == '.' || c == '_' || c == '~';
    if (unreserved || c == '/') {
      out += char(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string stem_of(const std::string& uri) {
  std::string p = uri;
  auto q = p.find('?');
  if (q != std::string::npos) p = p.substr(0, q);
  return std::filesystem::path(p).stem().string();
}

}  // namespace drshym::io
