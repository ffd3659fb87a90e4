#include "libofn/platform/platform.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <mutex>

#include "libofn/backends/builtin.h"
#include "libofn/backends/inprocess/inprocess.h"
#include "libofn/build/builder.h"
#include "libofn/common/internal/json_access.h"
#include <boost/json.hpp>
#include "libofn/common/log.h"
#include "libofn/common/thread_pool.h"
#include "libofn/gateway/dispatch.h"
#include "libofn/gateway/server.h"
#include "libofn/platform/apply.h"
#include "libofn/platform/internal/admin.h"
#include "libofn/platform/internal/async_runtime.h"
#include "libofn/platform/internal/dapr_api.h"
#include "libofn/platform/internal/autoscaler.h"
#include "libofn/platform/internal/metrics.h"
#include "libofn/platform/internal/objects.h"
#include "libofn/platform/internal/reconciler.h"
#include "libofn/route/route.h"
#include "libofn/store/store.h"

namespace ofn {

namespace {

// The owner of a state dir's containers: a stable name derived from its
// path (FNV-1a, 64 bits, in hex).
std::string OwnerOf(std::string_view state_dir) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : state_dir) h = (h ^ c) * 1099511628211ull;
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 60; i >= 0; i -= 4) out += hex[(h >> i) & 15];
  return out;
}

constexpr std::string_view kDefaultGateway = R"(apiVersion: networking.openfunction.io/v1alpha1
kind: Gateway
metadata:
  name: openfunction
  namespace: openfunction
spec:
  domain: ofn.io
  clusterDomain: cluster.local
  hostTemplate: "{{.Name}}.{{.Namespace}}.{{.Domain}}"
  pathTemplate: "{{.Namespace}}/{{.Name}}"
  httpRouteLabelKey: "app.kubernetes.io/managed-by"
  gatewayRef:
    name: contour
    namespace: projectcontour
  gatewaySpec:
    listeners:
      - name: ofn-http-internal
        hostname: "*.cluster.local"
        protocol: HTTP
        port: 80
        allowedRoutes:
          namespaces:
            from: All
      - name: ofn-http-external
        hostname: "*.ofn.io"
        protocol: HTTP
        port: 80
        allowedRoutes:
          namespaces:
            from: All
)";

bool IsLoopback(const std::string& address) {
  return address.rfind("127.", 0) == 0 || address.rfind("[::1]:", 0) == 0 || address.rfind("localhost:", 0) == 0;
}

Result<std::string> ReadOrCreateToken(const std::string& path) {
  std::ifstream in(path);
  if (in) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      return Status(StatusCode::kPermissionDenied, path + ": token file must not be readable by others (chmod 600)");
    }
    std::string token;
    std::getline(in, token);
    if (token.empty()) return Status(StatusCode::kInvalidArgument, path + ": empty token file");
    return token;
  }
  unsigned char raw[24];
  std::ifstream rnd("/dev/urandom", std::ios::binary);
  if (!rnd.read(reinterpret_cast<char*>(raw), sizeof(raw))) {
    return Status(StatusCode::kUnavailable, "cannot read /dev/urandom");
  }
  static const char kHex[] = "0123456789abcdef";
  std::string token;
  for (unsigned char c : raw) {
    token += kHex[c >> 4];
    token += kHex[c & 15];
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return Status(StatusCode::kUnavailable, "cannot create " + path + ": " + std::strerror(errno));
  std::string line = token + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  if (!ok) return Status(StatusCode::kUnavailable, "cannot write " + path);
  return token;
}

}  // namespace

// What components keep across restarts goes to the store's event offsets.
class StoreComponentEnv final : public events::ComponentEnv {
 public:
  StoreComponentEnv(Clock* clock, store::Store* store) : clock_(clock), store_(store) {}
  Clock* clock() override { return clock_; }
  Result<std::string> GetOffset(const std::string& key) override {
    std::string value;
    Status s = store_->Transact([&](store::Transaction& tx) -> Status {
      auto got = tx.GetOffset(key);
      if (got.ok()) value = *got;
      return got.ok() || got.status().code() == StatusCode::kNotFound ? Status::Ok() : got.status();
    });
    if (!s.ok()) return s;
    return value;
  }
  Status SetOffset(const std::string& key, const std::string& value) override {
    return store_->Transact([&](store::Transaction& tx) { return tx.SetOffset(key, value); });
  }

 private:
  Clock* clock_;
  store::Store* store_;
};

struct Platform::Impl {
  Options options;
  Clock* clock = nullptr;
  std::unique_ptr<store::Store> store;
  inprocess::FunctionRegistry registry;
  backend::Registry drivers;
  gateway::Dispatcher dispatcher;
  // Function calls run here, instance starts (init hooks) there.
  std::unique_ptr<ThreadPool> function_pool;
  std::unique_ptr<ThreadPool> start_pool;
  std::unique_ptr<platform::internal::Autoscaler> autoscaler;
  std::unique_ptr<build::Builder> builder;  // null when builds are off
  std::string temp_build_dir;               // removed at Close (a platform without state)
  std::unique_ptr<platform::internal::Reconciler> reconciler;
  events::ComponentRegistry components;
  std::unique_ptr<StoreComponentEnv> component_env;
  std::unique_ptr<platform::internal::AsyncRuntime> async;
  std::unique_ptr<gateway::HttpServer> dapr_server;  // the Dapr API for process instances
  std::mutex dapr_mu;
  bool dapr_tried = false;
  bool closing = false;  // under dapr_mu
  // The Dapr API's address, started on first use (a platform that runs no
  // process instance has no listener); "" when it could not listen.
  std::string DaprAddress() {
    std::lock_guard<std::mutex> lock(dapr_mu);
    if (!dapr_tried && !closing) {
      dapr_tried = true;
      gateway::ServerOptions so;
      so.address = "127.0.0.1:0";
      so.io_threads = 1;
      so.worker_threads = 4;
      platform::internal::AsyncRuntime* rt = async.get();
      auto started = gateway::HttpServer::Start(so, [rt](HttpRequest& r) { return platform::internal::HandleDaprApi(*rt, r); });
      if (started.ok()) {
        dapr_server = std::move(*started);
      } else {
        OFN_LOG(kWarning) << "the Dapr API cannot listen: " << started.status().ToString()
                          << "; process instances get no DAPR_HTTP_PORT";
      }
    }
    return dapr_server ? dapr_server->address() : "";
  }
  std::unique_ptr<gateway::HttpServer> gateway_server;
  std::unique_ptr<gateway::HttpServer> https_server;
  std::shared_ptr<gateway::TlsCertificates> tls;
  std::unique_ptr<gateway::HttpServer> admin_server;
  int64_t watch_id = 0;
  std::mutex status_mu;
  std::condition_variable status_cv;
  uint64_t status_changes = 0;
  // The last changes for ChangesSince, under status_mu.
  static constexpr size_t kChangeHistory = 1024;
  // Kept as committed; turned into Platform::Change (object JSON) only when
  // read, so that a commit pays no serialization for it.
  struct RecordedChange {
    int64_t seq;
    WatchEventType type;
    std::string time;
    store::Record record;
  };
  std::deque<RecordedChange> changes;
  int64_t change_seq = 0;
  std::once_flag close_once;
  int lock_fd = -1;  // <state_dir>/lock, held (flock) while open
  ~Impl() {
    if (lock_fd >= 0) ::close(lock_fd);
  }
};

namespace {

// Takes <state_dir>/lock for this process, or says which process holds it.
// The lock goes with the descriptor: a crashed holder leaves none behind.
Result<int> LockStateDir(const std::string& dir) {
  std::string path = dir + "/lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status(StatusCode::kUnavailable, "cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return Status(StatusCode::kFailedPrecondition,
                  "state dir " + dir + " is in use by another platform" + (pid.empty() ? "" : " (pid " + pid + ")") +
                      "; stop it, or give this one another --state-dir");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    OFN_LOG(kWarning) << "cannot write the pid to " << path;
  }
  return fd;
}

}  // namespace

Platform::Platform(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Platform::~Platform() { Close(std::chrono::seconds(0)); }

Result<std::unique_ptr<Platform>> Platform::Open(const Options& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->clock = options.clock ? options.clock : Clock::System();
  std::string db = ":memory:";
  if (!options.state_dir.empty()) {
    if (::mkdir(options.state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status(StatusCode::kUnavailable, "cannot create state dir " + options.state_dir + ": " + std::strerror(errno));
    }
    struct stat st {};
    if (::stat(options.state_dir.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      // Its files are created owner-only anyway; the directory is the
      // operator's to tighten.
      OFN_LOG(kWarning) << "state dir " << options.state_dir << " is open to other users (mode "
                        << std::oct << (st.st_mode & 0777) << std::dec << "); its files are kept owner-only; "
                        << "chmod 700 " << options.state_dir << " to hide their names too";
    }
    OFN_ASSIGN_OR_RETURN(impl->lock_fd, LockStateDir(options.state_dir));
    db = options.state_dir + "/state.db";
  }
  store::Store::Options so;
  so.clock = impl->clock;
  OFN_ASSIGN_OR_RETURN(impl->store, store::Store::Open(db, so));

  // The default gateway exists from the start.
  auto gw = impl->store->Get("Gateway", "openfunction", "openfunction");
  if (!gw.ok()) {
    if (gw.status().code() != StatusCode::kNotFound) return gw.status();
    spec::ParseResult parsed = spec::ParseManifests(kDefaultGateway, "<default gateway>");
    if (!parsed.ok()) return Status(StatusCode::kInternal, "default gateway does not validate");
    OFN_ASSIGN_OR_RETURN(auto applied, platform::ApplyObjects(*impl->store, parsed.objects));
    (void)applied;
  }

  Impl* raw = impl.get();
  backends::BuiltinBackendOptions bo;
  bo.functions = &impl->registry;
  bo.library_dirs = options.library_dirs;
  bo.outputs = [raw](const std::string& ns, const std::string& fn, const std::string& output, const std::string& data) {
    Status sent = raw->async->Send(ns, fn, output, data);
    if (!sent.ok()) {
      OFN_LOG(kWarning) << "function " << ns << "/" << fn << ": send to " << output << ": " << sent.ToString();
    }
    return sent.ok();
  };
  bo.process = options.process;
  if (!bo.process.extra_env) {
    bo.process.extra_env = [raw](const backend::Workload& w) {
      std::vector<std::pair<std::string, std::string>> env;
      std::string address = raw->DaprAddress();
      if (address.empty()) return env;
      env.emplace_back("DAPR_HTTP_PORT", address.substr(address.rfind(':') + 1));
      env.emplace_back("DAPR_API_TOKEN", raw->async->TokenOf(w.ns, w.function));
      return env;
    };
  }
  if (bo.process.log_dir.empty() && !options.state_dir.empty()) bo.process.log_dir = options.state_dir + "/logs";
  bo.containerd = options.containerd;
  if (bo.containerd.log_dir.empty()) bo.containerd.log_dir = bo.process.log_dir;
  if (bo.containerd.owner.empty() && !options.state_dir.empty()) {
    std::error_code ec;
    std::string dir = std::filesystem::weakly_canonical(options.state_dir, ec).string();
    bo.containerd.owner = OwnerOf(dir.empty() ? options.state_dir : dir);
  }
  OFN_RETURN_IF_ERROR(backends::RegisterBuiltinBackends(impl->drivers, bo));
  for (const backend::DriverRegistration& r : options.drivers) OFN_RETURN_IF_ERROR(impl->drivers.Add(r));
  impl->function_pool = std::make_unique<ThreadPool>("function pool", std::max(1, options.worker_threads));
  impl->start_pool = std::make_unique<ThreadPool>("instance starts", 2);
  ThreadPool* functions = impl->function_pool.get();
  ThreadPool* starts = impl->start_pool.get();
  // Pools hand function calls and instance starts to their own threads.
  impl->autoscaler = std::make_unique<platform::internal::Autoscaler>(
      impl->clock, [functions](std::function<void()> task) { functions->Post(std::move(task)); },
      [starts](std::function<void()> task) { starts->Post(std::move(task)); }, [raw] { raw->reconciler->Kick(); });
  platform::internal::ReconcilerOptions ro;
  ro.tag_template = options.tag_template;
  ro.queue_limit = options.activator_queue_limit;
  ro.request_timeout = options.request_timeout;
  ro.revision_history = options.revision_history;
  ro.autoscaler = options.autoscaler;
  ro.backends = options.backends;
  events::RegisterBuiltinComponents(&impl->components);
  impl->component_env = std::make_unique<StoreComponentEnv>(impl->clock, impl->store.get());
  impl->autoscaler->SetScalerMaker([raw](const std::string&, const scale::KedaTrigger& trigger) {
    return raw->components.NewScaler(trigger, raw->component_env.get());
  });
  impl->async = std::make_unique<platform::internal::AsyncRuntime>(
      &impl->components, impl->component_env.get(), impl->clock,
      [raw](const std::string& ns, const std::string& fn, HttpRequest request, std::function<void(HttpResponse)> done) {
        return raw->reconciler->Deliver(ns, fn, std::move(request), std::move(done));
      },
      [raw] {
        platform::internal::AsyncRuntime::Options ao;
        ao.on_change = [raw] { raw->reconciler->Kick(); };
        return ao;
      }());
  ro.async = impl->async.get();
  if (!options.https_address.empty()) {
    gateway::TlsCertificates::Options to;
    to.clock = impl->clock;
    for (const Options::CertificateFiles& f : options.tls_certificates) {
      to.files.push_back(gateway::TlsFiles{f.cert_file, f.key_file, f.hostnames});
    }
    OFN_ASSIGN_OR_RETURN(impl->tls, gateway::TlsCertificates::Create(to));
    ro.tls = impl->tls;
  } else if (!options.tls_certificates.empty() || options.https_redirect) {
    return Status(StatusCode::kInvalidArgument, "tls_certificates and https_redirect need an https_address");
  }
  if (options.build.enabled) {
    build::BuildOptions bopts = options.build;
    if (bopts.registry_mirrors.empty()) bopts.registry_mirrors = options.containerd.registry_mirrors;
    if (bopts.work_dir.empty() && !options.state_dir.empty()) bopts.work_dir = options.state_dir + "/builds";
    if (bopts.work_dir.empty()) {
      char tmpl[] = "/tmp/ofn-builds-XXXXXX";
      if (!::mkdtemp(tmpl)) return Status(StatusCode::kInternal, "cannot create a temp dir for builds");
      bopts.work_dir = impl->temp_build_dir = tmpl;
    }
    {
      // Artefacts are named by absolute paths (revisions keep them; the
      // compiler and the instances run in other directories).
      std::error_code ec;
      std::filesystem::path abs = std::filesystem::absolute(bopts.work_dir, ec);
      if (!ec) bopts.work_dir = abs.lexically_normal().string();
    }
    impl->builder = std::make_unique<build::Builder>(impl->store.get(), impl->clock, std::move(bopts),
                                                     [raw] { raw->reconciler->Kick(); }, options.events_ticker);
    ro.builder = impl->builder.get();
    impl->builder->SetImageMaker(backends::ContainerdImageMaker(impl->drivers));
    impl->builder->SetImageSource(backends::ContainerdImageSource(impl->drivers));
  }
  impl->reconciler = std::make_unique<platform::internal::Reconciler>(
      impl->store.get(), impl->clock, &impl->drivers,
      &impl->dispatcher, impl->autoscaler.get(), ro);
  impl->watch_id = impl->store->Watch("", [raw](const store::WatchEvent& e) {
    if (e.record.kind == "Function" || e.record.kind == "Gateway" || e.record.kind == "WasmPlugin" ||
        e.record.kind == "Secret" || e.record.kind == "ConfigMap" || e.record.kind == "HTTPRoute" ||
        e.record.kind == "Component") {
      raw->reconciler->Changed(e.record, e.type == store::EventType::kDeleted);
    }
    {
      std::lock_guard<std::mutex> lock(raw->status_mu);
      ++raw->status_changes;
      raw->changes.push_back(Impl::RecordedChange{
          ++raw->change_seq,
          e.type == store::EventType::kAdded      ? WatchEventType::kAdded
          : e.type == store::EventType::kModified ? WatchEventType::kModified
                                                  : WatchEventType::kDeleted,
          FormatRfc3339(raw->clock->Now()), e.record});
      if (raw->changes.size() > Impl::kChangeHistory) raw->changes.pop_front();
    }
    raw->status_cv.notify_all();
  });
  // Instances that outlived the last run: the first reconcile pass adopts
  // those whose revision still runs on their driver and drops the rest.
  for (backend::InstanceDriver* d : impl->drivers.drivers()) {
    for (backend::SurvivingInstance& s : d->Recover()) {
      impl->autoscaler->Adopt(s.ns, s.revision, d, std::move(s.instance));
    }
  }
  impl->autoscaler->Start(options.autoscale_ticker);
  impl->reconciler->Start();
  impl->async->Start(options.events_ticker);
  // A function registered after its Function was applied can now run it.
  impl->registry.SetObserver([raw] { raw->reconciler->Resync(); });

  auto platform = std::unique_ptr<Platform>(new Platform(std::move(impl)));
  Impl* p = platform->impl_.get();
  if (!options.gateway_address.empty()) {
    gateway::ServerOptions so_gw;
    so_gw.address = options.gateway_address;
    so_gw.max_header_bytes = options.max_header_bytes;
    so_gw.max_body_bytes = options.max_body_bytes;  // bodies read into memory; proxied ones stream
    so_gw.stream_bodies = true;
    so_gw.request_timeout = options.request_timeout;
    so_gw.io_threads = options.io_threads;
    so_gw.worker_threads = options.worker_threads;
    so_gw.max_connections = options.max_connections;
    so_gw.trusted_proxies = options.trusted_proxies;
    OFN_ASSIGN_OR_RETURN(p->gateway_server,
                         gateway::HttpServer::StartAsync(so_gw, [p](HttpRequest r, gateway::Responder respond) {
                           p->dispatcher.Dispatch(std::move(r), std::move(respond));
                         }));
    if (!options.https_address.empty()) {
      so_gw.address = options.https_address;
      so_gw.tls = p->tls;
      so_gw.io_threads = std::max(1, options.io_threads / 2);
      OFN_ASSIGN_OR_RETURN(p->https_server,
                           gateway::HttpServer::StartAsync(so_gw, [p](HttpRequest r, gateway::Responder respond) {
                             p->dispatcher.Dispatch(std::move(r), std::move(respond));
                           }));
    }
    p->dispatcher.SetListenerPorts(
        {p->gateway_server->port(), p->https_server ? p->https_server->port() : 0});
    p->dispatcher.SetHttpsRedirect(options.https_redirect);
  } else if (!options.https_address.empty()) {
    return Status(StatusCode::kInvalidArgument, "https_address needs a gateway_address too");
  }
  if (!options.admin_address.empty()) {
    gateway::ServerOptions so_admin;
    so_admin.io_threads = 1;
    so_admin.worker_threads = 4;
    so_admin.max_body_bytes = 64 * 1024 * 1024;
    so_admin.max_header_bytes = options.max_header_bytes;
    std::string addr = options.admin_address;
    if (addr == "unix") {
      if (options.state_dir.empty()) {
        return Status(StatusCode::kInvalidArgument, "admin_address \"unix\" needs a state_dir for the socket");
      }
      addr = "unix:" + options.state_dir + "/admin.sock";
    }
    if (addr.rfind("unix:", 0) != 0) {
      if (!IsLoopback(addr)) {
        return Status(StatusCode::kInvalidArgument, "admin_address \"" + addr +
                                                        "\": the admin API runs code; it listens on a unix socket or on loopback only");
      }
      std::string token_file = options.admin_token_file;
      if (token_file.empty()) {
        if (options.state_dir.empty()) {
          return Status(StatusCode::kInvalidArgument, "a TCP admin_address needs admin_token_file or a state_dir");
        }
        token_file = options.state_dir + "/admin.token";
      }
      OFN_ASSIGN_OR_RETURN(so_admin.bearer_token, ReadOrCreateToken(token_file));
    }
    so_admin.address = addr;
    Platform* self = platform.get();
    OFN_ASSIGN_OR_RETURN(p->admin_server, gateway::HttpServer::Start(so_admin, [self](HttpRequest& r) {
                           return platform::internal::HandleAdmin(*self, r);
                         }));
  }
  return platform;
}

FunctionRegistrar& Platform::functions() { return impl_->registry; }
events::ComponentRegistry& Platform::components() { return impl_->components; }

Result<std::vector<ObjectInfo>> Platform::Apply(std::string_view manifests, const std::string& file) {
  return Apply(manifests, file, nullptr);
}

Result<std::vector<ObjectInfo>> Platform::Apply(std::string_view manifests, const std::string& file,
                                                std::vector<spec::Diagnostic>* diagnostics, const std::string& base_dir) {
  spec::ParseOptions po;
  po.default_namespace = impl_->options.default_namespace;
  po.base_dir = base_dir;
  spec::ParseResult parsed = spec::ParseManifests(manifests, file, po);
  if (diagnostics) *diagnostics = parsed.diagnostics;
  if (!parsed.ok()) {
    std::string msg;
    for (const spec::Diagnostic& d : parsed.diagnostics) {
      if (d.severity != spec::Severity::kError) continue;
      msg += (msg.empty() ? "" : "\n") + d.ToString();
    }
    return Status(StatusCode::kInvalidArgument, msg);
  }
  return Apply(parsed.objects);
}

Result<std::vector<ObjectInfo>> Platform::Apply(const std::vector<spec::Object>& objects) {
  std::vector<bool> unchanged;
  OFN_ASSIGN_OR_RETURN(std::vector<store::Record> records,
                       platform::ApplyObjects(*impl_->store, objects, &unchanged));
  std::vector<ObjectInfo> out;
  for (size_t i = 0; i < records.size(); ++i) {
    out.push_back(platform::internal::ToObjectInfo(records[i]));
    out.back().unchanged = unchanged[i];
  }
  return out;
}

Result<ObjectInfo> Platform::Get(std::string_view kind, std::string_view ns, std::string_view name) {
  OFN_ASSIGN_OR_RETURN(store::Record r, impl_->store->Get(kind, ns, name));
  return platform::internal::ToObjectInfo(r);
}

Result<std::vector<ObjectInfo>> Platform::List(std::string_view kind, std::string_view ns) {
  OFN_ASSIGN_OR_RETURN(std::vector<store::Record> records, impl_->store->List(kind, ns));
  std::vector<ObjectInfo> out;
  out.reserve(records.size());
  for (const store::Record& r : records) out.push_back(platform::internal::ToObjectInfo(r));
  return out;
}

std::string_view WatchEventTypeName(WatchEventType t) {
  switch (t) {
    case WatchEventType::kAdded: return "ADDED";
    case WatchEventType::kModified: return "MODIFIED";
    case WatchEventType::kDeleted: return "DELETED";
  }
  return "";
}

Result<std::vector<FunctionInfo>> Platform::ListFunctions(std::string_view ns) {
  std::vector<FunctionInfo> out;
  OFN_RETURN_IF_ERROR(impl_->store->ScanWithoutSpec(
      "Function", ns, [&](const store::Record& r) { out.push_back(platform::internal::ToFunctionSummary(r)); }));
  return out;
}

Result<FunctionInfo> Platform::GetFunction(std::string_view name, std::string_view ns) {
  if (ns.empty()) ns = impl_->options.default_namespace;
  OFN_ASSIGN_OR_RETURN(ObjectInfo o, Get("Function", ns, name));
  return platform::internal::ToFunctionInfo(o);
}

Status Platform::Delete(std::string_view kind, std::string_view ns, std::string_view name) {
  return impl_->store->Delete(kind, ns, name);
}

Platform::Changes Platform::ChangesSince(int64_t since, std::string_view kind, std::chrono::milliseconds timeout) {
  Changes out;
  std::unique_lock<std::mutex> lock(impl_->status_mu);
  if (since < 0) since = impl_->change_seq;
  auto collect = [&] {
    out.changes.clear();
    const int64_t oldest = impl_->changes.empty() ? impl_->change_seq + 1 : impl_->changes.front().seq;
    out.missed = since + 1 < oldest ? oldest - since - 1 : 0;
    for (const Impl::RecordedChange& c : impl_->changes) {
      if (c.seq > since && (kind.empty() || c.record.kind == kind)) {
        out.changes.push_back(Change{c.seq, c.type, c.time, platform::internal::ToObjectInfo(c.record)});
      }
    }
    out.next = impl_->change_seq;
    return !out.changes.empty() || out.missed > 0;
  };
  // A zero timeout looks once, without letting go of the lock: "from now
  // on" then sees nothing, however busy the platform is.
  if (timeout.count() > 0) impl_->status_cv.wait_for(lock, timeout, collect);
  collect();
  return out;
}

int64_t Platform::Watch(std::string kind, WatchFn fn) {
  return impl_->store->Watch(std::move(kind), [fn = std::move(fn)](const store::WatchEvent& e) {
    WatchEventType type = e.type == store::EventType::kAdded      ? WatchEventType::kAdded
                          : e.type == store::EventType::kModified ? WatchEventType::kModified
                                                                  : WatchEventType::kDeleted;
    fn(type, platform::internal::ToObjectInfo(e.record));
  });
}

void Platform::Unwatch(int64_t id) { impl_->store->Unwatch(id); }

HttpResponse Platform::Invoke(std::string_view name, HttpRequest request, std::string_view ns) {
  if (ns.empty()) ns = impl_->options.default_namespace;
  // The internal host comes from the published routes, as the listener sees
  // them: no store read on the request path.
  std::shared_ptr<const gateway::Snapshot> snap = impl_->dispatcher.Current();
  const route::FunctionRoute* found = nullptr;
  for (size_t i = 0; i < snap->table.size(); ++i) {
    const route::FunctionRoute& r = snap->table.route(i);
    if (r.name == name && r.ns == ns) found = &r;
  }
  if (!found) {
    return gateway::ErrorResponse(404, "function " + std::string(ns) + "/" + std::string(name) +
                                           " not found or not routed over HTTP");
  }
  request.headers.Set("Host", found->internal_host);
  if (request.target.empty() || request.target[0] != '/') request.target = "/" + request.target;
  return impl_->dispatcher.Handle(std::move(request));
}

Result<FunctionInfo> Platform::WaitFor(std::string_view name, const std::function<bool(const FunctionInfo&)>& predicate,
                                       std::chrono::milliseconds timeout, std::string_view ns) {
  if (ns.empty()) ns = impl_->options.default_namespace;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::optional<FunctionInfo> last;
  for (;;) {
    uint64_t seen;
    {
      std::lock_guard<std::mutex> lock(impl_->status_mu);
      seen = impl_->status_changes;
    }
    auto info = GetFunction(name, ns);
    if (info.ok()) {
      if (predicate(*info)) return info;
      last = *info;
    } else if (info.status().code() != StatusCode::kNotFound) {
      return info.status();
    }
    std::unique_lock<std::mutex> lock(impl_->status_mu);
    if (!impl_->status_cv.wait_until(lock, deadline, [&] { return impl_->status_changes != seen; })) {
      std::string state = last ? " (serving state \"" + last->serving_state + "\"" +
                                     (last->serving_message.empty() ? "" : ": " + last->serving_message) + ")"
                               : " (not found)";
      return Status(StatusCode::kDeadlineExceeded,
                    "function " + std::string(ns) + "/" + std::string(name) + " did not reach the state in time" + state);
    }
  }
}

Result<FunctionInfo> Platform::WaitReady(std::string_view name, std::chrono::milliseconds timeout, std::string_view ns) {
  if (ns.empty()) ns = impl_->options.default_namespace;
  bool failed = false;
  auto r = WaitFor(
      name,
      [&](const FunctionInfo& f) {
        if (f.state == ServingState::kFailed || f.route == RouteAcceptance::kNotAccepted) {
          failed = true;
          return true;
        }
        return f.state == ServingState::kRunning &&
               (f.route == RouteAcceptance::kNoRoute || f.route == RouteAcceptance::kAccepted);
      },
      timeout, ns);
  if (r.ok() && failed) {
    std::string why = r->state == ServingState::kFailed ? "serving failed: " + r->serving_reason + ": " + r->serving_message
                                                    : "route not accepted: " + r->route_reason + ": " + r->route_message;
    return Status(StatusCode::kFailedPrecondition, "function " + std::string(ns) + "/" + std::string(name) + ": " + why);
  }
  return r;
}

Result<std::vector<RevisionInfo>> Platform::Revisions(std::string_view name, std::string_view ns) {
  if (ns.empty()) ns = impl_->options.default_namespace;
  if (ns == "*") ns = {};
  return platform::internal::ListRevisions(*impl_->store, *impl_->autoscaler, name, ns);
}

Result<Platform::LogText> Platform::Logs(std::string_view name, std::string_view revision, size_t tail_lines,
                                         std::string_view ns) {
  if (ns.empty()) ns = impl_->options.default_namespace;
  std::vector<std::string> candidates;
  if (!revision.empty()) {
    candidates.emplace_back(revision);
  } else {
    OFN_ASSIGN_OR_RETURN(std::vector<store::RevisionRecord> revs, impl_->store->ListRevisions(ns, name));
    for (auto it = revs.rbegin(); it != revs.rend(); ++it) candidates.push_back(it->name);
    if (candidates.empty()) {
      return Status(StatusCode::kNotFound,
                    "function " + std::string(ns) + "/" + std::string(name) + " has no revisions");
    }
  }
  std::string why;
  for (const std::string& rev : candidates) {
    for (backend::InstanceDriver* d : impl_->drivers.drivers()) {
      Result<std::string> text = d->Logs(ns, rev, tail_lines);
      if (text.ok()) return LogText{rev, std::move(*text)};
      if (why.find(std::string(d->name()) + ":") == std::string::npos) {
        why += (why.empty() ? "" : "; ") + std::string(d->name()) + ": " + text.status().message();
      }
    }
  }
  return Status(StatusCode::kNotFound, "no logs of function " + std::string(ns) + "/" + std::string(name) +
                                           (revision.empty() ? "" : " revision " + std::string(revision)) + " (" +
                                           why + ")");
}

Result<std::vector<BuildInfo>> Platform::Builds(std::string_view name, std::string_view ns) {
  if (ns.empty()) ns = impl_->options.default_namespace;
  if (ns == "*") ns = "";
  OFN_ASSIGN_OR_RETURN(std::vector<store::BuildRecord> records, impl_->store->ListBuilds(ns, name));
  std::vector<BuildInfo> out;
  for (const store::BuildRecord& r : records) {
    BuildInfo b;
    b.ns = r.ns;
    b.function = r.function;
    b.name = r.name;
    b.state = r.state;
    b.started = r.started;
    b.finished = r.finished;
    boost::json::value st = ofn::internal::ParseObjectOrEmpty(r.status);
    const boost::json::object* o = ofn::internal::Obj(&st);
    b.reason = ofn::internal::Str(o, "reason");
    b.message = ofn::internal::Str(o, "message");
    b.commit = ofn::internal::Str(o, "commit");
    b.strategy = ofn::internal::Str(o, "strategy");
    b.url = ofn::internal::Str(o, "url");
    b.revision = ofn::internal::Str(o, "revision");
    b.sub_path = ofn::internal::Str(o, "sourceSubPath");
    b.cached_from = ofn::internal::Str(o, "cachedFrom");
    b.trigger = ofn::internal::Str(o, "trigger");
    b.artifact = ofn::internal::Str(ofn::internal::Obj(ofn::internal::At(o, "output")), "path");
    if (const boost::json::value* ms = ofn::internal::At(o, "durationMs"); ms && ms->is_int64()) {
      b.duration_ms = ms->as_int64();
    }
    out.push_back(std::move(b));
  }
  return out;
}

Result<std::string> Platform::BuildLog(std::string_view name, std::string_view build, std::string_view ns) {
  if (ns.empty()) ns = impl_->options.default_namespace;
  if (!impl_->builder) return Status(StatusCode::kFailedPrecondition, "builds are off on this platform");
  return impl_->builder->Log(std::string(ns), std::string(name), std::string(build));
}

Status Platform::Rebuild(std::string_view name, std::string_view ns) {
  if (ns.empty()) ns = impl_->options.default_namespace;
  if (!impl_->builder) return Status(StatusCode::kFailedPrecondition, "builds are off on this platform");
  // A Function applied a moment ago may not have been seen by a pass yet.
  OFN_RETURN_IF_ERROR(Sync());
  return impl_->builder->Rebuild(std::string(ns), std::string(name), true, "ofn rebuild");
}

Status Platform::WaitBuildsIdle(std::chrono::milliseconds timeout) {
  if (!impl_->builder) return Status(StatusCode::kFailedPrecondition, "builds are off on this platform");
  if (!impl_->builder->Idle(timeout)) return Status(StatusCode::kDeadlineExceeded, "builds still running");
  return Sync();
}

Status Platform::Restart(std::string_view name, std::string_view ns) {
  if (ns.empty()) ns = impl_->options.default_namespace;
  OFN_ASSIGN_OR_RETURN(std::vector<store::RevisionRecord> revisions, impl_->store->ListRevisions(ns, name));
  if (revisions.empty()) {
    return Status(StatusCode::kNotFound, "function " + std::string(ns) + "/" + std::string(name) + " has no revisions");
  }
  for (const store::RevisionRecord& r : revisions) impl_->autoscaler->Remove(std::string(ns), r.name);
  // The next pass registers them again, fresh.
  impl_->reconciler->Resync();
  return Sync();
}

void Platform::Autoscale() { impl_->autoscaler->TickAll(); }
void Platform::RunEvents() {
  impl_->async->Tick();
  if (impl_->builder) impl_->builder->Poll();
}

Result<RevisionControllerInfo> Platform::RevisionController(std::string_view name, std::string_view ns) {
  if (ns.empty()) ns = impl_->options.default_namespace;
  if (!impl_->builder) return Status(StatusCode::kFailedPrecondition, "builds are off on this platform");
  build::SourceWatch w = impl_->builder->WatchOf(std::string(ns), std::string(name));
  RevisionControllerInfo out;
  out.enabled = w.enabled;
  out.interval = w.interval;
  out.error = w.error;
  out.last_commit = w.last_commit;
  out.polls = w.polls;
  out.failures = w.failures;
  if (w.polls > 0) out.last_poll = FormatRfc3339(w.last_poll);
  if (w.enabled && w.next_poll != Clock::TimePoint::max()) out.next_poll = FormatRfc3339(w.next_poll);
  return out;
}

std::string Platform::Metrics() {
  return platform::internal::PrometheusText(*impl_->autoscaler) + impl_->async->Metrics();
}

std::string Platform::gateway_address() const {
  return impl_->gateway_server ? impl_->gateway_server->address() : "";
}

std::string Platform::https_address() const {
  return impl_->https_server ? impl_->https_server->address() : "";
}

std::string Platform::admin_address() const { return impl_->admin_server ? impl_->admin_server->address() : ""; }

Status Platform::Sync(std::chrono::milliseconds timeout) {
  if (!impl_->reconciler->Sync(timeout)) return Status(StatusCode::kDeadlineExceeded, "reconcile did not settle in time");
  return Status::Ok();
}

void Platform::Close(std::chrono::milliseconds drain) {
  Impl* impl = impl_.get();
  std::call_once(impl->close_once, [impl, drain] {
    impl->registry.SetObserver(nullptr);
    if (impl->gateway_server) impl->gateway_server->Stop(drain);
    if (impl->https_server) impl->https_server->Stop(drain);
    if (impl->admin_server) impl->admin_server->Stop(std::chrono::milliseconds(500));
    impl->store->Unwatch(impl->watch_id);
    impl->async->Stop();  // no new deliveries; unacknowledged messages stay with their components
    {
      std::lock_guard<std::mutex> lock(impl->dapr_mu);
      impl->closing = true;
    }
    impl->reconciler->Stop();
    impl->builder.reset();  // cancels a running build (its record says Interrupted next time)
    if (!impl->temp_build_dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(impl->temp_build_dir, ec);
    }
    impl->dispatcher.Publish(std::make_shared<const gateway::Snapshot>());
    impl->autoscaler->Stop();
    impl->drivers.ShutdownAll();  // starts waiting for readiness give up
    impl->start_pool->Join(std::chrono::seconds(5));
    impl->function_pool->Join(std::max(drain, std::chrono::milliseconds(1000)));
    impl->drivers.Clear();  // the process backend: SIGTERM, grace, SIGKILL; waits
    if (impl->dapr_server) impl->dapr_server->Stop(std::chrono::milliseconds(500));
    if (impl->lock_fd >= 0) {  // the state dir is free for the next platform
      ::close(impl->lock_fd);
      impl->lock_fd = -1;
    }
  });
}

}  // namespace ofn
