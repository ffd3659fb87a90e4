// Autoscaler: one KPA per revision. Every tick it reads the revision's metric
// windows, asks the decider (scale/kpa.h) for a count and applies it through
// the InstanceDriver: new instances start on the executor (a cold start,
// timed on the platform clock) and join the RevisionPool when ready;
// surplus ones leave the pool and finish what they serve. A request that has
// to wait pokes its revision, which is then scaled at once instead of at the
// next tick. Internal. Thread-safe.
#ifndef LIBOFN_PLATFORM_INTERNAL_AUTOSCALER_H_
#define LIBOFN_PLATFORM_INTERNAL_AUTOSCALER_H_

#include <array>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "libofn/backend/driver.h"
#include "libofn/common/clock.h"
#include "libofn/events/component.h"
#include "libofn/gateway/revision_pool.h"
#include "libofn/scale/kpa.h"
#include "libofn/scale/options.h"

namespace ofn::platform::internal {

// Cold start latency buckets, seconds (Prometheus "le").
inline constexpr std::array<double, 10> kColdStartBuckets = {0.005, 0.01, 0.025, 0.05, 0.1,
                                                             0.25,  0.5,  1,     2.5,  10};

struct RevisionScaleStatus {
  std::string ns, function, revision;
  int ready = 0;
  int desired = 0;
  int starting = 0;
  bool reachable = false;
  bool panicking = false;
  bool ever_ready = false;
  std::string failure;  // last start failure, "" when the last start worked
  // From the instances' Health(): restarts summed; the first unhealthy
  // instance's reason/message (e.g. CrashLoopBackOff); limits not applied.
  int serving = 0;
  int restarts = 0;
  int recovered = 0;  // instances adopted from the last run
  std::string instance_reason, instance_message;
  std::string limits_warning, warning_reason;
  double concurrency = 0;  // stable-window averages
  double rps = 0;
  int excess_burst_capacity = 0;
  size_t queued = 0;
  int64_t in_flight = 0;
  gateway::RevisionPool::Counters counters;
  // KEDA-scaled revisions (spec.keda): the last poll.
  struct Trigger {
    std::string name, type;
    scale::TriggerReading reading;
  };
  std::vector<Trigger> triggers;
  bool keda_active = false;
  std::string keda_reason;  // what decided the last poll (scale::KedaDecision::reason; "jobs" for scaledJob)
  // scaledJob: jobs running (started, not ended), ended after their batch
  // or with no more work, failed to start (the last failure: `failure`).
  bool job = false;
  int jobs_running = 0;
  uint64_t jobs_succeeded = 0, jobs_failed = 0;
  uint64_t cold_starts = 0;
  double cold_start_seconds_sum = 0;
  std::array<uint64_t, kColdStartBuckets.size()> cold_start_buckets{};
  scale::ScaleSpec spec;
};

class Autoscaler {
 public:
  // `calls` runs function calls; `starts` runs instance starts (they may
  // block in init hooks).
  // `on_change` is called (without locks) when a revision first becomes
  // ready or a start fails, so the reconciler can move traffic and status.
  Autoscaler(Clock* clock, gateway::Executor calls, gateway::Executor starts, std::function<void()> on_change);
  ~Autoscaler();

  // With `ticker`, a thread ticks every tick interval of the clock (checked
  // every 50 ms of real time) and serves pokes; without, only pokes are
  // served and the host calls TickAll (tests on a ManualClock).
  void Start(bool ticker);

  // How KEDA-scaled revisions get their scalers (one per trigger; a
  // failure to make one reads as that trigger failing). Set before Start.
  using ScalerMaker =
      std::function<Result<std::shared_ptr<events::ScalerProbe>>(const std::string& ns, const scale::KedaTrigger&)>;
  void SetScalerMaker(ScalerMaker maker) { scaler_maker_ = std::move(maker); }
  void Stop();

  // Hands over an instance that survived the last run (InstanceDriver::
  // Recover). It joins the revision's pool, ready, when Ensure registers
  // that revision with the same driver; DropUnadopted stops the rest.
  void Adopt(const std::string& ns, const std::string& revision, backend::InstanceDriver* driver,
             std::shared_ptr<backend::Instance> instance);
  // Drops the surviving instances no registered revision took; how many.
  size_t DropUnadopted();

  // Registers a revision or updates its scale spec; returns its pool. A
  // new revision keeps `spec`, and every call `scale` (shared: with the
  // plan they come from).
  std::shared_ptr<gateway::RevisionPool> Ensure(const std::string& ns, const std::string& revision,
                                                backend::InstanceDriver* driver,
                                                std::shared_ptr<const backend::Workload> spec,
                                                std::shared_ptr<const scale::ScaleSpec> scale,
                                                const gateway::PoolOptions& pool);
  // The pool of a registered revision; a closed, empty one when unknown.
  std::shared_ptr<gateway::RevisionPool> Pool(const std::string& ns, const std::string& revision) const;
  void SetReachable(const std::string& ns, const std::string& revision, bool reachable);
  // Stops a revision: its waiters get 503, its instances go.
  void Remove(const std::string& ns, const std::string& revision);
  // Revisions registered, as "ns/revision".
  std::vector<std::string> Keys() const;

  // One autoscaler pass over every revision at the clock's now.
  void TickAll();
  // A request waits at `key` ("ns/revision") and no instance is on its way:
  // that revision's decision is made at once, on the calling thread (it is
  // cheap), rather than handed to the autoscaler's thread. Starts go to the
  // start pool, except a driver's that StartsInline: its instance starts on
  // this thread, and the waiting requests are served here after the
  // decision (an in-process cold start without a thread hand-off). Nothing
  // after Stop.
  void Poke(const std::string& key);

  std::optional<RevisionScaleStatus> Status(const std::string& ns, const std::string& revision) const;
  std::vector<RevisionScaleStatus> StatusAll() const;
  // The revisions ("ns/revision") whose readiness, start failure or
  // instance health may have changed since the last call (every start that
  // settled, every health report): what the local backend converges again
  // without looking at the others.
  std::vector<std::string> TakeChanged();

 private:
  struct Rev;
  void Tick(const std::shared_ptr<Rev>& rev, bool poked);
  // Tick of a KEDA-scaled revision: every polling interval its scalers are
  // read (outside every lock) and the KEDA decider sets the count.
  void TickKeda(const std::shared_ptr<Rev>& rev, bool poked);
  // On the start pool, or on this thread (`here`: the driver StartsInline).
  void StartInstance(const std::shared_ptr<Rev>& rev, bool here = false);
  // Books a settled start: the instance into the pool, or the failure and its retry.
  void Started(const std::shared_ptr<Rev>& rev, Clock::Duration t0, Result<std::shared_ptr<backend::Instance>> started);
  void Loop(bool ticker);
  // Puts a started or adopted instance into the revision's pool.
  void Join(const std::shared_ptr<Rev>& rev, std::shared_ptr<backend::Instance> instance);
  // Tells the revision's pool and the reconciler when the instance's health changes.
  void WatchHealth(const std::shared_ptr<Rev>& rev, backend::Instance& instance);
  // Join's second half, under rev.mu.
  void AddToPoolLocked(Rev& rev, std::shared_ptr<backend::Instance> instance);
  static RevisionScaleStatus Snapshot(const Rev& rev);

  Clock* clock_;
  gateway::Executor calls_;
  gateway::Executor starts_;
  std::function<void()> on_change_;
  ScalerMaker scaler_maker_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Rev>> revs_;
  int poking_ = 0;  // Pokes deciding now (Stop waits for them)
  // Shared with the instances' health observers, which may outlive a pass.
  struct ChangedKeys {
    std::mutex mu;
    std::set<std::string> keys;
    void Add(const std::string& key) {
      std::lock_guard<std::mutex> lock(mu);
      keys.insert(key);
    }
  };
  std::shared_ptr<ChangedKeys> changed_ = std::make_shared<ChangedKeys>();
  struct Survivor {
    backend::InstanceDriver* driver;
    std::shared_ptr<backend::Instance> instance;
  };
  std::map<std::string, std::vector<Survivor>> survivors_;  // by "ns/revision"
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace ofn::platform::internal

#endif  // LIBOFN_PLATFORM_INTERNAL_AUTOSCALER_H_
