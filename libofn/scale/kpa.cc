#include "libofn/scale/kpa.h"

#include <algorithm>
#include <cmath>

namespace ofn::scale {

Decision Decide(const ScaleSpec& spec, double observed_stable, double observed_panic, int ready,
                bool reachable, Clock::Duration now, DeciderState* st) {
  Decision d;
  d.stable_value = observed_stable;
  d.panic_value = observed_panic;
  const double ready_pods = std::max(1.0, static_cast<double>(ready));
  const double max_up = std::ceil(spec.max_scale_up_rate * ready_pods);
  const double max_down = reachable ? std::floor(ready_pods / spec.max_scale_down_rate) : 0.0;
  const double target = spec.TargetValue();
  const double dspc = std::ceil(observed_stable / target);
  const double dppc = std::ceil(observed_panic / target);
  int stable_pods = static_cast<int>(std::min(std::max(dspc, max_down), max_up));
  int panic_pods = static_cast<int>(std::min(std::max(dppc, max_down), max_up));
  if (spec.activation_scale > 1) {
    // Only when there is load at all: the raw counts, before the rate limits
    // (an idle revision still drains to zero).
    if (dspc > 0 && stable_pods < spec.activation_scale) stable_pods = spec.activation_scale;
    if (dppc > 0 && panic_pods < spec.activation_scale) panic_pods = spec.activation_scale;
  }

  const bool over = dppc / ready_pods >= spec.panic_threshold_percentage / 100.0;
  if (over) {
    st->panicking = true;
    st->panic_time = now;  // begins or extends panic mode
  } else if (st->panicking && st->panic_time + spec.stable_window < now) {
    // The surge has made its way into the stable window.
    st->panicking = false;
    st->max_panic_pods = 0;
  }

  int desired = stable_pods;
  if (st->panicking) {
    desired = std::max(desired, panic_pods);
    st->max_panic_pods = std::max(st->max_panic_pods, desired);
    desired = st->max_panic_pods;  // never scale down while panicking
  }

  if (spec.scale_down_delay.count() > 0 && reachable) {
    // The largest count asked for within the delay window wins; an
    // unreachable revision neither records nor waits for it.
    st->delay_window.emplace_back(now, desired);
    while (!st->delay_window.empty() && st->delay_window.front().first + spec.scale_down_delay <= now) {
      st->delay_window.pop_front();
    }
    for (const auto& [t, n] : st->delay_window) desired = std::max(desired, n);
  }

  d.desired = desired;
  d.panicking = st->panicking;
  d.reachable = reachable;
  if (spec.target_burst_capacity == 0) {
    d.excess_burst_capacity = 0;
  } else if (spec.target_burst_capacity < 0) {
    d.excess_burst_capacity = -1;
  } else {
    double total = static_cast<double>(ready) * spec.TotalValue();
    d.excess_burst_capacity = static_cast<int>(std::floor(total - spec.target_burst_capacity - observed_panic));
  }
  return d;
}

namespace {
// Going to zero happens only after the grace period of continuous zeros.
int ToZeroAfterGrace(const ScaleSpec& spec, int want, int current, Clock::Duration now, DeciderState* st) {
  if (want > 0 || current == 0) {
    st->zero_pending = false;
    return want;
  }
  if (!st->zero_pending) {
    st->zero_pending = true;
    st->zero_since = now;
  }
  if (now - st->zero_since >= std::max(spec.scale_to_zero_grace, spec.scale_to_zero_retention)) {
    st->zero_pending = false;
    return 0;
  }
  return 1;  // keep one instance through the grace period
}

}  // namespace

int Bound(const ScaleSpec& spec, const Decision& decision, int current, int ready, Clock::Duration now,
          DeciderState* st) {
  int want = decision.desired;
  if (!decision.reachable) {
    if (spec.max_scale > 0) want = std::min(want, spec.max_scale);
    if (!spec.enable_scale_to_zero) want = std::max(want, 1);
    return ToZeroAfterGrace(spec, want, current, now, st);
  }
  if (!st->initialized) {
    if (ready >= spec.initial_scale) {
      st->initialized = true;
    } else {
      want = std::max(want, spec.initial_scale);
    }
  }
  if (spec.max_scale > 0) want = std::min(want, spec.max_scale);
  want = std::max(want, spec.min_scale);
  if (!spec.enable_scale_to_zero) want = std::max(want, 1);
  return ToZeroAfterGrace(spec, want, current, now, st);
}

DeciderState StartState(int ready, Clock::Duration now) {
  DeciderState st;
  if (ready > 1) {
    st.panicking = true;
    st.panic_time = now;
    st.max_panic_pods = ready;
  }
  st.initialized = ready > 0;
  return st;
}

}  // namespace ofn::scale
