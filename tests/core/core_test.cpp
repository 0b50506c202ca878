#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/config.hpp"
#include "core/cpus.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/geo.hpp"
#include "support/test_support.hpp"

using namespace drshym;

TEST(Geo, BoundsAndSpacingNorthUp) {
  GeoTransform g{{500000, 10, 0, 4000000, 0, -10}};
  auto b = g.bounds(Window{0, 0, 100, 50});
  EXPECT_DOUBLE_EQ(b[0], 500000);
  EXPECT_DOUBLE_EQ(b[1], 4000000 - 500);
  EXPECT_DOUBLE_EQ(b[2], 501000);
  EXPECT_DOUBLE_EQ(b[3], 4000000);
  auto s = g.pixel_spacing();
  EXPECT_DOUBLE_EQ(s[0], 10);
  EXPECT_DOUBLE_EQ(s[1], 10);
  double c, r;
  g.geo_to_pixel(500105, 3999895, c, r);
  EXPECT_NEAR(c, 10.5, 1e-9);
  EXPECT_NEAR(r, 10.5, 1e-9);
  auto sh = g.shifted(10, 20);
  EXPECT_DOUBLE_EQ(sh.t[0], 500100);
  EXPECT_DOUBLE_EQ(sh.t[3], 4000000 - 200);
}

TEST(Geo, WindowIntersect) {
  Window a{0, 0, 10, 10}, b{5, 5, 10, 10};
  EXPECT_EQ(a.intersect(b), (Window{5, 5, 5, 5}));
  EXPECT_TRUE(a.intersect(Window{20, 20, 1, 1}).empty());
}

TEST(Config, YamlTypedGetters) {
  auto j = core::parse_yaml("train:\n  epochs: 3\n  lr: 0.001\n  name: x\n  flag: true\n");
  EXPECT_EQ(core::get_or<int>(j, "train.epochs", 0), 3);
  EXPECT_DOUBLE_EQ(core::get_or<double>(j, "train.lr", 0.0), 0.001);
  EXPECT_EQ(core::get_or<std::string>(j, "train.name", ""), "x");
  EXPECT_TRUE(core::get_or<bool>(j, "train.flag", false));
  EXPECT_EQ(core::get_or<int>(j, "train.missing", 7), 7);
  try {
    core::get_or<int>(j, "train.name", 0, "cfg.yaml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.name"), std::string::npos);
  }
  EXPECT_THROW(core::get_required<int>(j, "train.batch", "cfg.yaml"), Error);
  EXPECT_THROW(core::parse_yaml("a: [1, 2"), Error);
  // Anchors alone are harmless; aliases are refused before anything is built (usage error).
  EXPECT_NO_THROW(core::parse_yaml("a: &x 1\n"));
  try {
    core::parse_yaml("a: &x [1, 2]\nb: *x\n", "cfg.yaml");
    ADD_FAILURE() << "an alias was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    EXPECT_NE(std::string(e.what()).find("'cfg.yaml': line 2: YAML aliases"), std::string::npos) << e.what();
  }
  EXPECT_THROW(core::load_yaml("/nonexistent/x.yaml"), Error);
}

TEST(Fs, AFailedRenameSaysWhyNotSuccess) {
  // The error_code was reused by the clean-up, so the message read "...: Success".
  drshym::testing::TempDir tmp;
  const std::string dir = tmp.file("taken");
  std::filesystem::create_directories(dir + "/inside");
  try {
    core::write_text_file_atomic(dir, "x");
    ADD_FAILURE() << "renaming over a non-empty folder succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("Success"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cannot rename into"), std::string::npos) << e.what();
  }
  EXPECT_EQ(drshym::testing::files_in(tmp.path()), std::vector<std::string>{"taken"});
}

TEST(Fs, OutputSetRemovesOnFailure) {
  drshym::testing::TempDir tmp;
  std::string a = tmp.file("a.txt");
  {
    core::OutputSet outs;
    std::ofstream(outs.temp(a)) << "x";
    outs.commit(a);
    EXPECT_TRUE(std::filesystem::exists(a));
  }  // not finished: removed
  EXPECT_FALSE(std::filesystem::exists(a));
  {
    core::OutputSet outs;
    std::ofstream(outs.temp(a)) << "x";
    outs.commit(a);
    outs.finish();
  }
  EXPECT_TRUE(std::filesystem::exists(a));
  EXPECT_THROW(core::ensure_writable_dir("/proc/drshym_nope"), Error);
}

TEST(Fs, FailedRerunRestoresThePreviousOutputs) {
  // A first run committed a.txt and b.txt. A rerun into the same folder commits a new a.txt,
  // then fails before b.txt: both files must be the first run's again, and nothing else left.
  drshym::testing::TempDir tmp;
  const std::string a = tmp.file("a.txt"), b = tmp.file("b.txt");
  auto read = [](const std::string& p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  {
    core::OutputSet first;
    std::ofstream(first.temp(a)) << "first a";
    std::ofstream(first.temp(b)) << "first b";
    first.commit(a);
    first.commit(b);
    first.finish();
  }
  {
    core::OutputSet rerun;
    std::ofstream(rerun.temp(a)) << "second a";
    std::ofstream(rerun.temp(b)) << "second b";
    rerun.commit(a);
    EXPECT_EQ(read(a), "second a");
  }  // failed before committing b
  EXPECT_EQ(read(a), "first a");
  EXPECT_EQ(read(b), "first b");
  EXPECT_EQ(drshym::testing::files_in(tmp.path()), (std::vector<std::string>{"a.txt", "b.txt"}));
  {
    core::OutputSet rerun;  // a successful rerun replaces both and leaves no backup behind
    std::ofstream(rerun.temp(a)) << "third a";
    rerun.commit(a);
    rerun.finish();
  }
  EXPECT_EQ(read(a), "third a");
  EXPECT_EQ(drshym::testing::files_in(tmp.path()), (std::vector<std::string>{"a.txt", "b.txt"}));
}

TEST(Cpus, CgroupQuotasLimitThreadDefaults) {
  EXPECT_FALSE(core::cpus_from_cgroup_v2("max 100000\n"));
  EXPECT_EQ(core::cpus_from_cgroup_v2("200000 100000\n"), 2);
  EXPECT_EQ(core::cpus_from_cgroup_v2("150000 100000"), 2);  // 1.5 CPUs: 2 threads
  EXPECT_EQ(core::cpus_from_cgroup_v2("50000 100000"), 1);
  EXPECT_FALSE(core::cpus_from_cgroup_v2(""));
  EXPECT_FALSE(core::cpus_from_cgroup_v2("garbage"));
  EXPECT_FALSE(core::cpus_from_cgroup_v1("-1\n", "100000\n"));
  EXPECT_EQ(core::cpus_from_cgroup_v1("300000\n", "100000\n"), 3);
  EXPECT_FALSE(core::cpus_from_cgroup_v1("", ""));
  const int n = core::available_cpus();
  EXPECT_GE(n, 1);
  EXPECT_LE(n, int(std::max(1u, std::thread::hardware_concurrency())));
}

TEST(Error, ThresholdsAreCheckedInOnePlace) {
  EXPECT_DOUBLE_EQ(drshym::require_threshold(0.5, "segment"), 0.5);
  drshym::testing::expect_error([] { drshym::require_threshold(1.0, "segment"); }, drshym::ErrorKind::Usage,
                                {"threshold must be in (0, 1), got 1"});
  drshym::testing::expect_error([] { drshym::require_threshold(0.0, "batch", "--threshold"); },
                                drshym::ErrorKind::Usage, {"--threshold must be in (0, 1), got 0"});
  drshym::testing::expect_error([] { drshym::require_threshold(std::nan(""), "infer"); }, drshym::ErrorKind::Usage,
                                {"got nan"});
}
