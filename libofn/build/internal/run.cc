#include "libofn/build/internal/run.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

extern char** environ;

namespace ofn::build::internal {

namespace {

// A descriptor that becomes readable when the process exits (Linux ≥ 5.3).
int PidFd(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::string CommandLine(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`*?;&|<>()") == std::string::npos;
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

Result<int> RunStep(const Step& step) {
  if (step.argv.empty()) return Status(StatusCode::kInvalidArgument, "a build step needs a program");
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string_view::npos) env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (const auto& [k, v] : step.env) env[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, argv;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = step.argv;
  for (std::string& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawnattr_init(&attr);
  ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (step.log_fd >= 0) {
    ::posix_spawn_file_actions_adddup2(&actions, step.log_fd, 1);
    ::posix_spawn_file_actions_adddup2(&actions, step.log_fd, 2);
  }
  if (!step.dir.empty()) ::posix_spawn_file_actions_addchdir_np(&actions, step.dir.c_str());
  ::posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none;
  sigemptyset(&none);
  ::posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  ::posix_spawnattr_setsigdefault(&attr, &defaults);
  ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  // posix_spawnp looks the program up in the caller's PATH; the step's own
  // PATH (if it sets one) is what the child gets.
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return Status(rc == ENOENT ? StatusCode::kNotFound : StatusCode::kInternal,
                  "cannot run " + step.argv[0] + ": " + std::strerror(rc));
  }
  int pidfd = PidFd(pid);
  enum class End { kExited, kDeadline, kCancelled } end = End::kExited;
  while (true) {
    if (step.cancel && step.cancel->load()) {
      end = End::kCancelled;
      break;
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= step.deadline) {
      end = End::kDeadline;
      break;
    }
    int wait_ms = 100;
    if (step.deadline != std::chrono::steady_clock::time_point::max()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(step.deadline - now).count() + 1;
      if (left < wait_ms) wait_ms = static_cast<int>(left);
    }
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      int n = ::poll(&p, 1, wait_ms);
      if (n > 0) break;
    } else {
      int status = 0;
      pid_t done = ::waitpid(pid, &status, WNOHANG);
      if (done == pid) return ExitCode(status);
      ::usleep(static_cast<useconds_t>(wait_ms) * 1000);
    }
  }
  // Whatever the step left running in its group goes with it (the leader
  // is not reaped yet, so the group id cannot have been reused).
  ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (pidfd >= 0) ::close(pidfd);
  if (end == End::kDeadline) return Status(StatusCode::kDeadlineExceeded, "timed out: " + CommandLine(step.argv));
  if (end == End::kCancelled) return Status(StatusCode::kUnavailable, "cancelled: " + CommandLine(step.argv));
  return ExitCode(status);
}

}  // namespace ofn::build::internal
