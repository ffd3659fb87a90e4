#include "libofn/backends/process/spawn.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/impl/environment.ipp>
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

// The forked child: becomes the shim and forks the command. Everything here
// runs after fork in a multi-threaded parent: system calls only, no
// allocation (Boost.Process's launcher calls asio's notify_fork in the child,
// which allocates; under ASan that can deadlock on a sanitizer lock, so the
// fork/exec itself is done here). Never returns.
[[noreturn]] void RunShim(pid_t parent, const std::vector<const char*>& cgroups, uint64_t address_space_limit,
                          int null_fd, int output_fd, int status_fd, const char* dir, const char* exe,
                          char* const* argv, char* const* envp) {
  ::setpgid(0, 0);
  for (const char* procs : cgroups) JoinCgroup(procs);
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
  if (child < 0) {
    int err = errno;
    (void)!::write(status_fd, &err, sizeof err);
    ::_exit(127);
  }
  if (child == 0) {
    // The command: default signal dispositions, stdio, limits, then exec.
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
    int err = 0;
    if (::dup2(null_fd, 0) < 0 || ::dup2(output_fd, 1) < 0 || ::dup2(output_fd, 2) < 0) err = errno;
    if (!err && dir && ::chdir(dir) != 0) err = errno;
    if (!err) {
      // Nothing of the host leaks into the function; the status pipe closes
      // on a successful exec.
      if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        for (int fd = 3; fd < 65536; ++fd) {
          if (fd != status_fd) ::close(fd);
        }
      }
      ::fcntl(status_fd, F_SETFD, FD_CLOEXEC);
      ::execve(exe, argv, envp);
      err = errno;
    }
    (void)!::write(status_fd, &err, sizeof err);
    ::_exit(127);
  }

  // The shim: no descriptors (so the status pipe sees EOF when the command
  // execs), SIGTERM/SIGINT ignored (they are for the command).
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
    // Looked up in the instance's PATH (Boost.Process v2's search).
    std::vector<bp::environment::key_value_pair> env;
    for (const std::string& e : spec.env) env.emplace_back(e);
    bp::filesystem::path found = bp::environment::find_executable(spec.command, env);
    if (found.empty()) {
      std::string path_var;
      for (const std::string& e : spec.env) {
        if (e.rfind("PATH=", 0) == 0) path_var = e.substr(5);
      }
      return Status(StatusCode::kNotFound, "command \"" + spec.command + "\" not found in PATH (" + path_var + ")");
    }
    exe = found.string();
  } else if (!spec.working_dir.empty() && exe.is_relative()) {
    exe = std::filesystem::path(spec.working_dir) / exe;
  }
  if (::access(exe.c_str(), X_OK) != 0) {
    return Status(StatusCode::kNotFound, "command \"" + exe.string() + "\": " + std::strerror(errno));
  }
  if (!spec.working_dir.empty()) {
    // Name the directory, not the command, when it is the directory that is missing.
    std::error_code ec;
    if (!std::filesystem::is_directory(spec.working_dir, ec)) {
      std::string where = std::filesystem::path(spec.working_dir).is_relative()
                              ? " (a relative workingDir is taken from the manifest's directory when `ofn apply -f` "
                                "or `ofn serve -f` gave it, else from the directory the platform runs in, " +
                                    std::filesystem::current_path(ec).string() + ")"
                              : "";
      return Status(StatusCode::kNotFound, "workingDir \"" + spec.working_dir + "\" is not a directory" + where);
    }
  }

  std::vector<const char*> cgroups;
  for (const std::string& c : spec.cgroup_procs) cgroups.push_back(c.c_str());
  // Everything the child needs is prepared here, before fork.
  std::string exe_path = exe.string();
  std::vector<std::string> arg_strings;
  arg_strings.push_back(exe_path);
  for (const std::string& a : spec.args) arg_strings.push_back(a);
  std::vector<char*> argv;
  for (std::string& a : arg_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = spec.env;
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) return Status(StatusCode::kInternal, std::string("/dev/null: ") + std::strerror(errno));
  int status_pipe[2];
  if (::pipe2(status_pipe, O_CLOEXEC) != 0) {
    ::close(null_fd);
    return Status(StatusCode::kInternal, std::string("pipe: ") + std::strerror(errno));
  }
  const char* dir = spec.working_dir.empty() ? nullptr : spec.working_dir.c_str();
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(status_pipe[0]);
    RunShim(parent, cgroups, spec.address_space_limit, null_fd, spec.output_fd, status_pipe[1], dir,
            exe_path.c_str(), argv.data(), envp.data());
  }
  int fork_errno = errno;
  ::close(null_fd);
  ::close(status_pipe[1]);
  if (pid < 0) {
    ::close(status_pipe[0]);
    return Status(StatusCode::kUnavailable, std::string("fork: ") + std::strerror(fork_errno));
  }
  // EOF: the command exec'd (the shim closed its copy); an int: why not.
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(status_pipe[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  ::close(status_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return Status(StatusCode::kFailedPrecondition,
                  "cannot start \"" + exe_path + "\"" + (dir ? " in " + spec.working_dir : "") + ": " +
                      std::strerror(child_errno));
  }
  return pid;
}

}  // namespace ofn::process
