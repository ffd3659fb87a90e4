// A blocking HTTP/1.1 client for the CLI and tests: one request per call,
// over TCP ("host:port") or a unix socket ("unix:/path"). Thread-safe.
#ifndef LIBOFN_GATEWAY_CLIENT_H_
#define LIBOFN_GATEWAY_CLIENT_H_

#include <chrono>
#include <string>

#include "libofn/common/status.h"
#include "libofn/serve/http.h"

namespace ofn::gateway {

// Sends `request` (Host defaults to the address) and reads the whole response.
Result<HttpResponse> HttpCall(const std::string& address, const HttpRequest& request,
                              std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace ofn::gateway

#endif  // LIBOFN_GATEWAY_CLIENT_H_
