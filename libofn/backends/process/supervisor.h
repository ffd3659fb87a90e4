// Supervisor: one process instance of a revision — its process tree, its
// output pipe into the revision's log, OOM kills read from its cgroup, and
// signals to its process group. The supervision itself (readiness and
// liveness probes, crash restarts with back-off, the graceful stop) is the
// built-in backends' shared one (backends/internal/supervision.h). One
// thread per instance runs it. Internal to the process backend.
#ifndef LIBOFN_BACKENDS_PROCESS_SUPERVISOR_H_
#define LIBOFN_BACKENDS_PROCESS_SUPERVISOR_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "libofn/backends/internal/supervision.h"
#include "libofn/backends/process/config.h"
#include "libofn/backends/process/log_file.h"

namespace ofn::process {

using backends::internal::RestartBackoff;

class Supervisor : public backends::internal::Supervision {
 public:
  Config cfg;
  uint64_t id = 0;
  std::shared_ptr<RotatingLog> log;
  std::vector<std::string> env;  // "NAME=value", fixed for the instance's life
  std::vector<std::string> cgroup_dirs;
  std::vector<std::string> cgroup_procs;
  uint64_t rlimit_as = 0;

 protected:
  // Spawns the command (through the shim) into its cgroups with its output on a pipe.
  Status Launch() override;
  void Signal(int sig) override;
  bool Running() const override { return pid_ > 0; }
  std::optional<Exit> Wait(std::chrono::milliseconds period) override;
  void Finish() override;
  std::string LogTail() const override;
  std::string What() const override { return "instance"; }

 private:
  // Moves complete lines from the output pipe into the log (all of it when final).
  void DrainPipe(bool final);

  pid_t pid_ = -1;
  int pipe_fd_ = -1;
  std::string partial_;
  int64_t oom_kills_seen_ = 0;  // the instance's cgroups' count when last read
};

}  // namespace ofn::process

#endif  // LIBOFN_BACKENDS_PROCESS_SUPERVISOR_H_
