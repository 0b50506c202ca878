#pragma once
// Configuration files: YAML (or JSON, a subset of YAML) loaded into nlohmann::json so every
// module reads options the same way, with typed getters that name the missing or mistyped key.
#include <nlohmann/json.hpp>
#include <string>

namespace drshym::core {

using Json = nlohmann::json;

// Parse a YAML file into JSON. Throws NotFound / InvalidInput naming the file and line.
Json load_yaml(const std::string& path);
// Parse YAML text (for tests and HTTP bodies).
Json parse_yaml(const std::string& text, const std::string& origin = "<string>");

// Typed lookup of a dotted key ("train.epochs") with a default when absent; a present value
// of the wrong type throws InvalidInput naming the key and origin.
template <typename T>
T get_or(const Json& j, const std::string& dotted_key, const T& fallback,
         const std::string& origin = "config");

// Same, but the key must exist.
template <typename T>
T get_required(const Json& j, const std::string& dotted_key, const std::string& origin = "config");

// Read / write JSON files. write_json_file writes to a temporary name and renames it.
Json read_json_file(const std::string& path);
void write_json_file(const std::string& path, const Json& j, int indent = 2);

}  // namespace drshym::core
