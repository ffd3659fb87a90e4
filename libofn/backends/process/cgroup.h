// Resource limits of process instances through cgroups (v1 or v2): one
// cgroup per instance nested in this process's own, when the machine lets
// us create it; RLIMIT_AS for memory otherwise. And what the kernel says of
// an instance's OOM kills.
#ifndef LIBOFN_BACKENDS_PROCESS_CGROUP_H_
#define LIBOFN_BACKENDS_PROCESS_CGROUP_H_

#include <cstdint>
#include <string>
#include <vector>

namespace ofn::process {

// Where this process's cgroups are, per controller.
struct CgroupRoots {
  std::string memory;  // directory of our memory cgroup ("" = none)
  std::string cpu;
  bool v2 = false;
};

// Reads /proc/self/cgroup.
CgroupRoots FindCgroups();

// What ApplyLimits set up for one instance.
struct InstanceLimits {
  std::vector<std::string> dirs;   // cgroups created (removed by RemoveCgroups)
  std::vector<std::string> procs;  // their cgroup.procs files, for the spawn shim
  uint64_t rlimit_as = 0;          // when memory could not go to a cgroup
  std::string warning;             // what could not be applied, for the status
};

// Creates the instance's cgroups (named `name`) under `roots` for the memory
// and CPU limits (0: none); `use_cgroups` false applies rlimits only.
InstanceLimits ApplyLimits(const CgroupRoots& roots, bool use_cgroups, const std::string& name, int64_t memory_bytes,
                           const std::string& memory_text, int64_t cpu_millis, const std::string& cpu_text);

// OOM kills counted by the cgroups (v2 memory.events, v1 memory.oom_control).
int64_t OomKills(const std::vector<std::string>& dirs);

// Removes the cgroups once their processes are gone (retries while busy).
void RemoveCgroups(const std::vector<std::string>& dirs);

}  // namespace ofn::process

#endif  // LIBOFN_BACKENDS_PROCESS_CGROUP_H_
