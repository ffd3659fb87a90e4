// HttpServer hardening: RFC 9112 framing, slow clients (408), the connection
// cap, trusted X-Forwarded-For, hop-by-hop response headers — each over real
// loopback sockets.
#include "libofn/gateway/server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "libofn/gateway/framing.h"
#include "libofn/gateway/internal/loop_choice.h"
#include "libofn/gateway/internal/response_head.h"
#include "libofn/gateway/min_rate.h"
#include "libofn/testing/loopback.h"

namespace ofn::gateway {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ConnectLoopback;
using testing::RawExchange;
using testing::ReadUntilClose;
using testing::SendAll;

// --- CheckFraming, a table ------------------------------------------------

struct FramingCase {
  const char* name;
  const char* method;
  const char* target;
  std::vector<std::pair<std::string, std::string>> headers;
  unsigned minor;
  int status;                  // 0: accepted
  const char* message_has;     // part of the error message
  const char* host_after = "";  // Host after normalisation, when accepted
  const char* target_after = "";
};

TEST(FramingTest, Table) {
  const std::vector<FramingCase> cases = {
      {"plain", "GET", "/a?b", {{"Host", "h"}}, 1, 0, "", "h", "/a?b"},
      {"chunked", "POST", "/", {{"Host", "h"}, {"Transfer-Encoding", "chunked"}}, 1, 0, "", "h", "/"},
      {"chunked, case and params", "POST", "/", {{"Host", "h"}, {"transfer-encoding", " Chunked "}}, 1, 0, "", "h", "/"},
      {"gzip only", "POST", "/", {{"Host", "h"}, {"Transfer-Encoding", "gzip"}}, 1, 400, "final transfer coding"},
      {"gzip with CL 0 (smuggling)", "POST", "/", {{"Host", "h"}, {"Transfer-Encoding", "gzip"}, {"Content-Length", "0"}}, 1,
       400, "both Transfer-Encoding and Content-Length"},
      {"chunked with CL", "POST", "/", {{"Host", "h"}, {"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}}, 1, 400,
       "both"},
      {"chunked then gzip", "POST", "/", {{"Host", "h"}, {"Transfer-Encoding", "chunked, gzip"}}, 1, 400, "final"},
      {"gzip then chunked", "POST", "/", {{"Host", "h"}, {"Transfer-Encoding", "gzip, chunked"}}, 1, 501, "\"gzip\""},
      {"chunked twice over two fields", "POST", "/",
       {{"Host", "h"}, {"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}, 1, 400, "only once"},
      {"empty coding", "POST", "/", {{"Host", "h"}, {"Transfer-Encoding", ""}}, 1, 400, "final"},
      {"two Hosts", "GET", "/", {{"Host", "a"}, {"Host", "b"}}, 1, 400, "more than one Host"},
      {"no Host in 1.1", "GET", "/", {}, 1, 400, "must carry a Host"},
      {"no Host in 1.0", "GET", "/", {}, 0, 0, "", "", "/"},
      {"absolute form wins over Host", "GET", "http://Real.example:81/p?q=1#frag", {{"Host", "other"}}, 1, 0, "",
       "Real.example:81", "/p?q=1"},
      {"absolute form without path", "GET", "http://a.example?x", {}, 1, 0, "", "a.example", "/?x"},
      {"absolute form with userinfo", "GET", "http://u:p@a.example/", {}, 1, 400, "user information"},
      {"absolute form without host", "GET", "http:///x", {}, 1, 400, "without a host"},
      {"asterisk for OPTIONS", "OPTIONS", "*", {{"Host", "h"}}, 1, 0, "", "h", "*"},
      {"asterisk for GET", "GET", "*", {{"Host", "h"}}, 1, 400, "only for OPTIONS"},
      {"authority form", "GET", "a.example:80", {{"Host", "h"}}, 1, 400, "origin or absolute form"},
  };
  for (const FramingCase& c : cases) {
    HttpRequest r;
    r.method = c.method;
    r.target = c.target;
    for (const auto& [k, v] : c.headers) r.headers.Add(k, v);
    FramingError e = CheckFraming(r, c.minor);
    EXPECT_EQ(e.status, c.status) << c.name << ": " << e.message;
    EXPECT_NE(e.message.find(c.message_has), std::string::npos) << c.name << ": " << e.message;
    if (c.status == 0) {
      EXPECT_EQ(r.headers.GetOr("Host", ""), c.host_after) << c.name;
      EXPECT_EQ(r.target, c.target_after) << c.name;
    }
  }
}

// --- MinRate ----------------------------------------------------------------

TEST(MinRateTest, AllowanceGrowsWithBytesAndShrinksWithTimeSpent) {
  MinRate off(0, seconds(10));
  EXPECT_EQ(off.Allowance(), std::chrono::nanoseconds::max());

  MinRate r(1000, seconds(10));  // 1000 B/s after 10 s
  EXPECT_EQ(r.Allowance(), seconds(10));
  r.Record(500, seconds(2));  // earned 0.5 s, spent 2 s
  EXPECT_EQ(r.Allowance(), milliseconds(8500));
  r.Record(0, milliseconds(8500));
  EXPECT_LE(r.Allowance().count(), 0);  // out of budget: too slow
  MinRate fast(1000, seconds(1));
  for (int i = 0; i < 100; ++i) fast.Record(2000, seconds(1));  // 2x the minimum
  EXPECT_EQ(fast.Allowance(), seconds(101));
  MinRate slow(1024, seconds(10));  // 1 byte/s never keeps up
  for (int i = 0; i < 10; ++i) slow.Record(1, seconds(1));
  EXPECT_LE(slow.Allowance().count(), 10'000'000);
}

// --- A real server ---------------------------------------------------------

// An async server answering "<method> <target> host=<Host> xff=<X-Forwarded-For>"
// after reading the body, or proxying to `upstream` when set.
struct TestServer {
  std::unique_ptr<HttpServer> server;
  std::atomic<int> handled{0};
  std::string upstream;

  explicit TestServer(ServerOptions o) {
    o.stream_bodies = true;
    auto s = HttpServer::StartAsync(o, [this](HttpRequest r, HttpServer::Responder respond) {
      ++handled;
      auto body = std::move(r.pending_body);
      if (!upstream.empty()) {
        body->Proxy(std::move(r), upstream, seconds(5), [](int) {});
        return;
      }
      body->Read([r = std::move(r), respond](Result<std::string> b) {
        if (!b.ok()) {
          respond(ErrorResponse(b.status().code() == StatusCode::kDeadlineExceeded ? 408 : 400, b.status().message()));
          return;
        }
        respond(HttpResponse::Text(200, r.method + " " + r.target + " host=" + r.headers.GetOr("Host", "") +
                                            " body=" + std::to_string(b->size())));
      });
    });
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    server = std::move(*s);
  }
  int port() const { return server->port(); }
};

// What a function's response becomes on the wire.
TEST(ServerResponseTest, TheHeadIsFramedByTheServerAndCannotBeSplit) {
  ServerOptions o;
  auto s = HttpServer::StartAsync(o, [](HttpRequest r, HttpServer::Responder respond) {
    HttpResponse res = HttpResponse::Text(r.target == "/empty" ? 204 : 200, "hello");
    res.headers.Set("X-Split", "a\r\nSet-Cookie: evil=1");
    res.headers.Set("Content-Length", "999");
    res.headers.Set("Connection", "upgrade");
    res.headers.Set("X-Kept", "yes");
    respond(std::move(res));
  });
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::string out = RawExchange((*s)->port(), "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("\r\nX-Kept: yes\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nServer: libofn\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nContent-Length: 5\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nConnection: close\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("evil"), std::string::npos) << out;
  EXPECT_EQ(out.find("999"), std::string::npos) << out;
  EXPECT_EQ(out.find("upgrade"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 7), "\r\nhello") << out;
  // 204: no Content-Length and no body.
  out = RawExchange((*s)->port(), "GET /empty HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 204 No Content\r\n", 0), 0u) << out;
  EXPECT_EQ(out.find("Content-Length"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n") << out;
  // HTTP/1.0 keep-alive is said so; without it, nothing is said.
  int fd = testing::ConnectLoopback((*s)->port());
  const std::string ka = "GET / HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n";
  ASSERT_TRUE(testing::SendAll(fd, ka.data(), ka.size()));
  char buf[1024];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  std::string first(buf, static_cast<size_t>(n));
  EXPECT_EQ(first.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << first;
  EXPECT_NE(first.find("\r\nConnection: keep-alive\r\n"), std::string::npos) << first;
  ::close(fd);
  out = RawExchange((*s)->port(), "GET / HTTP/1.0\r\nHost: h\r\n\r\n");
  EXPECT_EQ(out.find("Connection:"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 5), "hello") << out;
}

TEST(ServerHardeningTest, SmuggledSecondRequestIsNeverServed) {
  TestServer t{ServerOptions{}};
  // Transfer-Encoding: gzip with Content-Length: 0 used to let the body be
  // served as a second request.
  std::string out = RawExchange(t.port(),
                                "POST /first HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nContent-Length: 0\r\n\r\n"
                                "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 400", 0), 0u) << out;
  EXPECT_NE(out.find("Connection: close"), std::string::npos) << out;
  EXPECT_EQ(out.find("smuggled"), std::string::npos) << out;
  EXPECT_EQ(t.handled.load(), 0);
  out = RawExchange(t.port(), "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 400", 0), 0u) << out;
  out = RawExchange(t.port(), "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 501", 0), 0u) << out;
  // Absolute form: routed by the target's authority, not the Host field.
  out = RawExchange(t.port(), "GET http://real.example/p?x=1 HTTP/1.1\r\nHost: decoy\r\nConnection: close\r\n\r\n");
  EXPECT_NE(out.find("GET /p?x=1 host=real.example"), std::string::npos) << out;
  EXPECT_EQ(t.handled.load(), 1);
}

TEST(ServerHardeningTest, SlowHeaderGets408) {
  ServerOptions o;
  o.header_timeout = milliseconds(300);
  TestServer t{o};
  int fd = ConnectLoopback(t.port());
  const std::string part = "GET / HTTP/1.1\r\nHo";
  ASSERT_TRUE(SendAll(fd, part.data(), part.size()));
  std::string out = ReadUntilClose(fd, 10);
  ::close(fd);
  EXPECT_EQ(out.rfind("HTTP/1.1 408", 0), 0u) << out;
  // An idle keep-alive connection that never starts a request is closed
  // without a response.
  EXPECT_EQ(t.handled.load(), 0);
}

// Reads one response whose body ends with `last` (no more is sent).
std::string ReadResponseEndingWith(int fd, const std::string& last) {
  std::string out;
  char buf[1024];
  while (out.find(last) == std::string::npos) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// A keep-alive connection waiting for its next request is closed once it
// has waited idle_timeout, counted from the end of its last request: a
// request in the middle of the wait starts the count again.
TEST(ServerHardeningTest, AnIdleConnectionIsClosedAfterTheIdleTimeoutCountedFromItsLastRequest) {
  ServerOptions o;
  o.idle_timeout = milliseconds(400);
  TestServer t{o};
  int fd = ConnectLoopback(t.port());
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string get = "GET /x HTTP/1.1\r\nHost: h\r\n\r\n";
  ASSERT_TRUE(SendAll(fd, get.data(), get.size()));
  EXPECT_NE(ReadResponseEndingWith(fd, "body=0").find("HTTP/1.1 200"), std::string::npos);
  // Half-way through the wait, a second request; the connection still
  // serves it, and the wait starts again from its response.
  std::this_thread::sleep_for(milliseconds(200));  // pacing the client, not waiting on the server
  ASSERT_TRUE(SendAll(fd, get.data(), get.size()));
  EXPECT_NE(ReadResponseEndingWith(fd, "body=0").find("HTTP/1.1 200"), std::string::npos);
  const auto answered = std::chrono::steady_clock::now();
  char c;
  const ssize_t n = ::recv(fd, &c, 1, 0);  // the server's close (or the 10 s limit)
  const auto waited = std::chrono::steady_clock::now() - answered;
  ::close(fd);
  EXPECT_EQ(n, 0) << "the idle connection was not closed (errno " << errno << ")";
  EXPECT_GE(waited, milliseconds(390));  // never before its own idle timeout (clock granularity aside)
  EXPECT_EQ(t.handled.load(), 2);
}

TEST(ServerHardeningTest, SlowBodyGets408ForReadAndProxiedBodies) {
  ServerOptions o;
  o.min_body_rate = 1000;
  o.body_rate_grace = milliseconds(400);
  TestServer t{o};
  for (bool proxied : {false, true}) {
    // The upstream (when proxied) is another server of the same kind; it
    // never sees the request because the body never completes.
    std::unique_ptr<TestServer> up;
    if (proxied) {
      up = std::make_unique<TestServer>(ServerOptions{});
      t.upstream = "127.0.0.1:" + std::to_string(up->port());
    }
    int fd = ConnectLoopback(t.port());
    const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n";
    ASSERT_TRUE(SendAll(fd, head.data(), head.size()));
    // 1 byte every 100 ms: 10 B/s against a 1000 B/s minimum.
    std::string out;
    for (int i = 0; i < 100; ++i) {
      if (!SendAll(fd, "x", 1)) break;
      char buf[512];
      ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
        break;
      }
      std::this_thread::sleep_for(milliseconds(100));  // pacing the slow client, not waiting on the server
    }
    out += ReadUntilClose(fd, 10);
    ::close(fd);
    EXPECT_EQ(out.rfind("HTTP/1.1 408", 0), 0u) << (proxied ? "proxied: " : "read: ") << out;
    if (up) {
      EXPECT_EQ(up->handled.load(), 0);
    }
  }
  t.upstream.clear();
  // A body at a normal pace still passes.
  std::string ok = RawExchange(t.port(), "POST / HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_NE(ok.find("body=5"), std::string::npos) << ok;
}

TEST(ServerHardeningTest, ConnectionsBeyondTheCapWaitUntilOneCloses) {
  ServerOptions o;
  o.max_connections = 2;
  TestServer t{o};
  int a = ConnectLoopback(t.port()), b = ConnectLoopback(t.port());
  const std::string get = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  for (int fd : {a, b}) {
    ASSERT_TRUE(SendAll(fd, get.data(), get.size()));
    char buf[512];
    ASSERT_GT(::recv(fd, buf, sizeof buf, 0), 0);
  }
  // The third connects (kernel backlog) but is not served while two are open.
  int c = ConnectLoopback(t.port());
  ASSERT_GE(c, 0);
  ASSERT_TRUE(SendAll(c, get.data(), get.size()));
  timeval tv{0, 300 * 1000};
  ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[512];
  EXPECT_LT(::recv(c, buf, sizeof buf, 0), 0) << "served beyond the cap";
  ::close(a);
  tv = {10, 0};
  ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ssize_t n = ::recv(c, buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)).rfind("HTTP/1.1 200", 0), 0u);
  ::close(b);
  ::close(c);
}

// A one-shot upstream on a raw socket: answers every request on its
// connection with `response` and records what it received.
class RawUpstream {
 public:
  explicit RawUpstream(std::string response) : response_(std::move(response)) {
    listen_fd_ = testing::ListenLoopback(&port_);
    thread_ = std::thread([this] {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      std::string in;
      char buf[4096];
      while (in.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
      }
      received = in;
      SendAll(fd, response_.data(), response_.size());
      ::shutdown(fd, SHUT_WR);
      while (::recv(fd, buf, sizeof buf, 0) > 0) {
      }
      ::close(fd);
    });
  }
  ~RawUpstream() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    thread_.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string received;

 private:
  std::string response_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

TEST(ServerHardeningTest, HopByHopResponseHeadersMatchByTokenIgnoringCase) {
  RawUpstream up(
      "HTTP/1.1 200 OK\r\nConnection: X-Secret, keep-alive\r\nx-secret: 1\r\nX-Sec: kept\r\nX-Secretive: kept\r\n"
      "Content-Length: 2\r\n\r\nok");
  TestServer t{ServerOptions{}};
  t.upstream = up.address();
  std::string out = RawExchange(t.port(), "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
  EXPECT_EQ(out.find("x-secret: 1"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Sec: kept"), std::string::npos) << out;  // used to be dropped as a substring
  EXPECT_NE(out.find("X-Secretive: kept"), std::string::npos) << out;
}

TEST(ServerHardeningTest, ForwardedForIsKeptOnlyFromTrustedProxies) {
  for (bool trusted : {false, true}) {
    RawUpstream up("HTTP/1.1 204 No Content\r\n\r\n");
    ServerOptions o;
    if (trusted) o.trusted_proxies = {"10.0.0.0/8", "127.0.0.0/8"};
    else o.trusted_proxies = {"10.0.0.0/8", "::1"};
    TestServer t{o};
    t.upstream = up.address();
    std::string out =
        RawExchange(t.port(), "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(out.rfind("HTTP/1.1 204", 0), 0u) << out;
    t.server->Stop(milliseconds(100));
    std::string want = trusted ? "X-Forwarded-For: 6.6.6.6, 127.0.0.1\r\n" : "X-Forwarded-For: 127.0.0.1\r\n";
    EXPECT_NE(up.received.find(want), std::string::npos) << up.received;
  }
}

// An upstream that answers one request per connection and then closes it
// without saying so (its answers are keep-alive), as an instance that
// restarted, or one with a short idle timeout, does.
class AnswerOnceUpstream {
 public:
  AnswerOnceUpstream() {
    listen_fd_ = testing::ListenLoopback(&port_);
    thread_ = std::thread([this] { Serve(); });
  }
  ~AnswerOnceUpstream() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    thread_.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Waits until `n` connections were answered and closed.
  bool WaitClosed(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, seconds(5), [&] { return requests_.size() >= n; });
  }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void Serve() {
    for (;;) {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      std::string in;
      char buf[4096];
      size_t head_end = std::string::npos;
      while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
      }
      // The whole body too: closing with bytes unread would reset the
      // connection before the answer is read.
      size_t body = 0;
      if (size_t at = in.find("Content-Length: "); at != std::string::npos) body = std::stoul(in.substr(at + 16));
      while (head_end != std::string::npos && in.size() < head_end + 4 + body) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
      }
      const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
      SendAll(fd, answer.data(), answer.size());
      ::close(fd);
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(in.substr(0, in.find(" HTTP/1.1")));
      cv_.notify_all();
    }
  }
  int listen_fd_ = -1;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

TEST(ServerProxyTest, APooledConnectionTheInstanceClosedIsReplacedAndEachRequestArrivesOnce) {
  AnswerOnceUpstream up;
  ServerOptions o;
  o.io_threads = 1;  // one loop: one pool of upstream connections
  TestServer t{o};
  t.upstream = up.address();
  std::string out = RawExchange(t.port(), "GET /1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
  ASSERT_TRUE(up.WaitClosed(1));  // the pool holds a connection its peer has closed
  // A GET goes out on it unasked (no syscall to check it) and, once it
  // turns out closed with nothing answered, again on a new connection.
  out = RawExchange(t.port(), "GET /2 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
  EXPECT_EQ(out.substr(out.size() - 2), "ok") << out;
  ASSERT_TRUE(up.WaitClosed(2));
  // A POST with a body cannot be sent twice: the pooled connection is
  // checked before it is used, and a new one taken.
  out = RawExchange(t.port(), "POST /3 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd");
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
  ASSERT_TRUE(up.WaitClosed(3));
  EXPECT_EQ(up.requests(), (std::vector<std::string>{"GET /1", "GET /2", "POST /3"}));
}

// --- An instance's response head read in place ----------------------------

TEST(PlainResponseHeadTest, APlainHeadIsReadInPlace) {
  const std::string bytes =
      "HTTP/1.1 201 Created\r\nServer: up\r\nContent-Type:text/plain \r\nContent-Length: 12\r\n"
      "Connection: X-Private, keep-alive\r\nX-Empty:\r\nX-Utf8: caf\xc3\xa9\r\n\r\n";
  internal::PlainResponseHead h;
  ASSERT_TRUE(internal::ParsePlainResponseHead(bytes, &h));
  EXPECT_EQ(h.version, 11u);
  EXPECT_EQ(h.status, 201u);
  EXPECT_EQ(h.size, bytes.size());
  ASSERT_EQ(h.count, 6u);
  EXPECT_EQ(h.fields[1].first, "Content-Type");
  EXPECT_EQ(h.fields[1].second, "text/plain");
  EXPECT_EQ(h.fields[4].second, "");
  EXPECT_EQ(h.fields[5].second, "caf\xc3\xa9");
  EXPECT_EQ(h.content_length, 12u);
  EXPECT_EQ(h.connection, "X-Private, keep-alive");
  EXPECT_TRUE(h.keep_alive);
  // Keep-alive by version and Connection.
  ASSERT_TRUE(internal::ParsePlainResponseHead("HTTP/1.1 200 OK\r\nConnection: Close\r\n\r\n", &h));
  EXPECT_FALSE(h.keep_alive);
  EXPECT_FALSE(h.content_length.has_value());
  ASSERT_TRUE(internal::ParsePlainResponseHead("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", &h));
  EXPECT_EQ(h.version, 10u);
  EXPECT_FALSE(h.keep_alive);
  ASSERT_TRUE(internal::ParsePlainResponseHead("HTTP/1.0 204\r\nconnection: keep-alive\r\n\r\n", &h));
  EXPECT_TRUE(h.keep_alive);
  EXPECT_EQ(h.status, 204u);
}

TEST(PlainResponseHeadTest, AnythingElseIsLeftToTheGeneralParser) {
  std::string many = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 33; ++i) many += "X-F" + std::to_string(i) + ": v\r\n";
  many += "\r\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"interim status", "HTTP/1.1 100 Continue\r\n\r\n"},
      {"status over 599", "HTTP/1.1 600 No\r\nContent-Length: 0\r\n\r\n"},
      {"HTTP/2 status line", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"},
      {"two-digit status", "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n"},
      {"Transfer-Encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"},
      {"two Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n"},
      {"Content-Length not digits", "HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\n"},
      {"Content-Length signed", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n"},
      {"Content-Length huge", "HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999999\r\n\r\n"},
      {"two Connection", "HTTP/1.1 200 OK\r\nConnection: a\r\nConnection: b\r\n\r\n"},
      {"folded line", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\n\r\n"},
      {"space before colon", "HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n"},
      {"no colon", "HTTP/1.1 200 OK\r\nX-A 1\r\n\r\n"},
      {"bare LF in a value", "HTTP/1.1 200 OK\r\nX-A: 1\nX-B: 2\r\n\r\n"},
      {"bare CR in a value", "HTTP/1.1 200 OK\r\nX-A: 1\rX-B: 2\r\n\r\n"},
      {"NUL in a value", std::string("HTTP/1.1 200 OK\r\nX-A: 1") + '\0' + " 2\r\n\r\n"},
      {"DEL in the reason", "HTTP/1.1 200 O\x7fK\r\n\r\n"},
      {"more than 32 fields", many},
      {"not ending with the blank line", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nx"},
      {"too short", "HTTP/1.1 200\r\n\r"},
  };
  for (const auto& [name, bytes] : cases) {
    internal::PlainResponseHead h;
    EXPECT_FALSE(internal::ParsePlainResponseHead(bytes, &h)) << name;
  }
}

// --- Which loop a new connection joins ------------------------------------

TEST(LoopChoiceTest, TheFirstLoopWithRoomTakesTheConnection) {
  using internal::ChooseLoop;
  using internal::LoopLoad;
  auto choose = [](std::vector<LoopLoad> loads) {
    return ChooseLoop(loads.size(), [&](size_t i) { return loads[i]; });
  };
  const LoopLoad idle{};
  // Idle loops: always the first, however many connections it has.
  EXPECT_EQ(choose({LoopLoad{1, 0, 0, 500}, idle}), 0u);
  // The first has no room (busy, held, or took its share of this look):
  // the next that has.
  EXPECT_EQ(choose({LoopLoad{1, internal::kRoomPermille, 0, 1}, idle}), 1u);
  EXPECT_EQ(choose({LoopLoad{0, 0, 0, 1}, idle}), 1u);
  EXPECT_EQ(choose({LoopLoad{1, 0, internal::kTakenPerLook, 1}, idle}), 1u);
  EXPECT_EQ(choose({LoopLoad{1, 900, 0, 1}, LoopLoad{1, 700, 0, 1}, LoopLoad{1, 499, 63, 90}}), 2u);
  // None has room: the fewest open connections, among loops with a thread
  // not held when there are any.
  EXPECT_EQ(choose({LoopLoad{1, 900, 0, 30}, LoopLoad{1, 800, 0, 10}, LoopLoad{1, 950, 0, 20}}), 1u);
  EXPECT_EQ(choose({LoopLoad{0, 0, 0, 1}, LoopLoad{1, 800, 0, 10}}), 1u);
  EXPECT_EQ(choose({LoopLoad{0, 0, 0, 3}, LoopLoad{0, 0, 0, 2}}), 1u);
}

// Connections made to an idle server are all served on one loop (one
// thread): nothing wakes a second thread while the first has room. A loop
// whose thread the machine preempts inside a call looks held to the monitor
// and has no room for that moment, so a round may spread; of three rounds
// one must not (with connections dealt in turn, none would be).
TEST(LoopChoiceTest, ConnectionsToAnIdleServerShareOneLoop) {
  ServerOptions o;
  o.io_threads = 2;
  std::mutex mu;
  std::vector<std::thread::id> threads;
  auto s = HttpServer::StartAsync(o, [&](HttpRequest, HttpServer::Responder respond) {
    {
      std::lock_guard<std::mutex> lock(mu);
      threads.push_back(std::this_thread::get_id());
    }
    respond(HttpResponse::Text(200, "served"));
  });
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::string get = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  int rounds_on_one_thread = 0;
  for (int round = 0; round < 3 && rounds_on_one_thread == 0; ++round) {
    {
      std::lock_guard<std::mutex> lock(mu);
      threads.clear();
    }
    std::vector<int> fds;
    for (int i = 0; i < 8; ++i) fds.push_back(ConnectLoopback((*s)->port()));
    for (int fd : fds) {
      ASSERT_TRUE(SendAll(fd, get.data(), get.size()));
      EXPECT_NE(ReadResponseEndingWith(fd, "served").find("HTTP/1.1 200"), std::string::npos);
    }
    for (int fd : fds) ::close(fd);
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(threads.size(), 8u);
    if (std::count(threads.begin(), threads.end(), threads.front()) == 8) ++rounds_on_one_thread;
  }
  EXPECT_EQ(rounds_on_one_thread, 1);
}

TEST(LoopChoiceTest, AStrainedLoopGivesAQuarterOfItsConnectionsWhenAnotherHasRoom) {
  using internal::LoopLoad;
  using internal::ToGive;
  // Nearly a core busy while the machine has a core idle, or a thread held
  // inside a call: strained.
  EXPECT_EQ(ToGive(LoopLoad{1, internal::kFullPermille, 0, 16, 1}, true, true), 4);
  EXPECT_EQ(ToGive(LoopLoad{1, 100, 0, 2, 2}, true, false), 1);  // one of two threads held
  EXPECT_EQ(ToGive(LoopLoad{0, 0, 0, 3, 1}, true, false), 1);
  // Not strained, no idle core to spread to, nowhere to go, or nothing to
  // spare: none.
  EXPECT_EQ(ToGive(LoopLoad{1, internal::kFullPermille - 1, 0, 16, 1}, true, true), 0);
  EXPECT_EQ(ToGive(LoopLoad{1, 1000, 0, 16, 1}, true, false), 0);
  EXPECT_EQ(ToGive(LoopLoad{1, 1000, 0, 16, 1}, false, true), 0);
  EXPECT_EQ(ToGive(LoopLoad{1, 1000, 0, 1, 1}, true, true), 0);
  // A loop with room, other than the giver.
  std::vector<LoopLoad> loads{LoopLoad{1, 1000, 0, 9, 1}, LoopLoad{1, 600, 0, 1, 1}, LoopLoad{1, 10, 0, 1, 1}};
  auto load = [&](size_t i) { return loads[i]; };
  EXPECT_EQ(internal::FirstWithRoom(loads.size(), 0, load), 2u);
  EXPECT_EQ(internal::FirstWithRoom(loads.size(), 2, load), 3u);  // none but itself
}

TEST(LoopChoiceTest, MachineCpuTimesAreReadFromTheFirstLineOfProcStat) {
  uint64_t idle = 0, all = 0;
  ASSERT_TRUE(internal::ParseCpuTimes("cpu  10 2 30 400 5 6 7 8 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\n", &idle, &all));
  EXPECT_EQ(idle, 405u);
  EXPECT_EQ(all, 468u);
  EXPECT_FALSE(internal::ParseCpuTimes("cpu0 1 2 3 4 5 6 7 8\n", &idle, &all));
  EXPECT_FALSE(internal::ParseCpuTimes("cpu  1 2 3\n", &idle, &all));
  EXPECT_FALSE(internal::ParseCpuTimes("", &idle, &all));
}

// Two connections made to an idle server share a loop; while a request on
// one holds that loop's thread inside a call, the other is moved, between
// two of its requests, to the loop with room, and goes on being served.
TEST(LoopChoiceTest, AConnectionOfALoopHeldInsideACallMovesToALoopWithRoom) {
  ServerOptions o;
  o.io_threads = 2;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  auto s = HttpServer::StartAsync(o, [&](HttpRequest r, HttpServer::Responder respond) {
    if (r.target == "/hold") {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return release; });
    }
    std::ostringstream id;
    id << "thread " << std::this_thread::get_id() << ".";
    respond(HttpResponse::Text(200, id.str()));
  });
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  struct Release {
    std::mutex& mu;
    std::condition_variable& cv;
    bool& release;
    ~Release() {
      {
        std::lock_guard<std::mutex> lock(mu);
        release = true;
      }
      cv.notify_all();
    }
  } release_at_end{mu, cv, release};
  auto ask = [](int fd, const std::string& target) {
    const std::string get = "GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n";
    if (!SendAll(fd, get.data(), get.size())) return std::string();
    std::string out = ReadResponseEndingWith(fd, ".");
    const size_t at = out.find("thread ");
    return at == std::string::npos ? std::string() : out.substr(at);
  };
  // Two connections on one loop (a pair the machine's preemption spread is
  // made again; see ConnectionsToAnIdleServerShareOneLoop).
  int held = -1, other = -1;
  std::string first;
  for (int pair = 0; pair < 3; ++pair) {
    held = ConnectLoopback((*s)->port());
    other = ConnectLoopback((*s)->port());
    first = ask(held, "/");
    ASSERT_FALSE(first.empty());
    if (ask(other, "/") == first) break;
    ::close(held);
    ::close(other);
    held = other = -1;
  }
  ASSERT_GE(held, 0) << "both connections start on one loop";
  const std::string hold = "GET /hold HTTP/1.1\r\nHost: h\r\n\r\n";
  ASSERT_TRUE(SendAll(held, hold.data(), hold.size()));
  // The held loop's other connection is served by a spare thread until it
  // moves; a request made after the move is served by the other loop.
  std::string last;
  int asked = 0;
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while ((*s)->connections_moved() == 0 && std::chrono::steady_clock::now() < deadline) {
    last = ask(other, "/");
    ASSERT_FALSE(last.empty()) << "request " << asked;
    ++asked;
  }
  ASSERT_EQ((*s)->connections_moved(), 1u);
  for (int i = 0; i < 20; ++i) {
    const std::string now = ask(other, "/");
    ASSERT_FALSE(now.empty());
    EXPECT_NE(now, first) << "the held thread serves nothing else";
    if (i > 0) {
      EXPECT_EQ(now, last) << "the moved connection stays on its new loop";
    }
    last = now;
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  EXPECT_EQ(ReadResponseEndingWith(held, ".").find("HTTP/1.1 200"), 0u);
  ::close(held);
  ::close(other);
}

}  // namespace
}  // namespace ofn::gateway
