#include "core/error.hpp"

namespace drshym {

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Usage: return "usage";
    case ErrorKind::NotFound: return "not_found";
    case ErrorKind::InvalidInput: return "invalid_input";
    case ErrorKind::Io: return "io_error";
    case ErrorKind::Internal: return "internal";
    case ErrorKind::Interrupted: return "interrupted";
  }
  return "internal";
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

}  // namespace drshym
