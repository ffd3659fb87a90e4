// ofn-shim: the supervisor of one process instance (see spawn.h).
//
// The process backend starts it with posix_spawn (no copy of the platform's
// address space), in a new process group, with default signal dispositions,
// stdin on /dev/null, stdout and stderr on the instance's log and the status
// pipe on descriptor 3:
//
//   ofn-shim PARENT_PID ADDRESS_SPACE_LIMIT DIR|- [CGROUP_PROCS...] -- COMMAND [ARGS...]
//
// It joins the cgroups, forks COMMAND (a fork of this small program is
// cheap) and waits for it. The command's environment is the shim's. An exec
// failure is written to descriptor 3 as an errno int; a successful exec
// closes it.
//
//   ofn-shim --guard
//
// The guard of the instances the backend starts without a shim: it reads
// "+PGID" and "-PGID" lines on stdin and, when stdin ends (the platform's
// process is gone, however it ended), kills every process group it holds.
#include <poll.h>

#include <cstdlib>
#include <cstring>

#include "libofn/backends/process/shim.h"

namespace shim = ofn::process::shim;

namespace {

[[noreturn]] void Guard() {
  ::close_range(1, ~0U, 0);
  struct sigaction ign;
  std::memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  const int ignored[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT};
  for (int sig : ignored) ::sigaction(sig, &ign, nullptr);
  constexpr int kMax = 1 << 16;  // groups held at once; more are not guarded
  static pid_t groups[kMax];
  int count = 0;
  char buf[4096];
  char line[32];
  int len = 0;
  for (;;) {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] != '\n') {
        if (len < static_cast<int>(sizeof line) - 1) line[len++] = buf[i];
        continue;
      }
      line[len] = 0;
      len = 0;
      const auto pgid = static_cast<pid_t>(std::strtol(line + 1, nullptr, 10));
      if (pgid <= 1) continue;
      if (line[0] == '+' && count < kMax) {
        groups[count++] = pgid;
      } else if (line[0] == '-') {
        for (int j = 0; j < count; ++j) {
          if (groups[j] == pgid) {
            groups[j] = groups[--count];
            break;
          }
        }
      }
    }
  }
  for (int j = 0; j < count; ++j) ::kill(-groups[j], SIGKILL);
  ::_exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--guard") == 0) Guard();
  constexpr int kStatusFd = 3;
  ::close_range(kStatusFd + 1, ~0U, 0);  // nothing of the platform but stdio and the status pipe
  if (argc < 6) shim::Fail(kStatusFd, EINVAL);
  const auto parent = static_cast<pid_t>(std::strtol(argv[1], nullptr, 10));
  const uint64_t address_space_limit = std::strtoull(argv[2], nullptr, 10);
  const char* dir = std::strcmp(argv[3], "-") == 0 ? nullptr : argv[3];
  int i = 4;
  for (; i < argc && std::strcmp(argv[i], "--") != 0; ++i) shim::JoinCgroup(argv[i]);
  if (i + 1 >= argc) shim::Fail(kStatusFd, EINVAL);
  char** command = argv + i + 1;
  shim::WatchParent(parent);

  pid_t child = ::fork();
  if (child < 0) shim::Fail(kStatusFd, errno);
  if (child == 0) {
    shim::PrepareCommand(address_space_limit);
    if (dir && ::chdir(dir) != 0) shim::Fail(kStatusFd, errno);
    ::fcntl(kStatusFd, F_SETFD, FD_CLOEXEC);
    ::execv(command[0], command);
    shim::Fail(kStatusFd, errno);
  }
  shim::Supervise(child);
}
