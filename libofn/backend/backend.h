// The orchestrator seam: a Backend that does serving itself (a Kubernetes
// cluster running Knative Services and HTTPRoutes, say) is handed a plan per
// Function — its revisions with their workloads and scale bounds, the
// traffic, the route — and applies, observes and deletes it. The platform
// computes the plan as a pure function of the stored Function and its
// revisions, and calls Apply only when the plan changed.
//
// A Function goes to a Backend when its annotation ofn.io/backend names
// one (Platform::Options::backends); otherwise libofn serves it locally with
// its instance drivers, gateway and autoscaler.
#ifndef LIBOFN_BACKEND_BACKEND_H_
#define LIBOFN_BACKEND_BACKEND_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "libofn/backend/workload.h"
#include "libofn/common/status.h"

namespace ofn::backend {

struct RevisionPlan {
  std::string name;  // "hello-00002"
  Workload workload;
  int min_scale = 0;
  int max_scale = 0;  // 0: unbounded
  int container_concurrency = 0;
  friend bool operator==(const RevisionPlan& a, const RevisionPlan& b) {
    return a.name == b.name && a.min_scale == b.min_scale && a.max_scale == b.max_scale &&
           a.container_concurrency == b.container_concurrency && a.workload.image == b.workload.image &&
           a.workload.command == b.workload.command && a.workload.args == b.workload.args &&
           a.workload.env == b.workload.env && a.workload.func_context == b.workload.func_context;
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
  std::vector<RevisionPlan> revisions;  // oldest first
  std::vector<TrafficPlan> traffic;
  std::vector<std::string> hosts;  // the route's hosts, as status.route.hosts
  std::vector<std::string> paths;  // its path prefixes
  std::string route_json;          // spec.serving.triggers.http.route as written ("" without one)
  friend bool operator==(const FunctionPlan&, const FunctionPlan&) = default;
};

// What the backend reports of a Function it runs.
struct FunctionObservation {
  std::string state = "Pending";  // Pending | Running | Failed, as status.serving.state
  std::string reason, message;
  std::string latest_ready_revision;
  std::vector<std::pair<std::string, std::string>> addresses;  // (type, value), as status.addresses
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
};

}  // namespace ofn::backend

#endif  // LIBOFN_BACKEND_BACKEND_H_
