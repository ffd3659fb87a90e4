#include "libofn/common/fifo.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

namespace ofn {
namespace {

std::vector<int> Items(const Fifo<int>& f) { return std::vector<int>(f.begin(), f.end()); }

TEST(FifoTest, KeepsOrderThroughDropsAndCompaction) {
  Fifo<int> f;
  EXPECT_TRUE(f.empty());
  for (int i = 0; i < 100; ++i) f.push_back(i);
  for (int i = 0; i < 70; ++i) {  // past the compaction point
    ASSERT_EQ(f.front(), i);
    f.pop_front();
  }
  EXPECT_EQ(f.size(), 30u);
  EXPECT_EQ(f.front(), 70);
  EXPECT_EQ(f.back(), 99);
  f.emplace_back(100);
  std::vector<int> want(31);
  for (int i = 0; i < 31; ++i) want[i] = 70 + i;
  EXPECT_EQ(Items(f), want);
}

TEST(FifoTest, InsertEraseAndEraseIfWorkOnWhatIsLeft) {
  Fifo<int> f;
  for (int i : {1, 2, 3, 5, 6}) f.push_back(i);
  f.pop_front();
  f.insert(std::lower_bound(f.begin(), f.end(), 4), 4);
  EXPECT_EQ(Items(f), (std::vector<int>{2, 3, 4, 5, 6}));
  f.erase(f.begin() + 1);
  EXPECT_EQ(Items(f), (std::vector<int>{2, 4, 5, 6}));
  f.erase_if([](int v) { return v % 2 == 0; });
  EXPECT_EQ(Items(f), (std::vector<int>{5}));
}

TEST(FifoTest, PoppingLetsGoOfTheValueAndEmptyingResets) {
  Fifo<std::shared_ptr<int>> f;
  auto held = std::make_shared<int>(7);
  f.push_back(held);
  f.push_back(std::make_shared<int>(8));
  EXPECT_EQ(held.use_count(), 2);
  f.pop_front();
  EXPECT_EQ(held.use_count(), 1);  // not kept alive by the dropped slot
  f.pop_front();
  EXPECT_TRUE(f.empty());
  EXPECT_EQ(f.begin(), f.end());
  Fifo<std::shared_ptr<int>> other;
  other.push_back(held);
  f.swap(other);
  EXPECT_EQ(f.size(), 1u);
  EXPECT_TRUE(other.empty());
  f.clear();
  EXPECT_EQ(held.use_count(), 1);
}

}  // namespace
}  // namespace ofn
