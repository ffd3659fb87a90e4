// Units of Kubernetes manifests: resource quantities and Go durations. Used
// by spec (validation, workloads) and scale (window annotations). Pure.
#ifndef LIBOFN_SPEC_UNITS_H_
#define LIBOFN_SPEC_UNITS_H_

#include <cstdint>
#include <string_view>

namespace ofn::spec {

// A Kubernetes resource quantity ("128Mi", "500m", "2", "1.5G", "1e3") as a
// plain number (bytes, cores); false if malformed or negative.
bool ParseQuantity(std::string_view text, double* value);
// "128Mi" -> bytes, rounded up; -1 when not a quantity.
int64_t QuantityBytes(std::string_view text);
// "500m" -> thousandths ("2" cores -> 2000), rounded up; -1 when not a quantity.
int64_t QuantityMillis(std::string_view text);
// Go's time.ParseDuration syntax ("5m0s", "300ms", "-1h"); false if malformed.
bool ParseGoDuration(std::string_view text, double* seconds);

}  // namespace ofn::spec

#endif  // LIBOFN_SPEC_UNITS_H_
