// Reads scaleOptions.keda of a Function's serving spec into a
// scale::KedaSpec: the scaledObject's polling, cooldown, fallback and HPA
// behaviour, and the triggers with each scaler's target and activation
// threshold read from its metadata under KEDA's names. Internal; used by
// ParseScaleSpec. Pure.
#ifndef LIBOFN_SPEC_INTERNAL_KEDA_SPEC_H_
#define LIBOFN_SPEC_INTERNAL_KEDA_SPEC_H_

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "libofn/scale/keda.h"
#include "libofn/spec/scale_spec.h"

namespace ofn::spec::internal {

// nullopt when the Function is not KEDA-scaled: no keda.triggers, or an
// HTTP trigger (a sync Function is Knative's, whatever its keda options).
// Errors name the field.
std::optional<scale::KedaSpec> ParseKedaSpec(const boost::json::object* serving, std::vector<ScaleError>* errors);

// The trigger types libofn has a scaler for.
const std::vector<std::string>& BuiltinScalerTypes();

}  // namespace ofn::spec::internal

#endif  // LIBOFN_SPEC_INTERNAL_KEDA_SPEC_H_
