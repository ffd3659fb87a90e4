#include "libofn/backends/process/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/impl/environment.ipp>
#include <boost/process/v2/posix/default_launcher.hpp>
#include <boost/process/v2/start_dir.hpp>
#include <boost/process/v2/stdio.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>

extern char** environ;

namespace ofn::process {

namespace bp = boost::process::v2;

namespace {

void OnParentDeath(int) {
  ::kill(0, SIGKILL);  // the whole group, the shim included
  ::_exit(137);
}

// Writes the calling process's pid into a cgroup.procs file; only
// async-signal-safe calls (runs between fork and exec).
void JoinCgroup(const char* procs) {
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

// The Boost.Process initializer that turns the forked child into the shim.
// Everything here runs after fork in a multi-threaded parent: system calls
// only, no allocation.
struct Shim {
  pid_t parent;
  const std::vector<const char*>* cgroups;
  uint64_t address_space_limit;

  bp::error_code on_exec_setup(bp::posix::default_launcher&, const bp::filesystem::path&, const char* const*) {
    ::setpgid(0, 0);
    for (const char* procs : *cgroups) JoinCgroup(procs);

    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = OnParentDeath;
    ::sigaction(SIGHUP, &sa, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::prctl(PR_SET_PDEATHSIG, SIGHUP);
    if (::getppid() != parent) OnParentDeath(SIGHUP);  // the parent died before prctl

    pid_t child = ::fork();
    if (child < 0) return bp::error_code(errno, bp::system_category());
    if (child == 0) {
      // The command: default signal dispositions, nothing blocked.
      ::prctl(PR_SET_PDEATHSIG, 0);
      struct sigaction dfl;
      std::memset(&dfl, 0, sizeof dfl);
      dfl.sa_handler = SIG_DFL;
      for (int sig = 1; sig < NSIG; ++sig) {
        if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
      }
      if (address_space_limit > 0) {
        struct rlimit rl;
        rl.rlim_cur = rl.rlim_max = address_space_limit;
        ::setrlimit(RLIMIT_AS, &rl);
      }
      return {};  // Boost.Process closes other descriptors and execs
    }

    // The shim: no descriptors (the exec-status pipe must see EOF when the
    // command execs), SIGTERM/SIGINT ignored (they are for the command).
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
};

}  // namespace

std::vector<std::string> CurrentEnvironment() {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) out.emplace_back(*e);
  return out;
}

Result<pid_t> Spawn(const SpawnSpec& spec) {
  if (spec.command.empty()) return Status(StatusCode::kInvalidArgument, "command is empty");
  std::filesystem::path exe = spec.command;
  if (spec.command.find('/') == std::string::npos) {
    std::string path_var;
    for (const std::string& e : spec.env) {
      if (e.rfind("PATH=", 0) == 0) path_var = e.substr(5);
    }
    if (path_var.empty()) path_var = "/usr/local/bin:/usr/bin:/bin";
    exe.clear();
    size_t start = 0;
    while (start <= path_var.size()) {
      size_t end = path_var.find(':', start);
      if (end == std::string::npos) end = path_var.size();
      std::string dir = path_var.substr(start, end - start);
      if (dir.empty()) dir = ".";
      std::filesystem::path candidate = std::filesystem::path(dir) / spec.command;
      if (::access(candidate.c_str(), X_OK) == 0) {
        exe = candidate;
        break;
      }
      start = end + 1;
    }
    if (exe.empty()) {
      return Status(StatusCode::kNotFound, "command \"" + spec.command + "\" not found in PATH (" + path_var + ")");
    }
  } else if (!spec.working_dir.empty() && exe.is_relative()) {
    exe = std::filesystem::path(spec.working_dir) / exe;
  }
  if (::access(exe.c_str(), X_OK) != 0) {
    return Status(StatusCode::kNotFound, "command \"" + exe.string() + "\": " + std::strerror(errno));
  }

  std::vector<const char*> cgroups;
  for (const std::string& c : spec.cgroup_procs) cgroups.push_back(c.c_str());
  Shim shim{::getpid(), &cgroups, spec.address_space_limit};

  bp::filesystem::path exe_path(exe.string());
  boost::asio::io_context ctx;
  bp::error_code ec;
  bp::posix::default_launcher launcher;
  auto stdio = bp::process_stdio{nullptr, spec.output_fd, spec.output_fd};
  bp::basic_process<boost::asio::io_context::executor_type> proc =
      spec.working_dir.empty()
          ? launcher(ctx.get_executor(), ec, exe_path, spec.args, stdio, bp::process_environment(spec.env), shim)
          : launcher(ctx.get_executor(), ec, exe_path, spec.args, stdio, bp::process_environment(spec.env),
                     bp::process_start_dir(spec.working_dir), shim);
  if (ec) {
    return Status(StatusCode::kFailedPrecondition, "cannot start \"" + exe.string() + "\": " + ec.message());
  }
  pid_t pid = proc.id();
  proc.detach();  // the instance reaps it
  return pid;
}

}  // namespace ofn::process
