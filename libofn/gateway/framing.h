// Request framing rules of RFC 9112 that the HTTP parser leaves to its user:
// which Transfer-Encoding a request may carry, Content-Length beside it,
// exactly one Host, and the absolute form of the request target. Pure.
#ifndef LIBOFN_GATEWAY_FRAMING_H_
#define LIBOFN_GATEWAY_FRAMING_H_

#include <string>

#include "libofn/serve/http.h"

namespace ofn::gateway {

struct FramingError {
  int status = 0;  // 0: the request is acceptable
  std::string message;
};

// Checks a parsed request head (HTTP/1.`minor_version`) and normalises it:
// an absolute-form target ("http://a.example/p?q") becomes origin form with
// Host set to its authority (§3.2.2: the Host field is then ignored).
//   - Transfer-Encoding other than exactly "chunked": 400 when chunked is
//     not the final coding (the body length cannot be known), 501 for a
//     coding before it that the gateway does not decode;
//   - Transfer-Encoding with Content-Length: 400 (§6.1, smuggling);
//   - more than one Host, or none in HTTP/1.1: 400 (§3.2);
//   - a target that is neither origin form, absolute form nor "*" for
//     OPTIONS: 400.
// Every error closes the connection.
FramingError CheckFraming(HttpRequest& request, unsigned minor_version);

}  // namespace ofn::gateway

#endif  // LIBOFN_GATEWAY_FRAMING_H_
