// The admin API (HTTP/JSON), served on a unix socket or loopback with a
// bearer token. The `ofn` CLI uses it:
//   GET    /healthz
//   POST   /v1/apply                           body: manifests (YAML or JSON)
//   GET    /v1/<resource>?namespace=NS|all     e.g. /v1/functions
//   GET    /v1/<resource>/<ns>/<name>
//   DELETE /v1/<resource>/<ns>/<name>
//   *      /v1/invoke/<ns>/<name>[/<path>]     the function's answer, as is
// Errors are {"error": {"code": N, "message": "..."}}. Internal.
#ifndef LIBOFN_PLATFORM_INTERNAL_ADMIN_H_
#define LIBOFN_PLATFORM_INTERNAL_ADMIN_H_

#include "libofn/platform/platform.h"

namespace ofn::platform::internal {

HttpResponse HandleAdmin(Platform& platform, HttpRequest& request);

}  // namespace ofn::platform::internal

#endif  // LIBOFN_PLATFORM_INTERNAL_ADMIN_H_
