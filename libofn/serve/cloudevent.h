// CloudEvents 1.0.2: the HTTP protocol binding and the JSON event format.
//
// Reading (CloudEventFromHttp):
//  - structured mode when the media type of Content-Type is
//    application/cloudevents+json (case-insensitive, parameters allowed);
//    batched mode (application/cloudevents-batch+json) and other formats are
//    refused as unsupported (kUnimplemented: 415 to the caller);
//  - binary mode otherwise: every ce-* header (names case-insensitive) is an
//    attribute, its value un-quoted (RFC 7230 quoted-string), percent-decoded
//    once and required to be valid UTF-8; datacontenttype is Content-Type;
//  - JSON: `data` and `data_base64` are exclusive, `data_base64` is decoded;
//    with a JSON datacontenttype (or none) the function gets the JSON text of
//    `data` (a string keeps its quotes), otherwise a string's own text;
//    `null` means unset; attribute types are checked (required attributes
//    non-empty strings, time an RFC 3339 timestamp, dataschema an absolute
//    URI, extensions a string, boolean or 32-bit integer, kept as text);
//  - attribute names are lower-case a-z and 0-9 (the 20-character limit is a
//    SHOULD and not enforced).
// Errors are kInvalidArgument naming the attribute (400 to the caller).
// Writing (CloudEventToHttp) percent-encodes header values as the binding says.
// Pure.
#ifndef LIBOFN_SERVE_CLOUDEVENT_H_
#define LIBOFN_SERVE_CLOUDEVENT_H_

#include <string>
#include <string_view>

#include "libofn/common/status.h"
#include "libofn/serve/function.h"
#include "libofn/serve/http.h"

namespace ofn::serve {

// Reads an event from a request (see above).
Result<CloudEvent> CloudEventFromHttp(const HttpRequest& request);

// Writes an event as a binary-mode request (method POST, target "/").
HttpRequest CloudEventToHttp(const CloudEvent& event);

// The HTTP status for a CloudEventFromHttp error: 415 for an unsupported
// mode or format, else 400.
int CloudEventErrorStatus(const Status& status);

// A binary-mode header value as an attribute value: un-quoted, percent-
// decoded, valid UTF-8 (else InvalidArgument).
Result<std::string> DecodeCloudEventHeader(std::string_view raw);
// An attribute value as a header value: space, '"', '%' and every byte
// outside printable ASCII percent-encoded.
std::string EncodeCloudEventHeader(std::string_view value);
// Whether `name` may name a CloudEvents attribute (a-z, 0-9, not empty).
bool IsCloudEventAttributeName(std::string_view name);

}  // namespace ofn::serve

#endif  // LIBOFN_SERVE_CLOUDEVENT_H_
