// Logging with levels and an optional JSON-lines mode.
//
//   OFN_LOG(kInfo) << "applied " << name;
//
// Thread-safe: lines from different threads never interleave.
#ifndef LIBOFN_COMMON_LOG_H_
#define LIBOFN_COMMON_LOG_H_

#include <functional>
#include <sstream>
#include <string>
#include <string_view>

namespace ofn {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kOff = 4 };

struct LogOptions {
  LogLevel level = LogLevel::kInfo;
  bool json = false;  // one JSON object per line: {"ts","level","msg","file","line"}
  // Where lines go; default writes to stderr. The sink receives one full line
  // without the trailing newline.
  std::function<void(std::string_view line)> sink;
};

void SetLogOptions(LogOptions options);
bool LogEnabled(LogLevel level);
std::string_view LogLevelName(LogLevel level);
// Parses "debug", "info", "warning"/"warn", "error", "off".
bool ParseLogLevel(std::string_view text, LogLevel* out);

namespace internal {
class LogLine {
 public:
  LogLine(LogLevel level, const char* file, int line);
  ~LogLine();
  std::ostream& stream() { return os_; }

 private:
  LogLevel level_;
  const char* file_;
  int line_;
  std::ostringstream os_;
};
}  // namespace internal

}  // namespace ofn

#define OFN_LOG(level)                                     \
  if (!::ofn::LogEnabled(::ofn::LogLevel::level)) {        \
  } else                                                   \
    ::ofn::internal::LogLine(::ofn::LogLevel::level, __FILE__, __LINE__).stream()

#endif  // LIBOFN_COMMON_LOG_H_
