// HttpServer: an HTTP/1.1 server (keep-alive) on a TCP or unix socket, used
// for the gateway and the admin API. Boost.Beast stays behind a pimpl.
//
// Requests are read on a small I/O pool (C++20 coroutines) and handed to the
// handler on a worker pool, so a slow or hanging function never stalls other
// connections; a handler that does not answer within request_timeout gives
// 504. Bad input never reaches the handler: a malformed request is 400
// (framing as RFC 9112 has it, see framing.h), a header block over
// max_header_bytes is 431, a body over max_body_bytes is 413, a header or
// body that arrives too slowly is 408; each closes its connection and
// nothing else is affected. Connections are capped (max_connections) and a
// failing accept (out of descriptors) backs off instead of spinning.
//
// Thread-safe.
#ifndef LIBOFN_GATEWAY_SERVER_H_
#define LIBOFN_GATEWAY_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "libofn/common/status.h"
#include "libofn/gateway/tls.h"
#include "libofn/serve/http.h"

namespace ofn::gateway {

struct ServerOptions {
  // Hand requests to an AsyncHandler after the header: the body stays on the
  // connection (HttpRequest::pending_body) until the handler reads it into
  // memory or proxies it. Only for StartAsync.
  bool stream_bodies = false;
  // Upstream connections kept idle per address for proxying.
  size_t max_idle_upstream = 64;
  // "host:port" (port 0 picks a free one) or "unix:/path/to/socket".
  std::string address = "127.0.0.1:0";
  size_t max_header_bytes = 8 * 1024;
  uint64_t max_body_bytes = 8 * 1024 * 1024;
  int io_threads = 2;
  int worker_threads = 16;
  // A short function call may run on the I/O thread that dispatched it
  // (RevisionPool decides). When fewer than io_threads I/O threads are free
  // because the others are held inside one call for over a millisecond,
  // spare I/O threads start (at most this many) and leave once they are
  // free again, so a function that blocks never stalls other requests.
  int max_spare_io_threads = 64;
  std::chrono::milliseconds request_timeout{std::chrono::minutes(5)};  // 0: none
  // A keep-alive connection waiting for its next request is closed after this.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(30)};
  // A request header must be complete this long after its first byte (else
  // 408); no single read or write may stall longer than idle_timeout.
  std::chrono::milliseconds header_timeout{std::chrono::seconds(15)};
  // A request body must arrive at this average rate (bytes/s, 0: any) after
  // body_rate_grace; a slower one is cut with 408.
  uint64_t min_body_rate = 1024;
  std::chrono::milliseconds body_rate_grace{std::chrono::seconds(10)};
  // Clients whose X-Forwarded-For is kept and extended (IP addresses or
  // CIDR blocks: "10.0.0.0/8", "::1"); anyone else's is replaced by the
  // client's address.
  std::vector<std::string> trusted_proxies;
  // Open client connections at most; beyond, accepting pauses until one
  // closes (the kernel's backlog holds the rest).
  size_t max_connections = 16384;
  // When set, requests must carry "Authorization: Bearer <token>" (else 401).
  std::string bearer_token;
  // Permission bits of a unix socket.
  unsigned unix_socket_mode = 0600;
  // When set, the TCP listener speaks TLS (HTTPS) with these certificates;
  // the handshake must finish within header_timeout. Requests carry
  // X-Forwarded-Proto: https (http on a plain listener) unless a trusted
  // proxy sent one.
  std::shared_ptr<TlsCertificates> tls;
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
  // Connections handed from a busy event loop to one with room, between two
  // of their requests, since the start.
  uint64_t connections_moved() const;

 private:
  struct Impl;
  explicit HttpServer(std::shared_ptr<Impl> impl);
  static Result<std::unique_ptr<HttpServer>> Launch(const ServerOptions& options, Handler handler,
                                                    AsyncHandler async_handler);
  std::shared_ptr<Impl> impl_;
};

}  // namespace ofn::gateway

namespace ofn {

// The unread body of a request (ServerOptions::stream_bodies). One of Read
// or Proxy may be called, once; a response sent without either closes the
// connection afterwards. Thread-safe.
class PendingBody {
 public:
  virtual ~PendingBody() = default;
  // Reads the whole body into memory and calls `done` on an I/O thread
  // (must not block). Errors: a body over max_body_bytes (the status message
  // says so), a broken connection.
  virtual void Read(std::function<void(Result<std::string>)> done) = 0;
  // True when the request has no body at all (no Content-Length above 0,
  // not chunked): there is nothing to read, and a handler that wants the
  // body in memory need not call Read.
  virtual bool Empty() const { return false; }
  // Sends `head` to the HTTP/1.1 server at `upstream` ("host:port") over a
  // pooled keep-alive connection, streaming the body from the client, and
  // streams the response back; the handler's responder is not used after
  // this. Hop-by-hop headers are dropped; X-Forwarded-For/-Host/-Proto set.
  // No response header within `timeout` is 504; a failed or closed upstream
  // before the response header is 502 (after it, the client connection is
  // closed, so the client sees a cut response). `done` gets the status code
  // sent, when the exchange is over.
  virtual void Proxy(HttpRequest head, std::string upstream, std::chrono::milliseconds timeout,
                     std::function<void(int status)> done) = 0;
  // True once the client went away before it got a response (it closed or
  // reset its connection, or the request timed out); nothing it asked for
  // needs doing any more.
  virtual bool Abandoned() const = 0;
  // Calls `fn` once, from any thread, when the request is abandoned; at once
  // (on the caller's thread) if it already is. Never called once a response
  // or a proxied exchange has begun.
  virtual void OnAbandon(std::function<void()> fn) = 0;
};

}  // namespace ofn

namespace ofn::gateway {

// A JSON error body {"error": {"code": N, "message": "..."}}.
HttpResponse ErrorResponse(int status, std::string_view message);

}  // namespace ofn::gateway

#endif  // LIBOFN_GATEWAY_SERVER_H_
