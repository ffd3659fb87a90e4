#include "libofn/common/log.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "libofn/common/clock.h"
#include "libofn/common/json_text.h"

namespace ofn {
namespace {

struct LogState {
  std::mutex mu;
  LogOptions options;
  std::atomic<int> level{static_cast<int>(LogLevel::kInfo)};
};

LogState& State() {
  static LogState* state = new LogState();  // never destroyed: logging works during exit
  return *state;
}

const char* BaseName(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

}  // namespace

void SetLogOptions(LogOptions options) {
  LogState& s = State();
  std::lock_guard<std::mutex> lock(s.mu);
  s.level.store(static_cast<int>(options.level));
  s.options = std::move(options);
}

bool LogEnabled(LogLevel level) {
  return level != LogLevel::kOff && static_cast<int>(level) >= State().level.load();
}

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
    case LogLevel::kOff: return "off";
  }
  return "unknown";
}

bool ParseLogLevel(std::string_view text, LogLevel* out) {
  if (text == "debug") *out = LogLevel::kDebug;
  else if (text == "info") *out = LogLevel::kInfo;
  else if (text == "warning" || text == "warn") *out = LogLevel::kWarning;
  else if (text == "error") *out = LogLevel::kError;
  else if (text == "off") *out = LogLevel::kOff;
  else return false;
  return true;
}

namespace internal {

LogLine::LogLine(LogLevel level, const char* file, int line)
    : level_(level), file_(BaseName(file)), line_(line) {}

LogLine::~LogLine() {
  LogState& s = State();
  std::string ts = FormatRfc3339(Clock::System()->Now());
  std::string msg = os_.str();
  std::lock_guard<std::mutex> lock(s.mu);
  std::string out;
  if (s.options.json) {
    out = "{\"ts\":" + JsonQuote(ts) + ",\"level\":" + JsonQuote(LogLevelName(level_)) +
          ",\"msg\":" + JsonQuote(msg) + ",\"file\":" + JsonQuote(file_) +
          ",\"line\":" + std::to_string(line_) + "}";
  } else {
    out = ts + " " + std::string(LogLevelName(level_)) + " " + file_ + ":" +
          std::to_string(line_) + "] " + msg;
  }
  if (s.options.sink) {
    s.options.sink(out);
  } else {
    out += '\n';
    std::fwrite(out.data(), 1, out.size(), stderr);
  }
}

}  // namespace internal
}  // namespace ofn
