#pragma once
// Text that came from outside (a request path, a header, a JSON key, a file name) on its way
// into a message, a log line or a JSON document. Such bytes may be invalid UTF-8, and nlohmann's
// dump() throws on invalid UTF-8 by default: one hostile byte must never turn an answer into a
// crash or a 500.
#include <string>

#include <nlohmann/json.hpp>

namespace drshym::core {

// s cut to at most max_bytes bytes (plus "..." when cut), never inside a UTF-8 sequence.
std::string clip_utf8(const std::string& s, size_t max_bytes);

// j serialized with invalid UTF-8 replaced by U+FFFD instead of throwing (indent < 0: one line).
std::string dump_json(const nlohmann::json& j, int indent = -1);

}  // namespace drshym::core
