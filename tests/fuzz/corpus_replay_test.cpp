// Replays the fuzz seed corpus through the harnesses the fuzzers run (fuzz/<target>.cpp), so
// that CI checks every seed without clang or libFuzzer: each must be refused with a
// drshym::Error or accepted, never end in another exception (an invariant a harness checks
// aborts the run with "drshym-fuzz: BUG: ..."). fuzz/regressions/<target>/ holds the
// reproducers of bugs fuzzing found (fixed since; fuzz/regressions/README.md), replayed too.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"

namespace {
namespace fs = std::filesystem;

struct Target {
  const char* name;
  int (*run)(const uint8_t*, size_t);
};

const Target kTargets[] = {
    {"request", drshym_fuzz_request}, {"manifest", drshym_fuzz_manifest}, {"aoi", drshym_fuzz_aoi}};

// Test names and messages show the target's name, not the struct's bytes.
void PrintTo(const Target& t, std::ostream* os) { *os << t.name; }

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs every file of dir through the harness; returns how many there were.
size_t replay(const Target& t, const fs::path& dir) {
  drshym::fuzz::setup();
  const auto files = files_in(dir);
  for (const auto& f : files) {
    const std::string bytes = read_bytes(f);
    try {
      t.run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    } catch (const std::exception& e) {
      ADD_FAILURE() << "fuzz_" << t.name << " on " << f << ": " << e.what();
    }
  }
  return files.size();
}

class FuzzCorpus : public ::testing::TestWithParam<Target> {};

TEST_P(FuzzCorpus, ReplaysEverySeed) {
  const fs::path dir = fs::path(DRSHYM_FUZZ_DIR) / "corpus" / GetParam().name;
  EXPECT_GE(replay(GetParam(), dir), 10u) << "the seed corpus " << dir << " has gone missing or shrunk";
}

TEST_P(FuzzCorpus, ReplaysRegressions) {
  EXPECT_GE(replay(GetParam(), fs::path(DRSHYM_FUZZ_DIR) / "regressions" / GetParam().name), 1u);
}

INSTANTIATE_TEST_SUITE_P(Fuzz, FuzzCorpus, ::testing::ValuesIn(kTargets),
                         [](const ::testing::TestParamInfo<Target>& info) { return std::string(info.param.name); });

}  // namespace
