// The reconcile loop: one thread that, whenever a Function or Gateway
// changes (or a revision becomes ready or fails), brings every Function in
// line with its spec:
//   - a change to the serving part creates an immutable revision
//     <name>-00001, -00002, ... (stored), registered with the autoscaler;
//   - traffic (spec.traffic, else 100% to the latest ready revision) is
//     resolved to ready revisions only; while a target cannot be resolved
//     the last good split stays in place and status says why;
//   - routes (plus one host-based route per traffic tag) are compiled and
//     the route table published atomically;
//   - revisions beyond the history limit that carry no traffic are deleted;
//   - status is written back only when it changed.
// Internal.
#ifndef LIBOFN_PLATFORM_INTERNAL_RECONCILER_H_
#define LIBOFN_PLATFORM_INTERNAL_RECONCILER_H_

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "libofn/backend/backend.h"
#include "libofn/backend/driver.h"
#include "libofn/backend/registry.h"
#include "libofn/common/clock.h"
#include "libofn/gateway/dispatch.h"
#include "libofn/gateway/plugins.h"
#include "libofn/gateway/tls.h"
#include "libofn/platform/internal/autoscaler.h"
#include "libofn/platform/internal/traffic.h"
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
  void Kick();
  // Waits until every change committed before the call is reconciled.
  bool Sync(std::chrono::milliseconds timeout);

 private:
  // What the loop remembers of a Function between passes.
  struct FunctionState {
    std::shared_ptr<const gateway::TrafficSplit> split;  // last good one
    std::vector<std::pair<std::string, std::string>> tags;  // (tag, revision) of that split
    std::map<std::string, int> percents;  // revision -> traffic percent
    std::string driver;
    // Set while an orchestrating Backend runs the Function.
    backend::Backend* orchestrator = nullptr;
    std::optional<backend::FunctionPlan> applied;  // the last plan it took
  };
  void Loop();
  void Pass();
  // The Backend the Function's ofn.io/backend annotation names, or null.
  backend::Backend* OrchestratorFor(const store::Record& fn) const;
  // Hands the Function's plan to `orchestrator` (when it changed), reads its
  // observation back and writes the Function's status.
  void ReconcileOrchestrated(const store::Record& fn, const std::vector<store::RevisionRecord>& revisions,
                             const std::map<std::string, route::GatewayConfig>& gateways,
                             backend::Backend* orchestrator, FunctionState* fs, const std::string& now);
  // The gateway plugins of the stored WasmPlugin objects; null when none.
  std::shared_ptr<const gateway::PluginChain> CompilePlugins();
  // Hands the certificates of the Gateways' HTTPS listeners to the TLS
  // listener (when they changed) and writes each Gateway's status.
  void SyncGateways(const std::vector<store::Record>& gateways, const std::map<std::string, int>& attached_routes);

  store::Store* store_;
  Clock* clock_;
  const backend::Registry* drivers_;  // outlives the reconciler
  gateway::Dispatcher* dispatcher_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = true;
  bool stop_ = false;
  int64_t done_rv_ = -1;
  std::thread thread_;

  Autoscaler* autoscaler_;
  ReconcilerOptions options_;
  // Rate-limit buckets outlive each published plugin chain.
  std::shared_ptr<gateway::RateLimits> rate_limits_ = std::make_shared<gateway::RateLimits>();
  std::map<std::string, FunctionState> functions_;  // by "ns/name"; loop thread only
  // What the certificates were last computed from, and what the TLS
  // listener refused of them; loop thread only.
  std::string tls_inputs_;
  // This pass's autoscaler settings (options + config-autoscaler); loop thread only.
  scale::AutoscalerConfig autoscaler_config_;
  // The Autoscaler settings in force: Options, then the ConfigMap.
  scale::AutoscalerConfig CurrentAutoscalerConfig();
  std::vector<std::string> tls_errors_;
};

}  // namespace ofn::platform::internal

#endif  // LIBOFN_PLATFORM_INTERNAL_RECONCILER_H_
