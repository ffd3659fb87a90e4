// Metric windows for the KPA, as Knative's autoscaler keeps them: values in
// 1 s buckets, averaged over the stable window and the panic window.
#ifndef LIBOFN_SCALE_METRICS_H_
#define LIBOFN_SCALE_METRICS_H_

#include <chrono>
#include <cstdint>
#include <mutex>
#include <utility>

#include "libofn/common/clock.h"
#include "libofn/common/fifo.h"

namespace ofn::scale {

// Values summed per bucket of `granularity`; the average over a window counts
// every bucket from the first write (or the window's start, if later) to now,
// empty ones as zero — Knative's TimedFloat64Buckets. Not thread-safe.
class WindowBuckets {
 public:
  explicit WindowBuckets(std::chrono::nanoseconds max_window,
                         std::chrono::nanoseconds granularity = std::chrono::seconds(1));

  // Adds `value` to the bucket holding `t`.
  void Record(Clock::Duration t, double value);
  // Average per bucket over the complete buckets in [now - window, now).
  double WindowAverage(Clock::Duration now, std::chrono::nanoseconds window) const;
  bool empty() const { return buckets_.empty(); }
  // Buckets held (zeros are not held, but for one that marks a start).
  size_t held() const { return buckets_.size(); }

 private:
  int64_t Index(Clock::Duration t) const { return t.count() / granularity_.count(); }

  std::chrono::nanoseconds max_window_;
  std::chrono::nanoseconds granularity_;
  int64_t first_ = 0;
  Fifo<std::pair<int64_t, double>> buckets_;  // (index, sum), ascending
};

// What the KPA reads for one revision: concurrency (time-weighted average of
// requests in flight, queued ones included, per second) and requests per
// second. Request start/end are recorded by the data path. Thread-safe.
class RequestStats {
 public:
  explicit RequestStats(std::chrono::nanoseconds max_window = std::chrono::hours(1));

  void Start(Clock::Duration now);
  void End(Clock::Duration now);

  struct Observed {
    double stable = 0;
    double panic = 0;
  };
  // Averages over complete 1 s buckets before `now`.
  Observed Concurrency(Clock::Duration now, std::chrono::nanoseconds stable,
                       std::chrono::nanoseconds panic);
  Observed Rps(Clock::Duration now, std::chrono::nanoseconds stable, std::chrono::nanoseconds panic);
  int64_t in_flight() const;
  int64_t total() const;

 private:
  void AdvanceLocked(Clock::Duration now);

  mutable std::mutex mu_;
  WindowBuckets concurrency_;
  WindowBuckets requests_;
  int64_t in_flight_ = 0;
  int64_t total_ = 0;
  bool started_ = false;
  Clock::Duration last_{0};       // when the integral was last advanced
  double integral_ = 0;           // in-flight × seconds within the current bucket
};

}  // namespace ofn::scale

#endif  // LIBOFN_SCALE_METRICS_H_
