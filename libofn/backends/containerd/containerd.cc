#include "libofn/backends/containerd/containerd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <future>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "libofn/backends/containerd/internal/api.h"
#include "libofn/backends/containerd/internal/images.h"
#include "libofn/backends/containerd/internal/registry.h"
#include "libofn/backends/containerd/internal/runtime_spec.h"
#include "libofn/backends/process/log_file.h"
#include "libofn/backends/process/probe.h"
#include "libofn/backends/internal/supervision.h"
#include "libofn/common/log.h"
#include "libofn/gateway/client.h"
#include "libofn/gateway/server.h"

namespace ofn::containerd {

using backend::Probe;
using internal::Api;
using Millis = std::chrono::milliseconds;
namespace tasks = internal::tasks;
namespace ctr = internal::ctr;
namespace snapshots = internal::snapshots;

namespace {

constexpr const char* kLabelOwner = "ofn.io/owner";
constexpr const char* kLabelNamespace = "ofn.io/namespace";
constexpr const char* kLabelFunction = "ofn.io/function";
constexpr const char* kLabelRevision = "ofn.io/revision";
constexpr const char* kLabelPort = "ofn.io/port";
constexpr const char* kLabelGrace = "ofn.io/grace-ms";
constexpr const char* kSpecType = "types.containerd.io/opencontainers/runtime-spec/1/Spec";

// A container ID containerd takes: [A-Za-z0-9]+([._-][A-Za-z0-9]+)*, at
// most 76 characters.
std::string ContainerId(std::string_view revision) {
  std::string id;
  for (char c : revision.substr(0, 56)) id += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  while (!id.empty() && id.back() == '-') id.pop_back();
  return (id.empty() ? std::string("ofn") : id) + "-" + internal::RandomHex(6);
}

// One instance: its container and its task. The supervision (probes,
// restarts, the stop) is the built-in backends' shared one; a task's exit
// comes from containerd's event stream (or a status check, should an event
// be missed).
class Box : public backends::internal::Supervision {
 public:
  std::shared_ptr<Api> api;
  internal::ImageStore* images = nullptr;  // the driver's; outlives every box
  std::function<Result<internal::ResolvedImage>(const backend::Workload&)> ensure_image;  // the driver's
  std::mutex* log_mu = nullptr;            // the driver's, for log rotation
  ContainerdOptions copt;
  backend::Workload w;
  std::string id, log_path;
  // Set by the event thread (or a status check) when the task exited; under mu.
  bool exited = false;
  uint32_t exit_status = 0;
  bool oom = false;
  // The supervisor thread's: whether a task runs.
  bool task_running = false;

  void OnTaskEvent(bool is_oom, uint32_t status) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (is_oom) {
        oom = true;
      } else {
        exited = true;
        exit_status = status;
      }
    }
    cv.notify_all();
  }

  // Task, container and snapshot: nothing of the instance stays.
  void RemoveAll() {
    DeleteTask();
    ctr::DeleteContainerRequest req;
    req.set_id(id);
    google::protobuf::Empty empty;
    {
      auto ctx = api->Context();
      (void)api->containers->Delete(ctx.get(), req, &empty);
    }
    RemoveSnapshot();
  }

 protected:
  Status Prepare() override { return Create(); }
  Status Launch() override { return LaunchTask(); }
  void Signal(int sig) override { Kill(sig); }
  bool Running() const override { return task_running; }
  void Finish() override { RemoveAll(); }
  std::string What() const override { return "container " + id; }
  std::string LogTail() const override {
    std::string tail = process::TailOfLog(log_path, 20, 2048);
    while (!tail.empty() && tail.back() == '\n') tail.pop_back();
    return tail.empty() ? "(no output)" : tail;
  }

  std::optional<Exit> Wait(Millis period) override {
    bool got = false, got_oom = false;
    uint32_t status = 0;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, period, [&] { return exited || (stop_requested && state != State::kStopping); });
      if (exited) {
        got = true;
        got_oom = oom;
        status = exit_status;
        exited = false;
      }
    }
    auto now = clock->Monotonic();
    if (!got && now >= next_check_) {
      next_check_ = now + std::chrono::seconds(1);
      CheckTask();
      std::lock_guard<std::mutex> lock(*log_mu);
      process::RotateByCopy(log_path, copt.log_max_bytes, copt.log_keep);
    }
    if (!got) return std::nullopt;
    DeleteTask();
    task_running = false;
    const int signal = status > 128 ? static_cast<int>(status) - 128 : 0;
    Exit e;
    e.how = signal ? "was killed by signal " + std::to_string(signal) : "exited with code " + std::to_string(status);
    e.oom = got_oom && signal == SIGKILL;
    if (e.oom) e.how = "was killed for going over its memory limit (OOMKilled)";
    return e;
  }

 private:
  Status Check(const grpc::Status& s, std::string_view what) const { return Api::Check(s, what); }

  // The image, the snapshot and the container.
  Status Create() {
    OFN_ASSIGN_OR_RETURN(internal::ResolvedImage img, ensure_image(w));
    OFN_ASSIGN_OR_RETURN(internal::ContainerProcess proc, internal::MakeProcess(w, img.image.image_config, port));
    internal::RuntimeSpecInput in;
    in.hostname = id;
    in.process = std::move(proc);
    in.memory_bytes = w.limits.memory_bytes;
    in.readonly_rootfs = w.read_only_root_filesystem;
    in.cpu_millis = w.limits.cpu_millis;
    in.cgroups_path = copt.cgroup_parent + "/" + id;
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) in.nofile = std::min<uint64_t>(rl.rlim_max, 65536);
    const std::string spec = internal::MakeRuntimeSpec(in);

    OFN_ASSIGN_OR_RETURN(internal::Lease lease, internal::Lease::Create(*api, std::chrono::minutes(10)));
    snapshots::PrepareSnapshotRequest prep;
    prep.set_snapshotter(images->snapshotter());
    prep.set_key(id);
    prep.set_parent(img.chain_id);
    snapshots::PrepareSnapshotResponse prepared;
    {
      auto ctx = api->Context(std::chrono::seconds(30), lease.id());
      OFN_RETURN_IF_ERROR(Check(api->snapshots->Prepare(ctx.get(), prep, &prepared), "prepare snapshot " + id));
    }
    ctr::CreateContainerRequest req;
    ctr::Container* c = req.mutable_container();
    c->set_id(id);
    c->set_image(img.name);
    auto& labels = *c->mutable_labels();
    labels[kLabelOwner] = copt.owner;
    labels[kLabelNamespace] = w.ns;
    labels[kLabelFunction] = w.function;
    labels[kLabelRevision] = w.revision;
    labels[kLabelPort] = std::to_string(port);
    labels[kLabelGrace] = std::to_string(grace.count());
    c->mutable_runtime()->set_name(copt.runtime);
    c->mutable_spec()->set_type_url(kSpecType);
    c->mutable_spec()->set_value(spec);
    c->set_snapshotter(images->snapshotter());
    c->set_snapshot_key(id);
    ctr::CreateContainerResponse created;
    auto ctx = api->Context(std::chrono::seconds(30), lease.id());
    Status st = Check(api->containers->Create(ctx.get(), req, &created), "create container " + id);
    if (!st.ok()) RemoveSnapshot();
    return st;
  }

  // A new task of the container, started.
  Status LaunchTask() {
    snapshots::MountsRequest mreq;
    mreq.set_snapshotter(images->snapshotter());
    mreq.set_key(id);
    snapshots::MountsResponse mounts;
    {
      auto ctx = api->Context();
      OFN_RETURN_IF_ERROR(Check(api->snapshots->Mounts(ctx.get(), mreq, &mounts), "mounts of snapshot " + id));
    }
    tasks::CreateTaskRequest create;
    create.set_container_id(id);
    *create.mutable_rootfs() = mounts.mounts();
    create.set_stdout("file://" + log_path);
    create.set_stderr("file://" + log_path);
    tasks::CreateTaskResponse created;
    for (int attempt = 0;; ++attempt) {
      auto ctx = api->Context();
      grpc::Status s = api->tasks->Create(ctx.get(), create, &created);
      if (s.ok()) break;
      if (s.error_code() == grpc::StatusCode::ALREADY_EXISTS && attempt == 0) {
        DeleteTask();  // an exited task left from before
        continue;
      }
      return Check(s, "create task of " + id);
    }
    tasks::StartRequest start;
    start.set_container_id(id);
    tasks::StartResponse started;
    {
      auto ctx = api->Context();
      Status st = Check(api->tasks->Start(ctx.get(), start, &started), "start task of " + id);
      if (!st.ok()) {
        DeleteTask();
        return st;
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      exited = false;
      oom = false;
    }
    task_running = true;
    next_check_ = clock->Monotonic() + std::chrono::seconds(1);
    return Status::Ok();
  }

  void Kill(int sig) {
    tasks::KillRequest req;
    req.set_container_id(id);
    req.set_signal(static_cast<uint32_t>(sig));
    req.set_all(true);
    google::protobuf::Empty empty;
    auto ctx = api->Context(std::chrono::seconds(10));
    (void)api->tasks->Kill(ctx.get(), req, &empty);
  }

  void DeleteTask() {
    tasks::DeleteTaskRequest req;
    req.set_container_id(id);
    tasks::DeleteResponse resp;
    auto ctx = api->Context(std::chrono::seconds(30));
    (void)api->tasks->Delete(ctx.get(), req, &resp);
  }

  void RemoveSnapshot() {
    snapshots::RemoveSnapshotRequest req;
    req.set_snapshotter(images->snapshotter());
    req.set_key(id);
    google::protobuf::Empty empty;
    auto ctx = api->Context();
    (void)api->snapshots->Remove(ctx.get(), req, &empty);
  }


  // A status check for exits whose event was missed (containerd restarted
  // or the subscription dropped).
  void CheckTask() {
    tasks::GetRequest req;
    req.set_container_id(id);
    tasks::GetResponse resp;
    auto ctx = api->Context(std::chrono::seconds(5));
    grpc::Status s = api->tasks->Get(ctx.get(), req, &resp);
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
      OnTaskEvent(false, 255);
    } else if (s.ok() && resp.process().status() == ::containerd::v1::types::STOPPED) {
      OnTaskEvent(false, resp.process().exit_status());
    }
  }

  Clock::Duration next_check_{};
};

}  // namespace

struct ContainerdDriver::Impl {
  ContainerdOptions opt;
  std::shared_ptr<Api> api;
  std::unique_ptr<internal::ImageStore> images;
  std::unique_ptr<internal::Registry> registry;
  std::mutex pull_mu;  // one pull at a time
  std::string snapshotter_note;
  bool temp_log_dir = false;
  std::mutex log_mu;

  mutable std::mutex mu;
  std::list<std::shared_ptr<Box>> boxes;
  std::map<std::string, std::weak_ptr<Box>> by_id;
  std::set<int> ports;
  bool closing = false;
  grpc::ClientContext* events_ctx = nullptr;  // under mu
  std::thread events;

  void ReapLocked() {
    for (auto it = boxes.begin(); it != boxes.end();) {
      if ((*it)->finished.load()) {
        if ((*it)->thread.joinable()) (*it)->thread.join();
        ports.erase((*it)->port);
        by_id.erase((*it)->id);
        it = boxes.erase(it);
      } else {
        ++it;
      }
    }
  }

  Result<int> FreePort() { return backends::internal::FreeLoopbackPort(ports); }

  std::string LogPath(std::string_view ns, std::string_view revision) const {
    return opt.log_dir + "/" + std::string(ns) + "/" + std::string(revision) + ".log";
  }

  // The image of a workload, pulled as its imagePullPolicy says
  // (Kubernetes' default: Always for :latest, else IfNotPresent), unpacked.
  Result<internal::ResolvedImage> EnsureImage(const backend::Workload& w) {
    OFN_ASSIGN_OR_RETURN(ImageReference ref, ParseImageReference(w.image));
    std::string policy = w.image_pull_policy;
    if (policy.empty()) policy = ref.digest.empty() && ref.tag == "latest" ? "Always" : "IfNotPresent";
    const std::string name = ref.Name();
    Result<internal::ResolvedImage> local = images->Resolve(name);
    if (!local.ok() && local.status().code() != StatusCode::kNotFound) return local.status();
    if (policy == "Never" || (policy == "IfNotPresent" && local.ok())) {
      if (!local.ok()) {
        return Status(StatusCode::kNotFound, local.status().message() +
                                                 " and imagePullPolicy is Never; import it first (ofn image import "
                                                 "FILE, or ofn image build)");
      }
    } else {
      std::map<std::string, std::string> credentials;
      if (!w.image_credentials.empty()) {
        auto parsed = internal::ParseDockerConfig(w.image_credentials, "the Secret of spec.imageCredentials");
        if (!parsed.ok()) return parsed.status();
        credentials = std::move(*parsed);
      }
      Status pulled;
      {
        std::lock_guard<std::mutex> lock(pull_mu);
        pulled = registry->Pull(ref, *images, credentials);
      }
      if (!pulled.ok()) {
        if (!local.ok()) {
          return Status(pulled.code(), "ErrImagePull: " + pulled.message() +
                                           "\n(or import the image: ofn image import FILE, ofn image build; a mirror: "
                                           "ofn serve --registry-mirror " + ref.registry + "=http://HOST:PORT)");
        }
        OFN_LOG(kWarning) << "image " << name << ": pull failed, running the local copy: " << pulled.message();
      }
      OFN_ASSIGN_OR_RETURN(local, images->Resolve(name));
    }
    OFN_RETURN_IF_ERROR(images->Unpack(*local));
    return local;
  }

  std::shared_ptr<Box> NewBox() {
    auto box = std::make_shared<Box>();
    box->api = api;
    box->images = images.get();
    box->ensure_image = [this](const backend::Workload& w) { return EnsureImage(w); };
    box->log_mu = &log_mu;
    box->copt = opt;
    box->opt.backoff_base = opt.backoff_base;
    box->opt.backoff_cap = opt.backoff_cap;
    box->opt.backoff_reset_after = opt.backoff_reset_after;
    box->opt.fast_probe_period = opt.fast_probe_period;
    box->opt.idle_period = std::chrono::milliseconds(200);  // exits come as events
    box->clock = opt.clock ? opt.clock : Clock::System();
    box->limits_warning = snapshotter_note;
    if (!snapshotter_note.empty()) box->warning_reason = "NativeSnapshotter";
    return box;
  }

  // Runs `box` on its own thread; false when the driver is closing.
  bool Launch(const std::shared_ptr<Box>& box) {
    std::lock_guard<std::mutex> lock(mu);
    if (closing) return false;
    boxes.push_back(box);
    by_id[box->id] = box;
    Box* raw = box.get();
    box->thread = std::thread([raw] { raw->Run(); });
    return true;
  }

  // Task exits and OOM kills of our containers, for as long as the driver
  // runs; a dropped subscription is made again.
  void WatchEvents() {
    for (;;) {
      auto ctx = api->Context(std::chrono::hours(24 * 365));
      {
        std::lock_guard<std::mutex> lock(mu);
        if (closing) return;
        events_ctx = ctx.get();
      }
      internal::events::SubscribeRequest req;
      req.add_filters("namespace==" + api->ns() + ",topic==\"/tasks/exit\"");
      req.add_filters("namespace==" + api->ns() + ",topic==\"/tasks/oom\"");
      auto reader = api->events->Subscribe(ctx.get(), req);
      internal::events::Envelope env;
      while (reader->Read(&env)) {
        std::string container;
        bool is_oom = env.topic() == "/tasks/oom";
        uint32_t status = 0;
        if (is_oom) {
          ::containerd::events::TaskOOM ev;
          if (!ev.ParseFromString(env.event().value())) continue;
          container = ev.container_id();
        } else {
          ::containerd::events::TaskExit ev;
          if (!ev.ParseFromString(env.event().value())) continue;
          if (ev.id() != ev.container_id()) continue;  // an exec, not the task
          container = ev.container_id();
          status = ev.exit_status();
        }
        std::shared_ptr<Box> box;
        {
          std::lock_guard<std::mutex> lock(mu);
          auto it = by_id.find(container);
          if (it != by_id.end()) box = it->second.lock();
        }
        if (box) box->OnTaskEvent(is_oom, status);
      }
      (void)reader->Finish();
      {
        std::lock_guard<std::mutex> lock(mu);
        events_ctx = nullptr;
        if (closing) return;
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
};

Result<std::shared_ptr<ContainerdDriver>> ContainerdDriver::Open(ContainerdOptions options) {
  auto impl = std::make_shared<Impl>();
  if (options.socket.empty()) options.socket = kDefaultSocket;
  if (options.owner.empty()) options.owner = internal::RandomHex(6);
  OFN_ASSIGN_OR_RETURN(std::unique_ptr<Api> api, Api::Connect(options.socket, options.ns, std::chrono::seconds(5)));
  impl->api = std::move(api);
  if (options.snapshotter.empty()) {
    // overlayfs when containerd has it working, else native.
    internal::introspection::PluginsRequest req;
    req.add_filters("type==io.containerd.snapshotter.v1,id==overlayfs");
    internal::introspection::PluginsResponse resp;
    auto ctx = impl->api->Context();
    grpc::Status s = impl->api->introspection->Plugins(ctx.get(), req, &resp);
    bool overlay = s.ok() && resp.plugins_size() == 1 && !resp.plugins(0).has_init_err();
    options.snapshotter = overlay ? "overlayfs" : "native";
    if (!overlay) {
      impl->snapshotter_note = "containerd's overlayfs snapshotter is not working here" +
                               (s.ok() && resp.plugins_size() == 1
                                    ? " (" + resp.plugins(0).init_err().message() + ")"
                                    : std::string()) +
                               ": containers use the native snapshotter (a full copy of the image each)";
    }
  }
  if (options.log_dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ofn-container-logs-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) return Status(StatusCode::kInternal, "cannot make a log directory");
    options.log_dir = tmpl;
    impl->temp_log_dir = true;
  }
  impl->opt = options;
  impl->images = std::make_unique<internal::ImageStore>(*impl->api, options.snapshotter);
  std::map<std::string, std::string> credentials;
  if (!options.registry_config.empty()) {
    OFN_ASSIGN_OR_RETURN(credentials, internal::ReadDockerConfig(options.registry_config));
  }
  impl->registry = std::make_unique<internal::Registry>(options.registry_mirrors, std::move(credentials));
  Impl* raw = impl.get();
  impl->events = std::thread([raw] { raw->WatchEvents(); });
  auto driver = std::shared_ptr<ContainerdDriver>(new ContainerdDriver());
  driver->impl_ = std::move(impl);
  return driver;
}

ContainerdDriver::~ContainerdDriver() {
  Shutdown();
  std::list<std::shared_ptr<Box>> boxes;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    boxes = impl_->boxes;
  }
  for (auto& b : boxes) {
    if (b->thread.joinable()) b->thread.join();
  }
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->events_ctx) impl_->events_ctx->TryCancel();
  }
  if (impl_->events.joinable()) impl_->events.join();
  if (impl_->temp_log_dir) {
    std::error_code ec;
    std::filesystem::remove_all(impl_->opt.log_dir, ec);
  }
}

void ContainerdDriver::Shutdown() {
  std::list<std::shared_ptr<Box>> boxes;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->closing = true;
    boxes = impl_->boxes;
  }
  for (auto& b : boxes) b->RequestStop();
}

bool ContainerdDriver::Accepts(const backend::Workload& w) const {
  if (w.kind != backend::WorkloadKind::kImage && w.kind != backend::WorkloadKind::kCommand) return false;
  if (w.image.empty() || w.image.rfind("ofn.local/", 0) == 0) return false;
  return ParseImageReference(w.image).ok();
}

std::string ContainerdDriver::Requirement(const backend::Workload& w) const {
  if (w.image.empty()) return "an OCI image in spec.image";
  if (w.image.rfind("ofn.local/", 0) == 0) return "an OCI image (ofn.local/ names a function of this host)";
  Result<ImageReference> ref = ParseImageReference(w.image);
  return ref.ok() ? "an OCI image" : "a valid image reference (" + ref.status().message() + ")";
}

Result<std::shared_ptr<backend::Instance>> ContainerdDriver::Start(const backend::Workload& w) {
  auto promise = std::make_shared<std::promise<Result<std::shared_ptr<backend::Instance>>>>();
  auto future = promise->get_future();
  StartAsync(w, [promise](Result<std::shared_ptr<backend::Instance>> r) { promise->set_value(std::move(r)); });
  return future.get();
}

void ContainerdDriver::StartAsync(const backend::Workload& w, StartDone done) {
  Result<ImageReference> ref = ParseImageReference(w.image);
  if (!ref.ok()) return done(ref.status());
  std::shared_ptr<Box> box = impl_->NewBox();
  box->w = w;
  box->w.image = ref->Name();
  box->id = ContainerId(w.revision);
  box->log_path = impl_->LogPath(w.ns, w.revision);
  box->label = "revision " + w.ns + "/" + w.revision;
  box->readiness = w.readiness;
  box->liveness = w.liveness;
  box->start_timeout = w.start_timeout.value_or(impl_->opt.start_timeout);
  box->grace = w.grace.value_or(impl_->opt.grace);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(box->log_path).parent_path(), ec);
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->ReapLocked();
    if (impl_->closing) return done(Status(StatusCode::kUnavailable, "the containerd backend is shutting down"));
    Result<int> port = impl_->FreePort();
    if (!port.ok()) return done(port.status());
    box->port = *port;
  }
  std::weak_ptr<Box> weak = box;
  box->start_done = backends::internal::SettleWith(weak, std::move(done));
  if (!impl_->Launch(box)) {
    box->start_failure = "the containerd backend is shutting down";
    box->state = Box::State::kDone;
    box->Settle();
  }
}

std::vector<backend::SurvivingInstance> ContainerdDriver::Recover() {
  std::vector<backend::SurvivingInstance> out;
  ctr::ListContainersRequest req;
  req.add_filters(std::string("labels.\"") + kLabelOwner + "\"==" + impl_->opt.owner);
  ctr::ListContainersResponse resp;
  {
    auto ctx = impl_->api->Context();
    Status st = Api::Check(impl_->api->containers->List(ctx.get(), req, &resp), "list containers");
    if (!st.ok()) {
      OFN_LOG(kWarning) << "containerd backend: " << st.message() << "; no container is recovered";
      return out;
    }
  }
  for (const ctr::Container& c : resp.containers()) {
    std::shared_ptr<Box> box = impl_->NewBox();
    box->id = c.id();
    const auto& labels = c.labels();
    auto label = [&](const char* key) {
      auto it = labels.find(key);
      return it == labels.end() ? std::string() : it->second;
    };
    box->w.ns = label(kLabelNamespace);
    box->w.function = label(kLabelFunction);
    box->w.revision = label(kLabelRevision);
    box->w.image = c.image();
    box->port = std::atoi(label(kLabelPort).c_str());
    box->grace = Millis(std::atoll(label(kLabelGrace).c_str()));
    if (box->grace.count() <= 0) box->grace = impl_->opt.grace;
    box->start_timeout = impl_->opt.start_timeout;
    box->log_path = impl_->LogPath(box->w.ns, box->w.revision);
    tasks::GetRequest get;
    get.set_container_id(c.id());
    tasks::GetResponse task;
    auto ctx = impl_->api->Context();
    grpc::Status s = impl_->api->tasks->Get(ctx.get(), get, &task);
    const bool running = s.ok() && task.process().status() == ::containerd::v1::types::RUNNING;
    bool port_free = false;
    {
      std::lock_guard<std::mutex> lock(impl_->mu);
      port_free = box->port > 0 && impl_->ports.insert(box->port).second;
    }
    if (!running || box->w.revision.empty() || !port_free) {
      box->RemoveAll();  // exited, never started, or not ours to run
      std::lock_guard<std::mutex> lock(impl_->mu);
      if (port_free) impl_->ports.erase(box->port);
      continue;
    }
    box->adopted = true;
    box->task_running = true;
    box->ever_ready = true;
    box->state = Box::State::kReady;
    if (!impl_->Launch(box)) break;
    out.push_back({box->w.ns, box->w.revision, std::make_shared<backends::internal::SupervisedInstance>(box)});
  }
  return out;
}

Result<std::string> ContainerdDriver::Logs(std::string_view ns, std::string_view revision, size_t tail_lines) const {
  std::lock_guard<std::mutex> lock(impl_->log_mu);
  return process::ReadLog(impl_->LogPath(ns, revision), tail_lines,
                          "revision " + std::string(ns) + "/" + std::string(revision));
}

Status ContainerdDriver::ImportImage(const std::string& name, const OciImage& image) {
  return impl_->images->Import(name, image);
}

Result<std::vector<std::string>> ContainerdDriver::ImportArchive(std::string_view tar, std::string_view fallback_name) {
  OFN_ASSIGN_OR_RETURN(ImageArchive archive, ReadImageArchive(tar, fallback_name));
  return impl_->images->ImportArchive(archive);
}

Status ContainerdDriver::PullImage(const std::string& name) {
  OFN_ASSIGN_OR_RETURN(ImageReference ref, ParseImageReference(name));
  std::lock_guard<std::mutex> lock(impl_->pull_mu);
  return impl_->registry->Pull(ref, *impl_->images);
}

Status ContainerdDriver::PushImage(const std::string& name, const std::string& dest, const std::string& docker_config) {
  OFN_ASSIGN_OR_RETURN(ImageReference src, ParseImageReference(name));
  OFN_ASSIGN_OR_RETURN(ImageReference to, ParseImageReference(dest.empty() ? name : dest));
  OFN_ASSIGN_OR_RETURN(internal::ResolvedImage img, impl_->images->Resolve(src.Name()));
  std::map<std::string, std::string> credentials;
  if (!docker_config.empty()) {
    OFN_ASSIGN_OR_RETURN(credentials, internal::ParseDockerConfig(docker_config, "the Secret of spec.imageCredentials"));
  }
  return impl_->registry->Push(img, to, *impl_->images, credentials);
}

Result<std::string> ContainerdDriver::PullImageDigest(const std::string& name, const std::string& docker_config) {
  OFN_ASSIGN_OR_RETURN(ImageReference ref, ParseImageReference(name));
  std::map<std::string, std::string> credentials;
  if (!docker_config.empty()) {
    OFN_ASSIGN_OR_RETURN(credentials, internal::ParseDockerConfig(docker_config, "the Secret of spec.imageCredentials"));
  }
  {
    std::lock_guard<std::mutex> lock(impl_->pull_mu);
    OFN_RETURN_IF_ERROR(impl_->registry->Pull(ref, *impl_->images, credentials));
  }
  OFN_ASSIGN_OR_RETURN(internal::ResolvedImage img, impl_->images->Resolve(ref.Name()));
  return img.manifest_digest;
}

Result<std::string> ContainerdDriver::ExtractImage(const std::string& name, const std::string& sub_path,
                                                   const std::string& dest) {
  namespace fs = std::filesystem;
  OFN_ASSIGN_OR_RETURN(internal::ResolvedImage img, impl_->images->Resolve(name));
  std::string prefix = sub_path;
  while (!prefix.empty() && prefix.front() == '/') prefix.erase(0, 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  std::error_code ec;
  fs::create_directories(dest, ec);
  if (ec) return Status(StatusCode::kInternal, "mkdir " + dest + ": " + ec.message());
  size_t written = 0;
  constexpr size_t kMaxLayer = size_t{2} << 30;
  for (const Blob& layer : img.image.layers) {
    OFN_ASSIGN_OR_RETURN(std::string data, impl_->images->ReadBlob(layer.digest, kMaxLayer));
    if (layer.media_type.find("gzip") != std::string::npos) {
      OFN_ASSIGN_OR_RETURN(data, Gunzip(data, kMaxLayer));
    }
    OFN_ASSIGN_OR_RETURN(std::vector<TarEntry> entries, ReadTar(data));
    for (const TarEntry& e : entries) {
      std::string path = e.path;
      while (!path.empty() && (path.front() == '/' || path.rfind("./", 0) == 0)) path.erase(0, path.front() == '/' ? 1 : 2);
      while (!path.empty() && path.back() == '/') path.pop_back();
      if (path.empty()) continue;
      // Only what lies under the sub-path, relative to it; nothing that climbs out.
      if (!prefix.empty()) {
        if (path != prefix && path.rfind(prefix + "/", 0) != 0) continue;
        path = path == prefix ? "" : path.substr(prefix.size() + 1);
        if (path.empty()) continue;
      }
      fs::path rel = fs::path(path).lexically_normal();
      if (rel.empty() || rel.is_absolute() || *rel.begin() == "..") {
        return Status(StatusCode::kInvalidArgument, "layer " + layer.digest + ": entry \"" + e.path + "\" leaves the rootfs");
      }
      fs::path target = fs::path(dest) / rel;
      const std::string base = rel.filename().string();
      if (base.rfind(".wh.", 0) == 0) {  // a whiteout: what an earlier layer had goes
        if (base == ".wh..wh..opq") {
          for (const auto& child : fs::directory_iterator(target.parent_path(), ec)) fs::remove_all(child.path(), ec);
        } else {
          fs::remove_all(target.parent_path() / base.substr(4), ec);
        }
        continue;
      }
      fs::create_directories(target.parent_path(), ec);
      fs::remove_all(target, ec);
      switch (e.type) {
        case TarEntry::Type::kDirectory:
          fs::create_directories(target, ec);
          break;
        case TarEntry::Type::kSymlink:
          fs::create_symlink(e.link, target, ec);
          break;
        case TarEntry::Type::kHardlink: {
          fs::path from = fs::path(dest) / fs::path(e.link).lexically_normal();
          fs::copy_file(from, target, ec);
          break;
        }
        case TarEntry::Type::kFile: {
          std::FILE* f = std::fopen(target.c_str(), "wb");
          if (!f) return Status(StatusCode::kInternal, "cannot write " + target.string());
          bool ok = e.data.empty() || std::fwrite(e.data.data(), 1, e.data.size(), f) == e.data.size();
          ok = std::fclose(f) == 0 && ok;
          if (!ok) return Status(StatusCode::kInternal, "cannot write " + target.string());
          fs::permissions(target, static_cast<fs::perms>(e.mode & 0777), ec);
          ++written;
          break;
        }
      }
      ec.clear();
    }
  }
  if (written == 0) {
    return Status(StatusCode::kNotFound, "image " + name + " has no files under \"" + sub_path + "\"");
  }
  return img.manifest_digest;
}

Result<OciImage> ContainerdDriver::GetImage(const std::string& name) {
  OFN_ASSIGN_OR_RETURN(internal::ResolvedImage img, impl_->images->Resolve(name));
  return img.image;
}

Result<std::vector<ContainerdDriver::ImageInfo>> ContainerdDriver::ListImages() const {
  internal::images::ListImagesRequest req;
  internal::images::ListImagesResponse resp;
  auto ctx = impl_->api->Context();
  OFN_RETURN_IF_ERROR(Api::Check(impl_->api->images->List(ctx.get(), req, &resp), "list images"));
  std::vector<ImageInfo> out;
  for (const auto& img : resp.images()) out.push_back({img.name(), img.target().digest()});
  return out;
}

Status ContainerdDriver::DeleteImage(const std::string& name) { return impl_->images->Delete(name); }

const std::string& ContainerdDriver::snapshotter() const { return impl_->opt.snapshotter; }
const std::string& ContainerdDriver::server_version() const { return impl_->api->server_version(); }
const std::string& ContainerdDriver::owner() const { return impl_->opt.owner; }

Result<std::vector<std::string>> ContainerdDriver::ContainerIds() const {
  ctr::ListContainersRequest req;
  req.add_filters(std::string("labels.\"") + kLabelOwner + "\"==" + impl_->opt.owner);
  ctr::ListContainersResponse resp;
  auto ctx = impl_->api->Context();
  OFN_RETURN_IF_ERROR(Api::Check(impl_->api->containers->List(ctx.get(), req, &resp), "list containers"));
  std::vector<std::string> ids;
  for (const ctr::Container& c : resp.containers()) ids.push_back(c.id());
  return ids;
}

int ContainerdDriver::live() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  int n = 0;
  for (const auto& b : impl_->boxes) n += b->finished.load() ? 0 : 1;
  return n;
}

}  // namespace ofn::containerd
