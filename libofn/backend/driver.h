// The InstanceDriver seam: start and stop instances of one Function revision
// on some backend. Drivers sit in a backend::Registry (registry.h) with a
// priority; the platform gives each revision's Workload to the driver the
// Function names (annotation ofn.io/backend) or to the highest-priority one
// that accepts it. The core never branches on a driver's name.
#ifndef LIBOFN_BACKEND_DRIVER_H_
#define LIBOFN_BACKEND_DRIVER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "libofn/backend/workload.h"
#include "libofn/common/status.h"
#include "libofn/serve/http.h"

namespace ofn::backend {

// How an instance is doing after it started.
struct InstanceHealth {
  bool serving = true;  // false while it restarts or backs off after a crash
  int restarts = 0;
  std::string reason;   // e.g. "CrashLoopBackOff", "OOMKilled"; "" when all is well
  std::string message;
  // Something asked for that this machine does not give as asked ("" =
  // none): limits not applied, a fallback taken. The serving status shows it
  // with `warning_reason` ("" = LimitsNotApplied).
  std::string limits_warning;
  std::string warning_reason;
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

// An instance still running from before the platform (re)opened: a
// container keeps running under containerd while the host program restarts.
struct SurvivingInstance {
  std::string ns, revision;  // the Workload's, as it was started with
  std::shared_ptr<Instance> instance;
};

// Thread-safe: every method may be called from any thread.
class InstanceDriver {
 public:
  virtual ~InstanceDriver() = default;
  // The name a Function may ask for (ofn.io/backend) and `ofn` shows.
  virtual std::string_view name() const = 0;
  // Cheap check: can this driver run the workload at all?
  virtual bool Accepts(const Workload& workload) const = 0;
  // Why it does not accept `workload`: what the workload (or the host)
  // would need, for the message shown when no driver takes it.
  virtual std::string Requirement(const Workload& workload) const = 0;
  // Starts an instance and returns once it is ready to serve; the error
  // says why it cannot run (it becomes the serving state's message).
  virtual Result<std::shared_ptr<Instance>> Start(const Workload& workload) = 0;
  // Starts an instance and calls `done` once, from any thread (maybe before
  // returning), when it is ready or cannot run. The platform starts
  // instances this way, from a small start pool: a driver whose instances
  // take a while to become ready overrides it so that no thread waits
  // meanwhile. The default calls Start.
  using StartDone = std::function<void(Result<std::shared_ptr<Instance>>)>;
  virtual void StartAsync(const Workload& workload, StartDone done) { done(Start(workload)); }
  // Whether Start is quick and needs no thread of its own (an in-process
  // function: a lookup and its init hook). A request that waits at a
  // revision with no instance then starts one on its own thread and is
  // served there as soon as the instance joins, with no thread hand-off.
  // The default is false: starts go through the start pool.
  virtual bool StartsInline() const { return false; }
  // Stops every instance and refuses new starts; returns at once.
  virtual void Shutdown() {}
  // Instances that survived the platform's last run, found once when the
  // platform opens, before any Start. The platform adopts those whose
  // revision still exists and runs on this driver (they join its pool ready,
  // without a cold start) and drops the others, which stops them. The
  // default finds none: the built-in drivers' instances end with the
  // process that started them.
  virtual std::vector<SurvivingInstance> Recover() { return {}; }
  // The last `tail_lines` lines (0: all kept) of what a revision's
  // instances printed. Unimplemented when the driver keeps no logs.
  virtual Result<std::string> Logs(std::string_view ns, std::string_view revision, size_t tail_lines) const {
    (void)ns;
    (void)revision;
    (void)tail_lines;
    return Status(StatusCode::kUnimplemented, "the " + std::string(name()) + " backend keeps no logs");
  }
};

// Forwards every call to another driver, so that a test or a metrics layer
// overrides just the calls it cares about. `target` must outlive it.
class DriverWrapper : public InstanceDriver {
 public:
  explicit DriverWrapper(InstanceDriver* target) : target_(target) {}
  InstanceDriver* target() const { return target_; }

  std::string_view name() const override { return target_->name(); }
  bool Accepts(const Workload& w) const override { return target_->Accepts(w); }
  std::string Requirement(const Workload& w) const override { return target_->Requirement(w); }
  Result<std::shared_ptr<Instance>> Start(const Workload& w) override { return target_->Start(w); }
  void StartAsync(const Workload& w, StartDone done) override { target_->StartAsync(w, std::move(done)); }
  bool StartsInline() const override { return target_->StartsInline(); }
  void Shutdown() override { target_->Shutdown(); }
  std::vector<SurvivingInstance> Recover() override { return target_->Recover(); }
  Result<std::string> Logs(std::string_view ns, std::string_view revision, size_t tail_lines) const override {
    return target_->Logs(ns, revision, tail_lines);
  }

 private:
  InstanceDriver* target_;
};

}  // namespace ofn::backend

#endif  // LIBOFN_BACKEND_DRIVER_H_
