// Options of the process backend (libofn/backends/process/process.h), the
// part of it a host sets through Platform::Options::process. A plain value.
#ifndef LIBOFN_BACKENDS_PROCESS_OPTIONS_H_
#define LIBOFN_BACKENDS_PROCESS_OPTIONS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "libofn/backend/workload.h"
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
  // The supervisors' clock: start deadlines, probe periods, back-off.
  // Default Clock::System(); a test passes a ManualClock to decide when a
  // restart is due. Must outlive the driver.
  Clock* clock = nullptr;
  // Variables every instance gets besides its workload's, before them (a
  // workload's own env wins): the platform's Dapr API address and the
  // Function's token. Called at each start; may be empty.
  std::function<std::vector<std::pair<std::string, std::string>>(const backend::Workload&)> extra_env;
};

}  // namespace ofn::process

#endif  // LIBOFN_BACKENDS_PROCESS_OPTIONS_H_
