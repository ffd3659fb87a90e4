// Deterministic YAML and JSON text for document trees: keys sorted (as
// kubectl prints them), strings quoted whenever a YAML reader could take them
// for anything but a string. Internal. Thread-safe (pure functions).
#ifndef LIBOFN_SPEC_INTERNAL_EMIT_H_
#define LIBOFN_SPEC_INTERNAL_EMIT_H_

#include <boost/json/value.hpp>
#include <string>

namespace ofn::spec::internal {

std::string EmitYaml(const boost::json::value& v);
// Compact (one line) or indented by two spaces; keys sorted.
std::string EmitJson(const boost::json::value& v, bool pretty);
// A copy with every object's keys sorted.
boost::json::value Canonical(const boost::json::value& v);

}  // namespace ofn::spec::internal

#endif  // LIBOFN_SPEC_INTERNAL_EMIT_H_
