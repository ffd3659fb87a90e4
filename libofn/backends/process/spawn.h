// Spawning an instance's process tree so that it can always be taken down.
//
// The child Boost.Process forks becomes a small supervisor ("shim") that
// never execs: it leads a new process group, forks the real command into
// that group, and waits for it. The shim asks the kernel for SIGHUP when the
// thread that spawned it dies (PR_SET_PDEATHSIG) and answers it by killing
// the whole group, so the function's processes go with `ofn serve` even when
// `ofn serve` is killed with SIGKILL. Stopping is kill(-group, SIGTERM), then
// SIGKILL after the grace period; the shim ignores SIGTERM and exits with
// the command's status (128 + signal when it was killed).
//
// Internal to the process backend.
#ifndef LIBOFN_BACKENDS_PROCESS_SPAWN_H_
#define LIBOFN_BACKENDS_PROCESS_SPAWN_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "libofn/common/status.h"

namespace ofn::process {

struct SpawnSpec {
  std::string command;             // a path, or a name looked up in PATH of `env`
  std::vector<std::string> args;
  std::vector<std::string> env;    // "NAME=value", the whole environment
  std::string working_dir;         // "" = inherit
  int output_fd = -1;              // stdout and stderr go here; stdin is /dev/null
  uint64_t address_space_limit = 0;     // RLIMIT_AS when no cgroup does it; 0: none
  std::vector<std::string> cgroup_procs;  // cgroup.procs files the shim joins first
};

// Starts the shim and the command; returns the shim's pid, which is also the
// process group of the instance. Must be called from a thread that outlives
// the instance (the parent-death signal is tied to it).
Result<pid_t> Spawn(const SpawnSpec& spec);

// The environment of this process as "NAME=value" strings.
std::vector<std::string> CurrentEnvironment();

}  // namespace ofn::process

#endif  // LIBOFN_BACKENDS_PROCESS_SPAWN_H_
