// RotatingLog: an instance's stdout/stderr on disk, capped in size.
//
// `path` is written until it would pass max_bytes; then path.N-1 -> path.N,
// ..., path -> path.1, and a fresh path is started, so at most
// (keep + 1) * max_bytes bytes are kept. Output is written in whole lines
// per writer (a writer's partial last line waits for its newline, or for
// Flush), so instances sharing one log never split each other's lines.
// Thread-safe.
#ifndef LIBOFN_BACKENDS_PROCESS_LOG_FILE_H_
#define LIBOFN_BACKENDS_PROCESS_LOG_FILE_H_

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

#include "libofn/common/status.h"

namespace ofn::process {

class RotatingLog {
 public:
  RotatingLog(std::string path, uint64_t max_bytes, int keep);
  ~RotatingLog();
  RotatingLog(const RotatingLog&) = delete;
  RotatingLog& operator=(const RotatingLog&) = delete;

  const std::string& path() const { return path_; }
  // Appends complete lines. A line longer than max_bytes is cut.
  void Write(std::string_view lines);

  // The last `max_lines` lines (at most max_bytes bytes) of the current file
  // and, when it is short, of the one before.
  std::string Tail(size_t max_lines, size_t max_bytes) const;

 private:
  void RotateLocked();

  const std::string path_;
  const uint64_t max_bytes_;
  const int keep_;
  mutable std::mutex mu_;
  std::FILE* file_ = nullptr;
  uint64_t size_ = 0;
};

// The last `max_lines` lines of a file (reads at most max_bytes from its end).
std::string TailOfFile(const std::string& path, size_t max_lines, size_t max_bytes);
// The same over a rotating log: `path`, and `path`.1 when `path` is short.
std::string TailOfLog(const std::string& path, size_t max_lines, size_t max_bytes);

// A revision's log as `ofn logs` shows it: its last `tail_lines` lines, or
// with 0 every kept file (the rotated ones, oldest first, then the current
// one). NotFound when there is none; `what` names it in that error.
Result<std::string> ReadLog(const std::string& path, size_t tail_lines, std::string_view what);

// Rotation for a log that other processes append to (containerd's shims
// hold it open with O_APPEND): when it is over `max_bytes`, its content is
// copied to path.1 (older files shifted, at most `keep`) and it is
// truncated in place. Lines written between the copy and the truncation
// are lost. Returns whether it rotated.
bool RotateByCopy(const std::string& path, uint64_t max_bytes, int keep);

}  // namespace ofn::process

#endif  // LIBOFN_BACKENDS_PROCESS_LOG_FILE_H_
