// CloudEvents 1.0 HTTP protocol binding: binary mode (ce-* headers, body is
// the data) and structured mode (application/cloudevents+json). Pure.
#ifndef LIBOFN_SERVE_CLOUDEVENT_H_
#define LIBOFN_SERVE_CLOUDEVENT_H_

#include "libofn/common/status.h"
#include "libofn/serve/function.h"
#include "libofn/serve/http.h"

namespace ofn::serve {

// Reads an event from a request; InvalidArgument names the missing or bad attribute.
Result<CloudEvent> CloudEventFromHttp(const HttpRequest& request);

// Writes an event as a binary-mode request (method POST, target "/").
HttpRequest CloudEventToHttp(const CloudEvent& event);

}  // namespace ofn::serve

#endif  // LIBOFN_SERVE_CLOUDEVENT_H_
