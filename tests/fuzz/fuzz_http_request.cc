// libFuzzer: a client's bytes as the gateway reads them — Beast's request
// parser with the gateway's limits, RFC 9112 framing (CheckFraming), the
// query string, and a chunked or sized body under the body limit.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>

#include "libofn/gateway/framing.h"
#include "libofn/route/table.h"

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  http::request_parser<http::empty_body> head;
  head.header_limit(8 * 1024);
  head.body_limit(boost::none);
  boost::system::error_code ec;
  size_t used = 0;
  while (used < size && !head.is_header_done()) {
    size_t n = head.put(boost::asio::buffer(data + used, size - used), ec);
    used += n;
    if (ec == http::error::need_more) return 0;
    if (ec || n == 0) return 0;
  }
  if (!head.is_header_done()) return 0;
  ofn::HttpRequest req;
  req.method = std::string(head.get().method_string());
  req.target = std::string(head.get().target());
  for (const auto& f : head.get()) req.headers.Add(std::string(f.name_string()), std::string(f.value()));
  ofn::gateway::FramingError fe = ofn::gateway::CheckFraming(req, head.get().version() % 10);
  if (fe.status != 0) return 0;
  (void)req.host();
  (void)ofn::route::ParseQuery(req.query());
  if (head.is_done()) return 0;
  // As the gateway reads a body (HttpServer's ReadBody): a Content-Length
  // over the limit is refused before a string body is made, because Beast's
  // string_body reserves the whole announced length up front.
  constexpr uint64_t kLimit = 64 * 1024;
  if (auto len = head.content_length(); len && *len > kLimit) return 0;
  http::request_parser<http::string_body> body(std::move(head));
  body.body_limit(kLimit);
  while (used < size && !body.is_done()) {
    size_t n = body.put(boost::asio::buffer(data + used, size - used), ec);
    used += n;
    if (ec || n == 0) break;
  }
  return 0;
}
