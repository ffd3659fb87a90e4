#include "libofn/spec/cron.h"

#include <ctime>
#include <vector>

#include "libofn/spec/units.h"

namespace ofn::spec {
namespace {

struct FieldRange {
  const char* name;
  int min, max;
  const char* const* names;  // names[i] is value min + i; null: none
};

constexpr const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                   "jul", "aug", "sep", "oct", "nov", "dec"};
// Day 7 is Sunday again (names cover every value of the field).
constexpr const char* kDays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"};

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (size_t start = 0;;) {
    size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

Status FieldError(const FieldRange& r, std::string_view part, const std::string& why) {
  return Status(StatusCode::kInvalidArgument,
                std::string(r.name) + " field \"" + std::string(part) + "\": " + why);
}

// A number or (case-insensitive) name of the field.
bool Value(const FieldRange& r, std::string_view text, int* out) {
  if (text.empty()) return false;
  if (r.names) {
    std::string lower;
    for (char c : text) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    for (int i = 0; i <= r.max - r.min; ++i) {
      if (lower == r.names[i]) {
        *out = r.min + i;
        return true;
      }
    }
  }
  int v = 0;
  for (char c : text) {
    if (c < '0' || c > '9' || v > 1000) return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

// Sets the bits of one field; `any` when it is "*" or "?" (without a step).
template <size_t N>
Status ParseField(const FieldRange& r, std::string_view field, std::bitset<N>* bits, bool* any) {
  for (std::string_view part : Split(field, ',')) {
    std::string_view range = part;
    int step = 1;
    if (size_t slash = part.find('/'); slash != std::string_view::npos) {
      range = part.substr(0, slash);
      FieldRange plain{r.name, 1, 1000, nullptr};
      if (!Value(plain, part.substr(slash + 1), &step) || step < 1) {
        return FieldError(r, part, "the step after '/' must be a positive number");
      }
    }
    int low = r.min, high = r.max;
    if (range == "*" || range == "?") {
      if (step == 1) *any = true;
    } else {
      std::vector<std::string_view> ends = Split(range, '-');
      if (ends.size() > 2 || !Value(r, ends[0], &low) || (ends.size() == 2 && !Value(r, ends[1], &high))) {
        return FieldError(r, part, "expected *, ?, a value, or a range a-b, each with an optional /step");
      }
      if (ends.size() == 1 && part.find('/') == std::string_view::npos) high = low;
      if (low < r.min || high > r.max) {
        return FieldError(r, part, "out of range " + std::to_string(r.min) + "-" + std::to_string(r.max));
      }
      if (low > high) return FieldError(r, part, "the range starts after it ends");
    }
    for (int v = low; v <= high; v += step) bits->set(static_cast<size_t>(v));
  }
  return Status::Ok();
}

// UTC calendar arithmetic: normalizes `tm` and returns its time.
std::time_t Normalize(std::tm* tm) {
  std::time_t t = ::timegm(tm);
  ::gmtime_r(&t, tm);
  return t;
}

}  // namespace

Result<CronSchedule> CronSchedule::Parse(std::string_view text) {
  CronSchedule s;
  s.text_ = std::string(text);
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (text.empty()) return Status(StatusCode::kInvalidArgument, "the schedule is empty");
  std::string expanded;
  if (text.front() == '@') {
    if (text.starts_with("@every ")) {
      std::string_view d = text.substr(7);
      while (!d.empty() && d.front() == ' ') d.remove_prefix(1);
      double seconds = 0;
      if (!ParseGoDuration(d, &seconds) || seconds <= 0) {
        return Status(StatusCode::kInvalidArgument,
                      "@every \"" + std::string(d) + "\": expected a positive Go duration such as 2s, 1m30s or 1h");
      }
      // Whole seconds, at least one (as Dapr's cron binding rounds).
      s.every_ = std::chrono::seconds(std::max<int64_t>(1, static_cast<int64_t>(seconds)));
      return s;
    }
    const std::pair<std::string_view, std::string_view> descriptors[] = {
        {"@yearly", "0 0 0 1 1 *"}, {"@annually", "0 0 0 1 1 *"}, {"@monthly", "0 0 0 1 * *"},
        {"@weekly", "0 0 0 * * 0"}, {"@daily", "0 0 0 * * *"},    {"@midnight", "0 0 0 * * *"},
        {"@hourly", "0 0 * * * *"}};
    for (const auto& [name, fields] : descriptors) {
      if (text == name) expanded = fields;
    }
    if (expanded.empty()) {
      return Status(StatusCode::kInvalidArgument,
                    "unknown descriptor \"" + std::string(text) +
                        "\" (known: @every <duration>, @yearly, @annually, @monthly, @weekly, @daily, @midnight, "
                        "@hourly)");
    }
    text = expanded;
  }
  std::vector<std::string_view> fields;
  for (std::string_view f : Split(text, ' ')) {
    if (!f.empty()) fields.push_back(f);
  }
  if (fields.size() == 5) fields.insert(fields.begin(), "0");
  if (fields.size() != 6) {
    return Status(StatusCode::kInvalidArgument,
                  "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, got " +
                      std::to_string(fields.size()));
  }
  bool unused = false;
  OFN_RETURN_IF_ERROR(ParseField(FieldRange{"seconds", 0, 59, nullptr}, fields[0], &s.second_, &unused));
  OFN_RETURN_IF_ERROR(ParseField(FieldRange{"minutes", 0, 59, nullptr}, fields[1], &s.minute_, &unused));
  OFN_RETURN_IF_ERROR(ParseField(FieldRange{"hours", 0, 23, nullptr}, fields[2], &s.hour_, &unused));
  OFN_RETURN_IF_ERROR(ParseField(FieldRange{"day-of-month", 1, 31, nullptr}, fields[3], &s.dom_, &s.dom_any_));
  OFN_RETURN_IF_ERROR(ParseField(FieldRange{"month", 1, 12, kMonths}, fields[4], &s.month_, &unused));
  std::bitset<8> dow;
  OFN_RETURN_IF_ERROR(ParseField(FieldRange{"day-of-week", 0, 7, kDays}, fields[5], &dow, &s.dow_any_));
  for (size_t d = 0; d < 7; ++d) s.dow_[d] = dow[d];
  if (dow[7]) s.dow_[0] = true;  // 7 is Sunday too
  return s;
}

Clock::TimePoint CronSchedule::Next(Clock::TimePoint t) const {
  using std::chrono::seconds;
  const auto whole = std::chrono::floor<seconds>(t);
  if (every()) return whole + every_;
  std::time_t at = std::chrono::duration_cast<seconds>(whole.time_since_epoch()).count() + 1;
  std::tm tm{};
  ::gmtime_r(&at, &tm);
  const int last_year = tm.tm_year + 5;
  while (tm.tm_year <= last_year) {
    if (!month_[static_cast<size_t>(tm.tm_mon + 1)]) {
      tm.tm_mon += 1;
      tm.tm_mday = 1;
      tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
      at = Normalize(&tm);
      continue;
    }
    const bool dom = dom_[static_cast<size_t>(tm.tm_mday)];
    const bool dow = dow_[static_cast<size_t>(tm.tm_wday)];
    if (!((dom_any_ || dow_any_) ? dom && dow : dom || dow)) {
      tm.tm_mday += 1;
      tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
      at = Normalize(&tm);
      continue;
    }
    if (!hour_[static_cast<size_t>(tm.tm_hour)]) {
      tm.tm_hour += 1;
      tm.tm_min = tm.tm_sec = 0;
      at = Normalize(&tm);
      continue;
    }
    if (!minute_[static_cast<size_t>(tm.tm_min)]) {
      tm.tm_min += 1;
      tm.tm_sec = 0;
      at = Normalize(&tm);
      continue;
    }
    if (!second_[static_cast<size_t>(tm.tm_sec)]) {
      tm.tm_sec += 1;
      at = Normalize(&tm);
      continue;
    }
    return Clock::TimePoint(seconds(at));
  }
  return t;
}

}  // namespace ofn::spec
