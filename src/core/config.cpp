#include "core/config.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/text.hpp"

namespace drshym::core {
namespace {

Json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted scalar stays a string
      if (s == "true" || s == "True" || s == "yes") return true;
      if (s == "false" || s == "False" || s == "no") return false;
      if (s == "null" || s == "~") return nullptr;
      try {
        size_t pos = 0;
        long long iv = std::stoll(s, &pos);
        if (pos == s.size()) return iv;
      } catch (...) {
      }
      try {
        size_t pos = 0;
        double dv = std::stod(s, &pos);
        if (pos == s.size()) return dv;
      } catch (...) {
      }
      return s;
    }
    case YAML::NodeType::Sequence: {
      Json a = Json::array();
      for (const auto& c : n) a.push_back(yaml_to_json(c));
      return a;
    }
    case YAML::NodeType::Map: {
      Json o = Json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
      return o;
    }
  }
  return nullptr;
}

const Json* find_dotted(const Json& j, const std::string& key) {
  const Json* cur = &j;
  std::stringstream ss(key);
  std::string part;
  while (std::getline(ss, part, '.')) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(part);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

template <typename T>
T convert(const Json& v, const std::string& key, const std::string& origin) {
  try {
    if constexpr (std::is_same_v<T, double> || std::is_same_v<T, float>) {
      if (!v.is_number()) throw std::runtime_error("not a number");
    } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      if (!v.is_number_integer()) throw std::runtime_error("not an integer");
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!v.is_boolean()) throw std::runtime_error("not a boolean");
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!v.is_string()) throw std::runtime_error("not a string");
    }
    return v.get<T>();
  } catch (const std::exception& e) {
    throw Error(ErrorKind::InvalidInput, "config",
                origin + ": key '" + key + "' has the wrong type (" + e.what() + "): " + clip_utf8(dump_json(v), 200));
  }
}

// Walks a YAML text's events and refuses aliases (*name). yaml-cpp shares an aliased node,
// but its conversion to JSON copies it at every use: ten aliases nested eight deep turned a
// 300-byte manifest into 10^8 nodes (1 GB, killed after 98 s). No config or manifest needs
// them, so they are a usage error found before anything is built.
class AliasGuard : public YAML::EventHandler {
 public:
  explicit AliasGuard(const std::string& origin) : origin_(origin) {}
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    throw Error(ErrorKind::Usage, "config",
                quoted(origin_) + ": line " + std::to_string(mark.line + 1) +
                    ": YAML aliases (*name) are not accepted; write the value out");
  }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  std::string origin_;
};

}  // namespace

Json parse_yaml(const std::string& text, const std::string& origin) {
  try {
    {
      std::istringstream in(text);
      YAML::Parser parser(in);
      AliasGuard guard(origin);
      // The first document only, as YAML::Load below: looping over "every document" never
      // ended on some malformed inputs (yaml-cpp 0.7; found by fuzz_manifest).
      parser.HandleNextDocument(guard);
    }
    return yaml_to_json(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    throw Error(ErrorKind::InvalidInput, "config", quoted(origin) + ": invalid YAML: " + e.what());
  }
}

Json load_yaml(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorKind::NotFound, "config", "cannot open " + quoted(path));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_yaml(ss.str(), path);
}

template <typename T>
T get_or(const Json& j, const std::string& key, const T& fallback, const std::string& origin) {
  const Json* v = find_dotted(j, key);
  if (!v || v->is_null()) return fallback;
  return convert<T>(*v, key, origin);
}

template <typename T>
T get_required(const Json& j, const std::string& key, const std::string& origin) {
  const Json* v = find_dotted(j, key);
  if (!v || v->is_null())
    throw Error(ErrorKind::InvalidInput, "config", origin + ": missing required key '" + key + "'");
  return convert<T>(*v, key, origin);
}

#define DRSHYM_INSTANTIATE(T)                                                          \
  template T get_or<T>(const Json&, const std::string&, const T&, const std::string&); \
  template T get_required<T>(const Json&, const std::string&, const std::string&);
DRSHYM_INSTANTIATE(int)
DRSHYM_INSTANTIATE(int64_t)
DRSHYM_INSTANTIATE(double)
DRSHYM_INSTANTIATE(float)
DRSHYM_INSTANTIATE(bool)
DRSHYM_INSTANTIATE(std::string)
DRSHYM_INSTANTIATE(std::vector<std::string>)
#undef DRSHYM_INSTANTIATE

Json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorKind::NotFound, "json", "cannot open " + quoted(path));
  try {
    return Json::parse(in);
  } catch (const std::exception& e) {
    throw Error(ErrorKind::InvalidInput, "json", quoted(path) + ": invalid JSON: " + e.what());
  }
}

void write_json_file(const std::string& path, const Json& j, int indent) {
  // Bytes that are not UTF-8 (a Latin-1 file name in a message) become U+FFFD instead of failing.
  write_text_file_atomic(path, j.dump(indent, ' ', false, Json::error_handler_t::replace) + "\n");
}

}  // namespace drshym::core
