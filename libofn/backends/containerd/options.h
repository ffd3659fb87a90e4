// Options of the containerd backend (libofn/backends/containerd/), the part
// a host sets through Platform::Options::containerd. A plain value.
#ifndef LIBOFN_BACKENDS_CONTAINERD_OPTIONS_H_
#define LIBOFN_BACKENDS_CONTAINERD_OPTIONS_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "libofn/common/clock.h"

namespace ofn::containerd {

// Whether this build of libofn has the containerd backend (meson option
// `containerd`).
bool Available();

// containerd's usual socket.
inline constexpr const char* kDefaultSocket = "/run/containerd/containerd.sock";

struct ContainerdOptions {
  // containerd's gRPC socket; "" = the backend is off.
  std::string socket;
  // The containerd namespace of our images and containers.
  std::string ns = "ofn";
  // Who owns the containers: a platform adopts or removes only the
  // containers it owns (several platforms may share one containerd).
  // "" = derived from the state dir.
  std::string owner;
  // "overlayfs", or "native" (a full copy per container) where overlayfs
  // is missing; "" = overlayfs when containerd has it working, else native.
  std::string snapshotter;
  std::string runtime = "io.containerd.runc.v2";
  // Registry mirrors: registry host ("docker.io") -> endpoints
  // ("http://127.0.0.1:5000"), tried in order before the registry itself.
  std::map<std::string, std::vector<std::string>> registry_mirrors;
  // A docker config.json with registry credentials ("auths"); "" = none.
  std::string registry_config;
  // Instances' logs: <log_dir>/<namespace>/<revision>.log (as the process
  // backend's); "" = <state dir>/logs.
  std::string log_dir;
  uint64_t log_max_bytes = 10 * 1024 * 1024;
  int log_keep = 2;
  // Parent of the instances' cgroups (cgroupfs path).
  std::string cgroup_parent = "/ofn";
  // Used when serving.timeout is not set.
  std::chrono::milliseconds start_timeout{std::chrono::seconds(60)};
  // Used when the template does not set terminationGracePeriodSeconds.
  std::chrono::milliseconds grace{std::chrono::seconds(10)};
  // Crash restarts: base, 2*base, ... up to cap (as the process backend).
  std::chrono::milliseconds backoff_base{std::chrono::seconds(1)};
  std::chrono::milliseconds backoff_cap{std::chrono::seconds(10)};
  std::chrono::milliseconds backoff_reset_after{std::chrono::seconds(60)};
  // How often a starting instance is probed when its probe sets no period.
  std::chrono::milliseconds fast_probe_period{std::chrono::milliseconds(5)};
  // The supervisors' clock (deadlines, back-off); default Clock::System().
  Clock* clock = nullptr;
};

}  // namespace ofn::containerd

#endif  // LIBOFN_BACKENDS_CONTAINERD_OPTIONS_H_
