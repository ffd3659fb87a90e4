#include "libofn/gateway/revision_pool.h"

#include <algorithm>
#include <deque>

#include "libofn/gateway/internal/inline_turn.h"
#include "libofn/gateway/server.h"

namespace ofn::gateway {

RevisionPool::RevisionPool(std::string ns, std::string function, std::string revision, PoolOptions options,
                           Clock* clock, Executor executor)
    : ns_(std::move(ns)),
      function_(std::move(function)),
      revision_(std::move(revision)),
      options_(options),
      clock_(clock),
      executor_(std::move(executor)),
      streak_needed_(kInlineStreak) {}

RevisionPool::~RevisionPool() = default;

void RevisionPool::SetPoke(std::function<void()> poke) {
  std::lock_guard<std::mutex> lock(mu_);
  poke_ = std::move(poke);
}

void RevisionPool::SetContainerConcurrency(int limit) {
  std::vector<Assignment> work;
  {
    std::lock_guard<std::mutex> lock(mu_);
    options_.container_concurrency = limit;
    DrainQueueLocked(&work);
  }
  Launch(std::move(work));
}

std::shared_ptr<RevisionPool::Slot> RevisionPool::PickLocked() {
  std::shared_ptr<Slot> best;
  const size_t n = slots_.size();
  for (size_t k = 0; k < n; ++k) {
    const std::shared_ptr<Slot>& s = slots_[(rotate_ + k) % n];
    if (!s->serving) continue;
    if (s->quota > 0 && s->taken >= s->quota) continue;  // a job given its whole batch
    if (options_.container_concurrency > 0 && s->outstanding >= options_.container_concurrency) continue;
    if (!best || s->outstanding < best->outstanding) best = s;
  }
  if (best) {
    ++rotate_;
    ++best->taken;
    ++best->outstanding;
    ++in_flight_;
  }
  return best;
}

void RevisionPool::Submit(HttpRequest request, Responder respond) {
  stats_.Start(clock_->Monotonic());
  std::shared_ptr<Slot> slot;
  std::function<void()> poke;
  std::shared_ptr<PendingBody> watch;  // the client of a queued request
  uint64_t waiter_id = 0;
  bool closed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed = closed_;
    if (closed_) {
      // Fall through to the 503 below.
    } else if (LiveQueuedLocked() == 0) {
      slot = PickLocked();
    }
    if (!slot && !closed_ && LiveQueuedLocked() < options_.queue_limit) {
      waiter_id = next_waiter_id_++;
      watch = request.pending_body;
      queue_.push_back(Waiter{std::move(request), std::move(respond), clock_->Monotonic(), waiter_id});
      ++counters_.queued;
      poke = poke_;
      respond = nullptr;
    } else if (!slot) {
      ++counters_.overflowed;
    }
  }
  if (slot) {
    Dispatch(std::move(slot), std::move(request), std::move(respond));
    return;
  }
  if (respond) {  // closed or queue full
    stats_.End(clock_->Monotonic());
    HttpResponse r = closed ? ErrorResponse(503, "revision " + revision_ + " is not serving (stopped or being replaced)")
                            : ErrorResponse(503, "revision " + revision_ + " is overloaded: " +
                                                     std::to_string(options_.queue_limit) + " requests are already waiting");
    r.headers.Set("Retry-After", "1");
    respond(std::move(r));
    return;
  }
  if (watch) {
    // A client that leaves while its request waits takes it out of the queue.
    watch->OnAbandon([weak = weak_from_this(), waiter_id] {
      if (auto self = weak.lock()) self->Cancel(waiter_id);
    });
  }
  if (poke) poke();
}

void RevisionPool::Cancel(uint64_t waiter_id) {
  Waiter dropped;  // released outside the lock
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::lower_bound(queue_.begin(), queue_.end(), waiter_id,
                               [](const Waiter& w, uint64_t id) { return w.id < id; });
    if (it == queue_.end() || it->id != waiter_id || it->cancelled) return;
    it->cancelled = true;
    ++cancelled_in_queue_;
    ++counters_.cancelled;
    dropped.request = std::move(it->request);
    dropped.respond = std::move(it->respond);
    CompactQueueLocked();
  }
  stats_.End(clock_->Monotonic());
}

void RevisionPool::CompactQueueLocked() {
  // Amortised: the queue holds at most about twice its live entries.
  if (cancelled_in_queue_ < 64 || cancelled_in_queue_ * 2 < queue_.size()) return;
  queue_.erase_if([](const Waiter& w) { return w.cancelled; });
  cancelled_in_queue_ = 0;
}

void RevisionPool::Dispatch(std::shared_ptr<Slot> slot, HttpRequest request, Responder respond) {
  if (request.pending_body && request.pending_body->Abandoned()) {
    // Its client is gone: the instance never sees it.
    stats_.End(clock_->Monotonic());
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++counters_.cancelled;
    }
    Finish(slot, /*served=*/false);
    return;
  }
  // Handing a streamed request to a proxied instance does not block: do it
  // here instead of hopping to the executor and back to the I/O thread.
  if (request.pending_body) {
    std::string upstream = slot->instance->Upstream();
    if (!upstream.empty()) {
      Proxy(std::move(slot), std::move(upstream), std::move(request));
      return;
    }
  }
  if (inline_ok_.load(std::memory_order_relaxed) && internal::TakeInlineTurn()) {
    Run(std::move(slot), std::move(request), std::move(respond));
    return;
  }
  executor_([self = shared_from_this(), slot = std::move(slot), request = std::move(request),
             respond = std::move(respond)]() mutable { self->Run(slot, std::move(request), std::move(respond)); });
}

void RevisionPool::Run(std::shared_ptr<Slot> slot, HttpRequest request, Responder respond) {
  if (std::shared_ptr<PendingBody> body = std::move(request.pending_body); body && !body->Empty()) {
    // An in-process instance needs the body in memory first (a request
    // without one goes on at once: no round trip to the I/O thread).
    body->Read([self = shared_from_this(), slot, request = std::move(request),
                respond = std::move(respond)](Result<std::string> read) mutable {
      if (!read.ok()) {
        self->stats_.End(self->clock_->Monotonic());
        int status = read.status().code() == StatusCode::kResourceExhausted   ? 413
                     : read.status().code() == StatusCode::kDeadlineExceeded ? 408
                                                                             : 400;
        respond(ErrorResponse(status, read.status().message()));
        self->Finish(slot);
        return;
      }
      request.body = std::move(*read);
      self->executor_([self, slot, request = std::move(request), respond = std::move(respond)]() mutable {
        self->Call(slot, request, respond);
      });
    });
    return;
  }
  Call(slot, request, respond);
}

void RevisionPool::Proxy(std::shared_ptr<Slot> slot, std::string upstream, HttpRequest request) {
  // The gateway streams the body to the instance and the answer back; the
  // responder is not used.
  std::shared_ptr<PendingBody> body = std::move(request.pending_body);
  body->Proxy(std::move(request), std::move(upstream), options_.response_timeout,
              [self = shared_from_this(), slot = std::move(slot)](int) {
                self->stats_.End(self->clock_->Monotonic());
                self->Finish(slot);
              });
}

void RevisionPool::Call(const std::shared_ptr<Slot>& slot, const HttpRequest& request, const Responder& respond) {
  const auto started = std::chrono::steady_clock::now();
  HttpResponse r = slot->instance->Handle(request);
  const auto took = std::chrono::steady_clock::now() - started;
  if (took > options_.inline_budget) {
    fast_streak_.store(0, std::memory_order_relaxed);
    // A second long call among the last kSlowWindow: the function is slow.
    // One alone is more likely the thread losing its CPU: it shortens the
    // streak a function needs again (down to kInlineStreak), so one that
    // settled on the executor after such losses comes back.
    const int streak = streak_needed_.load(std::memory_order_relaxed);
    if (since_slow_.exchange(0, std::memory_order_relaxed) < kSlowWindow) {
      if (inline_ok_.exchange(false, std::memory_order_relaxed)) {
        streak_needed_.store(std::min(streak * 2, 1 << 20), std::memory_order_relaxed);
      }
    } else {
      streak_needed_.store(std::max(streak / 2, kInlineStreak), std::memory_order_relaxed);
    }
  } else {
    if (since_slow_.load(std::memory_order_relaxed) < kSlowWindow) {
      since_slow_.fetch_add(1, std::memory_order_relaxed);
    }
    if (!inline_ok_.load(std::memory_order_relaxed) &&
        fast_streak_.fetch_add(1, std::memory_order_relaxed) + 1 >= streak_needed_.load(std::memory_order_relaxed)) {
      inline_ok_.store(true, std::memory_order_relaxed);
    }
  }
  stats_.End(clock_->Monotonic());
  respond(std::move(r));
  Finish(slot);
}

void RevisionPool::RefreshHealth() {
  std::vector<Assignment> work;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& s : slots_) s->serving = s->instance->Health().serving;
    DrainQueueLocked(&work);
  }
  Launch(std::move(work));
}

std::vector<backend::InstanceHealth> RevisionPool::Health() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<backend::InstanceHealth> out;
  for (const auto& s : slots_) out.push_back(s->instance->Health());
  return out;
}

int RevisionPool::serving() const {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const auto& s : slots_) n += s->serving ? 1 : 0;
  return n;
}

void RevisionPool::Finish(const std::shared_ptr<Slot>& slot, bool served) {
  std::vector<Assignment> work;
  std::function<void()> job_done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    --slot->outstanding;
    --in_flight_;
    if (served) ++counters_.served;
    if (slot->quota > 0 && slot->taken >= slot->quota && slot->outstanding == 0) {
      // A job that answered its whole batch: done.
      auto it = std::find(slots_.begin(), slots_.end(), slot);
      if (it != slots_.end()) {
        slots_.erase(it);
        job_done = job_done_;
      }
    }
    DrainQueueLocked(&work);
  }
  Launch(std::move(work));
  if (job_done) job_done();
}

void RevisionPool::AddJob(std::shared_ptr<backend::Instance> instance, int batch) {
  Add(std::move(instance), std::max(1, batch));
}

void RevisionPool::SetJobDone(std::function<void()> done) {
  std::lock_guard<std::mutex> lock(mu_);
  job_done_ = std::move(done);
}

int RevisionPool::CompleteIdleJobs() {
  std::vector<std::shared_ptr<Slot>> ended;
  std::function<void()> job_done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = slots_.begin(); it != slots_.end();) {
      if ((*it)->quota > 0 && (*it)->outstanding == 0) {
        ended.push_back(std::move(*it));
        it = slots_.erase(it);
      } else {
        ++it;
      }
    }
    job_done = job_done_;
  }
  if (job_done) {
    for (size_t i = 0; i < ended.size(); ++i) job_done();
  }
  return static_cast<int>(ended.size());
}

void RevisionPool::DrainQueueLocked(std::vector<Assignment>* out) {
  while (!queue_.empty()) {
    if (queue_.front().cancelled) {
      queue_.pop_front();
      --cancelled_in_queue_;
      continue;
    }
    std::shared_ptr<Slot> slot = PickLocked();
    if (!slot) break;
    out->push_back(Assignment{std::move(slot), std::move(queue_.front())});
    queue_.pop_front();
  }
}

namespace {
// Hand-outs of the Launch running on this thread; nested Launch calls (a
// request that finishes synchronously frees a slot for the next) append here
// instead of recursing.
thread_local std::deque<std::function<void()>>* t_handouts = nullptr;
}  // namespace

RevisionPool::DeferLaunches::DeferLaunches() : outer_(t_handouts) {
  // Inside a Launch already: what is launched goes after its work anyway.
  if (outer_ == nullptr) t_handouts = &handouts_;
}

RevisionPool::DeferLaunches::~DeferLaunches() {
  if (outer_ != nullptr) return;
  while (!handouts_.empty()) {
    std::function<void()> next = std::move(handouts_.front());
    handouts_.pop_front();
    next();
  }
  t_handouts = nullptr;
}

void RevisionPool::Launch(std::vector<Assignment> work) {
  if (work.empty()) return;
  std::deque<std::function<void()>> local;
  const bool outer = t_handouts == nullptr;
  std::deque<std::function<void()>>& handouts = outer ? local : *t_handouts;
  for (Assignment& a : work) {
    handouts.push_back([self = shared_from_this(), a = std::move(a)]() mutable {
      self->Dispatch(std::move(a.slot), std::move(a.waiter.request), std::move(a.waiter.respond));
    });
  }
  if (!outer) return;
  t_handouts = &local;
  struct Reset {
    ~Reset() { t_handouts = nullptr; }
  } reset;
  while (!local.empty()) {
    std::function<void()> next = std::move(local.front());
    local.pop_front();
    next();
  }
}

void RevisionPool::AddInstance(std::shared_ptr<backend::Instance> instance) { Add(std::move(instance), 0); }

void RevisionPool::Add(std::shared_ptr<backend::Instance> instance, int quota) {
  std::vector<Assignment> work;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    auto slot = std::make_shared<Slot>();
    slot->serving = instance->Health().serving;
    slot->instance = std::move(instance);
    slot->quota = quota;
    slots_.push_back(std::move(slot));
    DrainQueueLocked(&work);
  }
  Launch(std::move(work));
}

int RevisionPool::RemoveInstances(int n) {
  std::vector<std::shared_ptr<Slot>> removed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (n-- > 0 && !slots_.empty()) {
      auto idlest = std::min_element(slots_.begin(), slots_.end(),
                                     [](const auto& a, const auto& b) { return a->outstanding < b->outstanding; });
      removed.push_back(std::move(*idlest));
      slots_.erase(idlest);
    }
  }
  // Requests in flight hold their slot; the instance goes when the last ends.
  return static_cast<int>(removed.size());
}

int RevisionPool::ExpireQueued() {
  std::vector<Waiter> expired;
  Clock::Duration now = clock_->Monotonic();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->cancelled) {
        it = queue_.erase(it);
        --cancelled_in_queue_;
      } else if (now - it->since >= options_.queue_timeout) {
        expired.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    counters_.timed_out += expired.size();
  }
  for (Waiter& w : expired) {
    stats_.End(now);
    w.respond(ErrorResponse(504, "revision " + revision_ + " had no ready instance within " +
                             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(options_.queue_timeout).count()) +
                             " ms"));
  }
  return static_cast<int>(expired.size());
}

void RevisionPool::Close() {
  Fifo<Waiter> waiters;
  std::vector<std::shared_ptr<Slot>> slots;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    waiters.swap(queue_);
    cancelled_in_queue_ = 0;
    slots.swap(slots_);
    poke_ = nullptr;
  }
  for (Waiter& w : waiters) {
    if (w.cancelled) continue;
    stats_.End(clock_->Monotonic());
    HttpResponse r = ErrorResponse(503, "revision " + revision_ + " was removed");
    r.headers.Set("Retry-After", "1");
    w.respond(std::move(r));
  }
}

bool RevisionPool::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

int RevisionPool::ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(slots_.size());
}

size_t RevisionPool::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return LiveQueuedLocked();
}

int64_t RevisionPool::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

RevisionPool::Counters RevisionPool::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

namespace {
std::vector<int> PercentsOf(const std::vector<TrafficSplit::Target>& targets) {
  std::vector<int> out;
  for (const TrafficSplit::Target& t : targets) out.push_back(t.percent);
  return out;
}
}  // namespace

TrafficSplit::TrafficSplit(std::vector<Target> targets, WeightedSlots::Counter counter)
    : targets_(std::move(targets)), slots_(PercentsOf(targets_), std::move(counter)) {}

std::shared_ptr<const TrafficSplit> TrafficSplit::Single(std::shared_ptr<RevisionPool> pool) {
  return std::make_shared<const TrafficSplit>(std::vector<Target>{{std::move(pool), 100}});
}

RevisionPool* TrafficSplit::Pick() const {
  int idx = slots_.Pick();
  return idx < 0 ? nullptr : targets_[static_cast<size_t>(idx)].pool.get();
}

}  // namespace ofn::gateway
