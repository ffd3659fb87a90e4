// Registry: the instance drivers a Platform can use, by name and priority.
// RegisterBuiltinBackends (libofn/backends/builtin.h) adds libofn's own, one
// line each; a host program adds its own through Platform::Options::drivers.
//
// A Function may name its backend (metadata.annotations["ofn.io/backend"]);
// otherwise the highest-priority driver that accepts the workload runs it.
// When none does, Pick's error lists every driver and what it would need.
//
// Thread-safe once built: Add before the Platform starts, Pick from anywhere.
#ifndef LIBOFN_BACKEND_REGISTRY_H_
#define LIBOFN_BACKEND_REGISTRY_H_

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "libofn/backend/driver.h"
#include "libofn/common/status.h"

namespace ofn::backend {

struct DriverRegistration {
  // Higher runs first among drivers accepting a workload. The built-in
  // drivers use 100 (inprocess) and 90 (process).
  int priority = 50;
  std::shared_ptr<InstanceDriver> driver;
};

class Registry {
 public:
  // Fails (and adds nothing) when a driver of that name is registered.
  Status Add(DriverRegistration registration);
  // The driver for `workload` (see above). kNotFound: no such named driver,
  // or none accepts it; the message says which exist and what each needs.
  Result<InstanceDriver*> Pick(const Workload& workload) const;
  InstanceDriver* Find(std::string_view name) const;
  // A backend that is not enabled, and what would enable it, for the
  // message when no enabled driver takes a workload.
  void AddDisabled(std::string name, std::string how_to_enable);
  // Highest priority first.
  std::vector<InstanceDriver*> drivers() const;
  // Shutdown() on every driver.
  void ShutdownAll();
  // Drops the registry's references (drivers only it holds are destroyed,
  // which for some waits for their instances to stop).
  void Clear();

 private:
  mutable std::mutex mu_;
  std::vector<DriverRegistration> entries_;  // priority order, stable
  std::vector<std::pair<std::string, std::string>> disabled_;
};

}  // namespace ofn::backend

#endif  // LIBOFN_BACKEND_REGISTRY_H_
