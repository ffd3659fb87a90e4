// The InstanceDriver seam: start and stop instances of one Function revision
// on some backend. The platform picks, in registration order, the first
// driver that accepts a spec; the core never branches on a driver's name.
#ifndef LIBOFN_BACKEND_DRIVER_H_
#define LIBOFN_BACKEND_DRIVER_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "libofn/common/status.h"
#include "libofn/serve/http.h"

namespace ofn::backend {

// What a driver needs to run a Function revision.
struct InstanceSpec {
  std::string ns;
  std::string function;
  std::string revision;   // e.g. "serving-k3x9q"
  std::string version;    // spec.version
  std::string image;      // spec.image
  std::string spec_json;  // the whole Function spec, canonical JSON
  // serving.params, then the function container's env (later wins).
  std::map<std::string, std::string> env;
  std::vector<std::string> outputs;  // names of spec.serving.outputs
  bool has_command = false;          // the function container sets command/args
};

// One running instance. Thread-safe: Handle is called concurrently.
class Instance {
 public:
  virtual ~Instance() = default;
  // Serves one request; never throws (a failing function is a 5xx response).
  virtual HttpResponse Handle(const HttpRequest& request) = 0;
};

// Thread-safe.
class InstanceDriver {
 public:
  virtual ~InstanceDriver() = default;
  virtual std::string_view name() const = 0;
  // Cheap check: is this spec for this driver at all?
  virtual bool Accepts(const InstanceSpec& spec) const = 0;
  // Starts an instance; the error says why it cannot run (it becomes the
  // serving state's message).
  virtual Result<std::shared_ptr<Instance>> Start(const InstanceSpec& spec) = 0;
};

}  // namespace ofn::backend

#endif  // LIBOFN_BACKEND_DRIVER_H_
