// What the process backend needs of a Workload to run it (Config), and the
// environment an instance gets. Pure.
#ifndef LIBOFN_BACKENDS_PROCESS_CONFIG_H_
#define LIBOFN_BACKENDS_PROCESS_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "libofn/backend/workload.h"
#include "libofn/backends/process/options.h"
#include "libofn/common/status.h"

namespace ofn::process {

struct Config {
  std::string ns, function, revision;
  std::string command;
  std::vector<std::string> args;
  std::string working_dir;
  std::vector<std::pair<std::string, std::string>> env;  // spec env, in order
  std::string func_context;                               // FUNC_CONTEXT (JSON) without the port
  backend::Probe readiness, liveness;
  std::chrono::milliseconds start_timeout{0};
  std::chrono::milliseconds grace{0};
  int64_t memory_bytes = 0;
  int64_t cpu_millis = 0;
  std::string memory_text, cpu_text;
};

// Fails when the workload sets no command.
Result<Config> ParseConfig(const backend::Workload& w, const ProcessDriverOptions& opt);

// An instance's whole environment ("NAME=value", sorted): the host's, then
// serving.params and the container's env, then FUNC_CONTEXT (with the
// instance's port), PORT and CONTEXT_MODE.
std::vector<std::string> InstanceEnvironment(const std::vector<std::string>& host, const Config& cfg, int port);

}  // namespace ofn::process

#endif  // LIBOFN_BACKENDS_PROCESS_CONFIG_H_
