// RevisionPool: the data path of one revision behind the route — activator,
// container-concurrency limit and load balancing in one place.
//
// A request is given to the ready instance with the fewest requests in
// flight (ties rotate), as long as that instance is below the container
// concurrency (0: unlimited). When no instance can take it, the request
// waits in one FIFO queue for the revision (bounded; overflow is 503 with
// Retry-After) and the autoscaler is poked at once; whenever an instance
// frees a slot or a new one becomes ready, the oldest waiter goes first. A
// request that waited longer than the queue timeout (on the injected clock)
// gets 504. Removing an instance takes it out of rotation; what it is
// serving finishes, so scaling N → 0 drops nothing.
//
// A request whose client goes away (PendingBody::OnAbandon) leaves the queue
// at once and is never handed to an instance. Requests that finish while
// others are being handed out never recurse: hand-outs on one thread run
// one after another from a single loop, so stack depth stays constant
// whatever the queue length.
//
// Function code runs on the executor, or, for a function whose calls have
// proved short, at once on a gateway I/O thread that lends its turn
// (internal/inline_turn.h): after kInlineStreak calls in a row under
// PoolOptions::inline_budget it runs inline; a call over the budget sends it
// back to the executor when another of its last kSlowWindow calls was over
// it too, and the streak it then needs doubles (at most 2^20), so a function
// that is only sometimes slow settles on the executor. A long call alone is
// more often the thread losing its CPU than the function being slow: it
// halves that streak instead (down to kInlineStreak). Thread-safe.
#ifndef LIBOFN_GATEWAY_REVISION_POOL_H_
#define LIBOFN_GATEWAY_REVISION_POOL_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "libofn/backend/driver.h"
#include "libofn/common/clock.h"
#include "libofn/common/fifo.h"
#include "libofn/gateway/weighted.h"
#include "libofn/scale/metrics.h"
#include "libofn/serve/http.h"

namespace ofn::gateway {

// Called once with the response, from any thread.
using Responder = std::function<void(HttpResponse)>;
// Runs a task, now or later, on some thread.
using Executor = std::function<void(std::function<void()>)>;

struct PoolOptions {
  size_t queue_limit = 10000;
  std::chrono::nanoseconds queue_timeout = std::chrono::minutes(5);
  int container_concurrency = 0;  // 0: unlimited
  // How long a proxied instance may take to start its response.
  std::chrono::milliseconds response_timeout = std::chrono::minutes(5);
  // A call longer than this (wall time) is not short (see inline calls).
  std::chrono::microseconds inline_budget{500};
};

class RevisionPool : public std::enable_shared_from_this<RevisionPool> {
 public:
  static constexpr int kInlineStreak = 32;
  static constexpr int kSlowWindow = 256;
  RevisionPool(std::string ns, std::string function, std::string revision, PoolOptions options, Clock* clock,
               Executor executor);
  ~RevisionPool();

  const std::string& ns() const { return ns_; }
  const std::string& function() const { return function_; }
  const std::string& revision() const { return revision_; }

  // While one lives, the requests any pool hands to an instance on this
  // thread are dispatched when it ends (in order), not at once: a caller
  // whose own state must not be held while a function runs (the
  // autoscaler, starting an instance for a waiting request) opens one.
  class DeferLaunches {
   public:
    DeferLaunches();
    ~DeferLaunches();  // dispatches what was deferred
    DeferLaunches(const DeferLaunches&) = delete;
    DeferLaunches& operator=(const DeferLaunches&) = delete;

   private:
    std::deque<std::function<void()>> handouts_;
    std::deque<std::function<void()>>* outer_;
  };

  // Called (without locks held) when a request has to wait.
  void SetPoke(std::function<void()> poke);
  void SetContainerConcurrency(int limit);

  void Submit(HttpRequest request, Responder respond);

  void AddInstance(std::shared_ptr<backend::Instance> instance);
  // A job (KEDA's scaledJob): an instance that takes at most `batch`
  // requests and leaves the pool once it has answered them; `done` (set
  // once, called without locks) hears of each job that ended.
  void AddJob(std::shared_ptr<backend::Instance> instance, int batch);
  void SetJobDone(std::function<void()> done);
  // Ends the jobs with nothing in flight (there is no more work for them);
  // returns how many. Each counts as done.
  int CompleteIdleJobs();
  // Re-reads every instance's Health(): an instance that is not serving
  // (restarting after a crash) takes no requests until it is back.
  void RefreshHealth();
  std::vector<backend::InstanceHealth> Health() const;
  // Takes up to `n` instances out of rotation, idlest first; returns how many.
  int RemoveInstances(int n);
  // Answers 504 to waiters older than the queue timeout; returns how many.
  int ExpireQueued();
  // Answers 503 to every waiter and removes every instance.
  void Close();

  int ready() const;    // instances owned, serving or restarting
  bool closed() const;  // Close() was called: it takes no more requests
  int serving() const;  // instances taking requests
  size_t queued() const;
  int64_t in_flight() const;  // being served by instances
  scale::RequestStats& stats() { return stats_; }

  struct Counters {
    uint64_t served = 0;
    uint64_t overflowed = 0;  // 503: queue full
    uint64_t timed_out = 0;   // 504: waited too long
    uint64_t queued = 0;      // had to wait at all
    uint64_t cancelled = 0;   // the client went away before an instance took it
  };
  Counters counters() const;
  // Whether calls run on the I/O thread that dispatches them (see above).
  bool runs_inline() const { return inline_ok_.load(std::memory_order_relaxed); }

 private:
  struct Slot {
    std::shared_ptr<backend::Instance> instance;
    int outstanding = 0;
    bool serving = true;
    int quota = 0;  // a job's batch (0: not a job)
    int taken = 0;  // requests a job was given
  };
  struct Waiter {
    HttpRequest request;
    Responder respond;
    Clock::Duration since;
    uint64_t id = 0;
    bool cancelled = false;  // client gone; skipped and compacted away
  };
  struct Assignment {
    std::shared_ptr<Slot> slot;
    Waiter waiter;
  };

  std::shared_ptr<Slot> PickLocked();
  // An instance into rotation; `quota` > 0: a job of that batch.
  void Add(std::shared_ptr<backend::Instance> instance, int quota);
  void Dispatch(std::shared_ptr<Slot> slot, HttpRequest request, Responder respond);
  void Run(std::shared_ptr<Slot> slot, HttpRequest request, Responder respond);
  void Proxy(std::shared_ptr<Slot> slot, std::string upstream, HttpRequest request);
  void Call(const std::shared_ptr<Slot>& slot, const HttpRequest& request, const Responder& respond);
  void Finish(const std::shared_ptr<Slot>& slot, bool served = true);
  void Cancel(uint64_t waiter_id);
  void DrainQueueLocked(std::vector<Assignment>* out);
  void CompactQueueLocked();
  size_t LiveQueuedLocked() const { return queue_.size() - cancelled_in_queue_; }
  void Launch(std::vector<Assignment> work);

  const std::string ns_, function_, revision_;
  PoolOptions options_;
  Clock* clock_;
  Executor executor_;
  scale::RequestStats stats_;
  // Inline calls (see the top of this file).
  std::atomic<bool> inline_ok_{false};
  std::atomic<int> fast_streak_{0};
  // Calls since the last one over the budget (counted up to kSlowWindow).
  std::atomic<int> since_slow_{kSlowWindow};
  std::atomic<int> streak_needed_;

  mutable std::mutex mu_;
  std::function<void()> poke_;
  std::function<void()> job_done_;
  std::vector<std::shared_ptr<Slot>> slots_;  // in rotation
  Fifo<Waiter> queue_;  // ids ascending
  size_t cancelled_in_queue_ = 0;
  uint64_t next_waiter_id_ = 1;
  size_t rotate_ = 0;
  int64_t in_flight_ = 0;
  bool closed_ = false;
  Counters counters_;
};

// Where a route's requests go: revisions by percent. Picks are spread by a
// counter (stride 37 over 100 slots), so any 100 consecutive requests split
// exactly by the percentages. Immutable once published.
class TrafficSplit {
 public:
  struct Target {
    std::shared_ptr<RevisionPool> pool;
    int percent = 0;
  };
  // `counter`: the position in the split's sequence, shared with the split
  // this one replaces (see WeightedSlots); null: its own.
  explicit TrafficSplit(std::vector<Target> targets, WeightedSlots::Counter counter = nullptr);
  static std::shared_ptr<const TrafficSplit> Single(std::shared_ptr<RevisionPool> pool);

  // Null when there is no target.
  RevisionPool* Pick() const;
  const std::vector<Target>& targets() const { return targets_; }

 private:
  std::vector<Target> targets_;
  WeightedSlots slots_;
};

}  // namespace ofn::gateway

#endif  // LIBOFN_GATEWAY_REVISION_POOL_H_
