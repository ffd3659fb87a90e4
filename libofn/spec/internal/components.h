// EmbeddedComponent: the spec of a component a Function's serving embeds,
// found by name in serving.bindings, serving.pubsub or serving.states (whose
// entries hold it under "spec"). Internal; defined in component_rules.cc.
#ifndef LIBOFN_SPEC_INTERNAL_COMPONENTS_H_
#define LIBOFN_SPEC_INTERNAL_COMPONENTS_H_

#include <boost/json.hpp>
#include <string_view>

namespace ofn::spec {

// Null when `serving` embeds no component of that name (it may name a
// Component object instead).
const boost::json::object* EmbeddedComponent(const boost::json::object* serving, std::string_view name);

}  // namespace ofn::spec

#endif  // LIBOFN_SPEC_INTERNAL_COMPONENTS_H_
