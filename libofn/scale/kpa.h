// The KPA decider: Knative's autoscaling algorithm as a pure function of the
// scale spec, the observed metric windows, the ready instance count and now.
// The little memory the algorithm has (when panic mode began, the most pods
// asked for while panicking, the scale-down-delay window, when the count
// first dropped to zero) is passed in and out explicitly as DeciderState.
//
//   stable = ceil(stable_metric / target), panic = ceil(panic_metric / target)
//   each clamped to [floor(ready / max_scale_down_rate), ceil(ready × max_scale_up_rate)]
//   panic starts when panic / max(ready, 1) >= panic threshold, and ends one
//   stable window after the last tick over the threshold; while panicking the
//   count never goes down.
//
// Bound() then applies what Knative's scaler does around the decider:
// initial scale until the revision was first ready, min/max scale, and the
// scale-to-zero grace period.
#ifndef LIBOFN_SCALE_KPA_H_
#define LIBOFN_SCALE_KPA_H_

#include <utility>

#include "libofn/common/clock.h"
#include "libofn/common/fifo.h"
#include "libofn/scale/options.h"

namespace ofn::scale {

struct DeciderState {
  bool panicking = false;
  Clock::Duration panic_time{0};  // last tick over the panic threshold
  int max_panic_pods = 0;
  Fifo<std::pair<Clock::Duration, int>> delay_window;  // (time, desired), scale-down-delay
  bool initialized = false;       // reached initial scale once
  bool zero_pending = false;      // the decider asked for zero since zero_since
  Clock::Duration zero_since{0};
};

struct Decision {
  int desired = 0;
  int excess_burst_capacity = 0;  // < 0: keep the activator in the path
  bool panicking = false;
  double stable_value = 0, panic_value = 0;
  bool reachable = true;  // as given to Decide
};

// One tick of the decider. `reachable`: the revision has traffic routed to
// it (an unreachable one may drop to zero at once).
Decision Decide(const ScaleSpec& spec, double observed_stable, double observed_panic, int ready,
                bool reachable, Clock::Duration now, DeciderState* state);

// The instance count to run: initial scale, min/max and scale-to-zero grace
// applied to a decision. Min and initial scale hold only while the revision
// is reachable (Knative's rule): one without traffic goes to zero whatever
// its minReplicas. `current` is the count asked for before this tick.
int Bound(const ScaleSpec& spec, const Decision& decision, int current, int ready, Clock::Duration now,
          DeciderState* state);

// The state a decider starts in, given the instances already ready (a
// restarted platform, a revision re-registered): above one it starts in
// panic mode holding that count, as Knative's autoscaler does, so the lost
// metric history does not scale the revision down before the windows refill.
DeciderState StartState(int ready, Clock::Duration now);

}  // namespace ofn::scale

#endif  // LIBOFN_SCALE_KPA_H_
