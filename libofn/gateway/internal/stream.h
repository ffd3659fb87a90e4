// What the HTTP server's session and its proxy share: the stream types a
// session runs on, read deadlines that let it still answer 408, a peek at
// whether the client left, and the request a handler hands back to be
// proxied. Private to gateway/: it brings Asio and Beast with it.
#ifndef LIBOFN_GATEWAY_INTERNAL_STREAM_H_
#define LIBOFN_GATEWAY_INTERNAL_STREAM_H_

#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "libofn/gateway/min_rate.h"
#include "libofn/gateway/server.h"
#include "libofn/gateway/upstream_pool.h"

namespace ofn::gateway::internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using unix_proto = asio::local::stream_protocol;
using Strand = asio::strand<asio::io_context::executor_type>;

// The streams a session runs on.
using PlainTcp = beast::basic_stream<tcp, Strand>;
using PlainUnix = beast::basic_stream<unix_proto, Strand>;
using TlsTcp = beast::ssl_stream<PlainTcp>;

// The TCP or unix stream under a stream (itself, or what TLS runs on).
template <class Stream>
auto& Lowest(Stream& s) {
  return beast::get_lowest_layer(s);
}
template <class Stream>
struct IsTls : std::false_type {};
template <class Next>
struct IsTls<beast::ssl_stream<Next>> : std::true_type {};

// A time limit on reads that cancels the read instead of closing the socket
// (as the stream's own timeout does), so the session can still answer 408.
// Lives on the session's strand.
class Deadline {
 public:
  template <class Executor>
  explicit Deadline(Executor ex) : timer_(ex), state_(std::make_shared<State>()) {}
  ~Deadline() { Disarm(); }

  template <class Stream>
  void Arm(Stream& stream, std::chrono::nanoseconds after) {
    Disarm();
    // `fired` stays set once set: the receiving side is shut by then, so
    // the connection is ending whatever the next read returns.
    state_->cancel = [&stream] {
      // Cancelling alone can miss: a composed read (async_read of a body,
      // async_read_header) may be between two reads when the timer fires,
      // and its next read would wait on. Shutting the receiving side makes
      // every later read end at once; a deadline always ends the request
      // with an answer and a close, and writing still works.
      boost::system::error_code ec;
      Lowest(stream).socket().shutdown(asio::socket_base::shutdown_receive, ec);
      Lowest(stream).socket().cancel(ec);
    };
    timer_.expires_after(after);
    timer_.async_wait([st = state_](const boost::system::error_code& ec) {
      if (ec || !st->cancel) return;  // disarmed meanwhile
      st->fired = true;
      std::function<void()> cancel = std::move(st->cancel);
      st->cancel = nullptr;
      cancel();
    });
  }
  void Disarm() {
    state_->cancel = nullptr;
    timer_.cancel();
  }
  bool fired() const { return state_->fired; }

 private:
  struct State {
    bool fired = false;
    std::function<void()> cancel;
  };
  asio::steady_timer timer_;
  std::shared_ptr<State> state_;
};

// A time limit that costs a clock read to move, not a timer operation: one
// timer, armed when a limit is set and it is not armed for that time or
// sooner; when it fires before the current limit, it is armed again for
// what is left. Past the limit `on_expire` runs (once per Set). Lives on one
// strand (the session's), as `on_expire` does; nothing runs after it is
// destroyed.
class LazyTimer {
 public:
  template <class Executor>
  LazyTimer(Executor ex, std::function<void()> on_expire)
      : st_(std::make_shared<State>(std::move(ex), std::move(on_expire))) {}
  ~LazyTimer() {
    st_->on_expire = nullptr;
    st_->active = false;
    st_->timer.cancel();
  }
  LazyTimer(const LazyTimer&) = delete;
  LazyTimer& operator=(const LazyTimer&) = delete;

  // From now on `on_expire` runs once `after` has passed (until the next
  // Set or Clear).
  void Set(std::chrono::steady_clock::duration after);
  // No limit.
  void Clear() { st_->active = false; }
  // Whether the last Set's limit passed.
  bool fired() const { return st_->fired; }

 private:
  struct State {
    template <class Executor>
    State(Executor ex, std::function<void()> f) : timer(std::move(ex)), on_expire(std::move(f)) {}
    asio::steady_timer timer;
    std::function<void()> on_expire;
    std::chrono::steady_clock::time_point at;        // the limit
    std::chrono::steady_clock::time_point armed_at;  // when the timer fires
    uint64_t generation = 0;                         // of the timer's wait
    bool active = false;                             // a limit is set
    bool armed = false;
    bool fired = false;
  };
  static void Arm(const std::shared_ptr<State>& st, std::chrono::steady_clock::time_point at);
  std::shared_ptr<State> st_;
};

// A time limit on the operations of one TCP socket after another (an
// upstream exchange), moved at the cost of a clock read (LazyTimer). Past
// the limit, the socket is shut and its operations cancelled (every later
// read or write fails at once). Lives on the session's strand, for the
// session's whole life.
class LazyDeadline {
 public:
  template <class Executor>
  explicit LazyDeadline(Executor ex) : timer_(std::move(ex), [this] { Cut(); }) {}

  // From now on `target` is cut once `after` has passed (until the next
  // Set or Clear).
  void Set(tcp::socket& target, std::chrono::steady_clock::duration after) {
    target_ = &target;
    timer_.Set(after);
  }
  // No limit (the exchange is over).
  void Clear() {
    target_ = nullptr;
    timer_.Clear();
  }
  // Whether the last Set's limit cut its socket.
  bool fired() const { return timer_.fired(); }

 private:
  void Cut();
  tcp::socket* target_ = nullptr;
  LazyTimer timer_;  // after target_: destroyed first
};

// Runs what waits on it once it has waited a while: a watch that only the
// long waits need (whether a client left while its instance works) is set
// up for those alone; a wait that ends sooner costs a clock read, not a
// timer or a socket operation (LazyTimer underneath). One waiter at a time;
// lives on the session's strand, for the session's whole life.
class DelayedRun {
 public:
  template <class Executor>
  explicit DelayedRun(Executor ex) : timer_(std::move(ex), [this] { Fire(); }) {}

  // Calls `fn()` once `after` has passed, unless End comes first. `fn` is
  // not copied: it must live until End.
  template <class Fn>
  void Begin(Fn& fn, std::chrono::steady_clock::duration after) {
    target_ = &fn;
    call_ = [](void* f) { (*static_cast<Fn*>(f))(); };
    timer_.Set(after);
  }
  void End() {
    target_ = nullptr;
    timer_.Clear();
  }

 private:
  void Fire() {
    void* target = target_;
    target_ = nullptr;
    if (target != nullptr) call_(target);
  }
  void* target_ = nullptr;
  void (*call_)(void*) = nullptr;
  LazyTimer timer_;  // after target_: destroyed first
};

// Idle upstream sockets, still registered with their event loop.
struct SocketTraits {
  static int Fd(const std::unique_ptr<tcp::socket>& s) { return s->native_handle(); }
  static void Close(std::unique_ptr<tcp::socket>& s) { s.reset(); }
  static std::unique_ptr<tcp::socket> None() { return nullptr; }
};
using SocketPool = BasicUpstreamPool<std::unique_ptr<tcp::socket>, SocketTraits>;

// Whether the peer of a readable socket has closed or reset it. Data waiting
// (a pipelined request, a body) says nothing, unless TCP says the peer has
// already sent its FIN.
enum class PeerState { kOpen, kGone, kUnknown };
PeerState PeekPeer(int fd);

// Sends what the socket takes at once of `iov` without waiting (the
// sockets are non-blocking underneath Asio): the bytes sent, 0 when it
// takes none now; `ec` is set when the connection failed.
size_t SendNow(int fd, const iovec* iov, size_t count, boost::system::error_code& ec);

// Writes `bytes` (a head and a body) to `stream`: at once when a plain
// socket takes them all (the usual case: no write operation, no timer),
// else the rest asynchronously within `idle` (the stream's timeout is off
// again after).
template <class Stream>
asio::awaitable<boost::system::error_code> WriteTwo(Stream& stream, std::array<asio::const_buffer, 2> bytes,
                                                    std::chrono::steady_clock::duration idle) {
  boost::system::error_code ec;
  if constexpr (!IsTls<Stream>::value) {
    const iovec iov[2] = {{const_cast<void*>(bytes[0].data()), bytes[0].size()},
                          {const_cast<void*>(bytes[1].data()), bytes[1].size()}};
    const size_t sent = SendNow(Lowest(stream).socket().native_handle(), iov, bytes[1].size() > 0 ? 2 : 1, ec);
    if (ec || sent == bytes[0].size() + bytes[1].size()) co_return ec;
    const size_t in_head = std::min(sent, bytes[0].size());
    bytes[0] += in_head;
    bytes[1] += sent - in_head;
  }
  Lowest(stream).expires_after(idle);
  std::tie(ec, std::ignore) = co_await asio::async_write(stream, bytes, asio::as_tuple(asio::use_awaitable));
  if (!ec) Lowest(stream).expires_never();
  co_return ec;
}

// Parses a message head (a request's or a response's) from what `buffer`
// holds, consuming it. True when the head is complete; false with `ec`
// clear when more bytes are needed (the parser keeps its place), or with
// `ec` set when the bytes are not a valid head or exceed its limit.
template <class Parser>
bool ParseBufferedHead(Parser& parser, beast::flat_buffer& buffer, beast::error_code& ec) {
  while (buffer.size() > 0 && !parser.is_header_done()) {
    const size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == http::error::need_more) {
      ec = {};
      return false;
    }
    if (ec || used == 0) return false;
  }
  return parser.is_header_done();
}

// Appends the comma-separated tokens of a header value (RFC 9110 §5.6.1).
void AppendTokens(std::string_view v, std::vector<std::string>* out);

// Whether `ip` is one of `proxies` (addresses or CIDRs).
bool TrustedProxy(const std::vector<std::string>& proxies, const std::string& ip);

// How long the next read of a request body may wait.
std::chrono::nanoseconds ReadAllowance(const ServerOptions& opt, const MinRate& rate);
// The 408 message for a body under the minimum rate.
std::string SlowBodyMessage(const ServerOptions& opt);

}  // namespace ofn::gateway::internal

#endif  // LIBOFN_GATEWAY_INTERNAL_STREAM_H_
