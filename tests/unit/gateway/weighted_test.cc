// WeightedSlots: exact shares over every 100 picks.
#include "libofn/gateway/weighted.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace ofn::gateway {
namespace {

std::map<int, int> Count(const WeightedSlots& w, int n) {
  std::map<int, int> out;
  for (int i = 0; i < n; ++i) ++out[w.Pick()];
  return out;
}

TEST(WeightedSlotsTest, EveryHundredPicksSplitExactly) {
  struct Case {
    std::vector<int> weights;
    std::map<int, int> per_hundred;
  } cases[] = {
      {{50, 50}, {{0, 50}, {1, 50}}},
      {{1, 1}, {{0, 50}, {1, 50}}},  // weights are relative
      {{80, 20}, {{0, 80}, {1, 20}}},
      {{100, 0}, {{0, 100}}},
      {{1, 1, 1}, {{0, 34}, {1, 33}, {2, 33}}},  // largest remainder, the first wins the tie
      {{0, -3, 5}, {{2, 100}}},
      {{0, 0}, {{-1, 100}}},  // nothing to pick
      {{}, {{-1, 100}}},
  };
  for (const Case& c : cases) {
    WeightedSlots w(c.weights);
    EXPECT_EQ(Count(w, 100), c.per_hundred);
    // And again for the next hundred.
    EXPECT_EQ(Count(w, 100), c.per_hundred);
  }
}

TEST(WeightedSlotsTest, OneTargetWithAllTheWeightLeavesTheSharedPositionAlone) {
  // The position is for splits: one that gives everything to one target
  // (weights that round to it too) never moves it, so a split that takes
  // its place with the same counter starts where the last shared one was.
  auto counter = std::make_shared<std::atomic<uint64_t>>(7);
  for (const std::vector<int>& weights : std::vector<std::vector<int>>{{0, 100}, {1000, 1}, {5}}) {
    WeightedSlots w(weights, counter);
    const int expected = weights.size() == 2 && weights[1] == 100 ? 1 : 0;
    EXPECT_EQ(Count(w, 100), (std::map<int, int>{{expected, 100}}));
  }
  EXPECT_EQ(counter->load(), 7u);
  WeightedSlots shared({50, 50}, counter);
  EXPECT_EQ(Count(shared, 100), (std::map<int, int>{{0, 50}, {1, 50}}));
  EXPECT_EQ(counter->load(), 107u);
}

TEST(WeightedSlotsTest, SharesInterleaveInsteadOfComingInRuns) {
  WeightedSlots w({50, 50});
  int longest = 0, run = 0, last = -2;
  for (int i = 0; i < 100; ++i) {
    int p = w.Pick();
    run = p == last ? run + 1 : 1;
    last = p;
    longest = std::max(longest, run);
  }
  EXPECT_LE(longest, 3);
}

}  // namespace
}  // namespace ofn::gateway
