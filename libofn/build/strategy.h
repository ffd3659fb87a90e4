// Build strategies: what turns a fetched source into what a Function's
// backend runs. Each strategy is chosen from spec.build and from what the
// source holds:
//   cxx     C++ sources with OFN_REGISTER_FUNCTIONS -> a shared library the
//           in-process backend loads (compiled against libofn's headers)
//   python  .py sources -> a bundle served by the Python functions framework
//           (FUNC_NAME, FUNC_SIGNATURE_TYPE from spec.build.env)
//   node    package.json -> a bundle (npm install) served by libofn's Node.js
//           functions framework
//   go      go.mod -> a program built with the Go toolchain
//   command a Procfile's `web:` line, or the function container's own
//           command, run in the source
//   dockerfile  spec.build.dockerfile (or the buildah/kaniko/ko strategy)
//           -> an OCI image built with buildah (base images through the
//           registry mirrors), for a Function on containerd
// `builder: ofn.local/<strategy>` picks a strategy by name (ofn.local/auto:
// from the source); a buildpacks builder image is only a hint.
// Strategies that need what this machine has not (a buildpacks builder
// image; buildah, or the containerd backend, for a Dockerfile) fail saying
// what would make them run.
// Thread-compatible (pure functions of their input and the file system).
#ifndef LIBOFN_BUILD_STRATEGY_H_
#define LIBOFN_BUILD_STRATEGY_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "libofn/build/options.h"
#include "libofn/common/status.h"

namespace ofn::build {

struct BuildInput {
  std::string ns, function;
  std::string source_dir;  // the fetched source (sourceSubPath applied)
  std::string out_dir;     // where the artefact goes; created by the strategy
  std::map<std::string, std::string> env;  // spec.build.env
  std::string builder;                     // spec.build.builder
  std::string dockerfile;                  // spec.build.dockerfile
  std::string shipwright_strategy;         // spec.build.shipwright.strategy.name
  std::vector<std::string> serving_command;  // the function container's command + args, if it sets one
  bool image = false;  // the Function runs on containerd: its artefact becomes an image
  int log_fd = -1;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  const std::atomic<bool>* cancel = nullptr;
  const BuildOptions* options = nullptr;
};

struct Artifact {
  std::string kind;  // "library" (in-process), "bundle" (process) or "image" (containerd)
  std::string path;  // the .so, the bundle's directory, or the image's OCI archive
  // A bundle: how it starts (empty: the function container's command), in
  // which directory, with which variables.
  std::vector<std::string> command;
  std::string working_dir;
  std::vector<std::pair<std::string, std::string>> env;
};

// A strategy of the host program's (BuildOptions::strategies): asked first,
// in order, whether it builds a source (`detects`; null: only when named by
// `builder: ofn.local/<name>`), then run on the build thread. Its artefact
// is a "library" (a function library the in-process backend loads) or a
// "bundle" (a directory with a start command), as the built-in ones make.
struct Strategy {
  std::string name;
  std::function<bool(const BuildInput&)> detects;
  std::function<Result<Artifact>(const BuildInput&)> run;
};

// The strategy for this input (see above), or FailedPrecondition saying why
// none can build it.
Result<std::string> ChooseStrategy(const BuildInput& in);

// Runs strategy `name`; progress goes to the log (in.log_fd).
Result<Artifact> RunStrategy(const std::string& name, const BuildInput& in);

}  // namespace ofn::build

#endif  // LIBOFN_BUILD_STRATEGY_H_
