// WeightedSlots: an exact weighted choice. Weights are apportioned to 100
// slots by largest remainder and the slots visited in an interleaved order,
// so every 100 picks split exactly by weight (50/50 gives 50 and 50, 90/10
// gives 90 and 10) and the shares alternate rather than come in runs.
// Used for revision traffic splits and for a route rule's backendRefs.
// The position in the sequence can be shared (`counter`), so that a split
// rebuilt with the same weights (a new route table) goes on where the old
// one was and stays exact across the change.
// One target with all the weight (the usual split: 100 % to one revision)
// needs neither the slots nor the position: it is kept as that index alone
// (no 400-byte table per Function, no shared counter bumped per request).
// Thread-safe: Pick is lock-free.
#ifndef LIBOFN_GATEWAY_WEIGHTED_H_
#define LIBOFN_GATEWAY_WEIGHTED_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace ofn::gateway {

class WeightedSlots {
 public:
  using Counter = std::shared_ptr<std::atomic<uint64_t>>;
  // Negative weights count as 0. Without a counter, it has its own.
  explicit WeightedSlots(const std::vector<int>& weights, Counter counter = nullptr);
  WeightedSlots(const WeightedSlots&) = delete;
  WeightedSlots& operator=(const WeightedSlots&) = delete;

  // The index of the next choice; -1 when every weight is 0.
  int Pick() const;

 private:
  int only_ = -1;                  // without slots: the index every pick gives
  std::unique_ptr<int[]> slots_;   // 100, when the weight is shared
  Counter counter_;                // with slots
};

}  // namespace ofn::gateway

#endif  // LIBOFN_GATEWAY_WEIGHTED_H_
