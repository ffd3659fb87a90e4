// How the HTTP server reads its client sockets, counted at the C library:
// this program defines recv() and recvmsg() itself (its definitions are the
// ones the library calls), counting every call and every call that found
// nothing, then makes the system call. Its own client uses read() and write(), which are not
// counted. A program of its own, so no other test sees the counter.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <gtest/gtest.h>
#include <mutex>
#include <string>
#include <thread>

#include "libofn/gateway/server.h"

namespace {

std::atomic<int> recv_calls{0};
std::atomic<int> recv_found_nothing{0};

}  // namespace

namespace {

ssize_t Counted(long r) {
  const int saved = errno;
  recv_calls.fetch_add(1);
  if (r < 0 && (saved == EAGAIN || saved == EWOULDBLOCK)) recv_found_nothing.fetch_add(1);
  errno = saved;
  return static_cast<ssize_t>(r);
}

}  // namespace

// Asio reads one buffer with recv(), several with recvmsg().
extern "C" ssize_t recv(int fd, void* buf, size_t n, int flags) {
  return Counted(::syscall(SYS_recvfrom, fd, buf, n, flags, nullptr, nullptr));
}
extern "C" ssize_t recvmsg(int fd, msghdr* msg, int flags) { return Counted(::syscall(SYS_recvmsg, fd, msg, flags)); }

namespace ofn::gateway {
namespace {

using std::chrono::seconds;

// Where a server leaves the responder of a request to "/hold".
struct Held {
  std::mutex mu;
  std::condition_variable cv;
  HttpServer::Responder respond;
};

// A server that answers every request at once with its target, or hands
// it to `upstream` (a proxied instance) when one is given; with `held`, a
// request to "/hold" is answered by the test.
std::unique_ptr<HttpServer> Serve(const std::string& upstream = "", Held* held = nullptr) {
  ServerOptions o;
  o.address = "127.0.0.1:0";
  o.io_threads = 1;
  o.stream_bodies = true;
  auto s = HttpServer::StartAsync(o, [upstream, held](HttpRequest r, HttpServer::Responder respond) {
    if (held && r.target == "/hold") {
      std::lock_guard<std::mutex> lock(held->mu);
      held->respond = std::move(respond);
      held->cv.notify_all();
      return;
    }
    if (!upstream.empty()) {
      auto body = std::move(r.pending_body);
      body->Proxy(std::move(r), upstream, seconds(5), [](int) {});
      return;
    }
    respond(HttpResponse::Text(200, r.target));
  });
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

class SocketReadsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(Connect(Serve())); }
  // The client's socket, connected to `server`.
  void Connect(std::unique_ptr<HttpServer> server) {
    ASSERT_TRUE(server);
    server_ = std::move(server);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd_, 0);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    timeval tv{10, 0};  // a read the server never answers fails the test instead of hanging it
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << std::strerror(errno);
  }
  void TearDown() override {
    if (fd_ >= 0) ::close(fd_);
    server_.reset();
    upstream_.reset();
  }
  void Reconnect(std::unique_ptr<HttpServer> server) {
    ::close(fd_);
    server_.reset();
    ASSERT_NO_FATAL_FAILURE(Connect(std::move(server)));
  }
  // Serves through a gateway that proxies every request to a second server.
  void Proxied() {
    upstream_ = Serve();
    ASSERT_TRUE(upstream_);
    ASSERT_NO_FATAL_FAILURE(Reconnect(Serve("127.0.0.1:" + std::to_string(upstream_->port()))));
  }

  void Send(const std::string& bytes) {
    ASSERT_EQ(::write(fd_, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  // The body of the next response ("" when none came within 10 s).
  std::string Answer() {
    for (;;) {
      const size_t head_end = pending_.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const size_t at = pending_.find("Content-Length: ");
        if (at != std::string::npos && at < head_end) {
          const size_t length = std::stoul(pending_.substr(at + 16));
          if (pending_.size() >= head_end + 4 + length) {
            std::string body = pending_.substr(head_end + 4, length);
            pending_.erase(0, head_end + 4 + length);
            return body;
          }
        }
      }
      char buf[8192];
      const ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n <= 0) return "";
      pending_.append(buf, static_cast<size_t>(n));
    }
  }
  static std::string Get(const std::string& target, const std::string& extra = "") {
    return "GET " + target + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n";
  }
  // Waits until the server has called recv() more than `seen` times.
  static bool ServerReadPast(int seen) {
    const auto deadline = std::chrono::steady_clock::now() + seconds(10);
    while (recv_calls.load() <= seen) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::yield();
    }
    return true;
  }
  // The reads 20 keep-alive requests cost, after a first one (the first
  // reads on new connections may come before their bytes).
  struct Reads {
    int calls = -1;
    int found_nothing = -1;
  };
  Reads TwentyRequests() {
    Send(Get("/first"));
    if (Answer() != "/first") return {};
    const int calls = recv_calls.load(), empty = recv_found_nothing.load();
    for (int i = 0; i < 20; ++i) {
      Send(Get("/" + std::to_string(i)));
      if (Answer() != "/" + std::to_string(i)) return {};
    }
    return {recv_calls.load() - calls, recv_found_nothing.load() - empty};
  }

  std::unique_ptr<HttpServer> upstream_;
  std::unique_ptr<HttpServer> server_;
  int fd_ = -1;
  std::string pending_;
};

TEST_F(SocketReadsTest, AKeepAliveRequestCostsOneReadAndNoneThatFindsNothing) {
  const Reads reads = TwentyRequests();
  // After an answer the next request is never there yet: a read tried at
  // once would find nothing. The server waits for the socket instead.
  EXPECT_EQ(reads.found_nothing, 0);
  EXPECT_EQ(reads.calls, 20);
}

TEST_F(SocketReadsTest, AProxiedRequestCostsOneReadOnEachConnectionAndNoneThatFindsNothing) {
  ASSERT_NO_FATAL_FAILURE(Proxied());
  const Reads reads = TwentyRequests();
  // Per request: the gateway reads the client's request and the
  // instance's answer (on a kept upstream connection), the instance reads
  // the request. The answer is waited for, not tried for right after the
  // request went out.
  EXPECT_EQ(reads.found_nothing, 0);
  EXPECT_EQ(reads.calls, 60);
}

TEST_F(SocketReadsTest, ALastRequestThatArrivesWithTheEndOfTheStreamIsAnsweredAndTheConnectionCloses) {
  Held held;
  ASSERT_NO_FATAL_FAILURE(Reconnect(Serve("", &held)));
  Send(Get("/hold"));
  {
    std::unique_lock<std::mutex> lock(held.mu);
    ASSERT_TRUE(held.cv.wait_for(lock, seconds(10), [&] { return held.respond != nullptr; }));
  }
  // The next request and the client's end of stream arrive while the server
  // is busy: its next read takes the request, and must not take the socket
  // for drained (the end of stream raises no new edge).
  Send(Get("/last"));
  ASSERT_EQ(::shutdown(fd_, SHUT_WR), 0);
  held.respond(HttpResponse::Text(200, "/hold"));
  EXPECT_EQ(Answer(), "/hold");
  EXPECT_EQ(Answer(), "/last");
  char c;
  EXPECT_EQ(::read(fd_, &c, 1), 0) << "the server did not close after the client's end of stream";
}

TEST_F(SocketReadsTest, ARequestInPiecesIsReadPieceByPieceAndAnswered) {
  Send(Get("/warm"));
  ASSERT_EQ(Answer(), "/warm");
  const std::string request = Get("/pieces", "X-A: 1\r\n");
  // Each piece lands after the server read the one before it (and found
  // the socket drained): the next byte must still wake it.
  for (size_t at = 0; at < request.size(); at += 9) {
    const int seen = recv_calls.load();
    Send(request.substr(at, 9));
    ASSERT_TRUE(ServerReadPast(seen)) << "the server did not read the piece at " << at;
  }
  EXPECT_EQ(Answer(), "/pieces");
}

TEST_F(SocketReadsTest, PipelinedAndLargeRequestsAreAllAnswered) {
  // Two requests in one write, then a third whose head does not fit one read.
  Send(Get("/a") + Get("/b"));
  EXPECT_EQ(Answer(), "/a");
  EXPECT_EQ(Answer(), "/b");
  Send(Get("/c", "X-Big: " + std::string(6000, 'x') + "\r\n"));
  EXPECT_EQ(Answer(), "/c");
  Send(Get("/d"));
  EXPECT_EQ(Answer(), "/d");
}

}  // namespace
}  // namespace ofn::gateway
