#include "libofn/scale/metrics.h"

#include <algorithm>

namespace ofn::scale {

WindowBuckets::WindowBuckets(std::chrono::nanoseconds max_window, std::chrono::nanoseconds granularity)
    : max_window_(max_window), granularity_(granularity) {}

void WindowBuckets::Record(Clock::Duration t, double value) {
  int64_t idx = Index(t);
  int64_t keep = max_window_.count() / granularity_.count() + 1;
  if (value == 0 && !buckets_.empty()) {
    // A missing bucket averages as zero: an idle revision, recorded every
    // tick, keeps no bucket per second of its idleness (an hour of them
    // was ~57 KB). Only where its window starts matters.
    first_ = std::min(first_, idx);
    while (!buckets_.empty() && buckets_.front().first < idx - keep) buckets_.pop_front();
    if (buckets_.empty()) buckets_.emplace_back(idx, 0.0);  // still says when it began
    return;
  }
  if (buckets_.empty()) first_ = idx;
  if (!buckets_.empty() && buckets_.back().first == idx) {
    buckets_.back().second += value;
  } else if (buckets_.empty() || buckets_.back().first < idx) {
    buckets_.emplace_back(idx, value);
  } else {
    // Late value for an older bucket.
    auto it = std::lower_bound(buckets_.begin(), buckets_.end(), std::make_pair(idx, -1e300));
    if (it != buckets_.end() && it->first == idx) {
      it->second += value;
    } else {
      buckets_.insert(it, {idx, value});
    }
    first_ = std::min(first_, idx);
  }
  while (!buckets_.empty() && buckets_.front().first < idx - keep) buckets_.pop_front();
}

double WindowBuckets::WindowAverage(Clock::Duration now, std::chrono::nanoseconds window) const {
  if (buckets_.empty()) return 0;
  int64_t end = Index(now);  // exclusive: the bucket holding `now` is not complete
  int64_t n = window.count() / granularity_.count();
  if (n <= 0) n = 1;
  int64_t begin = std::max(end - n, first_);
  if (begin >= end) return 0;
  double sum = 0;
  for (const auto& [idx, v] : buckets_) {
    if (idx >= begin && idx < end) sum += v;
  }
  return sum / static_cast<double>(end - begin);
}

RequestStats::RequestStats(std::chrono::nanoseconds max_window)
    : concurrency_(max_window), requests_(max_window) {}

void RequestStats::AdvanceLocked(Clock::Duration now) {
  using std::chrono::seconds;
  if (!started_) {
    started_ = true;
    last_ = now;
    return;
  }
  if (now <= last_) return;
  const int64_t gran = std::chrono::nanoseconds(seconds(1)).count();
  // Close every bucket that ended since the last event.
  while (now.count() / gran > last_.count() / gran) {
    int64_t bucket = last_.count() / gran;
    Clock::Duration bucket_end{(bucket + 1) * gran};
    integral_ += static_cast<double>(in_flight_) * std::chrono::duration<double>(bucket_end - last_).count();
    concurrency_.Record(Clock::Duration(bucket * gran), integral_);
    integral_ = 0;
    last_ = bucket_end;
    if (in_flight_ == 0 && now.count() / gran > last_.count() / gran) {
      // Idle: the buckets up to now are all zero; record the latest one only.
      last_ = Clock::Duration((now.count() / gran) * gran);
      concurrency_.Record(last_ - seconds(1), 0);
    }
  }
  integral_ += static_cast<double>(in_flight_) * std::chrono::duration<double>(now - last_).count();
  last_ = now;
}

void RequestStats::Start(Clock::Duration now) {
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceLocked(now);
  ++in_flight_;
  ++total_;
  requests_.Record(now, 1);
}

void RequestStats::End(Clock::Duration now) {
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceLocked(now);
  if (in_flight_ > 0) --in_flight_;
}

RequestStats::Observed RequestStats::Concurrency(Clock::Duration now, std::chrono::nanoseconds stable,
                                                 std::chrono::nanoseconds panic) {
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceLocked(now);
  return {concurrency_.WindowAverage(now, stable), concurrency_.WindowAverage(now, panic)};
}

RequestStats::Observed RequestStats::Rps(Clock::Duration now, std::chrono::nanoseconds stable,
                                         std::chrono::nanoseconds panic) {
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceLocked(now);
  // Count the rps buckets over the same span the concurrency buckets cover.
  return {requests_.WindowAverage(now, stable), requests_.WindowAverage(now, panic)};
}

int64_t RequestStats::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

int64_t RequestStats::total() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_;
}

}  // namespace ofn::scale
