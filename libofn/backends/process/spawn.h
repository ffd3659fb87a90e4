// Spawning an instance's process tree so that it can always be taken down.
//
// The command is started with posix_spawn (the platform's address space is
// never copied) as the leader of a new process group, held by the one
// `ofn-shim --guard` of the process: the guard kills the groups it holds
// when the platform's process ends, however it ends (SIGKILL included), so
// the function's processes never outlive `ofn serve`.
//
// When cgroups must be joined or an address-space limit set before the
// command runs, a supervisor ("shim": `ofn-shim`, started with posix_spawn)
// leads the group instead: it does that, forks the command into the group
// and waits for it; it asks for SIGHUP when the thread that spawned it dies
// (PR_SET_PDEATHSIG) and answers it by killing the group, ignores SIGTERM,
// and exits with the command's status (128 + signal when it was killed).
// Without `ofn-shim` (OFN_SHIM, beside the library, or in the installed
// libexec directory) the platform forks itself as that shim.
//
// Stopping is kill(-group, SIGTERM), then SIGKILL after the grace period.
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

// Starts the command (and its shim when it needs one); returns the pid of
// the group's leader, which is also the process group of the instance.
// Must be called from a thread that outlives
// the instance (the parent-death signal is tied to it).
Result<pid_t> Spawn(const SpawnSpec& spec);

// Tells the guard that a group Spawn started is gone (reaped and killed):
// its number may be reused.
void Released(pid_t group);

// The ofn-shim program Spawn starts; "" when there is none (Spawn forks).
std::string ShimPath();

// The environment of this process as "NAME=value" strings.
std::vector<std::string> CurrentEnvironment();

}  // namespace ofn::process

#endif  // LIBOFN_BACKENDS_PROCESS_SPAWN_H_
