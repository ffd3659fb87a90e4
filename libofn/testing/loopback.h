// Raw loopback sockets for tests and benchmarks that need to control the
// bytes on the wire (streamed uploads, keep-alive sequences) rather than go
// through gateway::HttpCall. Header-only.
#ifndef LIBOFN_TESTING_LOOPBACK_H_
#define LIBOFN_TESTING_LOOPBACK_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace ofn::testing {

// The port of "host:port".
inline int PortOf(const std::string& address) { return std::atoi(address.c_str() + address.rfind(':') + 1); }

// A blocking TCP connection to 127.0.0.1:port with TCP_NODELAY; -1 on error.
inline int ConnectLoopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// A blocking TCP listener on 127.0.0.1 at a free port (set in *port); -1 on
// error.
inline int ListenLoopback(int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 8) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

// Writes all of data; false when the peer is gone.
inline bool SendAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Reads until the peer closes or `timeout_s` seconds pass without data.
inline std::string ReadUntilClose(int fd, int timeout_s = 5) {
  timeval tv{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<size_t>(n));
  return out;
}

// Sends raw bytes to 127.0.0.1:port and reads until the server closes (or
// 5 s pass without data).
inline std::string RawExchange(int port, const std::string& bytes) {
  int fd = ConnectLoopback(port);
  if (fd < 0) return "connect failed";
  SendAll(fd, bytes.data(), bytes.size());
  std::string out = ReadUntilClose(fd);
  ::close(fd);
  return out;
}

}  // namespace ofn::testing

#endif  // LIBOFN_TESTING_LOOPBACK_H_
