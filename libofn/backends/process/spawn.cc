#include "libofn/backends/process/spawn.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/impl/environment.ipp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "libofn/backends/process/shim.h"
#include "version_gen.h"

extern char** environ;

namespace ofn::process {

namespace bp = boost::process::v2;

namespace {

// The forked child: becomes the shim and forks the command. Everything here
// runs after fork in a multi-threaded parent: system calls only, no
// allocation (Boost.Process's launcher calls asio's notify_fork in the child,
// which allocates; under ASan that can deadlock on a sanitizer lock, so the
// fork/exec itself is done here). Never returns.
[[noreturn]] void RunShim(pid_t parent, const std::vector<const char*>& cgroups, uint64_t address_space_limit,
                          int null_fd, int output_fd, int status_fd, const char* dir, const char* exe,
                          char* const* argv, char* const* envp) {
  ::setpgid(0, 0);
  for (const char* procs : cgroups) shim::JoinCgroup(procs);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  shim::WatchParent(parent);

  pid_t child = ::fork();
  if (child < 0) shim::Fail(status_fd, errno);
  if (child == 0) {
    // The command: default signal dispositions, stdio, limits, then exec.
    shim::PrepareCommand(address_space_limit);
    struct sigaction dfl;
    std::memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
    }
    if (::dup2(null_fd, 0) < 0 || ::dup2(output_fd, 1) < 0 || ::dup2(output_fd, 2) < 0) shim::Fail(status_fd, errno);
    if (dir && ::chdir(dir) != 0) shim::Fail(status_fd, errno);
    // Nothing of the host leaks into the function; the status pipe closes
    // on a successful exec.
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
      for (int fd = 3; fd < 65536; ++fd) {
        if (fd != status_fd) ::close(fd);
      }
    }
    ::fcntl(status_fd, F_SETFD, FD_CLOEXEC);
    ::execve(exe, argv, envp);
    shim::Fail(status_fd, errno);
  }
  shim::Supervise(child);
}

// Closes a descriptor when the scope ends.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// posix_spawn of `path` in a new process group with default signal
// dispositions and an empty mask: stdin from `in`, stdout and stderr to
// `out`, `status` (if >= 0) as descriptor 3, in `dir` (if not empty).
// Returns posix_spawn's error number.
int SpawnInGroup(const std::string& path, std::vector<std::string> args, std::vector<std::string> env, int in,
                 int out, int status, const std::string& dir, pid_t* pid) {
  // The sources of the dup2s, above the descriptors they go to.
  Fd in_fd{::fcntl(in, F_DUPFD_CLOEXEC, 10)};
  Fd out_fd{::fcntl(out, F_DUPFD_CLOEXEC, 10)};
  Fd status_fd{status >= 0 ? ::fcntl(status, F_DUPFD_CLOEXEC, 10) : -1};
  if (in_fd.fd < 0 || out_fd.fd < 0 || (status >= 0 && status_fd.fd < 0)) return errno;
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&actions, in_fd.fd, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd.fd, 1);
  posix_spawn_file_actions_adddup2(&actions, out_fd.fd, 2);
  if (status >= 0) posix_spawn_file_actions_adddup2(&actions, status_fd.fd, 3);
  if (!dir.empty()) posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  int err = ::posix_spawn(pid, path.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  return err;
}

// Starts `ofn-shim` with posix_spawn: the platform's address space is not
// copied (fork copies its page tables, ~1 ms with the gateway's threads
// and mappings), and the shim's own fork of the command copies a small
// program. Returns the shim's pid; exec failures come back through the
// status pipe as with the forked shim.
Result<pid_t> SpawnShim(const std::string& shim, const SpawnSpec& spec, const std::string& exe_path,
                        int null_fd, int status_fd) {
  std::vector<std::string> args = {shim, std::to_string(::getpid()), std::to_string(spec.address_space_limit),
                                   spec.working_dir.empty() ? "-" : spec.working_dir};
  for (const std::string& c : spec.cgroup_procs) args.push_back(c);
  args.push_back("--");
  args.push_back(exe_path);
  for (const std::string& a : spec.args) args.push_back(a);
  pid_t pid = -1;
  int err = SpawnInGroup(shim, std::move(args), spec.env, null_fd, spec.output_fd >= 0 ? spec.output_fd : null_fd,
                         status_fd, "", &pid);
  if (err != 0) return Status(StatusCode::kUnavailable, "starting " + shim + ": " + std::strerror(err));
  return pid;
}

// The one `ofn-shim --guard` of this process, started at the first direct
// spawn: it holds the process groups started without a shim and kills them
// when this process ends (its stdin, our socket, closes).
class Guardian {
 public:
  // Starts the guard when it is not running; false when it cannot.
  bool Ensure(const std::string& shim) {
    std::lock_guard<std::mutex> lock(mu_);
    if (fd_ >= 0) return true;
    // A socket, not a pipe: a write to a guard that is gone must not raise
    // SIGPIPE in the host (MSG_NOSIGNAL).
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return false;
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setpgroup(&attr, 0);  // not in the host's group (a terminal's ^C)
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
    std::string arg0 = shim, arg1 = "--guard";
    char* argv[] = {arg0.data(), arg1.data(), nullptr};
    char* envp[] = {nullptr};
    pid_t pid = -1;
    int err = ::posix_spawn(&pid, shim.c_str(), &actions, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(fds[0]);
    if (err != 0) {
      ::close(fds[1]);
      return false;
    }
    fd_ = fds[1];
    return true;
  }
  void Hold(pid_t group) { Send('+', group); }
  void Release(pid_t group) { Send('-', group); }

 private:
  void Send(char op, pid_t group) {
    std::lock_guard<std::mutex> lock(mu_);
    if (fd_ < 0) return;
    char line[24];
    int n = std::snprintf(line, sizeof line, "%c%ld\n", op, static_cast<long>(group));
    (void)!::send(fd_, line, static_cast<size_t>(n), MSG_NOSIGNAL);  // under the lock: never interleaved
  }
  std::mutex mu_;
  int fd_ = -1;
};

Guardian& TheGuardian() {
  static Guardian* g = new Guardian;  // never destroyed: the pipe closes with the process
  return *g;
}

// Starts the command itself with posix_spawn, leading its own process
// group, guarded by `ofn-shim --guard`: one exec, as a shell would do.
Result<pid_t> SpawnDirect(const SpawnSpec& spec, const std::string& exe_path, int null_fd) {
  std::vector<std::string> args = {exe_path};
  for (const std::string& a : spec.args) args.push_back(a);
  pid_t pid = -1;
  int err = SpawnInGroup(exe_path, std::move(args), spec.env, null_fd, spec.output_fd >= 0 ? spec.output_fd : null_fd,
                         -1, spec.working_dir, &pid);
  if (err != 0) {
    return Status(StatusCode::kFailedPrecondition,
                  "cannot start \"" + exe_path + "\"" + (spec.working_dir.empty() ? "" : " in " + spec.working_dir) +
                      ": " + std::strerror(err));
  }
  TheGuardian().Hold(pid);
  return pid;
}

// No ofn-shim (a library moved without it): this process forks as the
// shim. Everything the child needs is prepared here, before fork.
Result<pid_t> ForkShim(const SpawnSpec& spec, const std::string& exe_path, int null_fd, int status_fd) {
  std::vector<const char*> cgroups;
  for (const std::string& c : spec.cgroup_procs) cgroups.push_back(c.c_str());
  std::vector<std::string> arg_strings = {exe_path};
  for (const std::string& a : spec.args) arg_strings.push_back(a);
  std::vector<char*> argv;
  for (std::string& a : arg_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = spec.env;
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const char* dir = spec.working_dir.empty() ? nullptr : spec.working_dir.c_str();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    RunShim(parent, cgroups, spec.address_space_limit, null_fd, spec.output_fd, status_fd, dir, exe_path.c_str(),
            argv.data(), envp.data());
  }
  if (pid < 0) return Status(StatusCode::kUnavailable, std::string("fork: ") + std::strerror(errno));
  return pid;
}

}  // namespace

void Released(pid_t group) { TheGuardian().Release(group); }

std::string ShimPath() {
  static std::once_flag once;
  static std::string path;
  std::call_once(once, [] {
    auto usable = [](const std::filesystem::path& p) { return ::access(p.c_str(), X_OK) == 0; };
    if (const char* env = std::getenv("OFN_SHIM"); env && *env) {
      path = usable(env) ? env : "";
      return;
    }
    // Beside the library (a build tree), in the libexec directory of the
    // prefix the library is in (an install, moved or not), else where it was
    // to be installed.
    Dl_info info;
    if (::dladdr(reinterpret_cast<void*>(&ShimPath), &info) != 0 && info.dli_fname) {
      std::error_code ec;
      const std::filesystem::path dir = std::filesystem::canonical(info.dli_fname, ec).parent_path();
      for (const char* rel : {"ofn-shim", "../libexec/libofn/ofn-shim", "../../libexec/libofn/ofn-shim"}) {
        if (!ec && usable(dir / rel)) {
          path = (dir / rel).lexically_normal().string();
          return;
        }
      }
    }
    std::filesystem::path installed = std::filesystem::path(OFN_LIBEXECDIR) / "ofn-shim";
    if (usable(installed)) path = installed.string();
  });
  return path;
}

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

  std::string exe_path = exe.string();
  const std::string shim = ShimPath();
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) return Status(StatusCode::kInternal, std::string("/dev/null: ") + std::strerror(errno));
  // Without cgroups to join or an address-space limit to set (both must be
  // in place before the command runs), the command is started directly.
  if (!shim.empty() && spec.cgroup_procs.empty() && spec.address_space_limit == 0 &&
      TheGuardian().Ensure(shim)) {
    Result<pid_t> pid = SpawnDirect(spec, exe_path, null_fd);
    ::close(null_fd);
    return pid;
  }
  int status_pipe[2];
  if (::pipe2(status_pipe, O_CLOEXEC) != 0) {
    ::close(null_fd);
    return Status(StatusCode::kInternal, std::string("pipe: ") + std::strerror(errno));
  }
  Result<pid_t> started = shim.empty() ? ForkShim(spec, exe_path, null_fd, status_pipe[1])
                                       : SpawnShim(shim, spec, exe_path, null_fd, status_pipe[1]);
  ::close(null_fd);
  ::close(status_pipe[1]);
  if (!started.ok()) {
    ::close(status_pipe[0]);
    return started.status();
  }
  const pid_t pid = *started;
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
                  "cannot start \"" + exe_path + "\"" + (spec.working_dir.empty() ? "" : " in " + spec.working_dir) +
                      ": " + std::strerror(child_errno));
  }
  return pid;
}

}  // namespace ofn::process
