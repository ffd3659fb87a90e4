#include "libofn/platform/internal/autoscaler.h"

#include <algorithm>

#include "libofn/common/log.h"

namespace ofn::platform::internal {

namespace {
constexpr std::chrono::seconds kStartRetryCap(10);
}  // namespace

struct Autoscaler::Rev {
  std::shared_ptr<gateway::RevisionPool> pool;  // says its namespace, Function and name
  backend::InstanceDriver* driver = nullptr;
  std::shared_ptr<const backend::Workload> instance_spec;  // shared with the plan it came from

  mutable std::mutex mu;
  std::shared_ptr<const scale::ScaleSpec> spec;  // shared with the plan it came from; set by Ensure
  scale::DeciderState state;
  scale::Decision last;
  double concurrency = 0, rps = 0;
  int desired = 0;
  int starting = 0;
  bool reachable = true;  // until the reconciler says: a new revision is a rollout target
  bool ever_ready = false;
  bool removed = false;
  int recovered = 0;
  std::string failure;
  int failed_starts = 0;           // in a row
  Clock::Duration retry_at{0};     // no start attempt before this after a failure
  uint64_t cold_starts = 0;
  double cold_sum = 0;
  std::array<uint64_t, kColdStartBuckets.size()> cold_buckets{};
  // KEDA-scaled (spec.keda): a scaler per trigger (null: it could not be
  // made, `scaler_errors` says why), the decider's memory, the next poll;
  // scaledJob: jobs ended (their batch answered, or no more work) and jobs
  // that failed to start (why: `failure`). Only a KEDA-scaled revision has
  // one (most have none: it is not kept inline).
  struct Keda {
    std::vector<std::shared_ptr<events::ScalerProbe>> scalers;
    std::vector<std::string> scaler_errors;
    scale::KedaState state;
    scale::KedaDecision last;
    std::vector<scale::TriggerReading> readings;
    Clock::Duration next_poll{0};
    bool polling = false;
    uint64_t jobs_succeeded = 0, jobs_failed = 0;
  };
  std::unique_ptr<Keda> keda;  // set with a spec that has keda
};

namespace {
// How many instances to start and to stop to reach `want`, under rev.mu.
struct Change {
  int start = 0, remove = 0;
};
}  // namespace

Autoscaler::Autoscaler(Clock* clock, gateway::Executor calls, gateway::Executor starts,
                       std::function<void()> on_change)
    : clock_(clock), calls_(std::move(calls)), starts_(std::move(starts)), on_change_(std::move(on_change)) {}

Autoscaler::~Autoscaler() { Stop(); }

void Autoscaler::Start(bool ticker) {
  thread_ = std::thread([this, ticker] { Loop(ticker); });
}

void Autoscaler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::map<std::string, std::shared_ptr<Rev>> revs;
  {
    // A Poke already deciding may still begin a start, or be in an
    // instance's init hook: wait for it, as long as the start pool's threads
    // are waited for.
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(5), [&] { return poking_ == 0; })) {
      OFN_LOG(kWarning) << "autoscaler stopped while " << poking_ << " instance start(s) for waiting requests "
                        << "had not returned";
    }
    revs.swap(revs_);
  }
  for (auto& [key, rev] : revs) {
    {
      std::lock_guard<std::mutex> lock(rev->mu);
      rev->removed = true;
    }
    rev->pool->Close();
  }
}

std::shared_ptr<gateway::RevisionPool> Autoscaler::Ensure(const std::string& ns, const std::string& revision,
                                                          backend::InstanceDriver* driver,
                                                          std::shared_ptr<const backend::Workload> spec,
                                                          std::shared_ptr<const scale::ScaleSpec> scale_spec,
                                                          const gateway::PoolOptions& pool_options) {
  const scale::ScaleSpec& scale = *scale_spec;
  const std::string key = ns + "/" + revision;
  std::shared_ptr<Rev> rev;
  std::vector<Survivor> survivors;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = revs_.find(key);
    if (it != revs_.end()) {
      rev = it->second;
    } else if (auto s = survivors_.find(key); s != survivors_.end()) {
      survivors = std::move(s->second);
      survivors_.erase(s);
    }
  }
  bool created = false;
  if (!rev) {
    // A new revision, private until it is in revs_ (only the reconcile
    // thread registers revisions).
    rev = std::make_shared<Rev>();
    rev->driver = driver;
    rev->instance_spec = std::move(spec);
    rev->spec = scale_spec;  // before another thread can see it
    rev->pool = std::make_shared<gateway::RevisionPool>(ns, rev->instance_spec->function, revision, pool_options,
                                                       clock_, calls_);
    rev->pool->SetPoke([this, key] { Poke(key); });
    std::weak_ptr<Rev> weak_rev = rev;
    rev->pool->SetJobDone([weak_rev] {
      if (auto r = weak_rev.lock()) {
        std::lock_guard<std::mutex> lock(r->mu);
        if (r->keda) ++r->keda->jobs_succeeded;
      }
    });
    // Instances that survived the last run join before the first decision;
    // those of another driver are dropped here.
    for (Survivor& survivor : survivors) {
      if (survivor.driver != driver) continue;
      Join(rev, std::move(survivor.instance));
      ++rev->recovered;
    }
    if (rev->recovered > 0) {
      rev->ever_ready = true;
      // What runs is the revision's current scale (as Knative's autoscaler
      // reads it back from the deployment when it restarts): no decision
      // takes it to zero before the scale-to-zero grace.
      rev->desired = rev->recovered;
      OFN_LOG(kInfo) << "revision " << key << ": adopted " << rev->recovered << " instance(s) of " << driver->name()
                     << " that survived the last run";
    }
    rev->state = scale::StartState(rev->pool->ready(), clock_->Monotonic());
    std::lock_guard<std::mutex> lock(mu_);
    revs_[key] = rev;
    created = true;
  }
  bool keda_changed = false;
  {
    std::lock_guard<std::mutex> lock(rev->mu);
    keda_changed = created || rev->spec->keda != scale.keda;
  }
  std::vector<std::shared_ptr<events::ScalerProbe>> scalers;
  std::vector<std::string> scaler_errors;
  if (keda_changed && scale.keda) {
    for (const scale::KedaTrigger& t : scale.keda->triggers) {
      auto made = scaler_maker_ ? scaler_maker_(ns, t)
                                : Result<std::shared_ptr<events::ScalerProbe>>(
                                      ofn::Status(StatusCode::kUnavailable, "no scalers in this autoscaler"));
      scalers.push_back(made.ok() ? *made : nullptr);
      scaler_errors.push_back(made.ok() ? "" : made.status().message());
    }
  }
  {
    std::lock_guard<std::mutex> lock(rev->mu);
    if (keda_changed && !scale.keda) rev->keda.reset();
    if (keda_changed && scale.keda) {
      if (!rev->keda) rev->keda = std::make_unique<Rev::Keda>();  // its job counts stay across changes
      Rev::Keda& k = *rev->keda;
      k.scalers = std::move(scalers);
      k.scaler_errors = std::move(scaler_errors);
      k.state = scale::KedaState();
      k.readings.clear();
      k.next_poll = clock_->Monotonic();
      if (created && rev->recovered == 0) rev->desired = scale::KedaInitialReplicas(*scale.keda);
    }
    rev->spec = std::move(scale_spec);
  }
  rev->pool->SetContainerConcurrency(scale.container_concurrency);
  // The initial scale; a KEDA-scaled revision polls its scalers first on
  // the autoscaler's thread, not here.
  if (created) Tick(rev, scale.keda.has_value());
  return rev->pool;
}

void Autoscaler::Adopt(const std::string& ns, const std::string& revision, backend::InstanceDriver* driver,
                       std::shared_ptr<backend::Instance> instance) {
  if (!instance) return;
  std::lock_guard<std::mutex> lock(mu_);
  survivors_[ns + "/" + revision].push_back(Survivor{driver, std::move(instance)});
}

size_t Autoscaler::DropUnadopted() {
  std::map<std::string, std::vector<Survivor>> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    dropped.swap(survivors_);
  }
  size_t n = 0;
  for (const auto& [key, list] : dropped) {
    n += list.size();
    OFN_LOG(kInfo) << "stopping " << list.size() << " surviving instance(s) of " << key
                   << ": no such revision runs on their backend any more";
  }
  return n;  // `dropped` goes here, and the instances with it
}

std::shared_ptr<gateway::RevisionPool> Autoscaler::Pool(const std::string& ns, const std::string& revision) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = revs_.find(ns + "/" + revision);
    if (it != revs_.end()) return it->second->pool;
  }
  auto pool = std::make_shared<gateway::RevisionPool>(ns, "", revision, gateway::PoolOptions{}, clock_, calls_);
  pool->Close();
  return pool;
}

void Autoscaler::SetReachable(const std::string& ns, const std::string& revision, bool reachable) {
  std::shared_ptr<Rev> rev;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = revs_.find(ns + "/" + revision);
    if (it == revs_.end()) return;
    rev = it->second;
  }
  std::lock_guard<std::mutex> lock(rev->mu);
  rev->reachable = reachable;
}

void Autoscaler::Remove(const std::string& ns, const std::string& revision) {
  std::shared_ptr<Rev> rev;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = revs_.find(ns + "/" + revision);
    if (it == revs_.end()) return;
    rev = it->second;
    revs_.erase(it);
  }
  {
    std::lock_guard<std::mutex> lock(rev->mu);
    rev->removed = true;
  }
  rev->pool->Close();
}

std::vector<std::string> Autoscaler::Keys() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [key, rev] : revs_) out.push_back(key);
  return out;
}

void Autoscaler::Poke(const std::string& key) {
  // An instance started here serves the waiting requests on this thread,
  // once the decision is over: a function that runs long never holds the
  // autoscaler (or its Stop).
  gateway::RevisionPool::DeferLaunches after_the_decision;
  std::shared_ptr<Rev> rev;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    auto it = revs_.find(key);
    if (it == revs_.end()) return;
    rev = it->second;
    ++poking_;
  }
  Tick(rev, true);
  bool stopping;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping = --poking_ == 0 && stop_;
  }
  if (stopping) cv_.notify_all();
}

void Autoscaler::TickAll() {
  std::vector<std::shared_ptr<Rev>> revs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, rev] : revs_) revs.push_back(rev);
  }
  for (const auto& rev : revs) Tick(rev, false);
}

void Autoscaler::Tick(const std::shared_ptr<Rev>& rev, bool poked) {
  bool keda = false;
  {
    std::lock_guard<std::mutex> lock(rev->mu);
    keda = rev->spec->keda.has_value();
  }
  if (keda) return TickKeda(rev, poked);
  int to_start = 0, to_remove = 0;
  {
    std::lock_guard<std::mutex> lock(rev->mu);
    if (rev->removed) return;
    int ready = rev->pool->ready();
    if (poked && ready + rev->starting > 0) return;  // already on its way up
    const scale::ScaleSpec& spec = *rev->spec;
    Clock::Duration now = clock_->Monotonic();
    auto conc = rev->pool->stats().Concurrency(now, spec.stable_window, spec.PanicWindow());
    auto rps = rev->pool->stats().Rps(now, spec.stable_window, spec.PanicWindow());
    rev->concurrency = conc.stable;
    rev->rps = rps.stable;
    const auto& used = spec.metric == scale::Metric::kRps ? rps : conc;
    scale::Decision d = scale::Decide(spec, used.stable, used.panic, ready, rev->reachable, now, &rev->state);
    int want = scale::Bound(spec, d, rev->desired, ready, now, &rev->state);
    if (want == 0 && rev->pool->queued() > 0) {
      // Activation: a waiting request needs an instance before the metric
      // windows have a complete bucket that shows it.
      want = std::max(1, spec.activation_scale);
      if (spec.max_scale > 0) want = std::min(want, spec.max_scale);
      rev->state.zero_pending = false;
    }
    rev->last = d;
    rev->desired = want;
    // After failed starts, retry with back-off (1 s doubling, 10 s cap), the
    // way a crashing instance is restarted.
    bool retry = rev->failure.empty() || (!poked && now >= rev->retry_at);
    if (retry && want > ready + rev->starting) to_start = want - ready - rev->starting;
    if (want < ready) to_remove = ready - want;
    rev->starting += to_start;
  }
  // A poke (a request waits) starts a quick driver's instances right here
  // (see Poke).
  const bool here = poked && rev->driver->StartsInline();
  for (int i = 0; i < to_start; ++i) StartInstance(rev, here);
  if (to_remove > 0) rev->pool->RemoveInstances(to_remove);
  rev->pool->ExpireQueued();
}

void Autoscaler::TickKeda(const std::shared_ptr<Rev>& rev, bool poked) {
  std::vector<std::shared_ptr<events::ScalerProbe>> scalers;
  std::vector<std::string> errors;
  bool poll = false;
  {
    std::lock_guard<std::mutex> lock(rev->mu);
    // (A revision just made has its KEDA part once Ensure has made it.)
    if (rev->removed || !rev->spec->keda || !rev->keda) return;
    Rev::Keda& k = *rev->keda;
    Clock::Duration now = clock_->Monotonic();
    // One poll at a time (TickAll and the ticker may overlap).
    poll = !poked && !k.polling && now >= k.next_poll;
    if (poll) {
      k.polling = true;
      k.next_poll = now + rev->spec->keda->polling_interval;
      scalers = k.scalers;
      errors = k.scaler_errors;
    }
  }
  std::vector<scale::TriggerReading> readings;
  if (poll) {
    const Clock::TimePoint wall = clock_->Now();
    for (size_t i = 0; i < scalers.size(); ++i) {
      scale::TriggerReading r;
      if (!scalers[i]) {
        r.error = errors[i];
      } else if (auto v = scalers[i]->Read(wall); v.ok()) {
        r.ok = true;
        r.value = *v;
      } else {
        r.error = v.status().message();
      }
      readings.push_back(std::move(r));
    }
  }
  Change change;
  bool complete_idle = false;
  {
    std::lock_guard<std::mutex> lock(rev->mu);
    if (poll && rev->keda) rev->keda->polling = false;
    if (rev->removed || !rev->spec->keda || !rev->keda) return;
    Rev::Keda& k = *rev->keda;
    const scale::KedaSpec& spec = *rev->spec->keda;
    Clock::Duration now = clock_->Monotonic();
    if (poll) {
      for (size_t i = 0; i < readings.size() && i < spec.triggers.size(); ++i) {
        if (!readings[i].ok && (k.readings.size() <= i || k.readings[i].error != readings[i].error)) {
          OFN_LOG(kWarning) << "revision " << rev->pool->ns() << "/" << rev->pool->revision() << ": trigger " << spec.triggers[i].name
                            << " (" << spec.triggers[i].type << "): " << readings[i].error;
        }
      }
    }
    const bool retry = rev->failure.empty() || (!poked && now >= rev->retry_at);
    const int ready = rev->pool->ready();
    if (spec.job) {
      // Jobs: started per poll from the queue's length; each ends when it
      // has answered its batch, or, once the queue is empty, with nothing in flight.
      const int running = ready + rev->starting;
      if (poll) {
        bool empty = true;
        for (size_t i = 0; i < readings.size() && i < spec.triggers.size(); ++i) {
          empty = empty && readings[i].ok && readings[i].value <= spec.triggers[i].activation;
        }
        const int queued = static_cast<int>(rev->pool->queued());
        complete_idle = empty && queued == 0;
        change.start = scale::KedaJobsToStart(spec, readings, running, rev->starting);
        // Deliveries already read from the broker and waiting here are work
        // the broker no longer counts (its lag): enough jobs for them too.
        const int batch = scale::KedaJobBatch(spec);
        const int for_waiting = std::min(spec.max_replicas, (queued + batch - 1) / batch) - running;
        change.start = std::clamp(std::max(change.start, for_waiting), 0, std::max(0, spec.max_replicas - running));
        k.last = scale::KedaDecision{};
        k.last.active = !empty;
        k.last.reason = change.start > 0 ? "jobs" : "idle";
        k.readings = std::move(readings);
      } else if (rev->pool->queued() > 0 && running == 0 && spec.max_replicas > 0) {
        change.start = 1;  // a delivery waits and no job runs: one now
      }
      if (!retry) change.start = 0;
      rev->desired = running + change.start;
      k.last.desired = rev->desired;
    } else {
      int want = rev->desired;
      if (poll) {
        const bool busy = rev->pool->in_flight() > 0 || rev->pool->queued() > 0;
        k.last = scale::KedaDecide(spec, readings, busy, rev->desired, now, &k.state);
        k.readings = std::move(readings);
        want = k.last.desired;
      }
      if (want == 0 && rev->pool->queued() > 0) {
        // A delivery (or request) waits: an instance now, not at the next poll.
        want = std::min(std::max(1, spec.min_replicas), std::max(1, spec.max_replicas));
        k.state.ever_active = true;
        k.state.last_active = now;
      }
      rev->desired = want;
      if (retry && want > ready + rev->starting) change.start = want - ready - rev->starting;
      if (want < ready) change.remove = ready - want;
    }
    rev->starting += change.start;
  }
  if (complete_idle) rev->pool->CompleteIdleJobs();
  for (int i = 0; i < change.start; ++i) StartInstance(rev);
  if (change.remove > 0) rev->pool->RemoveInstances(change.remove);
  rev->pool->ExpireQueued();
}

void Autoscaler::StartInstance(const std::shared_ptr<Rev>& rev, bool here) {
  // The start pool only begins the start: a driver whose instances take a
  // while to become ready answers from its own thread (StartAsync).
  auto start = [this, rev] {
    Clock::Duration t0 = clock_->Monotonic();
    rev->driver->StartAsync(*rev->instance_spec, [this, rev, t0](Result<std::shared_ptr<backend::Instance>> started) {
      Started(rev, t0, std::move(started));
    });
  };
  if (here) {
    start();
  } else {
    starts_(std::move(start));
  }
}

void Autoscaler::Started(const std::shared_ptr<Rev>& rev, Clock::Duration t0,
                         Result<std::shared_ptr<backend::Instance>> started) {
  double secs = std::chrono::duration<double>(clock_->Monotonic() - t0).count();
  bool notify = false;
  if (started.ok()) WatchHealth(rev, **started);
  {
    // Into the pool and no longer starting in one step, under the
    // revision's lock: a tick (a poke) or a status read in between would
    // count it twice, or, the other way round, see neither and start one
    // more. The requests the pool hands the new instance go out once the
    // lock is let go (DeferLaunches, destroyed after the lock).
    gateway::RevisionPool::DeferLaunches defer;
    std::lock_guard<std::mutex> lock(rev->mu);
    if (started.ok() && !rev->removed) AddToPoolLocked(*rev, std::move(*started));
    --rev->starting;
    if (started.ok()) {
      notify = !rev->ever_ready || !rev->failure.empty();
      rev->ever_ready = true;
      rev->failure.clear();
      rev->failed_starts = 0;
      ++rev->cold_starts;
      rev->cold_sum += secs;
      for (size_t i = 0; i < kColdStartBuckets.size(); ++i) {
        if (secs <= kColdStartBuckets[i]) ++rev->cold_buckets[i];
      }
    } else {
      notify = rev->failure != started.status().message();
      rev->failure = started.status().message();
      if (rev->spec->keda && rev->spec->keda->job && rev->keda) ++rev->keda->jobs_failed;
      ++rev->failed_starts;
      std::chrono::seconds wait(1);
      for (int i = 1; i < rev->failed_starts && wait < kStartRetryCap; ++i) wait *= 2;
      rev->retry_at = clock_->Monotonic() + std::min<Clock::Duration>(wait, kStartRetryCap);
    }
  }
  if (!started.ok()) {
    OFN_LOG(kWarning) << "revision " << rev->pool->ns() << "/" << rev->pool->revision()
                      << " failed to start an instance: " << started.status().message();
  }
  changed_->Add(rev->pool->ns() + "/" + rev->pool->revision());
  if (notify && on_change_) on_change_();
}

std::vector<std::string> Autoscaler::TakeChanged() {
  std::lock_guard<std::mutex> lock(changed_->mu);
  std::vector<std::string> out(changed_->keys.begin(), changed_->keys.end());
  changed_->keys.clear();
  return out;
}

void Autoscaler::Join(const std::shared_ptr<Rev>& rev, std::shared_ptr<backend::Instance> instance) {
  WatchHealth(rev, *instance);
  gateway::RevisionPool::DeferLaunches defer;  // hand-outs after the lock
  std::lock_guard<std::mutex> lock(rev->mu);
  AddToPoolLocked(*rev, std::move(instance));
}

void Autoscaler::WatchHealth(const std::shared_ptr<Rev>& rev, backend::Instance& instance) {
  std::weak_ptr<gateway::RevisionPool> weak = rev->pool;
  instance.SetHealthObserver([weak, on_change = on_change_, changed = changed_,
                              key = rev->pool->ns() + "/" + rev->pool->revision()] {
    if (auto pool = weak.lock()) pool->RefreshHealth();
    changed->Add(key);
    if (on_change) on_change();
  });
}

void Autoscaler::AddToPoolLocked(Rev& rev, std::shared_ptr<backend::Instance> instance) {
  // The pool's lock is taken under the revision's (as a tick does); what
  // the pool hands out goes to the caller's DeferLaunches or runs at once.
  if (rev.spec->keda && rev.spec->keda->job) {
    rev.pool->AddJob(std::move(instance), scale::KedaJobBatch(*rev.spec->keda));
  } else {
    rev.pool->AddInstance(std::move(instance));
  }
}

void Autoscaler::Loop(bool ticker) {
  std::unique_lock<std::mutex> lock(mu_);
  Clock::Duration next_tick = clock_->Monotonic() + std::chrono::seconds(2);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return stop_; });
    if (stop_) break;
    bool tick = ticker && clock_->Monotonic() >= next_tick;
    lock.unlock();
    if (tick) {
      TickAll();
      next_tick = clock_->Monotonic() + std::chrono::seconds(2);
    }
    lock.lock();
  }
}

RevisionScaleStatus Autoscaler::Snapshot(const Rev& rev) {
  RevisionScaleStatus s;
  s.ns = rev.pool->ns();
  s.function = rev.pool->function();
  s.revision = rev.pool->revision();
  s.ready = rev.pool->ready();
  s.queued = rev.pool->queued();
  s.in_flight = rev.pool->in_flight();
  s.counters = rev.pool->counters();
  s.serving = rev.pool->serving();
  for (const backend::InstanceHealth& h : rev.pool->Health()) {
    s.restarts += h.restarts;
    if (s.instance_reason.empty() && !h.reason.empty()) {
      s.instance_reason = h.reason;
      s.instance_message = h.message;
    }
    if (s.limits_warning.empty()) {
      s.limits_warning = h.limits_warning;
      s.warning_reason = h.warning_reason;
    }
  }
  std::lock_guard<std::mutex> lock(rev.mu);
  s.desired = rev.desired;
  s.starting = rev.starting;
  s.reachable = rev.reachable;
  s.panicking = rev.last.panicking;
  s.ever_ready = rev.ever_ready;
  s.recovered = rev.recovered;
  s.failure = rev.failure;
  s.concurrency = rev.concurrency;
  s.rps = rev.rps;
  s.excess_burst_capacity = rev.last.excess_burst_capacity;
  s.cold_starts = rev.cold_starts;
  s.cold_start_seconds_sum = rev.cold_sum;
  s.cold_start_buckets = rev.cold_buckets;
  s.spec = *rev.spec;
  if (rev.spec->keda && rev.keda) {
    for (size_t i = 0; i < rev.spec->keda->triggers.size(); ++i) {
      RevisionScaleStatus::Trigger t;
      t.name = rev.spec->keda->triggers[i].name;
      t.type = rev.spec->keda->triggers[i].type;
      if (i < rev.keda->readings.size()) t.reading = rev.keda->readings[i];
      s.triggers.push_back(std::move(t));
    }
    s.keda_active = rev.keda->last.active;
    s.keda_reason = rev.keda->last.reason;
    if (rev.spec->keda->job) {
      s.job = true;
      s.jobs_running = s.ready + rev.starting;
      s.jobs_succeeded = rev.keda->jobs_succeeded;
      s.jobs_failed = rev.keda->jobs_failed;
    }
  }
  return s;
}

std::optional<RevisionScaleStatus> Autoscaler::Status(const std::string& ns, const std::string& revision) const {
  std::shared_ptr<Rev> rev;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = revs_.find(ns + "/" + revision);
    if (it == revs_.end()) return std::nullopt;
    rev = it->second;
  }
  return Snapshot(*rev);
}

std::vector<RevisionScaleStatus> Autoscaler::StatusAll() const {
  std::vector<std::shared_ptr<Rev>> revs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, rev] : revs_) revs.push_back(rev);
  }
  std::vector<RevisionScaleStatus> out;
  for (const auto& rev : revs) out.push_back(Snapshot(*rev));
  return out;
}

}  // namespace ofn::platform::internal
