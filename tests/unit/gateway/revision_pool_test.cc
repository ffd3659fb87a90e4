// RevisionPool under overload: hand-outs never recurse, abandoned requests
// leave the queue and never reach an instance — alone and behind a real
// HttpServer whose clients hang up.
#include "libofn/gateway/revision_pool.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "libofn/gateway/server.h"
#include "libofn/testing/loopback.h"

namespace ofn::gateway {
namespace {

// An instance the gateway would proxy to; Handle is never used by a
// streamed request.
class UpstreamInstance : public backend::Instance {
 public:
  HttpResponse Handle(const HttpRequest&) override {
    ++handled;
    return HttpResponse::Text(200, "handled");
  }
  std::string Upstream() const override { return "127.0.0.1:9"; }
  std::atomic<int> handled{0};
};

// The client side of a request as the pool sees it. `Proxy` either finishes
// at once (the session behind it is already gone, as when clients hung up)
// or holds `done` until the test releases it.
class FakeBody : public PendingBody {
 public:
  explicit FakeBody(bool finish_at_once) : finish_at_once_(finish_at_once) {}
  void Read(std::function<void(Result<std::string>)> done) override { done(std::string()); }
  void Proxy(HttpRequest, std::string, std::chrono::milliseconds, std::function<void(int)> done) override {
    ++proxied;
    if (finish_at_once_) {
      done(0);
    } else {
      held = std::move(done);
    }
  }
  bool Abandoned() const override { return abandoned; }
  void OnAbandon(std::function<void()> fn) override {
    if (abandoned) {
      fn();
    } else {
      on_abandon = std::move(fn);
    }
  }
  void Abandon() {
    abandoned = true;
    if (auto fn = std::exchange(on_abandon, nullptr)) fn();
  }

  std::function<void(int)> held;
  int proxied = 0;
  bool abandoned = false;
  std::function<void()> on_abandon;

 private:
  bool finish_at_once_;
};

HttpRequest StreamedRequest(std::shared_ptr<FakeBody> body) {
  HttpRequest r;
  r.pending_body = std::move(body);
  return r;
}

std::shared_ptr<RevisionPool> MakePool(int container_concurrency, size_t queue_limit = 1000000) {
  PoolOptions o;
  o.container_concurrency = container_concurrency;
  o.queue_limit = queue_limit;
  return std::make_shared<RevisionPool>("default", "f", "f-00001", o, Clock::System(),
                                        [](std::function<void()> task) { task(); });
}

// The crash a hostile probe found: a queue of requests whose sessions are
// gone drained by recursion (Finish -> Launch -> Proxy -> done -> Finish)
// until the stack overflowed. 200,000 of them now drain in a loop.
TEST(RevisionPoolTest, DrainingAQueueOfInstantlyFinishingRequestsDoesNotRecurse) {
  auto pool = MakePool(/*container_concurrency=*/1);
  pool->AddInstance(std::make_shared<UpstreamInstance>());
  auto first = std::make_shared<FakeBody>(/*finish_at_once=*/false);
  pool->Submit(StreamedRequest(first), [](HttpResponse) {});
  ASSERT_EQ(first->proxied, 1);
  constexpr int kQueued = 200000;
  auto instant = std::make_shared<FakeBody>(/*finish_at_once=*/true);
  for (int i = 0; i < kQueued; ++i) pool->Submit(StreamedRequest(instant), [](HttpResponse) {});
  EXPECT_EQ(pool->queued(), static_cast<size_t>(kQueued));
  EXPECT_EQ(instant->proxied, 0);

  first->held(200);  // frees the only slot
  EXPECT_EQ(instant->proxied, kQueued);
  EXPECT_EQ(pool->queued(), 0u);
  EXPECT_EQ(pool->in_flight(), 0);
  EXPECT_EQ(pool->counters().served, static_cast<uint64_t>(kQueued + 1));
}

class OkInstance : public backend::Instance {
 public:
  HttpResponse Handle(const HttpRequest&) override { return HttpResponse::Text(200, "ok"); }
};

// KEDA's scaledJob in the pool: a job takes its batch and no more, and
// leaves once it answered it; CompleteIdleJobs ends the jobs with nothing
// in flight; a plain instance is never a job.
TEST(RevisionPoolTest, AJobTakesItsBatchAndLeavesWhenItHasAnsweredIt) {
  std::vector<std::function<void()>> calls;  // calls run when the test says
  auto pool = std::make_shared<RevisionPool>("default", "f", "f-00001", PoolOptions{}, Clock::System(),
                                             [&](std::function<void()> task) { calls.push_back(std::move(task)); });
  int done = 0, answered = 0;
  pool->SetJobDone([&] { ++done; });
  pool->AddJob(std::make_shared<OkInstance>(), 3);
  for (int i = 0; i < 5; ++i) pool->Submit(HttpRequest{}, [&](HttpResponse r) { answered += r.status == 200; });
  ASSERT_EQ(calls.size(), 3u);  // its batch; two wait
  EXPECT_EQ(pool->queued(), 2u);
  calls[0]();
  calls[1]();
  EXPECT_EQ(answered, 2);
  EXPECT_EQ(done, 0);
  EXPECT_EQ(pool->ready(), 1);
  calls[2]();
  EXPECT_EQ(done, 1);  // its whole batch answered: it is gone
  EXPECT_EQ(pool->ready(), 0);
  EXPECT_EQ(pool->queued(), 2u);
  pool->AddJob(std::make_shared<OkInstance>(), 3);
  ASSERT_EQ(calls.size(), 5u);  // the two that waited
  calls[3]();
  calls[4]();
  EXPECT_EQ(answered, 5);
  EXPECT_EQ(pool->ready(), 1);  // two of three taken: it waits for more work
  EXPECT_EQ(pool->CompleteIdleJobs(), 1);
  EXPECT_EQ(done, 2);
  EXPECT_EQ(pool->ready(), 0);
  pool->AddInstance(std::make_shared<OkInstance>());
  EXPECT_EQ(pool->CompleteIdleJobs(), 0);
  EXPECT_EQ(pool->ready(), 1);
}

// A function whose calls are short except when told to take longer than
// the inline budget (the way a call looks when its thread loses the CPU).
class SometimesLongInstance : public backend::Instance {
 public:
  explicit SometimesLongInstance(std::chrono::microseconds long_call) : long_call_(long_call) {}
  HttpResponse Handle(const HttpRequest& r) override {
    if (r.headers.Has("X-Long")) std::this_thread::sleep_for(long_call_);
    return HttpResponse::Text(200, "ok");
  }

 private:
  std::chrono::microseconds long_call_;
};

// One long call among short ones keeps a proven-short function inline and
// halves the streak it would need again; a second within kSlowWindow calls
// sends it back to the executor and doubles that streak.
TEST(RevisionPoolTest, OneLongCallAloneKeepsAFunctionInlineASecondSoonAfterDoesNot) {
  PoolOptions po;
  po.inline_budget = std::chrono::milliseconds(50);
  auto pool = std::make_shared<RevisionPool>("default", "f", "f-00001", po, Clock::System(),
                                             [](std::function<void()> task) { task(); });
  pool->AddInstance(std::make_shared<SometimesLongInstance>(po.inline_budget * 2));
  int answered = 0, calls = 0;
  auto call = [&](bool long_call) {
    HttpRequest r;
    if (long_call) r.headers.Add("X-Long", "1");
    ++calls;
    pool->Submit(std::move(r), [&](HttpResponse resp) { answered += resp.status == 200; });
  };
  auto short_calls = [&](int n) {
    for (int i = 0; i < n; ++i) call(false);
  };
  constexpr int kStreak = RevisionPool::kInlineStreak, kWindow = RevisionPool::kSlowWindow;
  short_calls(kStreak);
  ASSERT_TRUE(pool->runs_inline());
  call(true);
  EXPECT_TRUE(pool->runs_inline()) << "one long call alone";
  short_calls(kWindow);
  call(true);
  EXPECT_TRUE(pool->runs_inline()) << "the first long call was kSlowWindow calls ago";
  short_calls(kWindow - 1);
  call(true);
  EXPECT_FALSE(pool->runs_inline()) << "two long calls within kSlowWindow";
  // Back inline after the doubled streak of short calls.
  short_calls(2 * kStreak - 1);
  EXPECT_FALSE(pool->runs_inline());
  call(false);
  ASSERT_TRUE(pool->runs_inline());
  // An isolated long call halves the streak (64 -> 32) before the next one
  // doubles it: 64 short calls bring it back, not 128.
  short_calls(kWindow);
  call(true);
  EXPECT_TRUE(pool->runs_inline());
  call(true);
  EXPECT_FALSE(pool->runs_inline());
  short_calls(2 * kStreak - 1);
  EXPECT_FALSE(pool->runs_inline());
  call(false);
  EXPECT_TRUE(pool->runs_inline());
  EXPECT_EQ(answered, calls);
}

TEST(RevisionPoolTest, AbandonedWaitersLeaveTheQueueAndNeverReachAnInstance) {
  auto pool = MakePool(/*container_concurrency=*/1);
  pool->AddInstance(std::make_shared<UpstreamInstance>());
  auto first = std::make_shared<FakeBody>(false);
  pool->Submit(StreamedRequest(first), [](HttpResponse) {});
  std::vector<std::shared_ptr<FakeBody>> waiting;
  for (int i = 0; i < 1000; ++i) {
    waiting.push_back(std::make_shared<FakeBody>(false));
    pool->Submit(StreamedRequest(waiting.back()), [](HttpResponse) {});
  }
  ASSERT_EQ(pool->queued(), 1000u);
  // Every other client leaves, then all but the last.
  for (size_t i = 0; i < waiting.size(); i += 2) waiting[i]->Abandon();
  EXPECT_EQ(pool->queued(), 500u);
  for (size_t i = 1; i + 1 < waiting.size(); i += 2) waiting[i]->Abandon();
  EXPECT_EQ(pool->queued(), 1u);
  EXPECT_EQ(pool->counters().cancelled, 999u);

  first->held(200);
  for (size_t i = 0; i + 1 < waiting.size(); ++i) EXPECT_EQ(waiting[i]->proxied, 0) << i;
  EXPECT_EQ(waiting.back()->proxied, 1);
  waiting.back()->held(200);
  EXPECT_EQ(pool->in_flight(), 0);
  EXPECT_EQ(pool->counters().served, 2u);
}

TEST(RevisionPoolTest, ARequestAbandonedAfterLeavingTheQueueIsNotHandedOut) {
  // Abandoned between the queue and the instance (OnAbandon registered late).
  auto pool = MakePool(1);
  auto instance = std::make_shared<UpstreamInstance>();
  pool->AddInstance(instance);
  auto first = std::make_shared<FakeBody>(false);
  pool->Submit(StreamedRequest(first), [](HttpResponse) {});
  auto gone = std::make_shared<FakeBody>(false);
  pool->Submit(StreamedRequest(gone), [](HttpResponse) {});
  gone->abandoned = true;  // without the callback: only the hand-out check sees it
  first->held(200);
  EXPECT_EQ(gone->proxied, 0);
  EXPECT_EQ(pool->in_flight(), 0);
  EXPECT_EQ(pool->counters().cancelled, 1u);
  // The slot it would have taken is free for the next request.
  auto next = std::make_shared<FakeBody>(false);
  pool->Submit(StreamedRequest(next), [](HttpResponse) {});
  EXPECT_EQ(next->proxied, 1);
}

TEST(RevisionPoolTest, QueueLimitCountsOnlyLiveWaiters) {
  auto pool = MakePool(1, /*queue_limit=*/2);
  pool->AddInstance(std::make_shared<UpstreamInstance>());
  auto first = std::make_shared<FakeBody>(false);
  pool->Submit(StreamedRequest(first), [](HttpResponse) {});
  auto a = std::make_shared<FakeBody>(false), b = std::make_shared<FakeBody>(false);
  pool->Submit(StreamedRequest(a), [](HttpResponse) {});
  pool->Submit(StreamedRequest(b), [](HttpResponse) {});
  int overflow = 0;
  pool->Submit(StreamedRequest(std::make_shared<FakeBody>(false)), [&](HttpResponse r) { overflow = r.status; });
  EXPECT_EQ(overflow, 503);
  a->Abandon();
  int status = 0;
  pool->Submit(StreamedRequest(std::make_shared<FakeBody>(false)), [&](HttpResponse r) { status = r.status; });
  EXPECT_EQ(status, 0);  // queued, not refused
  EXPECT_EQ(pool->queued(), 2u);
}

// Behind a real server: clients that send a request and hang up while it
// waits take it out of the queue; the function runs only for the one that
// had an instance, and the server goes on serving.
TEST(RevisionPoolTest, ClientsHangingUpEmptyTheQueueBehindARealServer) {
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool open = false;
    std::atomic<int> calls{0};
  };
  auto gate = std::make_shared<Gate>();
  class Blocking : public backend::Instance {
   public:
    explicit Blocking(std::shared_ptr<Gate> g) : g_(std::move(g)) {}
    HttpResponse Handle(const HttpRequest&) override {
      ++g_->calls;
      std::unique_lock<std::mutex> lock(g_->mu);
      g_->cv.wait(lock, [&] { return g_->open; });
      return HttpResponse::Text(200, "ok");
    }

   private:
    std::shared_ptr<Gate> g_;
  };
  PoolOptions po;
  po.container_concurrency = 1;
  std::vector<std::thread> runners;
  std::mutex runners_mu;
  auto pool = std::make_shared<RevisionPool>("default", "f", "f-00001", po, Clock::System(),
                                             [&](std::function<void()> task) {
                                               std::lock_guard<std::mutex> lock(runners_mu);
                                               runners.emplace_back(std::move(task));
                                             });
  pool->AddInstance(std::make_shared<Blocking>(gate));
  ServerOptions so;
  so.stream_bodies = true;
  auto server = HttpServer::StartAsync(so, [pool](HttpRequest r, HttpServer::Responder respond) {
    pool->Submit(std::move(r), std::move(respond));
  });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const int port = (*server)->port();

  // The first request takes the only slot and blocks in the function.
  int held = testing::ConnectLoopback(port);
  const std::string get = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  ASSERT_TRUE(testing::SendAll(held, get.data(), get.size()));
  auto wait_for = [](auto pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!pred() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return pred();
  };
  ASSERT_TRUE(wait_for([&] { return gate->calls.load() == 1; }));

  constexpr int kClients = 300;
  std::vector<int> fds;
  for (int i = 0; i < kClients; ++i) {
    int fd = testing::ConnectLoopback(port);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(testing::SendAll(fd, get.data(), get.size()));
    fds.push_back(fd);
  }
  ASSERT_TRUE(wait_for([&] { return pool->queued() == static_cast<size_t>(kClients); })) << pool->queued();
  for (int fd : fds) ::close(fd);
  ASSERT_TRUE(wait_for([&] { return pool->queued() == 0; })) << pool->queued() << " still queued";
  EXPECT_EQ(pool->counters().cancelled, static_cast<uint64_t>(kClients));

  {
    std::lock_guard<std::mutex> lock(gate->mu);
    gate->open = true;
  }
  gate->cv.notify_all();
  char buf[512];
  ssize_t n = ::recv(held, buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)).rfind("HTTP/1.1 200", 0), 0u);
  ::close(held);
  // Nobody else's request reached the function; a new one is served.
  int fresh = testing::ConnectLoopback(port);
  ASSERT_TRUE(testing::SendAll(fresh, get.data(), get.size()));
  n = ::recv(fresh, buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)).rfind("HTTP/1.1 200", 0), 0u);
  ::close(fresh);
  EXPECT_EQ(gate->calls.load(), 2);
  (*server)->Stop(std::chrono::milliseconds(1000));
  std::lock_guard<std::mutex> lock(runners_mu);
  for (auto& t : runners) t.join();
}

// One response on a keep-alive connection: the status line and the body
// (Content-Length framing); empty when nothing came within 20 s.
std::pair<std::string, std::string> ReadResponse(int fd) {
  timeval tv{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string in;
  char buf[4096];
  size_t end;
  while ((end = in.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return {};
    in.append(buf, static_cast<size_t>(n));
  }
  size_t len = 0;
  size_t cl = in.find("Content-Length: ");
  if (cl != std::string::npos && cl < end) len = std::stoul(in.substr(cl + 16));
  while (in.size() < end + 4 + len) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return {};
    in.append(buf, static_cast<size_t>(n));
  }
  return {in.substr(0, in.find("\r\n")), in.substr(end + 4, len)};
}

// Functions whose calls prove short run on the I/O thread that dispatches
// them. One that then blocks holds I/O threads, yet another function keeps
// answering (spare I/O threads), and the blocked one goes back to the
// executor once its calls came back long.
TEST(RevisionPoolTest, AFunctionHeldOnTheIoThreadsStallsNoOtherFunction) {
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool hold = false;
    std::atomic<int> inside{0};
  };
  auto gate = std::make_shared<Gate>();
  class Holding : public backend::Instance {
   public:
    explicit Holding(std::shared_ptr<Gate> g) : g_(std::move(g)) {}
    HttpResponse Handle(const HttpRequest&) override {
      std::unique_lock<std::mutex> lock(g_->mu);
      ++g_->inside;
      g_->cv.wait(lock, [&] { return !g_->hold; });
      --g_->inside;
      return HttpResponse::Text(200, "slow");
    }

   private:
    std::shared_ptr<Gate> g_;
  };
  class Fast : public backend::Instance {
   public:
    HttpResponse Handle(const HttpRequest&) override { return HttpResponse::Text(200, "fast"); }
  };
  struct Cleanup {
    std::function<void()> fn;
    ~Cleanup() { fn(); }
  };
  std::mutex runners_mu;
  std::vector<std::thread> runners;
  // Runs last: the gate is open and the server stopped by then.
  Cleanup join_runners{[&] {
    std::lock_guard<std::mutex> lock(runners_mu);
    for (auto& t : runners) {
      if (t.joinable()) t.join();
    }
  }};
  std::atomic<int> slow_on_executor{0};
  auto executor = [&](std::atomic<int>* count) {
    return [&, count](std::function<void()> task) {
      if (count) ++*count;
      std::lock_guard<std::mutex> lock(runners_mu);
      runners.emplace_back(std::move(task));
    };
  };
  // A budget no short call here misses, even under a sanitizer on a busy
  // machine; the held calls below are held longer than it.
  PoolOptions po;
  po.inline_budget = std::chrono::milliseconds(100);
  auto slow = std::make_shared<RevisionPool>("default", "slow", "slow-00001", po, Clock::System(),
                                             executor(&slow_on_executor));
  auto fast = std::make_shared<RevisionPool>("default", "fast", "fast-00001", po, Clock::System(),
                                             executor(nullptr));
  slow->AddInstance(std::make_shared<Holding>(gate));
  fast->AddInstance(std::make_shared<Fast>());
  ServerOptions so;
  so.stream_bodies = true;
  so.io_threads = 2;
  auto server = HttpServer::StartAsync(so, [&](HttpRequest r, HttpServer::Responder respond) {
    (r.headers.GetOr("Host", "") == "slow" ? slow : fast)->Submit(std::move(r), std::move(respond));
  });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  // Runs first: whatever failed, nothing stays held.
  Cleanup open_gate{[&] {
    {
      std::lock_guard<std::mutex> lock(gate->mu);
      gate->hold = false;
    }
    gate->cv.notify_all();
  }};
  const int port = (*server)->port();
  const std::string get_slow = "GET / HTTP/1.1\r\nHost: slow\r\n\r\n";
  const std::string get_fast = "GET / HTTP/1.1\r\nHost: fast\r\n\r\n";

  // Short calls: after a streak of them, both run inline.
  int warm = testing::ConnectLoopback(port);
  for (int i = 0; i < 4000 && !(slow->runs_inline() && fast->runs_inline()); ++i) {
    for (const std::string* get : {&get_slow, &get_fast}) {
      ASSERT_TRUE(testing::SendAll(warm, get->data(), get->size()));
      ASSERT_EQ(ReadResponse(warm).first, "HTTP/1.1 200 OK");
    }
  }
  ::close(warm);
  ASSERT_TRUE(slow->runs_inline());
  ASSERT_TRUE(fast->runs_inline());
  const int before = slow_on_executor.load();

  // Now the slow function blocks: three requests hold three I/O threads
  // (more than the server runs).
  {
    std::lock_guard<std::mutex> lock(gate->mu);
    gate->hold = true;
  }
  std::vector<int> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(testing::ConnectLoopback(port));
    ASSERT_TRUE(testing::SendAll(held.back(), get_slow.data(), get_slow.size()));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (gate->inside.load() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(gate->inside.load(), 3);
  EXPECT_EQ(slow_on_executor.load(), before) << "the held calls run on I/O threads";

  // The other function answers every request meanwhile.
  int client = testing::ConnectLoopback(port);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(testing::SendAll(client, get_fast.data(), get_fast.size()));
    auto [status, body] = ReadResponse(client);
    ASSERT_EQ(status, "HTTP/1.1 200 OK") << "request " << i;
    ASSERT_EQ(body, "fast");
  }
  ::close(client);
  EXPECT_EQ(gate->inside.load(), 3) << "still held";
  // Held for longer than the budget, whatever the speed of the above.
  std::this_thread::sleep_for(po.inline_budget + std::chrono::milliseconds(20));

  {
    std::lock_guard<std::mutex> lock(gate->mu);
    gate->hold = false;
  }
  gate->cv.notify_all();
  for (int fd : held) {
    auto [status, body] = ReadResponse(fd);
    EXPECT_EQ(body, "slow") << status;
    ::close(fd);
  }
  // Its calls came back long: it runs on the executor again.
  EXPECT_FALSE(slow->runs_inline());
  EXPECT_TRUE(fast->runs_inline());
  int again = testing::ConnectLoopback(port);
  ASSERT_TRUE(testing::SendAll(again, get_slow.data(), get_slow.size()));
  EXPECT_EQ(ReadResponse(again).second, "slow");
  ::close(again);
  EXPECT_EQ(slow_on_executor.load(), before + 1);
  (*server)->Stop(std::chrono::milliseconds(1000));
}

}  // namespace
}  // namespace ofn::gateway
