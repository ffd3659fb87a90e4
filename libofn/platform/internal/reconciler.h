// The reconcile loop: one thread that, whenever a Function or Gateway
// changes (or a revision becomes ready or fails), brings every Function in
// line with its spec. A pass works on what changed: a Function whose record
// is at the version the last pass planned (or wrote the status of), in the
// same world (Gateways, Secrets, config, drivers: Resync), keeps its plan;
// one the local backend did not touch keeps its status. Each pass:
//   - a change to the serving part creates an immutable revision
//     <name>-00001, -00002, ... (stored);
//   - each Function's plan (MakePlan: revisions with workloads and scale,
//     traffic, route) goes to its backend — the orchestrator its
//     ofn.io/backend annotation names, else the LocalBackend (drivers,
//     autoscaler, gateway) — when it changed; a Function that moves or goes
//     is deleted from its old backend;
//   - every backend commits once, then is observed per Function;
//   - from the observations: revision status, garbage collection of
//     revisions without traffic beyond the history limit, Function status
//     (written only when it changed), Gateway status and certificates.
// Internal.
#ifndef LIBOFN_PLATFORM_INTERNAL_RECONCILER_H_
#define LIBOFN_PLATFORM_INTERNAL_RECONCILER_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "libofn/backend/backend.h"
#include "libofn/backend/driver.h"
#include "libofn/backend/registry.h"
#include "libofn/build/builder.h"
#include "libofn/common/clock.h"
#include "libofn/gateway/dispatch.h"
#include "libofn/gateway/plugins.h"
#include "libofn/gateway/tls.h"
#include "libofn/platform/internal/async_runtime.h"
#include "libofn/platform/internal/autoscaler.h"
#include "libofn/platform/internal/local_backend.h"
#include "libofn/platform/internal/traffic.h"
#include "libofn/route/route.h"
#include "libofn/scale/options.h"
#include "libofn/store/store.h"

namespace ofn::platform::internal {

// FNV-1a, 64 bit.
uint64_t Hash64(std::string_view data);

struct ReconcilerOptions {
  std::string tag_template = "{{.Tag}}-{{.Name}}";
  size_t queue_limit = 10000;
  std::chrono::milliseconds request_timeout{std::chrono::minutes(5)};
  int revision_history = 10;  // revisions without traffic kept per function
  // The cluster's autoscaler settings; a ConfigMap knative-serving/config-autoscaler
  // applied to the store is read on top of them.
  scale::AutoscalerConfig autoscaler;
  // Backends that serve Functions themselves (ofn.io/backend names one).
  std::vector<std::shared_ptr<backend::Backend>> backends;
  // The HTTPS listener's certificates, fed from the Gateways' HTTPS
  // listeners and their Secrets (null: no HTTPS listener).
  std::shared_ptr<gateway::TlsCertificates> tls;
  // The async runtime the Functions' dapr triggers and outputs go to (null:
  // none; they stay inert).
  AsyncRuntime* async = nullptr;
  // The builder of Functions with spec.build (null: none; they serve
  // spec.image as it is).
  build::Builder* builder = nullptr;
};

// Thread-safe.
class Reconciler {
 public:
  // Borrowed pointers must outlive the Reconciler.
  Reconciler(store::Store* store, Clock* clock, const backend::Registry* drivers,
             gateway::Dispatcher* dispatcher, Autoscaler* autoscaler, ReconcilerOptions options);
  ~Reconciler();

  void Start();
  void Stop();
  // Something a Function's status depends on may have changed (a Function
  // record, an instance's readiness or health, a build): the next pass
  // plans the Functions whose records changed and reports those whose
  // observation changed.
  void Kick();
  // What every Function is planned from may have changed (the drivers, or
  // revisions were stopped behind the loop's back): the next pass plans
  // and converges every Function again.
  void Resync();
  // A store change of the kinds the loop reads: a Function's kicks; another
  // kind's resyncs when more than its status changed.
  void Changed(const store::Record& record, bool deleted);
  // Waits until every change committed before the call is reconciled.
  bool Sync(std::chrono::milliseconds timeout);
  // Hands a request to a locally served Function's data path (its traffic
  // split; no route needed): what the async runtime delivers events with.
  bool Deliver(const std::string& ns, const std::string& name, HttpRequest request,
               std::function<void(HttpResponse)> done);

 private:
  // What the loop remembers of a Function between passes.
  struct FunctionState;
  // One Function's share of a pass.
  struct Work {
    // Read in this pass when it is planned, reported or handed to the async
    // runtime (null otherwise); the key's parts (views of functions_'s key).
    const store::Record* record = nullptr;
    std::string_view ns, name;
    int64_t version = 0;  // the record's resource version this pass planned it at, or kept its plan for
    FunctionState* state = nullptr;
    // Planned in this pass (else what the last pass planned, kept).
    bool fresh = true;
    // Planned again every pass: it builds, or watches an image, or its
    // backend refused the plan.
    bool volatile_plan = false;
    bool uses_components = false;  // dapr triggers, outputs or components
    bool http = false;
    bool revisions_loaded = false;
    std::vector<store::RevisionRecord> revisions;  // oldest first; not kept between passes
    std::string serving_hash, build_hash;
    bool has_build = false;
    bool has_serving = true;
    std::unique_ptr<build::BuildView> build;  // with a builder
    std::string image_digest;  // the revision controller's type image: what spec.image resolved to
    bool local = false;
    backend::Backend* backend = nullptr;
    // Set when the plan could not be applied: what to report instead.
    std::unique_ptr<backend::FunctionObservation> failed;
    std::unique_ptr<route::FunctionRoute> route;  // compiled for an orchestrator's status
  };
  // What the loop remembers of a Function between passes.
  struct FunctionState {
    backend::Backend* backend = nullptr;            // the one that has it
    std::shared_ptr<const backend::FunctionPlan> applied;  // the last plan it took (the local backend keeps it too)
    // The last pass's Work, valid while the record's resource version (`rv`,
    // after the loop's own status write) and the world (`world`) stay.
    std::optional<Work> last;
    int64_t rv = -1;
    uint64_t world = 0;
    uint64_t pass = 0;  // the last pass that saw it live
    // Its status was made from an observation (not reset since), with the
    // async runtime's problem folded in; the gateway its route attached to.
    bool reported = false;
    std::string problem;
    std::string attached;
    // Its revisions changed under the kept plan (a readiness written, a
    // revision collected): planned again next pass.
    bool replan = false;
  };
  void Loop();
  void Pass();
  // Reads the Component objects and Secrets once, and hands the async
  // runtime every Function with dapr triggers or outputs.
  void SyncAsync(std::vector<Work>& work, const std::function<const store::Record*(Work&)>& fetch);
  // The Backend the Function's ofn.io/backend annotation names, or null.
  backend::Backend* OrchestratorFor(const store::Record& fn) const;
  // Writes what the local backend observed: revision status, garbage
  // collection, Function status.
  void ReportLocal(const Work& w, const backend::FunctionObservation& obs, const std::string& now);
  // Writes the Function status of an orchestrated Function.
  void ReportOrchestrated(const Work& w, const backend::FunctionObservation& obs, const std::string& now);
  void WriteFunctionStatus(const store::Record& fn, const std::string& status);
  // Lists the Work's revisions when this pass has not yet; false (logged)
  // when the store fails.
  bool LoadRevisions(Work& w);
  // A pass's writes are queued and committed together (one transaction, one
  // WAL commit, instead of one per Function); an op's own error is logged
  // with `what` and does not undo the others. kConflict and kNotFound mean
  // the object moved on since it was read and are not errors here.
  void QueueWrite(std::string what, std::function<Status(store::Transaction&)> op);
  void FlushWrites();
  std::vector<std::pair<std::string, std::function<Status(store::Transaction&)>>> writes_;  // loop thread only
  // Function statuses written by the queued writes: the resource version
  // each write made, kept once the writes committed; loop thread only.
  std::vector<std::pair<std::string, int64_t>> written_rvs_;
  std::vector<std::string> status_keys_;  // the Functions whose status writes are queued
  // Writes an HTTPRoute's status.parents: each parent's Accepted condition,
  // and ResolvedRefs when it is routed.
  void ReportHttpRoute(const store::Record& r, const route::CompiledHttpRoute& compiled, const std::string& now);
  // The gateway plugins of the stored WasmPlugin objects; null when none.
  std::shared_ptr<const gateway::PluginChain> CompilePlugins();
  // Hands the certificates of the Gateways' HTTPS listeners to the TLS
  // listener (when they changed) and writes each Gateway's status.
  void SyncGateways(const std::vector<store::Record>& gateways, const std::map<std::string, int>& attached_routes);

  store::Store* store_;
  Clock* clock_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = true;
  bool stop_ = false;
  int64_t done_rv_ = -1;
  uint64_t kicks_ = 0;       // Kick calls so far
  uint64_t done_kicks_ = 0;  // the kicks the last finished pass answered
  std::thread thread_;

  ReconcilerOptions options_;
  LocalBackend local_;
  // Rate-limit buckets outlive each published plugin chain.
  std::shared_ptr<gateway::RateLimits> rate_limits_ = std::make_shared<gateway::RateLimits>();
  std::map<std::string, FunctionState> functions_;  // by "ns/name"; loop thread only
  uint64_t passes_ = 0;                              // loop thread only
  // Bumped by Resync (under mu_); the world the last pass planned in, and
  // what it read from it (loop thread only).
  uint64_t world_ = 1;
  uint64_t pass_world_ = 0;
  std::map<std::string, route::GatewayConfig> gateways_;
  std::map<std::string, route::CompiledHttpRoute> compiled_http_routes_;  // by "ns/name"
  // A digest of each non-Function input object ("Kind/ns/name") without its
  // status: a write of a status alone does not resync (under mu_).
  std::map<std::string, uint64_t> input_digests_;
  // What the certificates were last computed from, and what the TLS
  // listener refused of them; loop thread only.
  std::string tls_inputs_;
  std::string gateway_inputs_;  // what Gateway status was last made from
  // This pass's autoscaler settings (options + config-autoscaler); loop thread only.
  scale::AutoscalerConfig autoscaler_config_;
  int64_t autoscaler_config_version_ = -1;  // the ConfigMap's resource version it was read from
  // The Autoscaler settings in force: Options, then the ConfigMap.
  scale::AutoscalerConfig CurrentAutoscalerConfig();
  std::vector<gateway::TlsCertificates::Refused> tls_errors_;
};

}  // namespace ofn::platform::internal

#endif  // LIBOFN_PLATFORM_INTERNAL_RECONCILER_H_
