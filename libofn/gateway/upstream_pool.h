// UpstreamPool: idle keep-alive connections to upstreams (function
// instances), per address, for the proxy. A connection is handed out again
// only while its peer has not closed it and for at most max_idle after it
// came back; at most max_per_address wait per address (the oldest go first).
// Plain descriptors, no Asio. Thread-safe.
#ifndef LIBOFN_GATEWAY_UPSTREAM_POOL_H_
#define LIBOFN_GATEWAY_UPSTREAM_POOL_H_

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "libofn/common/clock.h"

namespace ofn::gateway {

class UpstreamPool {
 public:
  // `clock`: Monotonic() ages connections; default Clock::System().
  explicit UpstreamPool(size_t max_per_address, std::chrono::milliseconds max_idle = std::chrono::seconds(30),
                        Clock* clock = nullptr);
  ~UpstreamPool();  // closes every idle connection
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // An idle connection to `address` (newest first) whose peer has not
  // closed it, or -1. Dead and stale ones found on the way are closed. The
  // caller owns the descriptor.
  int Checkout(const std::string& address);
  // Gives a connection back (the pool owns it from now on).
  void Checkin(const std::string& address, int fd);
  void CloseAll();
  size_t idle(const std::string& address) const;

 private:
  struct Idle {
    int fd;
    Clock::Duration since;
  };
  const size_t max_per_address_;
  const std::chrono::milliseconds max_idle_;
  Clock* const clock_;
  mutable std::mutex mu_;
  std::map<std::string, std::vector<Idle>> idle_;
};

}  // namespace ofn::gateway

#endif  // LIBOFN_GATEWAY_UPSTREAM_POOL_H_
