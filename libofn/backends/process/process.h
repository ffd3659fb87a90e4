// ProcessDriver: runs a Function revision as local processes — any program
// that serves HTTP on $PORT (Python, Node, a shell script, ...).
//
// It takes specs whose function container (serving.template.containers
// [name=function]) sets `command`. Each instance gets a free loopback port,
// the container's args/env/workingDir, OpenFunction's FUNC_CONTEXT, PORT and
// serving.params as environment; stdout/stderr go to a size-capped rotating
// log per revision under the log dir. Start returns once the readiness
// probe (httpGet/tcpSocket, default: TCP connect to the port) passes, and
// fails after serving.timeout (or the driver's start timeout) with the tail
// of the log. A running instance is watched by its own supervisor thread:
// liveness probe failures and crashes restart it with exponential backoff
// (capped), and repeated crashes show as CrashLoopBackOff in Health(). Memory
// and CPU limits from resources.limits use a cgroup when the machine lets
// us create one, else RLIMIT_AS for memory; Health() says what was not
// applied. The gateway proxies to Upstream(); Handle (embedders calling
// Platform::Invoke) makes an HTTP call. Thread-safe.
#ifndef LIBOFN_BACKENDS_PROCESS_PROCESS_H_
#define LIBOFN_BACKENDS_PROCESS_PROCESS_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "libofn/backend/driver.h"
#include "libofn/backends/process/options.h"
#include "libofn/common/clock.h"

namespace ofn::process {

class ProcessDriver : public backend::InstanceDriver {
 public:
  explicit ProcessDriver(ProcessDriverOptions options);
  // Stops every instance (SIGTERM, grace, SIGKILL) and waits for them.
  ~ProcessDriver() override;

  std::string_view name() const override { return "process"; }
  bool Accepts(const backend::Workload& spec) const override;
  std::string Requirement(const backend::Workload& spec) const override;
  Result<std::shared_ptr<backend::Instance>> Start(const backend::Workload& spec) override;
  // Returns at once; `done` runs on the instance's supervisor thread when
  // the readiness probe passes or the start fails.
  void StartAsync(const backend::Workload& spec, StartDone done) override;
  // The revision's log: its last `tail_lines` lines, or with 0 every kept
  // file (the rotated ones, oldest first, then the current one).
  Result<std::string> Logs(std::string_view ns, std::string_view revision, size_t tail_lines) const override;

  // Stops every instance and refuses new ones; returns at once (the
  // destructor waits). Starts still waiting for readiness fail.
  void Shutdown() override;

  const std::string& log_dir() const;
  // Live supervised processes (instances not yet fully stopped).
  int live() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace ofn::process

#endif  // LIBOFN_BACKENDS_PROCESS_PROCESS_H_
