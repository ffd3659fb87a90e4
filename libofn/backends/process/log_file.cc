#include "libofn/backends/process/log_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

namespace ofn::process {
namespace {

// Log files hold whatever functions print: owner-only.
std::FILE* OpenPrivate(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return nullptr;
  (void)::fchmod(fd, 0600);
  std::FILE* f = ::fdopen(fd, "a");
  if (!f) ::close(fd);
  return f;
}

// Creates the missing directories of `dir` with mode 0700.
void MakePrivateDirs(const std::filesystem::path& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) return;
  MakePrivateDirs(dir.parent_path());
  ::mkdir(dir.c_str(), 0700);
}

}  // namespace

RotatingLog::RotatingLog(std::string path, uint64_t max_bytes, int keep)
    : path_(std::move(path)), max_bytes_(std::max<uint64_t>(max_bytes, 1024)), keep_(std::max(keep, 0)) {
  MakePrivateDirs(std::filesystem::path(path_).parent_path());
  file_ = OpenPrivate(path_);
  struct stat st;
  if (file_ && ::stat(path_.c_str(), &st) == 0) size_ = static_cast<uint64_t>(st.st_size);
}

RotatingLog::~RotatingLog() {
  if (file_) std::fclose(file_);
}

void RotatingLog::RotateLocked() {
  if (file_) std::fclose(file_);
  file_ = nullptr;
  std::error_code ec;
  if (keep_ == 0) {
    std::filesystem::remove(path_, ec);
  } else {
    std::filesystem::remove(path_ + "." + std::to_string(keep_), ec);
    for (int i = keep_ - 1; i >= 1; --i) {
      std::filesystem::rename(path_ + "." + std::to_string(i), path_ + "." + std::to_string(i + 1), ec);
    }
    std::filesystem::rename(path_, path_ + ".1", ec);
  }
  file_ = OpenPrivate(path_);
  size_ = 0;
}

void RotatingLog::Write(std::string_view lines) {
  std::lock_guard<std::mutex> lock(mu_);
  while (!lines.empty()) {
    size_t nl = lines.find('\n');
    std::string_view line = lines.substr(0, nl == std::string_view::npos ? lines.size() : nl + 1);
    lines.remove_prefix(line.size());
    if (line.size() > max_bytes_) line = line.substr(0, max_bytes_);
    if (size_ > 0 && size_ + line.size() > max_bytes_) RotateLocked();
    if (!file_) return;
    std::fwrite(line.data(), 1, line.size(), file_);
    size_ += line.size();
  }
  if (file_) std::fflush(file_);
}

std::string RotatingLog::Tail(size_t max_lines, size_t max_bytes) const {
  std::lock_guard<std::mutex> lock(mu_);
  return TailOfLog(path_, max_lines, max_bytes);
}

std::string TailOfLog(const std::string& path, size_t max_lines, size_t max_bytes) {
  std::string tail = TailOfFile(path, max_lines, max_bytes);
  size_t lines = static_cast<size_t>(std::count(tail.begin(), tail.end(), '\n'));
  if (lines < max_lines && tail.size() < max_bytes) {
    tail = TailOfFile(path + ".1", max_lines - lines, max_bytes - tail.size()) + tail;
  }
  return tail;
}

std::string TailOfFile(const std::string& path, size_t max_lines, size_t max_bytes) {
  std::FILE* f = std::fopen(path.c_str(), "rbe");
  if (!f) return "";
  std::fseek(f, 0, SEEK_END);
  long size = std::ftell(f);
  long start = std::max<long>(0, size - static_cast<long>(max_bytes));
  std::fseek(f, start, SEEK_SET);
  std::string data(static_cast<size_t>(size - start), '\0');
  size_t got = std::fread(data.data(), 1, data.size(), f);
  std::fclose(f);
  data.resize(got);
  if (start > 0) {  // drop the cut first line
    size_t nl = data.find('\n');
    data = nl == std::string::npos ? "" : data.substr(nl + 1);
  }
  // Keep the last max_lines lines (a final line without newline counts).
  size_t count = 0;
  size_t pos = data.size();
  if (pos > 0 && data[pos - 1] == '\n') --pos;
  while (pos > 0) {
    size_t nl = data.rfind('\n', pos - 1);
    ++count;
    if (count == max_lines) {
      return nl == std::string::npos ? data : data.substr(nl + 1);
    }
    if (nl == std::string::npos) break;
    pos = nl;
  }
  return max_lines == 0 ? "" : data;
}

Result<std::string> ReadLog(const std::string& path, size_t tail_lines, std::string_view what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status(StatusCode::kNotFound, "no log for " + std::string(what));
  if (tail_lines > 0) return TailOfLog(path, tail_lines, size_t{64} << 20);
  std::vector<std::string> files;
  for (int i = 1;; ++i) {
    std::string rotated = path + "." + std::to_string(i);
    if (::stat(rotated.c_str(), &st) != 0) break;
    files.insert(files.begin(), rotated);
  }
  files.push_back(path);
  std::string out;
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    out.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return out;
}

bool RotateByCopy(const std::string& path, uint64_t max_bytes, int keep) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) <= max_bytes) return false;
  std::error_code ec;
  if (keep > 0) {
    std::filesystem::remove(path + "." + std::to_string(keep), ec);
    for (int i = keep - 1; i >= 1; --i) {
      std::filesystem::rename(path + "." + std::to_string(i), path + "." + std::to_string(i + 1), ec);
    }
    std::filesystem::copy_file(path, path + ".1", std::filesystem::copy_options::overwrite_existing, ec);
  }
  ::truncate(path.c_str(), 0);
  return true;
}

}  // namespace ofn::process
