#include "libofn/gateway/internal/stream.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace ofn::gateway::internal {

void LazyTimer::Set(std::chrono::steady_clock::duration after) {
  st_->active = true;
  st_->fired = false;
  st_->at = std::chrono::steady_clock::now() + after;
  if (!st_->armed || st_->armed_at > st_->at) Arm(st_, st_->at);
}

void LazyTimer::Arm(const std::shared_ptr<State>& st, std::chrono::steady_clock::time_point at) {
  st->armed = true;
  st->armed_at = at;
  const uint64_t generation = ++st->generation;
  st->timer.expires_at(at);  // a wait still pending ends as cancelled, and is of an older generation
  st->timer.async_wait([st, generation](const boost::system::error_code& ec) {
    if (generation != st->generation) return;  // armed again meanwhile
    st->armed = false;
    if (ec || !st->active || !st->on_expire) return;
    if (std::chrono::steady_clock::now() < st->at) {
      Arm(st, st->at);
      return;
    }
    st->fired = true;
    st->active = false;
    st->on_expire();
  });
}

void LazyDeadline::Cut() {
  if (target_ == nullptr) return;
  boost::system::error_code ignored;
  target_->shutdown(asio::socket_base::shutdown_both, ignored);
  target_->cancel(ignored);
  target_ = nullptr;
}

size_t SendNow(int fd, const iovec* iov, size_t count, boost::system::error_code& ec) {
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = count;
  for (;;) {
    const ssize_t n = ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) ec = boost::system::error_code(errno, boost::system::system_category());
    return 0;
  }
}

PeerState PeekPeer(int fd) {
  char probe;
  ssize_t n = ::recv(fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return PeerState::kGone;
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? PeerState::kOpen : PeerState::kGone;
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 && info.tcpi_state == TCP_CLOSE_WAIT) {
    return PeerState::kGone;
  }
  return PeerState::kUnknown;
}

void AppendTokens(std::string_view v, std::vector<std::string>* out) {
  while (!v.empty()) {
    size_t comma = v.find(',');
    std::string_view tok = v.substr(0, comma);
    while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) tok.remove_prefix(1);
    while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) tok.remove_suffix(1);
    if (!tok.empty()) out->emplace_back(tok);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}

bool TrustedProxy(const std::vector<std::string>& proxies, const std::string& ip) {
  if (ip.empty() || proxies.empty()) return false;
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(ip, ec);
  if (ec) return false;
  for (const std::string& entry : proxies) {
    size_t slash = entry.find('/');
    auto net = asio::ip::make_address(entry.substr(0, slash), ec);
    if (ec || net.is_v4() != addr.is_v4()) continue;
    const int bits = slash == std::string::npos ? (addr.is_v4() ? 32 : 128) : std::atoi(entry.c_str() + slash + 1);
    if (addr.is_v4()) {
      const uint32_t mask = bits <= 0 ? 0 : bits >= 32 ? 0xffffffffu : ~((1u << (32 - bits)) - 1);
      if ((addr.to_v4().to_uint() & mask) == (net.to_v4().to_uint() & mask)) return true;
    } else {
      auto a = addr.to_v6().to_bytes(), n = net.to_v6().to_bytes();
      bool match = true;
      for (int i = 0; i < 16 && match; ++i) {
        const int keep = std::clamp(bits - 8 * i, 0, 8);
        const unsigned char m = static_cast<unsigned char>(keep == 0 ? 0 : (0xff << (8 - keep)) & 0xff);
        match = (a[static_cast<size_t>(i)] & m) == (n[static_cast<size_t>(i)] & m);
      }
      if (match) return true;
    }
  }
  return false;
}

std::chrono::nanoseconds ReadAllowance(const ServerOptions& opt, const MinRate& rate) {
  return std::max(std::chrono::nanoseconds(1),
                  std::min<std::chrono::nanoseconds>(rate.Allowance(), opt.idle_timeout));
}
std::string SlowBodyMessage(const ServerOptions& opt) {
  return "the request body arrived too slowly (under " + std::to_string(opt.min_body_rate) +
         " bytes/s, or a pause over " + std::to_string(opt.idle_timeout.count()) + " ms)";
}

}  // namespace ofn::gateway::internal
