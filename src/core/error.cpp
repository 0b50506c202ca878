#include "core/error.hpp"

#include <cstdio>

namespace drshym {

namespace {

struct KindRow {
  ErrorKind kind;
  const char* code;
  int exit_code;
  int http_status;
};

// The table documented in error.hpp.
constexpr KindRow kKinds[] = {
    {ErrorKind::Usage, "usage", 2, 400},
    {ErrorKind::Forbidden, "forbidden", 2, 403},
    {ErrorKind::NotFound, "not_found", 1, 404},
    {ErrorKind::InvalidInput, "invalid_input", 1, 422},
    {ErrorKind::Io, "io_error", 1, 500},
    {ErrorKind::Internal, "internal", 1, 500},
    {ErrorKind::Unavailable, "unavailable", 1, 503},
    {ErrorKind::Interrupted, "interrupted", 130, 503},
    {ErrorKind::Timeout, "timeout", 1, 504},
    {ErrorKind::NoSpace, "insufficient_storage", 1, 507},
};

const KindRow& row(ErrorKind kind) {
  for (const auto& r : kKinds)
    if (r.kind == kind) return r;
  return kKinds[5];  // Internal
}

}  // namespace

const char* to_string(ErrorKind kind) { return row(kind).code; }
int exit_code(ErrorKind kind) { return row(kind).exit_code; }
int http_status(ErrorKind kind) { return row(kind).http_status; }

std::string quoted(const std::string& s) { return "'" + s + "'"; }

double require_threshold(double t, const char* stage, const std::string& name) {
  if (!(t > 0.0 && t < 1.0)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", t);
    throw Error(ErrorKind::Usage, stage, name + " must be in (0, 1), got " + buf);
  }
  return t;
}

}  // namespace drshym
