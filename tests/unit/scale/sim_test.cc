// Deterministic simulation: load traces through a RevisionPool (the
// activator) scaled by the KPA on a ManualClock, single-threaded. Function
// calls are deferred tasks that finish `duration` after they start, so
// concurrency = rate × duration, as in Little's law.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <vector>

#include "libofn/gateway/revision_pool.h"
#include "libofn/scale/kpa.h"

namespace ofn::scale {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class Ok : public backend::Instance {
 public:
  HttpResponse Handle(const HttpRequest&) override { return HttpResponse::Text(200, "ok"); }
};

struct Sim {
  ManualClock clock;
  ScaleSpec spec;
  DeciderState state;
  milliseconds duration{1000};
  std::multimap<Clock::Duration, std::function<void()>> due;  // deferred calls
  std::shared_ptr<gateway::RevisionPool> pool;
  int desired = 0, ok = 0, failed = 0, sent = 0;
  bool pending_start = false;
  std::vector<bool> panic_by_tick;
  std::vector<int> ready_by_tick;

  Sim() {
    pool = std::make_shared<gateway::RevisionPool>(
        "default", "f", "f-00001", gateway::PoolOptions{}, &clock,
        [this](std::function<void()> task) { due.emplace(clock.Monotonic() + duration, std::move(task)); });
    pool->SetPoke([this] { pending_start = true; });  // activation: one instance at once
    pool->AddInstance(std::make_shared<Ok>());          // initial scale 1
    desired = 1;
  }
  void RunDue() {
    while (!due.empty() && due.begin()->first <= clock.Monotonic()) {
      auto task = std::move(due.begin()->second);
      due.erase(due.begin());
      task();
    }
  }
  void Scale(int want) {
    int ready = pool->ready();
    for (int i = ready; i < want; ++i) pool->AddInstance(std::make_shared<Ok>());
    if (want < ready) pool->RemoveInstances(ready - want);
  }
  void Tick() {
    Clock::Duration now = clock.Monotonic();
    auto c = pool->stats().Concurrency(now, spec.stable_window, spec.PanicWindow());
    int ready = pool->ready();
    Decision d = Decide(spec, c.stable, c.panic, ready, true, now, &state);
    desired = Bound(spec, d, desired, ready, now, &state);
    if (desired == 0 && pool->queued() > 0) desired = 1;
    Scale(desired);
    panic_by_tick.push_back(d.panicking);
    ready_by_tick.push_back(pool->ready());
  }
  // `rps` requests spread over each 100 ms step for `secs` seconds; ticks every 2 s.
  void Run(int rps, int secs) {
    for (int step = 0; step < secs * 10; ++step) {
      int n = rps / 10 + (step % 10 < rps % 10 ? 1 : 0);
      for (int i = 0; i < n; ++i) {
        ++sent;
        pool->Submit(HttpRequest{}, [this](HttpResponse r) { r.status == 200 ? ++ok : ++failed; });
      }
      if (pending_start) {
        pending_start = false;
        if (pool->ready() == 0) Scale(desired = 1);
      }
      clock.Advance(milliseconds(100));
      RunDue();
      if ((clock.Monotonic().count() / 100000000) % 20 == 0) Tick();
    }
  }
};

TEST(SimulationTest, SteadyLoadHoldsItsInstanceCount) {
  Sim s;
  s.Run(50, 120);  // concurrency 50 < 70 per instance
  EXPECT_EQ(s.ready_by_tick.back(), 1);
  for (bool p : s.panic_by_tick) EXPECT_FALSE(p);
  s.Run(0, 2);
  EXPECT_EQ(s.failed, 0);
  EXPECT_EQ(s.ok, s.sent);
}

TEST(SimulationTest, TenfoldStepPanicsWithinOnePanicWindowAndDropsNothing) {
  Sim s;
  s.Run(50, 60);
  size_t before = s.panic_by_tick.size();
  s.Run(500, 60);  // concurrency 500: ceil(500 / 70) = 8 instances
  bool panicked = false;
  for (size_t i = before; i < before + 3 && i < s.panic_by_tick.size(); ++i) panicked = panicked || s.panic_by_tick[i];
  EXPECT_TRUE(panicked) << "panic within 3 ticks (6 s)";
  EXPECT_EQ(s.ready_by_tick.back(), 8);
  s.Run(0, 2);
  EXPECT_EQ(s.failed, 0);
  EXPECT_EQ(s.ok, s.sent);
}

TEST(SimulationTest, SpikeThenIdleScalesToZeroAfterWindowAndGrace) {
  Sim s;
  s.Run(1000, 4);  // a short spike
  int peak = 0;
  for (int r : s.ready_by_tick) peak = std::max(peak, r);
  EXPECT_GE(peak, 8);
  size_t idle_from = s.ready_by_tick.size();
  s.Run(0, 150);
  EXPECT_EQ(s.ready_by_tick.back(), 0);
  // Zero is reached only after the panic/stable window and the 30 s grace.
  size_t zero_at = idle_from;
  while (zero_at < s.ready_by_tick.size() && s.ready_by_tick[zero_at] != 0) ++zero_at;
  double secs = static_cast<double>(zero_at - idle_from + 1) * 2;
  EXPECT_GE(secs, 60.0 + 30.0) << "scaled to zero " << secs << " s after the spike";
  EXPECT_LE(secs, 60.0 + 60.0 + 30.0 + 4.0);
  EXPECT_EQ(s.failed, 0);
  EXPECT_EQ(s.ok, s.sent);
}

TEST(SimulationTest, BurstFromZeroIsQueuedAndServedInFull) {
  Sim s;
  s.Run(0, 100);
  ASSERT_EQ(s.pool->ready(), 0);
  s.Run(300, 10);  // from zero: the first requests wait in the activator
  EXPECT_GT(s.pool->counters().queued, 0u);
  EXPECT_GE(s.ready_by_tick.back(), 4);
  s.Run(0, 2);
  EXPECT_EQ(s.failed, 0);
  EXPECT_EQ(s.ok, s.sent);
  EXPECT_EQ(s.pool->counters().overflowed, 0u);
}

}  // namespace
}  // namespace ofn::scale
