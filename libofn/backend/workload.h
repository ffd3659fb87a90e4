// Workload: what one revision of a Function runs, parsed once from its spec
// (spec::MakeWorkload) so that no driver reads spec JSON. A plain value.
#ifndef LIBOFN_BACKEND_WORKLOAD_H_
#define LIBOFN_BACKEND_WORKLOAD_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ofn::backend {

enum class WorkloadKind {
  // The function container sets `command`: a local program serving HTTP on
  // $PORT.
  kCommand,
  // Only an image: an OCI image, or (ofn.local/<name>) a function library or
  // a function registered by the host program.
  kImage,
  // spec.workloadRuntime: WasmEdge — a wasm module.
  kWasm,
};
std::string_view WorkloadKindName(WorkloadKind kind);

// A readiness or liveness probe of the function container.
struct Probe {
  enum class Type { kNone, kTcp, kHttp };
  Type type = Type::kNone;  // kNone: the driver's default
  std::string path = "/";   // kHttp
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds initial_delay{0};
  std::chrono::milliseconds period{0};  // 0: not set
  std::chrono::milliseconds timeout{std::chrono::seconds(1)};
  int failure_threshold = 3;
};

// resources.limits of the function container, as quantities.
struct Limits {
  int64_t memory_bytes = 0;  // 0: none
  int64_t cpu_millis = 0;    // 0: none
  std::string memory_text, cpu_text;  // as written, for messages
};

struct Workload {
  std::string ns, function, revision;
  std::string version;  // spec.version
  std::string image;    // spec.image
  WorkloadKind kind = WorkloadKind::kImage;
  // The backend the Function asks for (annotation ofn.io/backend); "" = any.
  std::string backend;
  // What a build made for this revision (spec.build): a function library
  // the in-process backend loads (kImage), or the directory of a bundle
  // the process backend runs (kCommand); "" = none.
  std::string library;
  std::string bundle;
  std::string build;  // the build's name

  // The function container.
  std::string command;  // kCommand: the program (command[0])
  std::vector<std::string> args;  // the rest of command, then args
  std::string working_dir;
  // Where a relative working_dir is taken from on the host (the manifest's
  // directory, annotation ofn.io/base-dir); "" = the platform's directory.
  // Container backends ignore it: there workingDir is a path in the image.
  std::string base_dir;
  // The function container's imagePullPolicy as written ("Always",
  // "IfNotPresent", "Never"; "" = Kubernetes' default for the image's tag).
  std::string image_pull_policy;
  // spec.imageCredentials: the docker config JSON (".dockerconfigjson") of
  // the Secret it names, for pulling `image`; "" = none or not found.
  std::string image_credentials;
  // securityContext.readOnlyRootFilesystem (container backends).
  bool read_only_root_filesystem = false;
  // serving.params, then the container's env (a later entry wins).
  std::vector<std::pair<std::string, std::string>> env;
  int port = 8080;  // serving.triggers.http.port: what the function listens on in a container
  Probe readiness, liveness;
  Limits limits;
  // serving.timeout; unset: the driver's default.
  std::optional<std::chrono::milliseconds> start_timeout;
  // template.terminationGracePeriodSeconds; unset: the driver's default.
  std::optional<std::chrono::milliseconds> grace;

  // OpenFunction's FUNC_CONTEXT (JSON) without the instance's port; a driver
  // that knows the port sets "port" and triggers.http.port.
  std::string func_context;
  std::vector<std::string> outputs;  // names of serving.outputs

  // The value of an env entry (the last one of that name), or `fallback`.
  std::string Env(std::string_view name, std::string_view fallback = "") const {
    for (auto it = env.rbegin(); it != env.rend(); ++it) {
      if (it->first == name) return it->second;
    }
    return std::string(fallback);
  }
};

}  // namespace ofn::backend

#endif  // LIBOFN_BACKEND_WORKLOAD_H_
