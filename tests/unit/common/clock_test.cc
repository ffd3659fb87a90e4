#include "libofn/common/clock.h"

#include <gtest/gtest.h>

namespace ofn {
namespace {

TEST(ClockTest, ManualClockMovesOnlyWhenTold) {
  ManualClock c(Clock::TimePoint(std::chrono::seconds(1000)));
  auto t0 = c.Now();
  auto m0 = c.Monotonic();
  EXPECT_EQ(c.Now(), t0);
  c.Advance(std::chrono::milliseconds(1500));
  EXPECT_EQ(c.Now() - t0, std::chrono::milliseconds(1500));
  EXPECT_EQ(c.Monotonic() - m0, std::chrono::milliseconds(1500));
  c.Set(Clock::TimePoint(std::chrono::seconds(2000)));
  EXPECT_EQ(c.Monotonic() - m0, std::chrono::seconds(1000));
}

TEST(ClockTest, Rfc3339) {
  EXPECT_EQ(FormatRfc3339(Clock::TimePoint(std::chrono::seconds(0))), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(Clock::TimePoint(std::chrono::seconds(1795338840))), "2026-11-22T09:14:00Z");
}

TEST(ClockTest, SystemClockAdvances) {
  Clock* c = Clock::System();
  auto a = c->Monotonic();
  auto b = c->Monotonic();
  EXPECT_LE(a, b);
  EXPECT_GT(c->Now().time_since_epoch().count(), 0);
}

}  // namespace
}  // namespace ofn
