// MinRate: how long the next read of a request body may take so that the
// body keeps arriving at a minimum average rate after a grace period (a
// slow uploader cannot hold an instance). Only time spent waiting on the
// client counts. Pure arithmetic; not thread-safe.
#ifndef LIBOFN_GATEWAY_MIN_RATE_H_
#define LIBOFN_GATEWAY_MIN_RATE_H_

#include <chrono>
#include <cstdint>

namespace ofn::gateway {

class MinRate {
 public:
  // `bytes_per_second` 0 turns the check off.
  MinRate(uint64_t bytes_per_second, std::chrono::nanoseconds grace)
      : rate_(bytes_per_second), grace_(grace) {}

  // The time the next read may take: the grace plus what the bytes so far
  // have earned, minus the time already spent reading. Zero or less: too
  // slow. nanoseconds::max() when the check is off.
  std::chrono::nanoseconds Allowance() const {
    if (rate_ == 0) return std::chrono::nanoseconds::max();
    const long double earned_ns = static_cast<long double>(bytes_) * 1e9L / static_cast<long double>(rate_);
    const long double budget = static_cast<long double>(grace_.count()) + earned_ns -
                               static_cast<long double>(spent_.count());
    if (budget > static_cast<long double>(std::chrono::nanoseconds::max().count() / 2)) {
      return std::chrono::nanoseconds::max() / 2;
    }
    return std::chrono::nanoseconds(static_cast<int64_t>(budget));
  }
  // A read that returned `bytes` after waiting `took`.
  void Record(uint64_t bytes, std::chrono::nanoseconds took) {
    bytes_ += bytes;
    spent_ += took;
  }

 private:
  uint64_t rate_;
  std::chrono::nanoseconds grace_;
  uint64_t bytes_ = 0;
  std::chrono::nanoseconds spent_{0};
};

}  // namespace ofn::gateway

#endif  // LIBOFN_GATEWAY_MIN_RATE_H_
