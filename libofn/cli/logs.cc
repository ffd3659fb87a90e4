// `ofn logs NAME [--revision R] [-f] [--tail N]`: prints the output of a
// Function's process instances from the rotating logs under the state dir
// (<state-dir>/logs/<namespace>/<revision>.log, then .1, .2, ... older).
// Without --revision, the newest revision that has a log.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "libofn/backends/process/log_file.h"
#include "libofn/cli/commands.h"

namespace ofn::cli {
namespace {

struct LogsFlags {
  std::string name;
  std::string ns = "default";
  std::string revision;
  std::string state_dir = ".ofn";
  bool follow = false;
  int tail = -1;
};

// Revision log names of `fn` in `dir`, oldest first ("hello-00002").
std::vector<std::string> RevisionLogs(const std::string& dir, const std::string& fn) {
  std::vector<std::string> out;
  std::error_code ec;
  // <fn>-NNNNN.log
  auto is_log = [&](const std::string& file) {
    if (file.size() != fn.size() + 10 || file.compare(0, fn.size(), fn) != 0 || file[fn.size()] != '-' ||
        !file.ends_with(".log")) {
      return false;
    }
    for (size_t i = fn.size() + 1; i < fn.size() + 6; ++i) {
      if (file[i] < '0' || file[i] > '9') return false;
    }
    return true;
  };
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string file = e.path().filename().string();
    if (is_log(file)) out.push_back(file.substr(0, file.size() - 4));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string ReadAll(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return "";
  std::string data;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
  std::fclose(f);
  return data;
}

int Run(const LogsFlags& flags) {
  std::string dir = flags.state_dir + "/logs/" + flags.ns;
  std::string revision = flags.revision;
  if (revision.empty()) {
    std::vector<std::string> revs = RevisionLogs(dir, flags.name);
    if (revs.empty()) {
      std::cerr << "ofn logs: no logs of function " << flags.ns << "/" << flags.name << " under " << dir
                << " (only process instances write logs)\n";
      return 1;
    }
    revision = revs.back();
  }
  std::string path = dir + "/" + revision + ".log";
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    std::cerr << "ofn logs: no log for revision " << revision << " (" << path << ")\n";
    return 1;
  }
  if (flags.tail >= 0) {
    std::string tail = process::TailOfLog(path, static_cast<size_t>(flags.tail), 64 * 1024 * 1024);
    std::cout << tail;
  } else {
    std::vector<std::string> files;
    for (int i = 1;; ++i) {
      std::string rotated = path + "." + std::to_string(i);
      if (::stat(rotated.c_str(), &st) != 0) break;
      files.insert(files.begin(), rotated);
    }
    files.push_back(path);
    for (const std::string& f : files) std::cout << ReadAll(f);
  }
  std::cout.flush();
  if (!flags.follow) return 0;
  // Follow: print what is appended; start over when the file is rotated.
  ::stat(path.c_str(), &st);
  ino_t inode = st.st_ino;
  off_t offset = st.st_size;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (::stat(path.c_str(), &st) != 0) continue;
    if (st.st_ino != inode || st.st_size < offset) {
      inode = st.st_ino;
      offset = 0;
    }
    if (st.st_size == offset) continue;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) continue;
    std::fseek(f, offset, SEEK_SET);
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
      std::cout.write(buf, static_cast<std::streamsize>(n));
      offset += static_cast<off_t>(n);
    }
    std::fclose(f);
    std::cout.flush();
  }
}

}  // namespace

void AddLogsCommand(CLI::App& app) {
  auto flags = std::make_shared<LogsFlags>();
  auto* cmd = app.add_subcommand("logs", "Print the output of a function's process instances");
  cmd->add_option("NAME", flags->name, "function name")->required();
  cmd->add_option("-n,--namespace", flags->ns, "namespace")->capture_default_str();
  cmd->add_option("--revision", flags->revision, "revision (default: the newest with a log)");
  cmd->add_flag("-f,--follow", flags->follow, "keep printing what the instances write");
  cmd->add_option("--tail", flags->tail, "only the last N lines (-1: all)")->capture_default_str();
  cmd->add_option("--state-dir", flags->state_dir, "state dir of the `ofn serve`")->capture_default_str();
  cmd->callback([flags] { ExitCode() = Run(*flags); });
}

}  // namespace ofn::cli
