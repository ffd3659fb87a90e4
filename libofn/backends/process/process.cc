#include "libofn/backends/process/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "libofn/backends/process/log_file.h"
#include "libofn/backends/process/spawn.h"
#include "libofn/common/internal/json_access.h"
#include "libofn/common/log.h"
#include "libofn/gateway/client.h"
#include "libofn/gateway/server.h"

namespace ofn::process {

namespace json = boost::json;
using ofn::internal::Arr;
using ofn::internal::At;
using ofn::internal::Obj;
using ofn::internal::Str;
using Millis = std::chrono::milliseconds;
using SteadyTime = std::chrono::steady_clock::time_point;

namespace {

using backend::Probe;

// Waits for `fd` to become ready for `events`, up to `deadline`.
bool WaitFd(int fd, short events, SteadyTime deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

int ConnectLoopback(int port, SteadyTime deadline) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int r = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (r != 0 && errno == EINPROGRESS && WaitFd(fd, POLLOUT, deadline)) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    r = err == 0 ? 0 : -1;
  }
  if (r != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// One probe: TCP connect, or GET with a status in [200, 400).
bool RunProbe(const Probe& probe, int port) {
  SteadyTime deadline = std::chrono::steady_clock::now() + probe.timeout;
  int fd = ConnectLoopback(port, deadline);
  if (fd < 0) return false;
  bool ok = true;
  if (probe.type == Probe::Type::kHttp) {
    std::string req = "GET " + probe.path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                      "\r\nUser-Agent: ofn-probe\r\nConnection: close\r\n";
    for (const auto& [n, v] : probe.headers) req += n + ": " + v + "\r\n";
    req += "\r\n";
    size_t sent = 0;
    while (ok && sent < req.size()) {
      ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        ok = WaitFd(fd, POLLOUT, deadline);
      } else {
        ok = false;
      }
    }
    std::string head;
    while (ok && head.find("\r\n") == std::string::npos && head.size() < 1024) {
      char buf[256];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        head.append(buf, static_cast<size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        ok = WaitFd(fd, POLLIN, deadline);
      } else {
        ok = false;
      }
    }
    // "HTTP/1.1 200 OK"
    if (ok) {
      size_t sp = head.find(' ');
      int status = sp == std::string::npos ? 0 : std::atoi(head.c_str() + sp + 1);
      ok = status >= 200 && status < 400;
    }
  }
  ::close(fd);
  return ok;
}

struct Config {
  std::string ns, function, revision;
  std::string command;
  std::vector<std::string> args;
  std::string working_dir;
  std::vector<std::pair<std::string, std::string>> env;  // spec env, in order
  json::object func_context;                              // FUNC_CONTEXT without the port
  Probe readiness, liveness;
  Millis start_timeout{0};
  Millis grace{0};
  int64_t memory_bytes = 0;
  int64_t cpu_millis = 0;
  std::string memory_text, cpu_text;
};

Result<Config> ParseConfig(const backend::Workload& w, const ProcessDriverOptions& opt) {
  if (w.kind != backend::WorkloadKind::kCommand || w.command.empty()) {
    return Status(StatusCode::kInvalidArgument, "the function container of " + w.ns + "/" + w.function +
                                                    " sets no command");
  }
  Config cfg;
  cfg.ns = w.ns;
  cfg.function = w.function;
  cfg.revision = w.revision;
  cfg.command = w.command;
  cfg.args = w.args;
  cfg.working_dir = w.working_dir;
  cfg.env = w.env;
  json::value ctx = ofn::internal::ParseObjectOrEmpty(w.func_context);
  cfg.func_context = ctx.as_object();
  cfg.readiness = w.readiness;
  cfg.liveness = w.liveness;
  cfg.start_timeout = w.start_timeout.value_or(opt.start_timeout);
  cfg.grace = w.grace.value_or(opt.grace);
  cfg.memory_bytes = w.limits.memory_bytes;
  cfg.cpu_millis = w.limits.cpu_millis;
  cfg.memory_text = w.limits.memory_text;
  cfg.cpu_text = w.limits.cpu_text;
  return cfg;
}

// An instance's whole environment: the host's, then serving.params and the
// container's env, then FUNC_CONTEXT and PORT for its port.
std::vector<std::string> InstanceEnvironment(const std::vector<std::string>& host, const Config& cfg, int port) {
  std::map<std::string, std::string> env;
  for (const std::string& e : host) {
    size_t eq = e.find('=');
    if (eq != std::string::npos) env[e.substr(0, eq)] = e.substr(eq + 1);
  }
  for (const auto& [k, v] : cfg.env) env[k] = v;
  json::object ctx = cfg.func_context;
  ctx["port"] = std::to_string(port);
  json::object& triggers = ctx["triggers"].as_object();
  json::object http = triggers.contains("http") && triggers["http"].is_object() ? triggers["http"].as_object() : json::object();
  http["port"] = port;
  triggers["http"] = std::move(http);
  env["FUNC_CONTEXT"] = json::serialize(ctx);
  env["PORT"] = std::to_string(port);
  env["CONTEXT_MODE"] = "self-host";
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

bool WriteFile(const std::string& path, const std::string& text, std::string* error) {
  std::ofstream f(path);
  f << text;
  f.flush();
  if (!f) {
    *error = path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

// Where this process's cgroups are, per controller.
struct CgroupRoots {
  std::string memory;  // directory of our memory cgroup ("" = none)
  std::string cpu;
  bool v2 = false;
};

CgroupRoots FindCgroups() {
  CgroupRoots roots;
  std::ifstream f("/proc/self/cgroup");
  std::string line;
  bool unified_only = std::filesystem::exists("/sys/fs/cgroup/cgroup.controllers");
  while (std::getline(f, line)) {
    // "4:memory:/path" (v1) or "0::/path" (v2)
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (controllers.empty() && unified_only) {
      roots.v2 = true;
      roots.memory = roots.cpu = "/sys/fs/cgroup" + path;
      continue;
    }
    std::set<std::string> names;
    size_t start = 0;
    while (start <= controllers.size()) {
      size_t comma = controllers.find(',', start);
      if (comma == std::string::npos) comma = controllers.size();
      names.insert(controllers.substr(start, comma - start));
      start = comma + 1;
    }
    std::string dir = "/sys/fs/cgroup/" + controllers + path;
    if (names.count("memory")) roots.memory = dir;
    if (names.count("cpu")) roots.cpu = dir;
  }
  return roots;
}

}  // namespace

// One supervised instance: the process tree, its log pipe, probes, restarts.
struct Proc {
  enum class State { kStarting, kReady, kBackoff, kStopping, kDone };

  Config cfg;
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
  std::thread thread;
  std::atomic<bool> finished{false};

  // Supervisor-thread state.
  pid_t pid = -1;
  int pipe_fd = -1;
  std::string partial;
  SteadyTime launched{}, deadline{}, next_probe{}, restart_at{}, kill_at{};
  int liveness_failures = 0;
  bool liveness_killed = false;
  int64_t oom_kills_seen = 0;  // the instance's cgroups' count when last read
  bool last_exit_oom = false;

  std::string Address() const { return "127.0.0.1:" + std::to_string(port); }

  void Notify() {
    std::function<void()> obs;
    {
      std::lock_guard<std::mutex> lock(mu);
      obs = observer;
    }
    cv.notify_all();
    if (obs) obs();
  }

  std::string LogTail() const {
    std::string tail = log->Tail(20, 2048);
    while (!tail.empty() && tail.back() == '\n') tail.pop_back();
    return tail.empty() ? "(no output)" : tail;
  }

  void DrainPipe(bool final) {
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

  Status Launch() {
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
    launched = std::chrono::steady_clock::now();
    deadline = launched + cfg.start_timeout;
    next_probe = launched + cfg.readiness.initial_delay;
    liveness_failures = 0;
    liveness_killed = false;
    return Status::Ok();
  }

  Millis ProbePeriod(const Probe& p, bool starting) const {
    if (p.period.count() > 0) return p.period;
    return starting ? opt.fast_probe_period : Millis(std::chrono::seconds(10));
  }

  void KillGroup(int sig) {
    if (pid > 0) ::kill(-pid, sig);
  }

  // OOM kills counted by the instance's memory cgroup (v2 memory.events,
  // v1 memory.oom_control): the kernel's word on why a SIGKILL came.
  int64_t OomKills() const {
    int64_t total = 0;
    for (const std::string& dir : cgroup_dirs) {
      for (const char* file : {"/memory.events", "/memory.oom_control"}) {
        std::ifstream f(dir + file);
        std::string key;
        int64_t value = 0;
        while (f >> key >> value) {
          if (key == "oom_kill") total += value;
        }
      }
    }
    return total;
  }

  // Called when the shim exited: reaps leftovers and decides what comes next.
  void OnExit(int status) {
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
    const int64_t oom_kills = OomKills();
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
    auto now = std::chrono::steady_clock::now();
    if (now - launched >= opt.backoff_reset_after) consecutive_crashes = 0;
    ++consecutive_crashes;
    ++restarts;
    Millis wait = opt.backoff_base;
    for (int i = 1; i < consecutive_crashes && wait < opt.backoff_cap; ++i) wait *= 2;
    wait = std::min(wait, opt.backoff_cap);
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

  void Run() {
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
      auto now = std::chrono::steady_clock::now();
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
            kill_at = now + Millis(std::chrono::hours(1));
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
          next_probe = std::chrono::steady_clock::now() + ProbePeriod(cfg.readiness, true);
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
            next_probe = std::chrono::steady_clock::now() + cfg.liveness.initial_delay +
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
      SteadyTime until = std::chrono::steady_clock::now() + cfg.grace;
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
    for (const std::string& dir : cgroup_dirs) {
      for (int i = 0; i < 50 && ::rmdir(dir.c_str()) != 0 && errno == EBUSY; ++i) std::this_thread::sleep_for(Millis(10));
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      state = State::kDone;
    }
    cv.notify_all();
    finished = true;
  }

  void RequestStop() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop_requested = true;
      observer = nullptr;
    }
    cv.notify_all();
  }
};

namespace {

class ProcessInstance : public backend::Instance {
 public:
  explicit ProcessInstance(std::shared_ptr<Proc> proc) : proc_(std::move(proc)) {}
  ~ProcessInstance() override { proc_->RequestStop(); }

  HttpResponse Handle(const HttpRequest& request) override {
    auto r = gateway::HttpCall(proc_->Address(), request, std::chrono::minutes(5));
    if (!r.ok()) return gateway::ErrorResponse(502, "instance " + proc_->Address() + " did not answer: " + r.status().message());
    return std::move(*r);
  }
  std::string Upstream() const override { return proc_->Address(); }
  backend::InstanceHealth Health() const override {
    std::lock_guard<std::mutex> lock(proc_->mu);
    backend::InstanceHealth h;
    h.serving = proc_->state == Proc::State::kReady;
    h.restarts = proc_->restarts;
    h.reason = proc_->reason;
    h.message = proc_->message;
    h.limits_warning = proc_->limits_warning;
    return h;
  }
  void SetHealthObserver(std::function<void()> observer) override {
    std::lock_guard<std::mutex> lock(proc_->mu);
    proc_->observer = std::move(observer);
  }

 private:
  std::shared_ptr<Proc> proc_;
};

}  // namespace

struct ProcessDriver::Impl {
  ProcessDriverOptions opt;
  std::string log_dir;
  bool temp_log_dir = false;
  CgroupRoots cgroups;
  std::vector<std::string> base_env;

  std::mutex mu;
  std::list<std::shared_ptr<Proc>> procs;
  std::set<int> ports;
  std::map<std::string, std::weak_ptr<RotatingLog>> logs;
  uint64_t next_id = 0;
  bool closing = false;

  void ReapLocked() {
    for (auto it = procs.begin(); it != procs.end();) {
      if ((*it)->finished.load()) {
        if ((*it)->thread.joinable()) (*it)->thread.join();
        ports.erase((*it)->port);
        it = procs.erase(it);
      } else {
        ++it;
      }
    }
  }

  Result<int> FreePort() {
    for (int attempt = 0; attempt < 64; ++attempt) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) break;
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof addr;
      int port = -1;
      if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
          ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        port = ntohs(addr.sin_port);
      }
      ::close(fd);
      if (port > 0 && ports.insert(port).second) return port;
    }
    return Status(StatusCode::kUnavailable, "no free loopback port");
  }

  // Creates the instance's cgroups and says what could not be applied.
  void ApplyLimits(Proc& p) {
    const Config& c = p.cfg;
    std::vector<std::string> notes;
    std::string name = "ofn-" + std::to_string(::getpid()) + "-" + std::to_string(p.id);
    auto make = [&](const std::string& root, std::vector<std::pair<std::string, std::string>> files,
                    std::string* error) -> bool {
      if (!opt.use_cgroups || root.empty()) {
        *error = "no cgroup of this process to nest in";
        return false;
      }
      std::string dir = root + "/" + name;
      if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        *error = dir + ": " + std::strerror(errno);
        return false;
      }
      for (const auto& [file, value] : files) {
        if (!WriteFile(dir + "/" + file, value, error)) {
          ::rmdir(dir.c_str());
          return false;
        }
      }
      if (std::find(p.cgroup_dirs.begin(), p.cgroup_dirs.end(), dir) == p.cgroup_dirs.end()) {
        p.cgroup_dirs.push_back(dir);
        p.cgroup_procs.push_back(dir + "/cgroup.procs");
      }
      return true;
    };
    if (c.memory_bytes > 0) {
      std::string error;
      bool ok = cgroups.v2 ? make(cgroups.memory, {{"memory.max", std::to_string(c.memory_bytes)}}, &error)
                           : make(cgroups.memory, {{"memory.limit_in_bytes", std::to_string(c.memory_bytes)}}, &error);
      if (!ok) {
        p.rlimit_as = static_cast<uint64_t>(c.memory_bytes);
        notes.push_back("memory limit " + c.memory_text + " applied as RLIMIT_AS only (cgroup: " + error + ")");
      }
    }
    if (c.cpu_millis > 0) {
      std::string error;
      std::string quota = std::to_string(c.cpu_millis * 100);
      bool ok = cgroups.v2 ? make(cgroups.cpu, {{"cpu.max", quota + " 100000"}}, &error)
                           : make(cgroups.cpu, {{"cpu.cfs_period_us", "100000"}, {"cpu.cfs_quota_us", quota}}, &error);
      if (!ok) notes.push_back("cpu limit " + c.cpu_text + " not applied (cgroup: " + error + ")");
    }
    for (const std::string& n : notes) p.limits_warning += (p.limits_warning.empty() ? "" : "; ") + n;
  }
};

ProcessDriver::ProcessDriver(ProcessDriverOptions options) : impl_(std::make_shared<Impl>()) {
  impl_->opt = std::move(options);
  impl_->log_dir = impl_->opt.log_dir;
  if (impl_->log_dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ofn-logs-XXXXXX").string();
    if (::mkdtemp(tmpl.data())) {
      impl_->log_dir = tmpl;
      impl_->temp_log_dir = true;
    }
  }
  if (impl_->opt.use_cgroups) impl_->cgroups = FindCgroups();
  impl_->base_env = CurrentEnvironment();
}

ProcessDriver::~ProcessDriver() {
  Shutdown();
  std::list<std::shared_ptr<Proc>> procs;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    procs = impl_->procs;
  }
  for (auto& p : procs) {
    if (p->thread.joinable()) p->thread.join();
  }
  if (impl_->temp_log_dir) {
    std::error_code ec;
    std::filesystem::remove_all(impl_->log_dir, ec);
  }
}

void ProcessDriver::Shutdown() {
  std::list<std::shared_ptr<Proc>> procs;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->closing = true;
    procs = impl_->procs;
  }
  for (auto& p : procs) p->RequestStop();
}

const std::string& ProcessDriver::log_dir() const { return impl_->log_dir; }

int ProcessDriver::live() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  int n = 0;
  for (const auto& p : impl_->procs) n += p->finished.load() ? 0 : 1;
  return n;
}

bool ProcessDriver::Accepts(const backend::Workload& w) const { return w.kind == backend::WorkloadKind::kCommand; }

std::string ProcessDriver::Requirement(const backend::Workload&) const {
  return "a command in the function container (serving.template.containers[name=function].command)";
}

Result<std::string> ProcessDriver::Logs(std::string_view ns, std::string_view revision, size_t tail_lines) const {
  std::string path = impl_->log_dir + "/" + std::string(ns) + "/" + std::string(revision) + ".log";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status(StatusCode::kNotFound, "no log for revision " + std::string(ns) + "/" + std::string(revision));
  }
  return TailOfLog(path, tail_lines == 0 ? static_cast<size_t>(-1) : tail_lines, size_t{64} << 20);
}

Result<std::shared_ptr<backend::Instance>> ProcessDriver::Start(const backend::Workload& spec) {
  OFN_ASSIGN_OR_RETURN(Config cfg, ParseConfig(spec, impl_->opt));
  auto proc = std::make_shared<Proc>();
  proc->opt = impl_->opt;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->ReapLocked();
    if (impl_->closing) return Status(StatusCode::kUnavailable, "the process backend is shutting down");
    OFN_ASSIGN_OR_RETURN(proc->port, impl_->FreePort());
    proc->id = impl_->next_id++;
    std::string path = impl_->log_dir + "/" + cfg.ns + "/" + cfg.revision + ".log";
    std::shared_ptr<RotatingLog> log = impl_->logs[path].lock();
    if (!log) {
      log = std::make_shared<RotatingLog>(path, impl_->opt.log_max_bytes, impl_->opt.log_keep);
      impl_->logs[path] = log;
    }
    proc->log = log;
  }
  proc->env = InstanceEnvironment(impl_->base_env, cfg, proc->port);
  proc->cfg = std::move(cfg);
  impl_->ApplyLimits(*proc);
  Proc* raw = proc.get();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->closing) return Status(StatusCode::kUnavailable, "the process backend is shutting down");
    impl_->procs.push_back(proc);
    // The supervisor thread lives as long as the instance: the shim's
    // parent-death signal is tied to it.
    proc->thread = std::thread([raw] { raw->Run(); });
  }
  std::unique_lock<std::mutex> lock(proc->mu);
  proc->cv.wait(lock, [&] { return proc->ever_ready || !proc->start_failure.empty() || proc->state == Proc::State::kDone; });
  if (!proc->ever_ready) {
    std::string failure = proc->start_failure.empty() ? "instance stopped before it was ready" : proc->start_failure;
    proc->stop_requested = true;
    lock.unlock();
    proc->cv.notify_all();
    return Status(StatusCode::kFailedPrecondition, failure);
  }
  lock.unlock();
  return std::shared_ptr<backend::Instance>(std::make_shared<ProcessInstance>(proc));
}

}  // namespace ofn::process
