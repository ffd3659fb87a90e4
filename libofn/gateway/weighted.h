// WeightedSlots: an exact weighted choice. Weights are apportioned to 100
// slots by largest remainder and the slots visited in an interleaved order,
// so every 100 picks split exactly by weight (50/50 gives 50 and 50, 90/10
// gives 90 and 10) and the shares alternate rather than come in runs.
// Used for revision traffic splits and for a route rule's backendRefs.
// Thread-safe: Pick is lock-free.
#ifndef LIBOFN_GATEWAY_WEIGHTED_H_
#define LIBOFN_GATEWAY_WEIGHTED_H_

#include <atomic>
#include <cstdint>
#include <vector>

namespace ofn::gateway {

class WeightedSlots {
 public:
  // Negative weights count as 0.
  explicit WeightedSlots(const std::vector<int>& weights);
  WeightedSlots(const WeightedSlots&) = delete;
  WeightedSlots& operator=(const WeightedSlots&) = delete;

  // The index of the next choice; -1 when every weight is 0.
  int Pick() const;

 private:
  int slots_[100];
  mutable std::atomic<uint64_t> counter_{0};
};

}  // namespace ofn::gateway

#endif  // LIBOFN_GATEWAY_WEIGHTED_H_
