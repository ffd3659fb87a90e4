// An instance's response head, read in place when it is plain: the proxy's
// fast path for the usual answer (a status line, a few fields and a
// Content-Length), without the general parser's per-field storage.
// Anything out of the ordinary is left to the general parser (Beast's),
// which then reads the same bytes: the fast path never accepts what the
// general parser would refuse. Private to gateway/ (no Asio).
#ifndef LIBOFN_GATEWAY_INTERNAL_RESPONSE_HEAD_H_
#define LIBOFN_GATEWAY_INTERNAL_RESPONSE_HEAD_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

namespace ofn::gateway::internal {

struct PlainResponseHead {
  static constexpr size_t kMaxFields = 32;
  unsigned version = 11;  // 10 or 11
  unsigned status = 0;    // 200 to 599
  size_t size = 0;        // the head's bytes, its blank line included
  // Views into the bytes given to ParsePlainResponseHead, values without
  // the whitespace around them.
  std::array<std::pair<std::string_view, std::string_view>, kMaxFields> fields;
  size_t count = 0;
  std::optional<uint64_t> content_length;
  std::string_view connection;  // the Connection field's value, "" when none
  bool keep_alive = true;       // by the version and the Connection field
};

// Parses `bytes`, which must end with the head's blank line ("\r\n\r\n"
// and nothing after). True when the head is plain: an HTTP/1.0 or 1.1
// status line with a final status (200-599); at most kMaxFields fields,
// each a token, a colon and a value of visible characters, spaces and tabs
// (UTF-8 and other bytes over 0x7F allowed); no Transfer-Encoding; at most
// one Content-Length, of digits only, and one Connection. False says
// nothing about validity: the general parser decides.
bool ParsePlainResponseHead(std::string_view bytes, PlainResponseHead* out);

}  // namespace ofn::gateway::internal

#endif  // LIBOFN_GATEWAY_INTERNAL_RESPONSE_HEAD_H_
