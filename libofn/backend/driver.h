// The InstanceDriver seam: start and stop instances of one Function revision
// on some backend. The platform picks, in registration order, the first
// driver that accepts a spec; the core never branches on a driver's name.
#ifndef LIBOFN_BACKEND_DRIVER_H_
#define LIBOFN_BACKEND_DRIVER_H_

#include <functional>
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

// How an instance is doing after it started.
struct InstanceHealth {
  bool serving = true;  // false while it restarts or backs off after a crash
  int restarts = 0;
  std::string reason;   // e.g. "CrashLoopBackOff"; "" when all is well
  std::string message;
  // Resource limits asked for but not applied on this machine ("" = none).
  std::string limits_warning;
};

// One running instance. Thread-safe: Handle is called concurrently.
// Dropping the last reference stops it.
class Instance {
 public:
  virtual ~Instance() = default;
  // Serves one request; never throws (a failing function is a 5xx response).
  virtual HttpResponse Handle(const HttpRequest& request) = 0;
  // "127.0.0.1:port" when the instance is an HTTP server the gateway can
  // proxy to (bodies streamed); "" when requests go through Handle.
  virtual std::string Upstream() const { return ""; }
  virtual InstanceHealth Health() const { return {}; }
  // Called, from any thread, whenever Health() changes.
  virtual void SetHealthObserver(std::function<void()> observer) { (void)observer; }
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
