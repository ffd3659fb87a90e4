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
#include "libofn/common/clock.h"

namespace ofn::process {

struct ProcessDriverOptions {
  // Logs go to <log_dir>/<namespace>/<revision>.log; "" = a temp dir.
  std::string log_dir;
  uint64_t log_max_bytes = 10 * 1024 * 1024;
  int log_keep = 2;  // rotated files kept besides the current one
  // Used when serving.timeout is not set.
  std::chrono::milliseconds start_timeout{std::chrono::seconds(60)};
  // Used when the template does not set terminationGracePeriodSeconds.
  std::chrono::milliseconds grace{std::chrono::seconds(10)};
  // Crash restarts wait base, 2*base, 4*base, ... up to cap; a run of
  // reset_after without a crash starts over at base.
  std::chrono::milliseconds backoff_base{std::chrono::seconds(1)};
  std::chrono::milliseconds backoff_cap{std::chrono::seconds(10)};
  std::chrono::milliseconds backoff_reset_after{std::chrono::seconds(60)};
  // How often a starting instance is probed when the probe sets no period.
  std::chrono::milliseconds fast_probe_period{std::chrono::milliseconds(20)};
  // Try cgroups for resources.limits (else rlimits only).
  bool use_cgroups = true;
};

class ProcessDriver : public backend::InstanceDriver {
 public:
  explicit ProcessDriver(ProcessDriverOptions options);
  // Stops every instance (SIGTERM, grace, SIGKILL) and waits for them.
  ~ProcessDriver() override;

  std::string_view name() const override { return "process"; }
  bool Accepts(const backend::InstanceSpec& spec) const override;
  Result<std::shared_ptr<backend::Instance>> Start(const backend::InstanceSpec& spec) override;

  // Stops every instance and refuses new ones; returns at once (the
  // destructor waits). Starts still waiting for readiness fail.
  void Shutdown();

  const std::string& log_dir() const;
  // Live supervised processes (instances not yet fully stopped).
  int live() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Kubernetes quantities: "128Mi" -> bytes, "500m" -> millicores. -1 when
// the text is not a quantity.
int64_t ParseMemoryQuantity(std::string_view text);
int64_t ParseCpuMillis(std::string_view text);

}  // namespace ofn::process

#endif  // LIBOFN_BACKENDS_PROCESS_PROCESS_H_
