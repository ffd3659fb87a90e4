// Running one build step: a program with its output appended to the build's
// log, in its own process group (a timeout or a cancel takes down whatever
// it started, e.g. the compiler's own children). Internal to libofn/build.
#ifndef LIBOFN_BUILD_INTERNAL_RUN_H_
#define LIBOFN_BUILD_INTERNAL_RUN_H_

#include <atomic>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "libofn/common/status.h"

namespace ofn::build::internal {

struct Step {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH
  std::string dir;                // working directory
  // Set on top of this process's environment.
  std::vector<std::pair<std::string, std::string>> env;
  int log_fd = -1;  // stdout and stderr; stdin is /dev/null
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  const std::atomic<bool>* cancel = nullptr;  // polled; set: the step is killed
};

// The exit code (128 + signal when killed by one). DeadlineExceeded when
// the deadline passed, Unavailable when cancelled, NotFound when the program
// cannot be started.
Result<int> RunStep(const Step& step);

// "a b 'c d'" as one shell-quoted line, for logs.
std::string CommandLine(const std::vector<std::string>& argv);

}  // namespace ofn::build::internal

#endif  // LIBOFN_BUILD_INTERNAL_RUN_H_
