// The orchestrator seam: a Backend serves Functions. It is handed a plan
// per Function — its revisions with their workloads and scale settings, the
// traffic, the route — and applies, observes and deletes it. The platform
// computes the plan as a pure function of the stored Function and its
// revisions, calls Apply when the plan changed, Commit once at the end of
// every reconcile pass, then Observe, and writes the Function's status from
// the observation.
//
// A Function goes to the Backend its annotation ofn.io/backend names
// (Platform::Options::backends: a Kubernetes cluster running Knative
// Services and HTTPRoutes, say). Every other Function goes to the local
// backend: libofn's own composition of instance drivers (driver.h),
// autoscaler and gateway, behind this same interface.
#ifndef LIBOFN_BACKEND_BACKEND_H_
#define LIBOFN_BACKEND_BACKEND_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "libofn/backend/workload.h"
#include "libofn/common/status.h"
#include "libofn/scale/options.h"

namespace ofn::backend {

struct RevisionPlan {
  std::string name;  // "hello-00002"
  Workload workload;
  // Why the revision's spec makes no workload ("" when it does; then
  // `workload` is empty and the revision cannot run).
  std::string invalid;
  // The platform's stored status says it was ready once: a backend that
  // scales to zero may route to it before an instance runs (after a
  // restart, say). Not part of the plan's identity (==).
  bool ready_before = false;
  scale::ScaleSpec scale;  // the cluster's autoscaler settings with the revision's own applied
  // From `scale`, for backends that only pass bounds on.
  int min_scale = 0;
  int max_scale = 0;  // 0: unbounded
  int container_concurrency = 0;
  friend bool operator==(const RevisionPlan& a, const RevisionPlan& b) {
    return a.name == b.name && a.invalid == b.invalid && a.scale == b.scale && a.min_scale == b.min_scale &&
           a.max_scale == b.max_scale && a.container_concurrency == b.container_concurrency &&
           a.workload.image == b.workload.image && a.workload.command == b.workload.command &&
           a.workload.args == b.workload.args && a.workload.env == b.workload.env &&
           a.workload.func_context == b.workload.func_context && a.workload.backend == b.workload.backend;
  }
};

// One traffic target as spec.traffic has it (Knative's TrafficTarget).
struct TrafficPlan {
  std::string revision;  // "" with latest
  bool latest = false;
  int percent = 0;
  std::string tag;
  friend bool operator==(const TrafficPlan&, const TrafficPlan&) = default;
};

struct FunctionPlan {
  std::string ns, name;
  int64_t created = 0;  // the Function's creation time (Unix seconds): older routes win conflicts
  std::vector<RevisionPlan> revisions;  // oldest first
  std::vector<TrafficPlan> traffic;
  std::vector<std::string> hosts;  // the route's hosts, as status.route.hosts
  std::vector<std::string> paths;  // its path prefixes
  bool http = false;               // spec.serving.triggers.http is set: the Function is served over HTTP
  std::string route_json;          // spec.serving.triggers.http.route as written ("" without one)
  friend bool operator==(const FunctionPlan&, const FunctionPlan&) = default;
};

// What a backend reports of one revision.
struct RevisionObservation {
  std::string name;
  bool ready = false;          // has served (or may serve) requests
  std::string reason, message;  // why it cannot run, when it cannot
  int percent = 0;             // traffic share in force
  std::vector<std::string> tags;
  // Carries traffic or a tag, or is the rollout target of "latest" traffic:
  // such a revision is kept and may hold its minimum scale.
  bool routed = false;
  int restarts = 0;                                // crash restarts of its instances
  std::string instance_reason, instance_message;  // e.g. CrashLoopBackOff
  std::string limits_warning;                      // limits asked for but not applied
  std::string warning_reason;                      // its reason ("" = LimitsNotApplied)
  friend bool operator==(const RevisionObservation&, const RevisionObservation&) = default;
};

// What a backend reports of a Function's route.
struct RouteObservation {
  std::string status = "True";  // the Accepted condition: True | False
  std::string reason = "Valid", message = "Valid HTTPRoute";
  std::string gateway;  // "<ns>/<name>" it attaches to ("" when unknown)
  std::vector<std::string> hosts;                            // as status.route.hosts
  std::vector<std::pair<std::string, std::string>> paths;    // (type, value), as status.route.paths
  // With backendRefs in its rules: the ResolvedRefs condition (reason
  // ResolvedRefs, or BackendNotFound naming the refs that name no Function).
  bool has_backend_refs = false;
  std::string refs_status = "True", refs_reason = "ResolvedRefs", refs_message = "Resolved all the object references";
  friend bool operator==(const RouteObservation&, const RouteObservation&) = default;
};

// What the backend reports of a Function it runs.
struct FunctionObservation {
  std::string state = "Pending";  // Pending | Running | Failed, as status.serving.state
  std::string reason, message;
  std::string latest_ready_revision;
  std::vector<std::pair<std::string, std::string>> addresses;  // (type, value), as status.addresses
  // Optional detail; a backend that reports it gets revision status and
  // garbage collection of old revisions, and status.route from it.
  std::vector<RevisionObservation> revisions;
  std::optional<RouteObservation> route;
  std::string service;  // status.serving.service while it serves
  friend bool operator==(const FunctionObservation&, const FunctionObservation&) = default;
};

// Thread-safe: called from the platform's reconcile thread, and may be
// shared with the host program.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  // Makes what runs match `plan`; idempotent.
  virtual Status Apply(const FunctionPlan& plan) = 0;
  virtual Result<FunctionObservation> Observe(std::string_view ns, std::string_view name) = 0;
  // Removes everything of that Function; not found is fine.
  virtual Status Delete(std::string_view ns, std::string_view name) = 0;
  // Once per reconcile pass, after its Apply and Delete calls and before
  // its Observe calls: a backend that batches or converges on what it
  // observes does that here (the local backend moves traffic to revisions
  // that became ready and publishes one route table).
  virtual void Commit() {}
};

}  // namespace ofn::backend

#endif  // LIBOFN_BACKEND_BACKEND_H_
