#pragma once
// How many CPUs this process may really use: the smaller of its CPU affinity mask and its
// cgroup CPU quota (cgroup v2 cpu.max, or v1 cpu.cfs_quota_us / cpu.cfs_period_us). A
// container limited to 2 CPUs on a 64-core host gets 2, not 64 (std::thread::
// hardware_concurrency reports the host's cores). Every "0 = all cores" default uses it.
#include <optional>
#include <string>

namespace drshym::core {

int available_cpus();

// True when this process's CPU affinity mask holds fewer CPUs than the machine has online: a
// launcher (mpirun, srun, taskset) pinned it, so available_cpus() is already its own share.
bool cpu_affinity_restricted();

// The pieces, for tests: CPUs allowed by a quota file's text ("max 100000", "150000 100000";
// v1: quota "-1" or "150000" with period "100000"); nullopt when unlimited or unreadable.
// A fractional quota rounds up (1.5 CPUs -> 2 threads).
std::optional<int> cpus_from_cgroup_v2(const std::string& cpu_max);
std::optional<int> cpus_from_cgroup_v1(const std::string& quota_us, const std::string& period_us);

}  // namespace drshym::core
