#pragma once
// Helpers shared by the test executables: where the shared reference data is, temp folders.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace drshym::testing {

// Path of ../shared/data (env DRSHYM_SHARED_DATA overrides), or "" when absent.
std::string shared_data_dir();

// True when DRSHYM_REQUIRE_SHARED_DATA=1 (`.ci/run` sets it where ../shared/data exists): a test
// whose shared file is missing then fails instead of skipping, so a mislocated folder or a renamed
// file cannot turn the integration tests into silent skips.
bool shared_data_required();

// GTEST_SKIP()s the current test unless shared/data/<rel> exists (fails instead when shared data
// is required); yields the full path. Tests that use it belong to a suite named Shared* or
// RealData, which ctest labels `integration` even in a `unit` test binary.
#define DRSHYM_REQUIRE_SHARED(var, rel)                                                     \
  std::string var = ::drshym::testing::shared_data_dir();                                  \
  if (var.empty() || !::drshym::testing::exists(var + "/" + (rel))) {                       \
    if (::drshym::testing::shared_data_required())                                          \
      GTEST_FAIL() << "shared data required (DRSHYM_REQUIRE_SHARED_DATA=1) but missing: " << (rel); \
    GTEST_SKIP() << "shared data not available: " << (rel);                                 \
  }                                                                                         \
  var = var + "/" + (rel)

bool exists(const std::string& path);

// Runs f and expects a drshym::Error of `kind` whose message contains every needle: a bad-input
// test that any exception (a crash of the wrong kind, an unrelated failure) would pass is no test.
template <typename F>
void expect_error(F&& f, ErrorKind kind, std::initializer_list<std::string> needles) {
  try {
    f();
    ADD_FAILURE() << "expected a drshym::Error (" << to_string(kind) << ")";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

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
