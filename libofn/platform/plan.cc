#include "libofn/platform/internal/plan.h"

#include "libofn/spec/scale_spec.h"
#include "libofn/spec/workload.h"

namespace ofn::platform::internal {

backend::FunctionPlan MakePlan(const PlanInput& in) {
  backend::FunctionPlan plan;
  plan.ns = in.ns;
  plan.name = in.name;
  plan.created = in.created;
  plan.http = in.http;
  for (const auto& [name, spec_json] : in.revisions) {
    backend::RevisionPlan r;
    r.name = name;
    Result<backend::Workload> w = spec::MakeWorkload(in.ns, in.name, name, spec_json, in.backend);
    if (w.ok()) {
      r.workload = std::move(*w);
      r.workload.image_credentials = in.image_credentials;
      if (r.workload.bundle.empty()) r.workload.base_dir = in.base_dir;  // a bundle's paths are its own
    } else {
      r.invalid = w.status().message();
    }
    std::vector<spec::ScaleError> errors;
    scale::ScaleSpec s = spec::ParseScaleSpec(spec_json, &errors, in.autoscaler);
    if (s.keda && in.idle_replicas && *in.idle_replicas < s.keda->min_replicas) s.keda->idle_replicas = in.idle_replicas;
    r.scale = s;
    r.min_scale = s.min_scale;
    r.max_scale = s.max_scale;
    r.container_concurrency = s.container_concurrency;
    plan.revisions.push_back(std::move(r));
  }
  for (const TrafficTarget& t : in.traffic) plan.traffic.push_back({t.revision_name, t.latest, t.percent, t.tag});
  if (in.route) {
    plan.hosts = in.route->AllHosts();
    for (const auto& [type, value] : route::StatusPaths(*in.route)) plan.paths.push_back(value);
  }
  plan.route_json = in.route_json;
  return plan;
}

Status PlanError(const backend::FunctionPlan& plan) {
  for (const backend::RevisionPlan& r : plan.revisions) {
    if (!r.invalid.empty()) return Status(StatusCode::kInvalidArgument, "revision " + r.name + ": " + r.invalid);
  }
  return Status();
}

}  // namespace ofn::platform::internal
