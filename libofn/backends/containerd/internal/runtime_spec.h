// The OCI runtime spec (config.json) of a function container, made by
// libofn from the workload and its image config: the process (Kubernetes'
// command/args over the image's Entrypoint/Cmd, env, working dir, user),
// the default Linux container (namespaces, mounts, masked paths,
// capabilities) on the host's network, and resources.limits as cgroup
// limits. Pure; internal to the containerd backend.
#ifndef LIBOFN_BACKENDS_CONTAINERD_INTERNAL_RUNTIME_SPEC_H_
#define LIBOFN_BACKENDS_CONTAINERD_INTERNAL_RUNTIME_SPEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "libofn/backend/workload.h"
#include "libofn/backends/containerd/oci.h"
#include "libofn/common/status.h"

namespace ofn::containerd::internal {

struct ContainerProcess {
  std::vector<std::string> args;
  std::vector<std::string> env;  // "NAME=value"
  std::string cwd = "/";
  uint32_t uid = 0, gid = 0;
};

// The process of an instance listening on `port`: the workload's command
// (else the image's Entrypoint) and args (else, without a command, the
// image's Cmd); the image's env, then serving.params and the container's
// env, then PORT, FUNC_CONTEXT (with the port) and CONTEXT_MODE. A user
// must be numeric ("uid[:gid]"): a name would need the image's /etc/passwd,
// which is not read; the error says so.
Result<ContainerProcess> MakeProcess(const backend::Workload& w, const ImageConfig& image, int port);

struct RuntimeSpecInput {
  std::string hostname;
  ContainerProcess process;
  bool readonly_rootfs = false;
  int64_t memory_bytes = 0;  // 0: no limit
  int64_t cpu_millis = 0;    // 0: no limit
  std::string cgroups_path;  // "/ofn/<container id>"
  // RLIMIT_NOFILE, soft and hard: at most what the runtime itself may give.
  uint64_t nofile = 1024;
};

// The spec as JSON (runtime-spec 1.0.2).
std::string MakeRuntimeSpec(const RuntimeSpecInput& in);

}  // namespace ofn::containerd::internal

#endif  // LIBOFN_BACKENDS_CONTAINERD_INTERNAL_RUNTIME_SPEC_H_
