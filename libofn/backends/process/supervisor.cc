#include "libofn/backends/process/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "libofn/backends/process/cgroup.h"
#include "libofn/backends/process/spawn.h"

namespace ofn::process {

std::string Supervisor::LogTail() const {
  std::string tail = log->Tail(20, 2048);
  while (!tail.empty() && tail.back() == '\n') tail.pop_back();
  return tail.empty() ? "(no output)" : tail;
}

void Supervisor::DrainPipe(bool final) {
  if (pipe_fd_ < 0) return;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(pipe_fd_, buf, sizeof buf);
    if (n > 0) {
      partial_.append(buf, static_cast<size_t>(n));
      size_t last = partial_.rfind('\n');
      if (last != std::string::npos) {
        log->Write(std::string_view(partial_).substr(0, last + 1));
        partial_.erase(0, last + 1);
      }
      if (partial_.size() > 64 * 1024) {  // a very long line: write it as is
        log->Write(partial_ + "\n");
        partial_.clear();
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // EAGAIN or EOF
  }
  if (final) {
    if (!partial_.empty()) log->Write(partial_ + "\n");
    partial_.clear();
    ::close(pipe_fd_);
    pipe_fd_ = -1;
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
  pid_ = *spawned;
  pipe_fd_ = fds[0];
  ::fcntl(pipe_fd_, F_SETFL, ::fcntl(pipe_fd_, F_GETFL) | O_NONBLOCK);
  return Status::Ok();
}

void Supervisor::Signal(int sig) {
  if (pid_ > 0) ::kill(-pid_, sig);
}

std::optional<Supervisor::Exit> Supervisor::Wait(std::chrono::milliseconds period) {
  // Wait for output, at most one period.
  if (pipe_fd_ >= 0) {
    pollfd p{pipe_fd_, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(period.count()));
    DrainPipe(false);
  } else {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, period, [&] { return stop_requested && state != State::kStopping; });
  }
  int status = 0;
  if (pid_ <= 0 || ::waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  DrainPipe(true);
  ::kill(-pid_, SIGKILL);  // anything the command left behind in its group
  Released(pid_);
  pid_ = -1;
  Exit exit;
  exit.how = WIFEXITED(status) ? "exited with code " + std::to_string(WEXITSTATUS(status))
                               : "was killed by signal " + std::to_string(WTERMSIG(status));
  const int signal = WIFEXITED(status) && WEXITSTATUS(status) > 128 ? WEXITSTATUS(status) - 128
                     : WIFSIGNALED(status)                           ? WTERMSIG(status)
                                                                     : 0;
  if (WIFEXITED(status) && WEXITSTATUS(status) > 128) exit.how = "was killed by signal " + std::to_string(signal);
  const int64_t oom_kills = OomKills(cgroup_dirs);
  exit.oom = signal == SIGKILL && oom_kills > oom_kills_seen_;
  oom_kills_seen_ = oom_kills;
  if (exit.oom) exit.how = "was killed for going over its memory limit (OOMKilled)";
  return exit;
}

void Supervisor::Finish() {
  DrainPipe(true);
  RemoveCgroups(cgroup_dirs);
}

}  // namespace ofn::process
