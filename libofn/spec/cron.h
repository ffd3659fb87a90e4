// CronSchedule: the `schedule` of a bindings.cron component, in the syntax
// Dapr's cron binding takes — five fields (minute hour day-of-month month
// day-of-week) with an optional leading seconds field, lists, ranges, steps,
// month and weekday names, `?` for "any", the descriptors @yearly
// @annually @monthly @weekly @daily @midnight @hourly, and `@every
// <Go duration>` (at least one second; whole seconds). Times are UTC.
//
//   auto s = ofn::spec::CronSchedule::Parse("*/5 * * * * *");  // every 5 s
//   Clock::TimePoint next = s->Next(now);                      // > now
//
// A plain value; thread-safe to share.
#ifndef LIBOFN_SPEC_CRON_H_
#define LIBOFN_SPEC_CRON_H_

#include <bitset>
#include <chrono>
#include <string>
#include <string_view>

#include "libofn/common/clock.h"
#include "libofn/common/status.h"

namespace ofn::spec {

class CronSchedule {
 public:
  // InvalidArgument naming the field and the text that is wrong.
  static Result<CronSchedule> Parse(std::string_view text);

  // The first firing strictly after `t`. For `@every d` that is t + d (on a
  // whole second); for field schedules the first matching whole second.
  // `t` itself when nothing matches within five years (Feb 30).
  Clock::TimePoint Next(Clock::TimePoint t) const;

  bool every() const { return every_.count() > 0; }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::chrono::seconds every_{0};
  std::bitset<60> second_, minute_;
  std::bitset<24> hour_;
  std::bitset<32> dom_;    // 1..31
  std::bitset<13> month_;  // 1..12
  std::bitset<7> dow_;     // 0 = Sunday
  bool dom_any_ = false, dow_any_ = false;
};

}  // namespace ofn::spec

#endif  // LIBOFN_SPEC_CRON_H_
