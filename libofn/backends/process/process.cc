#include "libofn/backends/process/process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <fstream>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "libofn/backends/process/cgroup.h"
#include "libofn/backends/process/config.h"
#include "libofn/backends/process/log_file.h"
#include "libofn/backends/process/spawn.h"
#include "libofn/backends/process/supervisor.h"
#include "libofn/common/log.h"
#include "libofn/gateway/client.h"
#include "libofn/gateway/server.h"

namespace ofn::process {


struct ProcessDriver::Impl {
  ProcessDriverOptions opt;
  std::string log_dir;
  bool temp_log_dir = false;
  CgroupRoots cgroups;
  std::vector<std::string> base_env;

  std::mutex mu;
  std::list<std::shared_ptr<Supervisor>> procs;
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

  Result<int> FreePort() { return backends::internal::FreeLoopbackPort(ports); }

  // Creates the instance's cgroups and says what could not be applied.
  void ApplyInstanceLimits(Supervisor& p) {
    const Config& c = p.cfg;
    InstanceLimits l = ApplyLimits(cgroups, opt.use_cgroups, "ofn-" + std::to_string(::getpid()) + "-" + std::to_string(p.id),
                                   c.memory_bytes, c.memory_text, c.cpu_millis, c.cpu_text);
    p.cgroup_dirs = std::move(l.dirs);
    p.cgroup_procs = std::move(l.procs);
    p.rlimit_as = l.rlimit_as;
    p.limits_warning = std::move(l.warning);
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
  std::list<std::shared_ptr<Supervisor>> procs;
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
  std::list<std::shared_ptr<Supervisor>> procs;
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
  return ReadLog(impl_->log_dir + "/" + std::string(ns) + "/" + std::string(revision) + ".log", tail_lines,
                 "revision " + std::string(ns) + "/" + std::string(revision));
}

Result<std::shared_ptr<backend::Instance>> ProcessDriver::Start(const backend::Workload& spec) {
  auto promise = std::make_shared<std::promise<Result<std::shared_ptr<backend::Instance>>>>();
  auto future = promise->get_future();
  StartAsync(spec, [promise](Result<std::shared_ptr<backend::Instance>> r) { promise->set_value(std::move(r)); });
  return future.get();
}

void ProcessDriver::StartAsync(const backend::Workload& spec, StartDone done) {
  Result<Config> parsed = ParseConfig(spec, impl_->opt);
  if (!parsed.ok()) return done(parsed.status());
  Config cfg = std::move(*parsed);
  auto proc = std::make_shared<Supervisor>();
  const ProcessDriverOptions& o = impl_->opt;
  proc->opt.backoff_base = o.backoff_base;
  proc->opt.backoff_cap = o.backoff_cap;
  proc->opt.backoff_reset_after = o.backoff_reset_after;
  proc->opt.fast_probe_period = o.fast_probe_period;
  proc->opt.idle_period = o.fast_probe_period;
  proc->clock = o.clock ? o.clock : Clock::System();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->ReapLocked();
    if (impl_->closing) return done(Status(StatusCode::kUnavailable, "the process backend is shutting down"));
    Result<int> port = impl_->FreePort();
    if (!port.ok()) return done(port.status());
    proc->port = *port;
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
  proc->readiness = cfg.readiness;
  proc->liveness = cfg.liveness;
  proc->start_timeout = cfg.start_timeout;
  proc->grace = cfg.grace;
  proc->label = "revision " + cfg.ns + "/" + cfg.revision;
  proc->cfg = std::move(cfg);
  impl_->ApplyInstanceLimits(*proc);
  // Settled on the supervisor thread: no thread waits for readiness.
  std::weak_ptr<Supervisor> weak = proc;
  proc->start_done = backends::internal::SettleWith(weak, std::move(done));
  Supervisor* raw = proc.get();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->closing) {
      impl_->procs.push_back(proc);
      // The supervisor thread lives as long as the instance: the shim's
      // parent-death signal is tied to it.
      proc->thread = std::thread([raw] { raw->Run(); });
      return;
    }
  }
  proc->start_failure = "the process backend is shutting down";
  proc->state = Supervisor::State::kDone;
  proc->Settle();
}

}  // namespace ofn::process
