#include "libofn/backends/process/probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string>

namespace ofn::process {
namespace {

using backend::Probe;
using Millis = std::chrono::milliseconds;
using SteadyTime = std::chrono::steady_clock::time_point;

// Waits for `fd` to become ready for `events`, up to `deadline`.
bool WaitFd(int fd, short events, SteadyTime deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

int ConnectLoopback(int port, SteadyTime deadline) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int r = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (r != 0 && errno == EINPROGRESS && WaitFd(fd, POLLOUT, deadline)) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    r = err == 0 ? 0 : -1;
  }
  if (r != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

bool RunProbe(const Probe& probe, int port) {
  SteadyTime deadline = std::chrono::steady_clock::now() + probe.timeout;
  int fd = ConnectLoopback(port, deadline);
  if (fd < 0) return false;
  bool ok = true;
  if (probe.type == Probe::Type::kHttp) {
    std::string req = "GET " + probe.path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                      "\r\nUser-Agent: ofn-probe\r\nConnection: close\r\n";
    for (const auto& [n, v] : probe.headers) req += n + ": " + v + "\r\n";
    req += "\r\n";
    size_t sent = 0;
    while (ok && sent < req.size()) {
      ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        ok = WaitFd(fd, POLLOUT, deadline);
      } else {
        ok = false;
      }
    }
    std::string head;
    while (ok && head.find("\r\n") == std::string::npos && head.size() < 1024) {
      char buf[256];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        head.append(buf, static_cast<size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        ok = WaitFd(fd, POLLIN, deadline);
      } else {
        ok = false;
      }
    }
    // "HTTP/1.1 200 OK"
    if (ok) {
      size_t sp = head.find(' ');
      int status = sp == std::string::npos ? 0 : std::atoi(head.c_str() + sp + 1);
      ok = status >= 200 && status < 400;
    }
  }
  ::close(fd);
  return ok;
}

}  // namespace ofn::process
