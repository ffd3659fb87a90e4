// MakeWorkload: the typed backend::Workload of one revision, parsed once
// from the canonical JSON of its Function spec. Pure.
#ifndef LIBOFN_SPEC_WORKLOAD_H_
#define LIBOFN_SPEC_WORKLOAD_H_

#include <string_view>

#include "libofn/backend/workload.h"
#include "libofn/common/status.h"

namespace ofn::spec {

// The annotation a Function names its backend with ("process", ...).
inline constexpr std::string_view kBackendAnnotation = "ofn.io/backend";
// The directory a Function's manifest came from (see ParseOptions::base_dir).
inline constexpr std::string_view kBaseDirAnnotation = "ofn.io/base-dir";
// KEDA's idleReplicaCount (not in OpenFunction's scaledObject): the count a
// KEDA-scaled Function rests at when no trigger is active; below minReplicas.
inline constexpr std::string_view kIdleReplicaCountAnnotation = "ofn.io/idle-replica-count";

// Errors name the field (spec.serving.timeout, resources.limits.memory,
// the function container's command) and what is wrong with it.
Result<backend::Workload> MakeWorkload(std::string_view ns, std::string_view function, std::string_view revision,
                                       std::string_view spec_json, std::string_view backend = "");

}  // namespace ofn::spec

#endif  // LIBOFN_SPEC_WORKLOAD_H_
