// RunProxy: streams one request from a client connection to an instance and
// its response back (PendingBody::Proxy), with pooled upstream connections,
// hop-by-hop headers dropped, X-Forwarded-* set, body limits and minimum
// rates applied, 502/504 for instances that fail. Private to gateway/; the
// session (server.cc) calls it on its strand.
#ifndef LIBOFN_GATEWAY_INTERNAL_PROXY_H_
#define LIBOFN_GATEWAY_INTERNAL_PROXY_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <string>

#include "libofn/gateway/internal/stream.h"
#include "libofn/gateway/server.h"
#include "libofn/gateway/upstream_pool.h"

namespace ofn::gateway::internal {

// What a handler asked for: send `head` (and the client's body) to `upstream`.
struct ProxyRequest {
  HttpRequest head;
  std::string upstream;  // "127.0.0.1:PORT"
  std::chrono::milliseconds timeout;
  std::function<void(int)> done;  // with the status the client got (0: none)
};

struct ProxyOutcome {
  int status = 0;
  bool responded = false;     // something was written to the client
  bool client_clean = false;  // request fully read and response complete: keep-alive is possible
  HttpResponse error;         // when !responded
};

// What the proxy borrows from its server.
struct ProxyEnv {
  const ServerOptions& opt;
  SocketPool& upstreams;
  const std::atomic<bool>& stopping;
  LazyDeadline& upstream_deadline;  // the session's
  DelayedRun& slow_exchange;        // the session's: watches the client of an exchange that lasts
};

// The client connection, as the session knows it.
struct ProxyClient {
  std::string ip;
  bool trusted = false;  // ip is a trusted proxy: its X-Forwarded-For is kept
  std::string host;      // its Host header, for X-Forwarded-Host
};

template <class Stream>
asio::awaitable<ProxyOutcome> RunProxy(const ProxyEnv& env, Stream& client, beast::flat_buffer& cbuf,
                                       http::request_parser<http::empty_body>& head_parser, ProxyRequest& pr,
                                       Strand strand, const ProxyClient& who);

extern template asio::awaitable<ProxyOutcome> RunProxy<PlainTcp>(const ProxyEnv&, PlainTcp&, beast::flat_buffer&,
                                                                 http::request_parser<http::empty_body>&,
                                                                 ProxyRequest&, Strand, const ProxyClient&);
extern template asio::awaitable<ProxyOutcome> RunProxy<PlainUnix>(const ProxyEnv&, PlainUnix&, beast::flat_buffer&,
                                                                  http::request_parser<http::empty_body>&,
                                                                  ProxyRequest&, Strand, const ProxyClient&);
extern template asio::awaitable<ProxyOutcome> RunProxy<TlsTcp>(const ProxyEnv&, TlsTcp&, beast::flat_buffer&,
                                                               http::request_parser<http::empty_body>&,
                                                               ProxyRequest&, Strand, const ProxyClient&);

}  // namespace ofn::gateway::internal

#endif  // LIBOFN_GATEWAY_INTERNAL_PROXY_H_
