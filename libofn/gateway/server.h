// HttpServer: an HTTP/1.1 server (keep-alive) on a TCP or unix socket, used
// for the gateway and the admin API. Boost.Beast stays behind a pimpl.
//
// Requests are read on a small I/O pool (C++20 coroutines) and handed to the
// handler on a worker pool, so a slow or hanging function never stalls other
// connections; a handler that does not answer within request_timeout gives
// 504. Bad input never reaches the handler: a malformed request is 400, a
// header block over max_header_bytes is 431, a body over max_body_bytes is
// 413; each closes its connection and nothing else is affected.
//
// Thread-safe.
#ifndef LIBOFN_GATEWAY_SERVER_H_
#define LIBOFN_GATEWAY_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "libofn/common/status.h"
#include "libofn/serve/http.h"

namespace ofn::gateway {

struct ServerOptions {
  // "host:port" (port 0 picks a free one) or "unix:/path/to/socket".
  std::string address = "127.0.0.1:0";
  size_t max_header_bytes = 8 * 1024;
  uint64_t max_body_bytes = 8 * 1024 * 1024;
  int io_threads = 2;
  int worker_threads = 16;
  std::chrono::milliseconds request_timeout{std::chrono::minutes(5)};  // 0: none
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  // When set, requests must carry "Authorization: Bearer <token>" (else 401).
  std::string bearer_token;
  // Permission bits of a unix socket.
  unsigned unix_socket_mode = 0600;
};

class HttpServer {
 public:
  // Runs on a worker thread; may block. Exceptions become a JSON 500.
  using Handler = std::function<HttpResponse(HttpRequest&)>;

  // Runs on an I/O thread and must not block; calls `respond` once, from any
  // thread, now or later. A response after request_timeout is dropped (the
  // client already got 504).
  using Responder = std::function<void(HttpResponse)>;
  using AsyncHandler = std::function<void(HttpRequest, Responder)>;

  static Result<std::unique_ptr<HttpServer>> Start(const ServerOptions& options, Handler handler);
  static Result<std::unique_ptr<HttpServer>> StartAsync(const ServerOptions& options, AsyncHandler handler);
  ~HttpServer();  // Stop(0)
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Where it listens: "127.0.0.1:41234" or "unix:/path".
  std::string address() const;
  int port() const;  // 0 for a unix socket

  // Stops accepting and closes idle connections; requests in flight finish
  // (their connections close after the response) for up to `drain`. Idempotent.
  void Stop(std::chrono::milliseconds drain);

  uint64_t in_flight() const;

 private:
  struct Impl;
  explicit HttpServer(std::shared_ptr<Impl> impl);
  static Result<std::unique_ptr<HttpServer>> Launch(const ServerOptions& options, Handler handler,
                                                    AsyncHandler async_handler);
  std::shared_ptr<Impl> impl_;
};

// A JSON error body {"error": {"code": N, "message": "..."}}.
HttpResponse ErrorResponse(int status, std::string_view message);

}  // namespace ofn::gateway

#endif  // LIBOFN_GATEWAY_SERVER_H_
