#include "libofn/platform/internal/plan.h"

#include "libofn/spec/scale_spec.h"
#include "libofn/spec/workload.h"

namespace ofn::platform::internal {

Result<backend::FunctionPlan> MakePlan(const PlanInput& in) {
  backend::FunctionPlan plan;
  plan.ns = in.ns;
  plan.name = in.name;
  for (const auto& [name, spec_json] : in.revisions) {
    Result<backend::Workload> w = spec::MakeWorkload(in.ns, in.name, name, spec_json, in.backend);
    if (!w.ok()) return Status(w.status().code(), "revision " + name + ": " + w.status().message());
    std::vector<spec::ScaleError> errors;
    scale::ScaleSpec s = spec::ParseScaleSpec(spec_json, &errors, in.autoscaler);
    backend::RevisionPlan r;
    r.name = name;
    r.workload = std::move(*w);
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

}  // namespace ofn::platform::internal
