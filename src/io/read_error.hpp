#pragma once
// The error io::Raster throws when reading an open raster fails (truncated or corrupt data, a
// failing disk or network). It is an Error of kind Io, so callers that do not care see an I/O
// failure; uri() names the raster as it was opened, so a caller that knows whose file it is can
// classify it: the server answers an unreadable input of the client's 422, its own files 500.
#include <string>
#include <utility>

#include "core/error.hpp"

namespace drshym::io {

class ReadError : public Error {
 public:
  ReadError(std::string uri, const std::string& message) : Error(ErrorKind::Io, "io", message), uri_(std::move(uri)) {}
  const std::string& uri() const { return uri_; }

 private:
  std::string uri_;
};

}  // namespace drshym::io
