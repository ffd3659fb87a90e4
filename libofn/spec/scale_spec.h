// Reads a revision's scale::ScaleSpec from a Function's spec (scaleOptions,
// the autoscaling.knative.dev annotations, containerConcurrency), the way
// apply validates it. Pure.
#ifndef LIBOFN_SPEC_SCALE_SPEC_H_
#define LIBOFN_SPEC_SCALE_SPEC_H_

#include <string>
#include <string_view>
#include <vector>

#include "libofn/scale/options.h"

namespace ofn::spec {

// One wrong field: a path as apply reports it, and what is wrong.
struct ScaleError {
  std::string path;
  std::string message;
};

// Reads the scale spec from the canonical JSON of a Function's spec. Errors
// name the field; on error the returned spec holds the defaults.
scale::ScaleSpec ParseScaleSpec(std::string_view function_spec_json, std::vector<ScaleError>* errors);

// The keys of scaleOptions.knative that libofn reads.
const std::vector<std::string>& KnownKnativeAnnotations();

}  // namespace ofn::spec

#endif  // LIBOFN_SPEC_SCALE_SPEC_H_
