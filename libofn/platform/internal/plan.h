// MakePlan: the backend::FunctionPlan of a Function handed to its Backend
// (the local one or an orchestrator) — a pure function of its revisions
// (name + stored serving spec), its traffic targets and its route.
#ifndef LIBOFN_PLATFORM_INTERNAL_PLAN_H_
#define LIBOFN_PLATFORM_INTERNAL_PLAN_H_

#include <optional>
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
  int64_t created = 0;  // the Function's creation time
  bool http = false;    // it has an HTTP trigger
  const route::FunctionRoute* route = nullptr;  // compiled, when it compiled
  std::string route_json;
  scale::AutoscalerConfig autoscaler;  // the cluster's settings the scale bounds start from
  std::string image_credentials;       // see backend::Workload::image_credentials
  std::string base_dir;                // the ofn.io/base-dir annotation
  std::optional<int> idle_replicas;    // the ofn.io/idle-replica-count annotation (KEDA-scaled Functions)
};

// A revision whose spec does not make a workload is in the plan with
// `invalid` saying why (the field named).
backend::FunctionPlan MakePlan(const PlanInput& in);

// The first invalid revision of a plan as an error naming it; OK when none.
Status PlanError(const backend::FunctionPlan& plan);

}  // namespace ofn::platform::internal

#endif  // LIBOFN_PLATFORM_INTERNAL_PLAN_H_
