// Options of the builder (libofn/build): how Functions with spec.build are
// turned from source into what their backend runs. A plain value, set
// through Platform::Options::build.
#ifndef LIBOFN_BUILD_OPTIONS_H_
#define LIBOFN_BUILD_OPTIONS_H_

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ofn::build {

struct Strategy;  // libofn/build/strategy.h

struct BuildOptions {
  // Off: a Function with spec.build is served from spec.image as it is and
  // its build state stays Pending (reason NoBuilder).
  bool enabled = true;
  // Repositories (cache), artefacts and build logs; "" = <state_dir>/builds
  // (a temp dir when the platform keeps no state).
  std::string work_dir;
  // Source mirrors in the manner of git's url.<base>.insteadOf: a URL that
  // starts with `first` is fetched from `second` + the rest (the longest
  // match wins). {"https://github.com/", "file:///srv/git/"}.
  std::vector<std::pair<std::string, std::string>> git_mirrors;
  // A git credentials file (lines "https://user:password@host[/path]", as
  // git's credential store writes them), used when a Function's
  // srcRepo.credentials names no Secret.
  std::string git_credentials_file;
  // The known_hosts file ssh:// sources' host keys are checked against,
  // besides a credentials Secret's known_hosts; "" = ~/.ssh/known_hosts.
  std::string ssh_known_hosts;
  // Where C++ function sources find libofn's headers ("libofn/serve/
  // function.h"); empty: the installed headers, else this source tree's.
  std::vector<std::string> include_dirs;
  std::string cxx = "c++";  // the C++ compiler
  // Where the Python functions framework (package `ofn`) is found for
  // Python bundles; "" = the one installed for python3, else this source
  // tree's bindings/python.
  std::string python_path;
  // Where libofn's Node.js functions framework is; "" = this source tree's
  // bindings/node.
  std::string node_framework_dir;
  // Registry mirrors for the base images of Dockerfile builds (registry
  // host -> endpoints, as ofn serve --registry-mirror gives them); empty:
  // the containerd backend's.
  std::map<std::string, std::vector<std::string>> registry_mirrors;
  // Used when spec.build.timeout is not set.
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  // The host program's own strategies, asked before the built-in ones
  // (see strategy.h); `builder: ofn.local/<name>` names one.
  std::vector<std::shared_ptr<const Strategy>> strategies;
};

}  // namespace ofn::build

#endif  // LIBOFN_BUILD_OPTIONS_H_
