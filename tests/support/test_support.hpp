#pragma once
// Helpers shared by the test executables: where the shared reference data is, temp folders.
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace drshym::testing {

// Path of ../shared/data (env DRSHYM_SHARED_DATA overrides), or "" when absent.
std::string shared_data_dir();

// GTEST_SKIP()s the current test unless shared/data/<rel> exists; yields the full path.
#define DRSHYM_REQUIRE_SHARED(var, rel)                                              \
  std::string var = ::drshym::testing::shared_data_dir();                           \
  if (var.empty() || !::drshym::testing::exists(var + "/" + (rel)))                  \
    GTEST_SKIP() << "shared data not available: " << (rel);                          \
  var = var + "/" + (rel)

bool exists(const std::string& path);

// Names of the entries directly in dir ([] when dir does not exist): what a run left behind.
std::vector<std::string> files_in(const std::string& dir);

// A fresh empty temporary folder, removed when the object goes out of scope.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace drshym::testing
