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
