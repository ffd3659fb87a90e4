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

}  // namespace ofn::process

#endif  // LIBOFN_BACKENDS_PROCESS_LOG_FILE_H_
