// Clock: the injected source of time. Nothing in libofn reads the system clock
// directly; tests drive a ManualClock instead of sleeping.
#ifndef LIBOFN_COMMON_CLOCK_H_
#define LIBOFN_COMMON_CLOCK_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

namespace ofn {

// Thread-safe: implementations may be called from any thread.
class Clock {
 public:
  using Duration = std::chrono::nanoseconds;
  using TimePoint = std::chrono::time_point<std::chrono::system_clock, Duration>;

  virtual ~Clock() = default;
  // Wall-clock time (timestamps written into objects).
  virtual TimePoint Now() const = 0;
  // Monotonic time (timeouts, windows). Only differences are meaningful.
  virtual Duration Monotonic() const = 0;

  // The process-wide system clock. Never null; lives for the whole program.
  static Clock* System();
};

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint(std::chrono::seconds(1700000000)));

  TimePoint Now() const override;
  Duration Monotonic() const override;

  void Advance(Duration d);
  void Set(TimePoint t);  // must not move backwards

 private:
  mutable std::mutex mu_;
  TimePoint now_;
  Duration mono_{0};
};

// RFC 3339 UTC with seconds precision, e.g. "2026-11-22T10:14:00Z", as
// Kubernetes writes creationTimestamp.
std::string FormatRfc3339(Clock::TimePoint t);
// Parses "2026-11-22T10:00:00Z" (fractions allowed); false when malformed.
bool ParseRfc3339(std::string_view text, Clock::TimePoint* out);

}  // namespace ofn

#endif  // LIBOFN_COMMON_CLOCK_H_
