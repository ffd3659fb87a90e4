#include "libofn/backends/process/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "libofn/backends/process/cgroup.h"
#include "libofn/backends/process/probe.h"
#include "libofn/backends/process/spawn.h"
#include "libofn/common/log.h"

namespace ofn::process {

using backend::Probe;
using Millis = std::chrono::milliseconds;

Millis RestartBackoff(int consecutive_crashes, Millis base, Millis cap) {
  Millis wait = base;
  for (int i = 1; i < consecutive_crashes && wait < cap; ++i) wait *= 2;
  return std::min(wait, cap);
}

std::string Supervisor::Address() const { return "127.0.0.1:" + std::to_string(port); }

void Supervisor::Notify() {
  std::function<void()> obs;
  {
    std::lock_guard<std::mutex> lock(mu);
    obs = observer;
  }
  cv.notify_all();
  if (obs) obs();
  Settle();
}

void Supervisor::Settle() {
  std::function<void()> done;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!start_done || !(ever_ready || !start_failure.empty() || state == State::kDone)) return;
    done = std::move(start_done);
    start_done = nullptr;
  }
  done();
}

std::string Supervisor::LogTail() const {
  std::string tail = log->Tail(20, 2048);
  while (!tail.empty() && tail.back() == '\n') tail.pop_back();
  return tail.empty() ? "(no output)" : tail;
}

void Supervisor::DrainPipe(bool final) {
  if (pipe_fd < 0) return;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(pipe_fd, buf, sizeof buf);
    if (n > 0) {
      partial.append(buf, static_cast<size_t>(n));
      size_t last = partial.rfind('\n');
      if (last != std::string::npos) {
        log->Write(std::string_view(partial).substr(0, last + 1));
        partial.erase(0, last + 1);
      }
      if (partial.size() > 64 * 1024) {  // a very long line: write it as is
        log->Write(partial + "\n");
        partial.clear();
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // EAGAIN or EOF
  }
  if (final) {
    if (!partial.empty()) log->Write(partial + "\n");
    partial.clear();
    ::close(pipe_fd);
    pipe_fd = -1;
  }
}

Status Supervisor::Launch() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status(StatusCode::kInternal, std::string("pipe: ") + std::strerror(errno));
  SpawnSpec s;
  s.command = cfg.command;
  s.args = cfg.args;
  s.working_dir = cfg.working_dir;
  s.output_fd = fds[1];
  s.address_space_limit = rlimit_as;
  s.cgroup_procs = cgroup_procs;
  s.env = env;
  Result<pid_t> spawned = Spawn(s);
  ::close(fds[1]);
  if (!spawned.ok()) {
    ::close(fds[0]);
    return spawned.status();
  }
  pid = *spawned;
  pipe_fd = fds[0];
  ::fcntl(pipe_fd, F_SETFL, ::fcntl(pipe_fd, F_GETFL) | O_NONBLOCK);
  launched = clock->Monotonic();
  deadline = launched + cfg.start_timeout;
  next_probe = launched + cfg.readiness.initial_delay;
  liveness_failures = 0;
  liveness_killed = false;
  return Status::Ok();
}

Millis Supervisor::ProbePeriod(const Probe& p, bool starting) const {
  if (p.period.count() > 0) return p.period;
  return starting ? opt.fast_probe_period : Millis(std::chrono::seconds(10));
}

void Supervisor::KillGroup(int sig) {
  if (pid > 0) ::kill(-pid, sig);
}

void Supervisor::OnExit(int status) {
  DrainPipe(true);
  ::kill(-pid, SIGKILL);  // anything the command left behind in its group
  pid = -1;
  std::string how = WIFEXITED(status) ? "exited with code " + std::to_string(WEXITSTATUS(status))
                                      : "was killed by signal " + std::to_string(WTERMSIG(status));
  const int signal = WIFEXITED(status) && WEXITSTATUS(status) > 128 ? WEXITSTATUS(status) - 128
                     : WIFSIGNALED(status)                           ? WTERMSIG(status)
                                                                     : 0;
  if (WIFEXITED(status) && WEXITSTATUS(status) > 128) {
    how = "was killed by signal " + std::to_string(signal);
  }
  const int64_t oom_kills = OomKills(cgroup_dirs);
  const bool oom = signal == SIGKILL && oom_kills > oom_kills_seen;
  oom_kills_seen = oom_kills;
  if (oom) how = "was killed for going over its memory limit (OOMKilled)";
  std::unique_lock<std::mutex> lock(mu);
  if (stop_requested || state == State::kStopping) {
    state = State::kDone;
    return;
  }
  if (!ever_ready) {
    start_failure = "instance " + how + " before it was ready; last output:\n" + LogTail();
    state = State::kDone;
    lock.unlock();
    Notify();
    return;
  }
  auto now = clock->Monotonic();
  if (now - launched >= opt.backoff_reset_after) consecutive_crashes = 0;
  ++consecutive_crashes;
  ++restarts;
  const Millis wait = RestartBackoff(consecutive_crashes, opt.backoff_base, opt.backoff_cap);
  restart_at = now + wait;
  state = State::kBackoff;
  last_exit_oom = oom && !liveness_killed;
  reason = last_exit_oom ? "OOMKilled" : consecutive_crashes >= 2 ? "CrashLoopBackOff" : "InstanceCrashed";
  std::string why = liveness_killed ? "failed its liveness probe " + std::to_string(cfg.liveness.failure_threshold) +
                                          " times and was restarted"
                                    : how;
  message = "instance on port " + std::to_string(port) + " " + why + "; back-off " +
            std::to_string(wait.count()) + "ms before restart " + std::to_string(restarts) + "; last output:\n" +
            LogTail();
  OFN_LOG(kWarning) << "revision " << cfg.ns << "/" << cfg.revision << ": " << message;
  lock.unlock();
  Notify();
}

void Supervisor::Run() {
  Status launched_ok = Launch();
  if (!launched_ok.ok()) {
    {
      std::lock_guard<std::mutex> lock(mu);
      start_failure = launched_ok.message();
      state = State::kDone;
    }
    Notify();
    finished = true;
    return;
  }
  for (;;) {
    // Wait for output, at most one supervision period.
    if (pipe_fd >= 0) {
      pollfd p{pipe_fd, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(opt.fast_probe_period.count()));
      DrainPipe(false);
    } else {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, opt.fast_probe_period, [&] { return stop_requested && state != State::kStopping; });
    }
    if (pid > 0) {
      int status = 0;
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) OnExit(status);
    }
    auto now = clock->Monotonic();
    std::unique_lock<std::mutex> lock(mu);
    if (state == State::kDone) break;
    if (stop_requested && state != State::kStopping) {
      if (pid <= 0) {
        state = State::kDone;
        break;
      }
      state = State::kStopping;
      kill_at = now + cfg.grace;
      lock.unlock();
      KillGroup(SIGTERM);
      continue;
    }
    switch (state) {
      case State::kStopping:
        if (now >= kill_at) {
          lock.unlock();
          KillGroup(SIGKILL);
          kill_at = now + std::chrono::hours(1);
        }
        break;
      case State::kBackoff:
        if (now >= restart_at) {
          state = State::kStarting;
          lock.unlock();
          Status st = Launch();
          if (!st.ok()) {
            std::lock_guard<std::mutex> relock(mu);
            state = State::kBackoff;
            restart_at = now + opt.backoff_cap;
            message = "restart failed: " + st.message();
          }
        }
        break;
      case State::kStarting: {
        if (now >= deadline) {
          lock.unlock();
          if (!ever_ready) {
            {
              std::lock_guard<std::mutex> relock(mu);
              start_failure = "instance did not become ready within " + std::to_string(cfg.start_timeout.count()) +
                              "ms (" + (cfg.readiness.type == Probe::Type::kHttp ? "httpGet " + cfg.readiness.path : std::string("tcp")) +
                              " probe on port " + std::to_string(port) + "); last output:\n" + LogTail();
              stop_requested = true;
            }
            Notify();
          } else {
            liveness_killed = false;
            KillGroup(SIGKILL);  // counted as a crash when reaped
          }
          break;
        }
        if (now < next_probe) break;
        lock.unlock();
        bool ok = RunProbe(cfg.readiness, port);
        next_probe = clock->Monotonic() + ProbePeriod(cfg.readiness, true);
        if (ok) {
          {
            std::lock_guard<std::mutex> relock(mu);
            state = State::kReady;
            ever_ready = true;
            if (last_exit_oom) {
              // Like a pod's lastState: the instance is back, but its
              // memory limit is too low for what it does.
              message = "instance on port " + std::to_string(port) + " was OOM-killed and restarted (" +
                        std::to_string(restarts) + " restart(s)); raise resources.limits.memory";
            } else {
              reason.clear();
              message.clear();
            }
          }
          next_probe = clock->Monotonic() + cfg.liveness.initial_delay +
                       ProbePeriod(cfg.liveness, false);
          Notify();
        }
        break;
      }
      case State::kReady:
        if (cfg.liveness.type == Probe::Type::kNone || now < next_probe) break;
        lock.unlock();
        next_probe = now + ProbePeriod(cfg.liveness, false);
        if (RunProbe(cfg.liveness, port)) {
          liveness_failures = 0;
        } else if (++liveness_failures >= cfg.liveness.failure_threshold) {
          liveness_killed = true;
          KillGroup(SIGKILL);
        }
        break;
      case State::kDone:
        break;
    }
  }
  if (pid > 0) {  // start failed or stop asked while the process runs
    KillGroup(SIGTERM);
    // The grace period on the real clock: a process's exit does not wait
    // for a test to move a manual one.
    auto until = std::chrono::steady_clock::now() + cfg.grace;
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0 && std::chrono::steady_clock::now() < until) {
      DrainPipe(false);
      std::this_thread::sleep_for(Millis(10));
    }
    KillGroup(SIGKILL);
    ::waitpid(pid, &status, 0);
    pid = -1;
  }
  DrainPipe(true);
  RemoveCgroups(cgroup_dirs);
  {
    std::lock_guard<std::mutex> lock(mu);
    state = State::kDone;
  }
  cv.notify_all();
  Settle();
  finished = true;
}

void Supervisor::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(mu);
    stop_requested = true;
    observer = nullptr;
  }
  cv.notify_all();
}

}  // namespace ofn::process
