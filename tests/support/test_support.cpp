#include "support/test_support.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <random>

namespace fs = std::filesystem;

namespace drshym::testing {

std::string shared_data_dir() {
  const char* env = std::getenv("DRSHYM_SHARED_DATA");
  std::string dir = env && *env ? env : std::string(DRSHYM_SOURCE_DIR) + "/../shared/data";
  std::error_code ec;
  return fs::is_directory(dir, ec) ? fs::canonical(dir).string() : "";
}

bool shared_data_required() {
  const char* env = std::getenv("DRSHYM_REQUIRE_SHARED_DATA");
  return env && std::string(env) == "1";
}

bool exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TempDir::TempDir() {
  std::random_device rd;
  path_ = (fs::temp_directory_path() / ("drshym_test_" + std::to_string(rd()))).string();
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

}  // namespace drshym::testing
