// Supervisor: one process instance of a revision — its process tree, its
// output pipe into the revision's log, readiness and liveness probes, crash
// restarts with exponential back-off (CrashLoopBackOff), OOM kills read from
// its cgroup, and a graceful stop (SIGTERM, grace, SIGKILL). One thread per
// instance runs it. Deadlines, probe periods and back-off follow an injected
// Clock (ProcessDriverOptions::clock), so a test on a ManualClock decides
// when a restart is due. Internal to the process backend.
#ifndef LIBOFN_BACKENDS_PROCESS_SUPERVISOR_H_
#define LIBOFN_BACKENDS_PROCESS_SUPERVISOR_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "libofn/backends/process/config.h"
#include "libofn/backends/process/log_file.h"
#include "libofn/backends/process/options.h"
#include "libofn/common/clock.h"
#include "libofn/common/status.h"

namespace ofn::process {

// The wait before a restart after `consecutive_crashes` crashes in a row
// (1: the first): base, 2 × base, 4 × base, ... at most cap. Pure.
std::chrono::milliseconds RestartBackoff(int consecutive_crashes, std::chrono::milliseconds base,
                                         std::chrono::milliseconds cap);

struct Supervisor {
  enum class State { kStarting, kReady, kBackoff, kStopping, kDone };

  Config cfg;
  Clock* clock = nullptr;  // deadlines, probe periods, back-off
  int port = 0;
  uint64_t id = 0;
  std::shared_ptr<RotatingLog> log;
  ProcessDriverOptions opt;
  std::vector<std::string> env;  // "NAME=value", fixed for the instance's life
  std::vector<std::string> cgroup_dirs;
  std::vector<std::string> cgroup_procs;
  uint64_t rlimit_as = 0;
  std::string limits_warning;

  mutable std::mutex mu;
  std::condition_variable cv;
  State state = State::kStarting;
  bool stop_requested = false;
  bool ever_ready = false;
  std::string start_failure;  // set when the first start failed
  int restarts = 0;
  int consecutive_crashes = 0;
  std::string reason, message;
  std::function<void()> observer;
  // Called once, from the supervisor thread, when the first start settles:
  // ready, failed, or stopped before it was ready.
  std::function<void()> start_done;
  std::thread thread;
  std::atomic<bool> finished{false};

  // Supervisor-thread state.
  pid_t pid = -1;
  int pipe_fd = -1;
  std::string partial;
  Clock::Duration launched{}, deadline{}, next_probe{}, restart_at{}, kill_at{};
  int liveness_failures = 0;
  bool liveness_killed = false;
  int64_t oom_kills_seen = 0;  // the instance's cgroups' count when last read
  bool last_exit_oom = false;

  std::string Address() const;  // 127.0.0.1:port
  // Wakes waiters, calls the health observer, and settles the first start.
  void Notify();
  // Calls start_done if the first start has settled.
  void Settle();
  // The last lines of the log, for status messages.
  std::string LogTail() const;
  // Moves complete lines from the output pipe into the log (all of it when final).
  void DrainPipe(bool final);
  // Spawns the command (through the shim) into its cgroups with its output on a pipe.
  Status Launch();
  std::chrono::milliseconds ProbePeriod(const backend::Probe& p, bool starting) const;
  void KillGroup(int sig);
  // Called when the shim exited: reaps leftovers and decides what comes next
  // (stopped, failed start, or a crash: back-off and restart).
  void OnExit(int status);
  // The supervisor thread: until stopped.
  void Run();
  // Asks Run to stop the instance; returns at once.
  void RequestStop();
};


}  // namespace ofn::process

#endif  // LIBOFN_BACKENDS_PROCESS_SUPERVISOR_H_
