#include "libofn/backend/registry.h"

#include <algorithm>

namespace ofn::backend {

Status Registry::Add(DriverRegistration registration) {
  if (!registration.driver) return Status(StatusCode::kInvalidArgument, "a driver registration without a driver");
  std::lock_guard<std::mutex> lock(mu_);
  const std::string_view name = registration.driver->name();
  for (const DriverRegistration& e : entries_) {
    if (e.driver->name() == name) {
      return Status(StatusCode::kAlreadyExists, "a backend named \"" + std::string(name) + "\" is already registered");
    }
  }
  auto at = std::find_if(entries_.begin(), entries_.end(),
                         [&](const DriverRegistration& e) { return e.priority < registration.priority; });
  entries_.insert(at, std::move(registration));
  return Status();
}

Result<InstanceDriver*> Registry::Pick(const Workload& w) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!w.backend.empty()) {
    for (const DriverRegistration& e : entries_) {
      if (e.driver->name() != w.backend) continue;
      if (e.driver->Accepts(w)) return e.driver.get();
      return Status(StatusCode::kNotFound, "backend " + w.backend + " cannot run this " +
                                               std::string(WorkloadKindName(w.kind)) + " workload: it needs " +
                                               e.driver->Requirement(w));
    }
    std::string names;  // only for the message: Pick runs for every revision on every pass
    for (const DriverRegistration& e : entries_) names += (names.empty() ? "" : ", ") + std::string(e.driver->name());
    return Status(StatusCode::kNotFound, "annotation ofn.io/backend names \"" + w.backend +
                                             "\", which is not enabled (enabled: " + names + ")");
  }
  for (const DriverRegistration& e : entries_) {
    if (e.driver->Accepts(w)) return e.driver.get();
  }
  std::string needs;
  for (const DriverRegistration& e : entries_) {
    needs += "; " + std::string(e.driver->name()) + " needs " + e.driver->Requirement(w);
  }
  for (const auto& [name, how] : disabled_) needs += "; " + name + " is not enabled (" + how + ")";
  return Status(StatusCode::kNotFound, "no enabled backend can run this " + std::string(WorkloadKindName(w.kind)) +
                                           " workload (image \"" + w.image + "\")" + needs);
}

void Registry::AddDisabled(std::string name, std::string how_to_enable) {
  std::lock_guard<std::mutex> lock(mu_);
  disabled_.emplace_back(std::move(name), std::move(how_to_enable));
}

InstanceDriver* Registry::Find(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const DriverRegistration& e : entries_) {
    if (e.driver->name() == name) return e.driver.get();
  }
  return nullptr;
}

std::vector<InstanceDriver*> Registry::drivers() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<InstanceDriver*> out;
  for (const DriverRegistration& e : entries_) out.push_back(e.driver.get());
  return out;
}

void Registry::ShutdownAll() {
  for (InstanceDriver* d : drivers()) d->Shutdown();
}

void Registry::Clear() {
  std::vector<DriverRegistration> entries;
  {
    std::lock_guard<std::mutex> lock(mu_);
    entries.swap(entries_);
  }
}

std::string_view WorkloadKindName(WorkloadKind kind) {
  switch (kind) {
    case WorkloadKind::kCommand:
      return "command";
    case WorkloadKind::kImage:
      return "image";
    case WorkloadKind::kWasm:
      return "wasm";
  }
  return "unknown";
}

}  // namespace ofn::backend
