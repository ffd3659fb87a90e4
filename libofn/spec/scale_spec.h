// Reads a revision's scale::ScaleSpec from a Function's spec (scaleOptions,
// the autoscaling.knative.dev annotations, containerConcurrency), the way
// apply validates it. Pure.
#ifndef LIBOFN_SPEC_SCALE_SPEC_H_
#define LIBOFN_SPEC_SCALE_SPEC_H_

#include <string>
#include <utility>
#include <string_view>
#include <vector>

#include "libofn/scale/options.h"

namespace ofn::spec {

// One wrong field: a path as apply reports it, and what is wrong.
struct ScaleError {
  std::string path;
  std::string message;
};

// Reads the scale spec from the canonical JSON of a Function's spec, on top
// of the cluster's settings. Errors name the field; on error the returned
// spec holds the defaults.
scale::ScaleSpec ParseScaleSpec(std::string_view function_spec_json, std::vector<ScaleError>* errors,
                                const scale::AutoscalerConfig& config = {});

// Reads Knative's config-autoscaler data (key, text) on top of `base`:
// Knative's keys, formats ("true", "70", "60s") and ranges. Each error is
// "data.<key>: message"; with any error `base` is returned unchanged.
scale::AutoscalerConfig ParseAutoscalerConfig(const std::vector<std::pair<std::string, std::string>>& data,
                                              const scale::AutoscalerConfig& base, std::vector<std::string>* errors);

// Where the cluster's autoscaler settings live, as in Knative: a ConfigMap
// knative-serving/config-autoscaler.
inline constexpr std::string_view kAutoscalerConfigNamespace = "knative-serving";
inline constexpr std::string_view kAutoscalerConfigName = "config-autoscaler";

// The keys of scaleOptions.knative that libofn reads.
const std::vector<std::string>& KnownKnativeAnnotations();

}  // namespace ofn::spec

#endif  // LIBOFN_SPEC_SCALE_SPEC_H_
