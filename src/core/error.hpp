#pragma once
// The one error type of DrShym. Library code throws it; front-ends (CLI, HTTP) catch it and map
// its kind to an exit code or an HTTP status. Messages start with the stage that failed:
//   "io: cannot open 'x.tif': not a raster"
#include <stdexcept>
#include <string>

namespace drshym {

enum class ErrorKind {
  Usage,         // bad arguments or options (CLI exit 2, HTTP 400)
  NotFound,      // a named file, URI or resource does not exist (HTTP 404)
  InvalidInput,  // the input exists but is unusable: wrong bands, no CRS, all nodata (HTTP 422)
  Io,            // reading or writing failed (HTTP 500)
  Internal,      // a bug or an unexpected state (HTTP 500)
  Interrupted,   // stopped by SIGINT/SIGTERM; outputs were rolled back (CLI exit 130, HTTP 503)
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& stage, const std::string& message)
      : std::runtime_error(stage + ": " + message), kind_(kind), stage_(stage) {}
  ErrorKind kind() const { return kind_; }
  const std::string& stage() const { return stage_; }

 private:
  ErrorKind kind_;
  std::string stage_;
};

const char* to_string(ErrorKind kind);

// Quote a path or URI for messages: 'x.tif'.
// (The non-const overload keeps std::quoted, found by ADL, from winning for mutable strings.)
std::string quoted(const std::string& s);
inline std::string quoted(std::string& s) { return quoted(static_cast<const std::string&>(s)); }

}  // namespace drshym
