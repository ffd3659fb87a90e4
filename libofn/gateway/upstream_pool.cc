#include "libofn/gateway/upstream_pool.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace ofn::gateway {

UpstreamPool::UpstreamPool(size_t max_per_address, std::chrono::milliseconds max_idle, Clock* clock)
    : max_per_address_(max_per_address), max_idle_(max_idle), clock_(clock ? clock : Clock::System()) {}

UpstreamPool::~UpstreamPool() { CloseAll(); }

int UpstreamPool::Checkout(const std::string& address) {
  const Clock::Duration now = clock_->Monotonic();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = idle_.find(address);
  if (it == idle_.end()) return -1;
  std::vector<Idle>& idle = it->second;
  while (!idle.empty()) {
    Idle c = idle.back();
    idle.pop_back();
    // Nothing to read and no EOF: the peer still holds it open.
    char probe;
    ssize_t n = ::recv(c.fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    bool alive = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    if (alive && now - c.since < max_idle_) return c.fd;
    ::close(c.fd);
  }
  return -1;
}

void UpstreamPool::Checkin(const std::string& address, int fd) {
  const Clock::Duration now = clock_->Monotonic();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Idle>& idle = idle_[address];
  // Oldest first; drop what is stale or over the limit.
  while (!idle.empty() && (idle.size() >= max_per_address_ || now - idle.front().since >= max_idle_)) {
    ::close(idle.front().fd);
    idle.erase(idle.begin());
  }
  if (max_per_address_ == 0) {
    ::close(fd);
    return;
  }
  idle.push_back(Idle{fd, now});
}

void UpstreamPool::CloseAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [address, idle] : idle_) {
    for (const Idle& c : idle) ::close(c.fd);
  }
  idle_.clear();
}

size_t UpstreamPool::idle(const std::string& address) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = idle_.find(address);
  return it == idle_.end() ? 0 : it->second.size();
}

}  // namespace ofn::gateway
