#pragma once
// The one error type of DrShym. Library code throws it; front-ends (CLI, HTTP) catch it and map
// its kind to an exit code or an HTTP status. Messages start with the stage that failed:
//   "io: cannot open 'x.tif': not a raster"
#include <stdexcept>
#include <string>

namespace drshym {

// The one table of error kinds. Each kind has a stable code (to_string), a CLI exit code
// (exit_code) and an HTTP status (http_status); front-ends use these and nothing else.
//   kind          code            exit  HTTP
//   Usage         usage            2    400  bad arguments, options or request fields
//   Forbidden     forbidden        2    403  a path or URI outside what is allowed
//   NotFound      not_found        1    404  a named file, URI or resource does not exist
//   InvalidInput  invalid_input    1    422  exists but unusable: wrong bands, no CRS, all nodata
//   Io            io_error         1    500  reading or writing failed
//   Internal      internal         1    500  a bug or an unexpected state
//   Unavailable   unavailable      1    503  busy (queue full) or shutting down; retry later
//   Interrupted   interrupted    130    503  stopped by SIGINT/SIGTERM; outputs were rolled back
//   Timeout       timeout          1    504  a deadline passed; outputs were rolled back
//   NoSpace       insufficient_storage 1 507  the output disk is (nearly) full; nothing was started
enum class ErrorKind {
  Usage,
  Forbidden,
  NotFound,
  InvalidInput,
  Io,
  Internal,
  Unavailable,
  Interrupted,
  Timeout,
  NoSpace,
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
int exit_code(ErrorKind kind);
int http_status(ErrorKind kind);

// Quote a path or URI for messages: 'x.tif'.
// (The non-const overload keeps std::quoted, found by ADL, from winning for mutable strings.)
std::string quoted(const std::string& s);
inline std::string quoted(std::string& s) { return quoted(static_cast<const std::string&>(s)); }

// The one check of a decision threshold on a calibrated probability: returns t, or throws
// Usage (stage) "<name> must be in (0, 1), got <t>". NaN is refused.
double require_threshold(double t, const char* stage, const std::string& name = "threshold");

}  // namespace drshym
