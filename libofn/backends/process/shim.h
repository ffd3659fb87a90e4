// The supervisor's steps, shared by the `ofn-shim` program and the forked
// fallback in spawn.cc. Async-signal-safe system calls only: they run
// between fork and exec of a multi-threaded process, or in a program that
// links no C++ runtime.
//
// Internal to the process backend.
#ifndef LIBOFN_BACKENDS_PROCESS_SHIM_H_
#define LIBOFN_BACKENDS_PROCESS_SHIM_H_

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace ofn::process::shim {

inline void OnParentDeath(int) {
  ::kill(0, SIGKILL);  // the whole group, the shim included
  ::_exit(137);
}

// Writes the calling process's pid into a cgroup.procs file.
inline void JoinCgroup(const char* procs) {
  int fd = ::open(procs, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[24];
  int n = 0;
  long pid = static_cast<long>(::getpid());
  char rev[24];
  do {
    rev[n++] = static_cast<char>('0' + pid % 10);
    pid /= 10;
  } while (pid > 0);
  for (int i = 0; i < n; ++i) buf[i] = rev[n - 1 - i];
  (void)!::write(fd, buf, static_cast<size_t>(n));
  ::close(fd);
}

// The group dies with `parent`'s spawning thread: SIGHUP on its death
// (PR_SET_PDEATHSIG) kills the whole group.
inline void WatchParent(pid_t parent) {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnParentDeath;
  ::sigaction(SIGHUP, &sa, nullptr);
  ::prctl(PR_SET_PDEATHSIG, SIGHUP);
  if (::getppid() != parent) OnParentDeath(SIGHUP);  // the parent died before prctl
}

// In the forked command, before exec: no parent-death signal, SIGHUP back to
// its default, the address-space limit.
inline void PrepareCommand(uint64_t address_space_limit) {
  ::prctl(PR_SET_PDEATHSIG, 0);
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGHUP, &dfl, nullptr);
  if (address_space_limit > 0) {
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = address_space_limit;
    ::setrlimit(RLIMIT_AS, &rl);
  }
}

// Reports an errno on the status pipe and ends the process.
[[noreturn]] inline void Fail(int status_fd, int err) {
  (void)!::write(status_fd, &err, sizeof err);
  ::_exit(127);
}

// The shim after forking the command: no descriptors (so the status pipe
// sees EOF when the command execs), SIGTERM/SIGINT ignored (they are for the
// command); exits with the command's status, 128 + signal when killed.
[[noreturn]] inline void Supervise(pid_t child) {
  ::close_range(0, ~0U, 0);
  struct sigaction ign;
  std::memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGTERM, &ign, nullptr);
  ::sigaction(SIGINT, &ign, nullptr);
  ::sigaction(SIGPIPE, &ign, nullptr);
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(child, &status, 0);
    if (r == child) break;
    if (r < 0 && errno != EINTR) ::_exit(127);
  }
  if (WIFEXITED(status)) ::_exit(WEXITSTATUS(status));
  ::_exit(128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0));
}

}  // namespace ofn::process::shim

#endif  // LIBOFN_BACKENDS_PROCESS_SHIM_H_
