#include "core/cpus.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

namespace drshym::core {
namespace {

std::string read_small_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::optional<int> ratio(double quota, double period) {
  if (!(quota > 0) || !(period > 0)) return std::nullopt;
  return std::max(1, int(std::ceil(quota / period - 1e-9)));
}

// This process's cgroup v2 path ("0::/user.slice/x.scope" -> "/user.slice/x.scope").
std::string own_cgroup_v2_path() {
  std::istringstream in(read_small_file("/proc/self/cgroup"));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  return "";
}

}  // namespace

std::optional<int> cpus_from_cgroup_v2(const std::string& cpu_max) {
  std::istringstream in(cpu_max);
  std::string quota;
  double period = 0;
  if (!(in >> quota >> period) || quota == "max") return std::nullopt;
  try {
    return ratio(std::stod(quota), period);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<int> cpus_from_cgroup_v1(const std::string& quota_us, const std::string& period_us) {
  try {
    return ratio(std::stod(quota_us), std::stod(period_us));  // quota -1: unlimited
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

int available_cpus() {
  static const int cached = [] {
    int n = int(std::max(1u, std::thread::hardware_concurrency()));
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = std::max(1, std::min(n, CPU_COUNT(&set)));
    // cgroup v2: the own group's limit, and the root's (inside a container the group is "/").
    for (const std::string& dir : {"/sys/fs/cgroup" + own_cgroup_v2_path(), std::string("/sys/fs/cgroup")})
      if (auto q = cpus_from_cgroup_v2(read_small_file(dir + "/cpu.max"))) n = std::min(n, *q);
    for (const char* dir : {"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu"})
      if (auto q = cpus_from_cgroup_v1(read_small_file(std::string(dir) + "/cpu.cfs_quota_us"),
                                       read_small_file(std::string(dir) + "/cpu.cfs_period_us")))
        n = std::min(n, *q);
    return n;
  }();
  return cached;
}

bool cpu_affinity_restricted() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return false;
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 && CPU_COUNT(&set) < online;
}

}  // namespace drshym::core
