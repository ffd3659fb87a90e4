#include "libofn/gateway/client.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace ofn::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

template <class Stream>
Result<HttpResponse> Exchange(Stream& stream, const HttpRequest& request, const std::string& default_host) {
  http::request<http::string_body> req;
  req.version(11);
  req.method_string(request.method);
  req.target(request.target);
  for (const auto& [name, value] : request.headers) req.insert(name, value);
  if (!request.headers.Has("Host")) req.set(http::field::host, default_host);
  req.body() = request.body;
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT") req.prepare_payload();
  beast::error_code ec;
  http::write(stream, req, ec);
  if (ec) return Status(StatusCode::kUnavailable, "sending the request: " + ec.message());
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  http::read(stream, buffer, parser, ec);
  if (ec) return Status(StatusCode::kUnavailable, "reading the response: " + ec.message());
  HttpResponse out;
  auto& res = parser.get();
  out.status = static_cast<int>(res.result_int());
  for (const auto& f : res) out.headers.Add(std::string(f.name_string()), std::string(f.value()));
  out.body = std::move(res.body());
  return out;
}

}  // namespace

Result<HttpResponse> HttpCall(const std::string& address, const HttpRequest& request,
                              std::chrono::milliseconds timeout) {
  asio::io_context ioc;
  beast::error_code ec;
  if (address.rfind("unix:", 0) == 0) {
    beast::basic_stream<asio::local::stream_protocol> stream(ioc);
    stream.expires_after(timeout);
    stream.socket().connect(asio::local::stream_protocol::endpoint(address.substr(5)), ec);
    if (ec) return Status(StatusCode::kUnavailable, "cannot connect to " + address + ": " + ec.message());
    return Exchange(stream, request, "localhost");
  }
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return Status(StatusCode::kInvalidArgument, "address \"" + address + "\": expected host:port or unix:/path");
  }
  asio::ip::tcp::resolver resolver(ioc);
  std::string host = address.substr(0, colon);
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  auto results = resolver.resolve(host, address.substr(colon + 1), ec);
  if (ec) return Status(StatusCode::kUnavailable, "cannot resolve " + address + ": " + ec.message());
  beast::tcp_stream stream(ioc);
  stream.expires_after(timeout);
  stream.connect(results, ec);
  if (ec) return Status(StatusCode::kUnavailable, "cannot connect to " + address + ": " + ec.message());
  return Exchange(stream, request, address);
}

}  // namespace ofn::gateway
