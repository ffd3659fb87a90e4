// LocalBackend: libofn's own serving, behind the same backend::Backend seam
// as an orchestrator — one composition of the instance drivers (registry),
// the autoscaler (a KPA and an activator pool per revision) and the gateway
// (one route table for every local Function).
//
//   Apply(plan)   remembers the Function's plan.
//   Commit()      once per pass: registers each revision with the driver its
//                 workload picks and with the autoscaler; resolves traffic to
//                 ready revisions (keeping the last good split while a target
//                 cannot be resolved); tells the autoscaler which revisions
//                 are reachable; compiles each route and one host-based route
//                 per traffic tag; publishes the route table with conflicts
//                 resolved; drops revisions no plan has any more.
//   Observe()     what Commit found: revisions, serving state, route.
//   Delete()      forgets the Function; the next Commit stops its revisions.
//
// Internal. Thread-safe; the reconcile thread is its only caller.
#ifndef LIBOFN_PLATFORM_INTERNAL_LOCAL_BACKEND_H_
#define LIBOFN_PLATFORM_INTERNAL_LOCAL_BACKEND_H_

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "libofn/backend/backend.h"
#include "libofn/backend/registry.h"
#include "libofn/gateway/dispatch.h"
#include "libofn/gateway/plugins.h"
#include "libofn/platform/internal/autoscaler.h"
#include "libofn/route/route.h"

namespace ofn::platform::internal {

struct LocalBackendOptions {
  std::string tag_template = "{{.Tag}}-{{.Name}}";
  size_t queue_limit = 10000;
  std::chrono::milliseconds request_timeout{std::chrono::minutes(5)};
};

class LocalBackend : public backend::Backend {
 public:
  static constexpr std::string_view kName = "local";

  // Borrowed pointers must outlive it.
  LocalBackend(const backend::Registry* drivers, gateway::Dispatcher* dispatcher, Autoscaler* autoscaler,
               LocalBackendOptions options);

  std::string_view name() const override { return kName; }
  Status Apply(const backend::FunctionPlan& plan) override;
  // The same, keeping the caller's plan rather than a copy of it.
  Status ApplyShared(std::shared_ptr<const backend::FunctionPlan> plan);
  void Commit() override;
  Result<backend::FunctionObservation> Observe(std::string_view ns, std::string_view name) override;
  Status Delete(std::string_view ns, std::string_view name) override;

  // What the next Commit compiles routes against ("ns/name" -> Gateway) and
  // publishes with the route table.
  void SetGateways(std::map<std::string, route::GatewayConfig> gateways);
  void SetPlugins(std::shared_ptr<const gateway::PluginChain> plugins);
  // The HTTPRoute objects the next Commit routes beside the Functions' own
  // routes (compiled by route::CompileHttpRoute).
  void SetHttpRoutes(std::vector<std::shared_ptr<const route::FunctionRoute>> routes);
  // What the last Commit found of an HTTPRoute's backendRefs (ResolvedRefs);
  // nullopt when it was not routed.
  std::optional<backend::RouteObservation> ObserveHttpRoute(std::string_view ns, std::string_view name);
  // Whether the Function has a traffic split (a revision that was ready).
  bool Serves(const std::string& ns, const std::string& name);
  // The instance driver of a Function's newest revision ("inprocess",
  // "process", "containerd", ...); "" when it has none.
  std::string DriverOf(const std::string& ns, const std::string& name);
  // Every Function is converged again at the next Commit (the drivers
  // changed: one may now take a workload; or revisions were removed from
  // the autoscaler behind the backend's back). SetGateways implies it.
  void InvalidateAll();
  // The Functions ("ns/name") whose observation the last Commit may have
  // changed: those it converged (a new plan; a revision that became ready,
  // failed or reported its instances' health) and those whose route it
  // accepted or rejected anew. Any other Function observes as before.
  const std::vector<std::string>& Touched() const { return touched_; }
  // Hands a request to the Function's traffic split (the revision pools'
  // activator and instances; no route involved); `done` is called once,
  // from any thread. False (and `done` not called) when the Function has no
  // pool that takes requests now (not served yet, or its pool is being
  // replaced).
  bool Deliver(const std::string& ns, const std::string& name, HttpRequest request,
               std::function<void(HttpResponse)> done);

 private:
  struct Fn {
    std::shared_ptr<const backend::FunctionPlan> plan;  // shared with the reconciler
    // The last good traffic split, its tags (tag, revision) and percents.
    std::shared_ptr<const gateway::TrafficSplit> split;
    std::vector<std::pair<std::string, std::string>> tags;
    std::map<std::string, int> percents;
    std::string driver;  // of the newest registered revision
    // Shared with the published route table (a Commit copies no route).
    std::shared_ptr<const route::FunctionRoute> route;
    std::vector<std::shared_ptr<const route::FunctionRoute>> tag_routes;
    std::vector<std::string> tag_revisions;
    backend::FunctionObservation seen;
    // Converged at the next Commit: its plan changed, or a revision of it
    // changed in the autoscaler.
    bool dirty = true;
    std::vector<std::string> live;  // "ns/revision" it keeps registered
    // Whether its route's rules have backendRefs, whether the table
    // rejected it: what a Commit that does not converge it resets.
    bool has_refs = false;
    bool rejected = false;
    bool touched = false;  // listed in touched_ by the last Commit
  };
  // Registration, traffic, reachability, serving state and routes of one
  // Function; adds the revisions it keeps registered to `live`.
  void Converge(Fn& fn, std::vector<std::string>* live);
  void CompileRoutes(Fn& fn);
  // The backendRefs of each rule of the Function's route, resolved against
  // the Functions served here (null for rules without them); notes refs to
  // missing Functions in its route observation.
  std::vector<std::shared_ptr<const gateway::RuleBackends>> ResolveBackends(const route::FunctionRoute& route,
                                                                            backend::RouteObservation* seen);

  const backend::Registry* drivers_;
  gateway::Dispatcher* dispatcher_;
  Autoscaler* autoscaler_;
  const LocalBackendOptions options_;

  std::mutex mu_;
  std::map<std::string, Fn> fns_;  // by "ns/name"
  std::map<std::string, route::GatewayConfig> gateways_;
  std::shared_ptr<const gateway::PluginChain> plugins_;
  std::vector<std::shared_ptr<const route::FunctionRoute>> http_routes_;
  // Where each weighted choice is in its sequence, by "split/ns/name" (a
  // Function's revisions) or "Kind/ns/name#rule" (a rule's backendRefs):
  // a rebuilt split goes on from there, so splits stay exact across route
  // table changes.
  gateway::WeightedSlots::Counter CounterFor(const std::string& key);
  std::map<std::string, gateway::WeightedSlots::Counter> counters_;  // dropped when nothing else holds one
  std::map<std::string, backend::RouteObservation> http_seen_;  // by "ns/name"
  bool all_dirty_ = true;  // every Function converges at the next Commit
  bool republish_ = true;  // the route table is built and published at the next Commit
  std::map<std::string, std::string> rev_owner_;  // "ns/revision" -> "ns/name" of the Function registering it
  std::vector<std::string> touched_;              // by the last Commit
  std::vector<std::string> gone_;                 // revisions to stop at the next Commit
};

}  // namespace ofn::platform::internal

#endif  // LIBOFN_PLATFORM_INTERNAL_LOCAL_BACKEND_H_
