// HandleDaprApi: the Dapr HTTP API (v1.0) libofn serves to process
// instances in place of a sidecar (dapr_api.cc). Internal.
#ifndef LIBOFN_PLATFORM_INTERNAL_DAPR_API_H_
#define LIBOFN_PLATFORM_INTERNAL_DAPR_API_H_

#include "libofn/platform/internal/async_runtime.h"
#include "libofn/serve/http.h"

namespace ofn::platform::internal {

// One request to the Dapr API; the dapr-api-token header names the app.
HttpResponse HandleDaprApi(AsyncRuntime& runtime, HttpRequest& request);

}  // namespace ofn::platform::internal

#endif  // LIBOFN_PLATFORM_INTERNAL_DAPR_API_H_
