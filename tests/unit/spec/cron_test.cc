// CronSchedule: Dapr's cron syntax and the firing times it gives.
#include "libofn/spec/cron.h"

#include <gtest/gtest.h>

namespace ofn::spec {
namespace {

using std::chrono::seconds;

Clock::TimePoint At(const char* rfc3339) {
  Clock::TimePoint t;
  EXPECT_TRUE(ParseRfc3339(rfc3339, &t)) << rfc3339;
  return t;
}

std::string NextOf(const char* schedule, const char* from) {
  auto s = CronSchedule::Parse(schedule);
  EXPECT_TRUE(s.ok()) << schedule << ": " << s.status().ToString();
  return s.ok() ? FormatRfc3339(s->Next(At(from))) : "";
}

TEST(CronTest, EveryIsADurationFromTheLastFiringOnWholeSeconds) {
  auto s = CronSchedule::Parse("@every 2s");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->every());
  EXPECT_EQ(s->Next(At("2026-12-01T10:00:00Z") + std::chrono::milliseconds(500)), At("2026-12-01T10:00:02Z"));
  EXPECT_EQ(NextOf("@every 1m30s", "2026-12-01T10:00:00Z"), "2026-12-01T10:01:30Z");
  // Under a second counts as one, as Dapr rounds.
  EXPECT_EQ(NextOf("@every 300ms", "2026-12-01T10:00:00Z"), "2026-12-01T10:00:01Z");
}

TEST(CronTest, FieldSchedulesWithAndWithoutSeconds) {
  EXPECT_EQ(NextOf("*/5 * * * * *", "2026-12-01T12:00:03Z"), "2026-12-01T12:00:05Z");
  EXPECT_EQ(NextOf("0 30 * * * *", "2026-12-01T12:10:00Z"), "2026-12-01T12:30:00Z");
  EXPECT_EQ(NextOf("0 30 * * * *", "2026-12-01T12:30:00Z"), "2026-12-01T13:30:00Z");  // strictly after
  EXPECT_EQ(NextOf("15 * * * *", "2026-12-01T12:20:00Z"), "2026-12-01T13:15:00Z");    // five fields: minutes first
  EXPECT_EQ(NextOf("0 0 * * 1", "2026-12-01T12:00:00Z"), "2026-12-07T00:00:00Z");     // Monday midnight
  EXPECT_EQ(NextOf("0 0 12 * JAN-MAR MON", "2026-12-01T12:00:00Z"), "2027-01-04T12:00:00Z");
  EXPECT_EQ(NextOf("0 0 0 1,15 * ?", "2026-12-02T00:00:00Z"), "2026-12-15T00:00:00Z");
  EXPECT_EQ(NextOf("@daily", "2026-12-31T23:59:59Z"), "2027-01-01T00:00:00Z");
  EXPECT_EQ(NextOf("@hourly", "2026-12-01T12:00:00Z"), "2026-12-01T13:00:00Z");
  EXPECT_EQ(NextOf("0 0 0 29 2 *", "2026-12-01T00:00:00Z"), "2028-02-29T00:00:00Z");  // leap day
  EXPECT_EQ(NextOf("0 0 0 * * 7", "2026-12-01T00:00:00Z"), "2026-12-06T00:00:00Z");   // 7 is Sunday too
}

TEST(CronTest, RestrictedDayOfMonthAndDayOfWeekMatchEither) {
  // The 13th or a Friday, whichever comes first (2026-12-04 is a Friday).
  EXPECT_EQ(NextOf("0 0 0 13 * FRI", "2026-12-01T00:00:00Z"), "2026-12-04T00:00:00Z");
  EXPECT_EQ(NextOf("0 0 0 13 * FRI", "2026-12-11T00:00:00Z"), "2026-12-13T00:00:00Z");
  // With day-of-week "*", only the day of the month decides.
  EXPECT_EQ(NextOf("0 0 0 13 * *", "2026-12-14T00:00:00Z"), "2027-01-13T00:00:00Z");
}

TEST(CronTest, AScheduleThatNeverMatchesGivesTheTimeBack) {
  auto s = CronSchedule::Parse("0 0 0 30 2 *");  // Feb 30
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->Next(At("2026-12-01T00:00:00Z")), At("2026-12-01T00:00:00Z"));
}

TEST(CronTest, ErrorsNameTheFieldAndText) {
  auto error = [](const char* text) {
    auto s = CronSchedule::Parse(text);
    return s.ok() ? std::string("ok") : s.status().message();
  };
  EXPECT_EQ(error(""), "the schedule is empty");
  EXPECT_EQ(error("61 * * * *"), "minutes field \"61\": out of range 0-59");
  EXPECT_EQ(error("* * *"), "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds "
                            "first, got 3");
  EXPECT_EQ(error("0 0 5-1 * * *"), "hours field \"5-1\": the range starts after it ends");
  EXPECT_EQ(error("0 0 0 * FOO *"), "month field \"FOO\": expected *, ?, a value, or a range a-b, each with an "
                                    "optional /step");
  EXPECT_EQ(error("*/0 * * * * *"), "seconds field \"*/0\": the step after '/' must be a positive number");
  EXPECT_NE(error("@every 0s").find("expected a positive Go duration"), std::string::npos);
  EXPECT_NE(error("@fortnightly").find("unknown descriptor \"@fortnightly\""), std::string::npos);
}

}  // namespace
}  // namespace ofn::spec
