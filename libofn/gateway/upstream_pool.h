// UpstreamPool: idle keep-alive connections to upstreams (function
// instances), per address, for the proxy. A connection is handed out again
// only while its peer has not closed it and for at most max_idle after it
// came back; at most max_per_address wait per address (the oldest go first).
// Thread-safe.
//
// BasicUpstreamPool holds any kind of connection a Traits type describes:
//   static int Fd(const Conn&);   its descriptor (peeked at, never read)
//   static void Close(Conn&);     closes it
//   static Conn None();           what Checkout gives when nothing is idle
// UpstreamPool holds plain descriptors (no Asio); the proxy keeps its
// sockets whole (still registered with their event loop) in another.
#ifndef LIBOFN_GATEWAY_UPSTREAM_POOL_H_
#define LIBOFN_GATEWAY_UPSTREAM_POOL_H_

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "libofn/common/clock.h"

namespace ofn::gateway {

template <class Conn, class Traits>
class BasicUpstreamPool {
 public:
  // `clock`: Monotonic() ages connections; default Clock::System().
  explicit BasicUpstreamPool(size_t max_per_address, std::chrono::milliseconds max_idle = std::chrono::seconds(30),
                             Clock* clock = nullptr)
      : max_per_address_(max_per_address), max_idle_(max_idle), clock_(clock ? clock : Clock::System()) {}
  ~BasicUpstreamPool() { CloseAll(); }  // closes every idle connection
  BasicUpstreamPool(const BasicUpstreamPool&) = delete;
  BasicUpstreamPool& operator=(const BasicUpstreamPool&) = delete;

  // An idle connection to `address` (newest first) whose peer has not
  // closed it, or Traits::None(). Dead and stale ones found on the way are
  // closed. The caller owns what it gets. Without `check_peer` the peer is
  // not asked (a syscall saved): for a caller that can send its request
  // again on another connection when this one turns out closed.
  Conn Checkout(const std::string& address, bool check_peer = true) {
    const Clock::Duration now = clock_->Monotonic();
    std::lock_guard<std::mutex> lock(mu_);
    auto it = idle_.find(address);
    if (it == idle_.end()) return Traits::None();
    std::vector<Idle>& idle = it->second;
    while (!idle.empty()) {
      Idle c = std::move(idle.back());
      idle.pop_back();
      if (now - c.since < max_idle_) {
        if (!check_peer) return std::move(c.conn);
        // Nothing to read and no EOF: the peer still holds it open.
        char probe;
        const ssize_t n = ::recv(Traits::Fd(c.conn), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return std::move(c.conn);
      }
      Traits::Close(c.conn);
    }
    return Traits::None();
  }
  // Gives a connection back (the pool owns it from now on).
  void Checkin(const std::string& address, Conn conn) {
    const Clock::Duration now = clock_->Monotonic();
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Idle>& idle = idle_[address];
    // Oldest first; drop what is stale or over the limit.
    while (!idle.empty() && (idle.size() >= max_per_address_ || now - idle.front().since >= max_idle_)) {
      Traits::Close(idle.front().conn);
      idle.erase(idle.begin());
    }
    if (max_per_address_ == 0) {
      Traits::Close(conn);
      return;
    }
    idle.push_back(Idle{std::move(conn), now});
  }
  void CloseAll() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [address, idle] : idle_) {
      for (Idle& c : idle) Traits::Close(c.conn);
    }
    idle_.clear();
  }
  size_t idle(const std::string& address) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = idle_.find(address);
    return it == idle_.end() ? 0 : it->second.size();
  }

 private:
  struct Idle {
    Conn conn;
    Clock::Duration since;
  };
  const size_t max_per_address_;
  const std::chrono::milliseconds max_idle_;
  Clock* const clock_;
  mutable std::mutex mu_;
  std::map<std::string, std::vector<Idle>> idle_;
};

// Plain descriptors; -1 is none.
struct FdTraits {
  static int Fd(int fd) { return fd; }
  static void Close(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  static int None() { return -1; }
};
using UpstreamPool = BasicUpstreamPool<int, FdTraits>;

}  // namespace ofn::gateway

#endif  // LIBOFN_GATEWAY_UPSTREAM_POOL_H_
