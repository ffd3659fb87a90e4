// InFlight: how many messages a broker reader has handed to the runtime and
// not yet had acknowledged, bounded; the reader stops reading while the
// bound is reached. Shared between the reader's thread and the Ack
// callbacks (hold it in a shared_ptr). Thread-safe. Internal.
#ifndef LIBOFN_EVENTS_INTERNAL_IN_FLIGHT_H_
#define LIBOFN_EVENTS_INTERNAL_IN_FLIGHT_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace ofn::events {

class InFlight {
 public:
  explicit InFlight(int limit) : limit_(limit < 1 ? 1 : limit) {}

  // Waits up to `wait` for room: how many may be handed out now (0: none
  // yet), or -1 once closed.
  int WaitForRoom(std::chrono::milliseconds wait) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, wait, [&] { return closed_ || out_ < limit_; });
    if (closed_) return -1;
    return limit_ - out_;
  }
  // Blocks until there is room, then counts one out; false once closed.
  bool Enter() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return closed_ || out_ < limit_; });
    if (closed_) return false;
    ++out_;
    return true;
  }
  void Add() {
    std::lock_guard<std::mutex> lock(mu_);
    ++out_;
  }
  void Done() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      --out_;
    }
    cv_.notify_all();
  }
  // Sleeps up to `d` (a reader backing off after an error); false when
  // closed meanwhile.
  bool Pause(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mu_);
    return !cv_.wait_for(lock, d, [&] { return closed_; });
  }
  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  const int limit_;
  int out_ = 0;
  bool closed_ = false;
};

}  // namespace ofn::events

#endif  // LIBOFN_EVENTS_INTERNAL_IN_FLIGHT_H_
