// Platform: the facade every binding uses. It owns the store, the reconcile
// loop, the instance drivers, the gateway listener and the admin API.
//
//   ofn::Platform::Options options;
//   options.state_dir = ".ofn";
//   auto platform = ofn::Platform::Open(options);
//   (*platform)->functions().Http("hello", [](const ofn::HttpRequest&) {
//     return ofn::HttpResponse::Text(200, "hi\n");
//   });
//   (*platform)->Apply(yaml_text);
//   (*platform)->WaitReady("hello", std::chrono::seconds(5));
//   ofn::HttpResponse r = (*platform)->Invoke("hello", ofn::HttpRequest{});
//
// Applying stores the objects (all or nothing); the reconcile loop then
// drives each Function from spec to status — instance, route, addresses —
// and does so again for everything stored when a Platform is reopened on
// the same state directory.
//
// Thread-safe: every method may be called from any thread.
#ifndef LIBOFN_PLATFORM_PLATFORM_H_
#define LIBOFN_PLATFORM_PLATFORM_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "libofn/backend/backend.h"
#include "libofn/backend/registry.h"
#include "libofn/backends/containerd/options.h"
#include "libofn/backends/process/options.h"
#include "libofn/build/options.h"
#include "libofn/common/clock.h"
#include "libofn/common/status.h"
#include "libofn/events/component.h"
#include "libofn/scale/options.h"
#include "libofn/serve/function.h"
#include "libofn/serve/http.h"
#include "libofn/spec/diagnostic.h"
#include "libofn/spec/object.h"

namespace ofn {

// A stored object as JSON (apiVersion, kind, metadata, spec, status).
struct ObjectInfo {
  std::string kind, ns, name;
  int64_t generation = 0;
  int64_t resource_version = 0;
  bool unchanged = false;  // from Apply: it was stored as it is already
  std::string json;
};

// One revision of a Function, with its scale state.
struct RevisionInfo {
  std::string ns, function, name;
  int64_t number = 0;
  bool ready = false;
  std::string reason, message;
  int percent = 0;          // traffic share
  std::vector<std::string> tags;
  int ready_instances = 0, desired_instances = 0;
  bool panicking = false;
  double concurrency = 0, rps = 0;
  size_t queued = 0;
  uint64_t cold_starts = 0;
  int restarts = 0;  // crash restarts of its instances
  int recovered = 0;  // instances adopted from the platform's last run (InstanceDriver::Recover)
  // A KEDA-scaled revision (scaleOptions.keda.triggers): its last poll.
  struct KedaTrigger {
    std::string name, type;
    double value = 0;
    std::string error;  // "" when the trigger read
  };
  bool keda = false, keda_active = false;
  std::string keda_reason;  // what decided: activate, deactivate, hpa, hold, fallback, idle, min
  std::vector<KedaTrigger> keda_triggers;
  // scaleOptions.keda.scaledJob: jobs running, ended (succeeded) and failed.
  bool jobs = false;
  int jobs_running = 0;
  uint64_t jobs_succeeded = 0, jobs_failed = 0;
  int64_t creation_time = 0;
  std::string json;  // as a Knative serving.knative.dev/v1 Revision
};

// One build of a Function (spec.build), newest last in Platform::Builds.
struct BuildInfo {
  std::string ns, function, name;
  std::string state;  // Building, Succeeded, Failed
  std::string reason, message;
  std::string commit, strategy;
  std::string url, revision, sub_path;
  std::string artifact;  // the library or bundle it made
  std::string cached_from;  // a cached build: the build whose artefact it reuses
  std::string trigger;      // why it ran: first build, spec.build changed, new commit, rebuild...
  int64_t started = 0, finished = 0;  // seconds since the epoch (finished 0: running)
  int64_t duration_ms = 0;
};

// The revision controller's view of a Function's source (annotation
// openfunction.io/revision-controller: enable).
struct RevisionControllerInfo {
  bool enabled = false;
  std::chrono::milliseconds interval{0};
  std::string error;        // bad params, or the last poll's failure
  std::string last_commit;  // what the last successful poll saw
  uint64_t polls = 0, failures = 0;  // failures in a row
  std::string last_poll, next_poll;  // RFC 3339 on the platform clock; "" when none
};

// status.serving.state of a Function.
enum class ServingState { kUnknown, kPending, kRunning, kFailed };
// The Accepted condition of a Function's route.
enum class RouteAcceptance { kNoRoute, kPending, kAccepted, kNotAccepted };
// What a watch saw happen to an object.
enum class WatchEventType { kAdded, kModified, kDeleted };
std::string_view WatchEventTypeName(WatchEventType t);  // "ADDED", "MODIFIED", "DELETED"

// The status of a Function, read from its JSON. The enums say what the
// text fields say, as the status JSON writes it.
struct FunctionInfo {
  std::string ns, name;
  int64_t generation = 0;
  std::string build_state;
  ServingState state = ServingState::kUnknown;
  std::string serving_state, serving_reason, serving_message;
  RouteAcceptance route = RouteAcceptance::kNoRoute;
  std::string route_status;  // status of the Accepted condition: "True", "False" or ""
  std::string route_reason, route_message;
  std::vector<std::pair<std::string, std::string>> addresses;  // (type, value)
  std::string latest_created_revision;  // status.serving.resourceRef
  std::string latest_ready_revision;    // status.serving.lastSuccessfulResourceRef
  std::string build_resource;           // status.build.resourceRef
  std::string created;                  // metadata.creationTimestamp
  std::map<std::string, std::string> labels;
  std::string json;  // the object (empty from ListFunctions)
  // The first address of that type, or "".
  std::string Address(std::string_view type) const;
};

class Platform {
 public:
  struct Options {
    // Where state is kept (state.db, admin socket, token). Empty: in memory,
    // nothing survives Close.
    std::string state_dir;
    // The gateway listener: "host:port" (port 0: any free port). Empty: no
    // listener (Invoke still works).
    std::string gateway_address = "127.0.0.1:8080";
    // The HTTPS listener: "host:port" (port 0: any free port); "": none. Its
    // certificates come from `tls_certificates` and from the Gateways'
    // HTTPS listeners (tls.certificateRefs naming kubernetes.io/tls
    // Secrets); each connection gets the one for the name it asks for
    // (SNI). Files are re-read when they change, Secrets when applied.
    std::string https_address;
    struct CertificateFiles {
      std::string cert_file, key_file;  // PEM: the certificate (then its chain), its key
      std::vector<std::string> hostnames;  // names it serves; empty: its own (subjectAltName)
    };
    std::vector<CertificateFiles> tls_certificates;
    // Answer every plain-HTTP gateway request with a 308 to HTTPS (needs
    // https_address). Invoke is not redirected.
    bool https_redirect = false;
    // The admin API: "" (none), "unix" (<state_dir>/admin.sock, mode 0600),
    // "unix:/path", or a loopback "127.0.0.1:port" that requires the bearer
    // token kept in admin_token_file (created with mode 0600 when missing).
    std::string admin_address;
    std::string admin_token_file;  // default <state_dir>/admin.token
    Clock* clock = nullptr;        // default Clock::System(); must outlive the Platform
    size_t max_header_bytes = 8 * 1024;
    uint64_t max_body_bytes = 8 * 1024 * 1024;
    std::chrono::milliseconds request_timeout{std::chrono::minutes(5)};
    int io_threads = 2;
    int worker_threads = 16;
    // Gateway connections at most (more wait in the kernel's backlog).
    size_t max_connections = 16384;
    // Peers whose X-Forwarded-For the gateway keeps (IPs or CIDR blocks).
    std::vector<std::string> trusted_proxies;
    // Where the in-process backend looks for function libraries.
    std::vector<std::string> library_dirs;
    // Namespace for manifests that name none.
    std::string default_namespace = "default";
    // Host names of traffic tags: {{.Tag}} and {{.Name}} give the name put
    // into the Gateway's hostTemplate (v2 + hello -> v2-hello.default.ofn.io).
    std::string tag_template = "{{.Tag}}-{{.Name}}";
    // Requests a revision without a free instance holds (more: 503).
    size_t activator_queue_limit = 10000;
    // Revisions without traffic kept per Function; older ones are deleted.
    int revision_history = 10;
    // Whether a thread ticks the autoscaler every 2 s of `clock`. Off, the
    // host calls Autoscale() (deterministic tests on a ManualClock); waiting
    // requests still scale their revision up at once.
    bool autoscale_ticker = true;
    // Whether a thread fires due cron inputs and delivery retries (every
    // 20 ms, against `clock`). Off, RunEvents() does.
    bool events_ticker = true;
    // The cluster's autoscaler settings (Knative's config-autoscaler: scale-
    // to-zero grace period, default targets, windows, rates...). A ConfigMap
    // knative-serving/config-autoscaler applied later is read on top of them;
    // a Function's annotations win where Knative lets them.
    scale::AutoscalerConfig autoscaler;
    // The process backend (Functions whose function container sets
    // `command`). Logs default to <state_dir>/logs (a temp dir in memory).
    process::ProcessDriverOptions process;
    // The containerd backend (OCI images as containers), on when
    // `containerd.socket` is set. Logs default to <state_dir>/logs; the
    // owner of its containers, to one derived from state_dir (in memory: a
    // new one each time, so nothing is adopted).
    containerd::ContainerdOptions containerd;
    // The builder of Functions with spec.build (source in git or a local
    // directory -> a library, a bundle; see libofn/build/strategy.h).
    build::BuildOptions build;
    // Drivers of the host program, beside the built-in inprocess (priority
    // 100) and process (90) ones; names must differ from theirs. A Function
    // picks one with the annotation ofn.io/backend: NAME.
    std::vector<backend::DriverRegistration> drivers;
    // Backends that serve Functions themselves (see backend/backend.h): a
    // Function whose ofn.io/backend annotation names one is handed to it as
    // a plan; nothing of it runs or is routed here.
    std::vector<std::shared_ptr<backend::Backend>> backends;
  };

  static Result<std::unique_ptr<Platform>> Open(const Options& options);
  ~Platform();  // Close()
  Platform(const Platform&) = delete;
  Platform& operator=(const Platform&) = delete;

  // Where host programs register in-process functions (see inprocess.h for
  // how a Function selects one).
  FunctionRegistrar& functions();
  // The Dapr component types Functions and Component objects may name:
  // the built-in ones, and any a host program adds (before applying the
  // Functions that use them).
  events::ComponentRegistry& components();

  // Parses, validates and stores manifests, all or nothing. On invalid input
  // the error lists every problem as "file:line:col: path: message" and the
  // store is unchanged.
  Result<std::vector<ObjectInfo>> Apply(std::string_view manifests, const std::string& file = "<apply>");
  // The same, handing out every diagnostic of the text (errors and
  // warnings, with file, line, column and field path) as well.
  // `base_dir`: the absolute directory the text came from, where a
  // Function's relative workingDir is taken from (spec::ParseOptions).
  Result<std::vector<ObjectInfo>> Apply(std::string_view manifests, const std::string& file,
                                        std::vector<spec::Diagnostic>* diagnostics, const std::string& base_dir = "");
  Result<std::vector<ObjectInfo>> Apply(const std::vector<spec::Object>& objects);

  Result<ObjectInfo> Get(std::string_view kind, std::string_view ns, std::string_view name);
  Result<std::vector<ObjectInfo>> List(std::string_view kind, std::string_view ns = {});
  // Every Function in `ns` ("" = every namespace) summed up, without its
  // object text (`json` empty): what a table of Functions shows, made from
  // the stored status alone.
  Result<std::vector<FunctionInfo>> ListFunctions(std::string_view ns = {});
  // `ns` empty, here and below: Options::default_namespace.
  Result<FunctionInfo> GetFunction(std::string_view name, std::string_view ns = {});
  // Deletes an object (as `ofn delete` and the admin API's DELETE do).
  Status Delete(std::string_view kind, std::string_view ns, std::string_view name);

  // Calls `fn(type, object)` for every later change of `kind` (empty: all),
  // in commit order, on the thread that committed it (an Apply's caller, or
  // the reconcile loop for status writes): `fn` must not block, nor call
  // back into the Platform. Returns an id for Unwatch.
  using WatchFn = std::function<void(WatchEventType, const ObjectInfo&)>;
  int64_t Watch(std::string kind, WatchFn fn);
  void Unwatch(int64_t id);

  // The changes of `kind` (empty: every kind) after sequence number `since`
  // (negative: from now on), in commit order, waiting up to `timeout` for
  // the first (a zero timeout looks once).
  // The platform keeps the last 1024 changes: a caller that falls further
  // behind sees `missed` > 0 and should list again. `next` is the `since`
  // of the following call. For pollers (`ofn get -w`); in-process code can
  // use Watch.
  struct Change {
    int64_t seq = 0;
    WatchEventType type = WatchEventType::kModified;
    std::string time;  // when it was committed, RFC 3339 on the platform's clock
    ObjectInfo object;
  };
  struct Changes {
    std::vector<Change> changes;
    int64_t next = 0;
    int64_t missed = 0;
  };
  Changes ChangesSince(int64_t since, std::string_view kind, std::chrono::milliseconds timeout);

  // Sends a request to a Function through the gateway's own path (route
  // match, filters, instance) without a socket; the response comes from the
  // function on one of the platform's threads (this one waits). The Host header is set to the
  // Function's internal host; the target is kept.
  HttpResponse Invoke(std::string_view name, HttpRequest request, std::string_view ns = {});

  // Waits until `predicate` holds for the Function (re-checked on every
  // status change). DeadlineExceeded after `timeout`, with the last status.
  Result<FunctionInfo> WaitFor(std::string_view name, const std::function<bool(const FunctionInfo&)>& predicate,
                               std::chrono::milliseconds timeout, std::string_view ns = {});
  // Waits until serving is Running and the route (if any) is accepted; fails
  // early with the reason when serving is Failed.
  Result<FunctionInfo> WaitReady(std::string_view name, std::chrono::milliseconds timeout,
                                 std::string_view ns = {});

  // The revisions of a Function (all functions when `name` is empty), oldest
  // first; `ns` "*": every namespace.
  Result<std::vector<RevisionInfo>> Revisions(std::string_view name, std::string_view ns = {});
  // What a Function's instances printed, from the backend that ran them
  // (InstanceDriver::Logs): revision `revision`, or the newest one with any
  // output; the last `tail_lines` lines (0: all that is kept). NotFound
  // names what each backend said.
  struct LogText {
    std::string revision;
    std::string text;
  };
  Result<LogText> Logs(std::string_view name, std::string_view revision = {}, size_t tail_lines = 0,
                       std::string_view ns = {});
  // The builds of a Function (every Function's when `name` is empty),
  // oldest first; `ns` "*": every namespace.
  Result<std::vector<BuildInfo>> Builds(std::string_view name, std::string_view ns = {});
  // A build's log ("" build: the Function's newest).
  Result<std::string> BuildLog(std::string_view name, std::string_view build = {}, std::string_view ns = {});
  // Builds the Function again now, skipping the cache (ofn rebuild).
  // NotFound when it has no spec.build or no builder runs.
  Status Rebuild(std::string_view name, std::string_view ns = {});
  // Waits until no build runs or waits (FailedPrecondition without a builder).
  Status WaitBuildsIdle(std::chrono::milliseconds timeout);
  // The revision controller's view of the Function's source. Its polls run
  // on the platform clock: every second with the events ticker, else at
  // each RunEvents().
  Result<RevisionControllerInfo> RevisionController(std::string_view name, std::string_view ns = {});

  // Replaces every instance of the Function's revisions now (a fixed program
  // file is picked up at once, start back-off forgotten): the old instances
  // go, requests queued for them get 503, and each revision starts again
  // from its initial scale. NotFound when no such Function runs here.
  Status Restart(std::string_view name, std::string_view ns = {});
  // One autoscaler pass over every revision now (see Options::autoscale_ticker).
  void Autoscale();
  // Fires due cron inputs and due delivery retries now, and queues the
  // revision controller's due polls (see Options::events_ticker);
  // deliveries and builds complete asynchronously.
  void RunEvents();
  // Per-revision metrics in the Prometheus text format.
  std::string Metrics();

  std::string gateway_address() const;  // "" when there is no listener
  std::string https_address() const;    // "" when there is no HTTPS listener
  std::string admin_address() const;    // "" when there is no admin API
  // Runs until every change stored so far is reconciled.
  Status Sync(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Stops the listeners (in-flight requests get up to `drain`), the reconcile
  // loop and the instances. Idempotent.
  void Close(std::chrono::milliseconds drain = std::chrono::seconds(10));

 private:
  struct Impl;
  explicit Platform(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ofn

#endif  // LIBOFN_PLATFORM_PLATFORM_H_
