// Revisions and metrics as the admin API and `ofn get revisions` show them.
// Internal.
#ifndef LIBOFN_PLATFORM_INTERNAL_METRICS_H_
#define LIBOFN_PLATFORM_INTERNAL_METRICS_H_

#include <string>
#include <string_view>
#include <vector>

#include "libofn/platform/internal/autoscaler.h"
#include "libofn/platform/platform.h"
#include "libofn/store/store.h"

namespace ofn::platform::internal {

// The revisions of one Function (every Function when `name` is empty; every
// namespace when `ns` is empty), oldest first, with their scale state.
Result<std::vector<RevisionInfo>> ListRevisions(store::Store& store, const Autoscaler& autoscaler,
                                                std::string_view name, std::string_view ns);

// Prometheus text exposition (version 0.0.4) of every revision's metrics.
std::string PrometheusText(const Autoscaler& autoscaler);

}  // namespace ofn::platform::internal

#endif  // LIBOFN_PLATFORM_INTERNAL_METRICS_H_
