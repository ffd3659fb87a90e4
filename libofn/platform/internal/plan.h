// MakePlan: the backend::FunctionPlan of a Function handed to an
// orchestrating Backend — a pure function of its revisions (name + stored
// serving spec), its traffic targets and its compiled route.
#ifndef LIBOFN_PLATFORM_INTERNAL_PLAN_H_
#define LIBOFN_PLATFORM_INTERNAL_PLAN_H_

#include <string>
#include <utility>
#include <vector>

#include "libofn/backend/backend.h"
#include "libofn/scale/options.h"
#include "libofn/common/status.h"
#include "libofn/platform/internal/traffic.h"
#include "libofn/route/route.h"

namespace ofn::platform::internal {

struct PlanInput {
  std::string ns, name;
  std::string backend;  // the ofn.io/backend annotation
  std::vector<std::pair<std::string, std::string>> revisions;  // (name, serving spec JSON), oldest first
  std::vector<TrafficTarget> traffic;
  const route::FunctionRoute* route = nullptr;  // null without an HTTP trigger
  std::string route_json;
  scale::AutoscalerConfig autoscaler;  // the cluster's settings the scale bounds start from
};

// Fails when a revision's spec does not make a workload (the error names
// the revision and the field).
Result<backend::FunctionPlan> MakePlan(const PlanInput& in);

}  // namespace ofn::platform::internal

#endif  // LIBOFN_PLATFORM_INTERNAL_PLAN_H_
