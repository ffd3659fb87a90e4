// Revisions, traffic split, tags, rollout under load and scale 0 -> N -> 0,
// through real HTTP on the in-process backend.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "libofn/gateway/client.h"
#include "libofn/platform/platform.h"
#include "tests/unit/test_util.h"

namespace ofn {
namespace {

using std::chrono::seconds;
using testing::TempDir;

Platform::Options Opts(const std::string& dir, Clock* clock = nullptr) {
  Platform::Options o;
  o.state_dir = dir;
  o.gateway_address = "127.0.0.1:0";
  o.clock = clock;
  return o;
}

// A Function "hello" served by the host function `func`, plus extra YAML
// appended under spec (traffic) and under serving (scale options).
std::string Hello(const std::string& func, const std::string& spec_extra = "", const std::string& serving_extra = "") {
  return "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: hello\nspec:\n"
         "  version: v1.0.0\n  image: ofn.local/hello:latest\n" +
         spec_extra + "  serving:\n    params:\n      FUNC_NAME: " + func + "\n" + serving_extra +
         "    template:\n      containers:\n        - name: function\n    triggers:\n      http:\n        port: 8080\n";
}

HttpResponse Send(Platform& p, const std::string& host, std::chrono::seconds timeout = seconds(10)) {
  HttpRequest req;
  req.target = "/";
  req.headers.Set("Host", host);
  auto r = gateway::HttpCall(p.gateway_address(), req, timeout);
  if (!r.ok()) {
    HttpResponse failed;
    failed.status = 0;
    failed.body = r.status().ToString();
    return failed;
  }
  return *r;
}

Result<FunctionInfo> WaitLatestReady(Platform& p, const std::string& revision) {
  return p.WaitFor(
      "hello",
      [&](const FunctionInfo& f) { return f.latest_ready_revision == revision && f.serving_reason.empty(); },
      seconds(10));
}

TEST(TrafficTest, SplitsTenThousandRequestsByPercentAndTagsReachOnlyTheirRevision) {
  TempDir dir;
  auto p = Platform::Open(Opts(dir.path()));
  ASSERT_TRUE(p.ok());
  (*p)->functions().Http("one", [](const HttpRequest&) { return HttpResponse::Text(200, "one"); });
  (*p)->functions().Http("two", [](const HttpRequest&) { return HttpResponse::Text(200, "two"); });
  ASSERT_TRUE((*p)->Apply(Hello("one")).ok());
  ASSERT_TRUE(WaitLatestReady(**p, "hello-00001").ok());

  const std::string split = "  traffic:\n    - revisionName: hello-00001\n      percent: {A}\n      tag: old\n"
                            "    - latestRevision: true\n      percent: {B}\n      tag: new\n";
  for (auto [a, b] : {std::pair{50, 50}, std::pair{90, 10}}) {
    std::string t = split;
    t.replace(t.find("{A}"), 3, std::to_string(a));
    t.replace(t.find("{B}"), 3, std::to_string(b));
    auto applied = (*p)->Apply(Hello("two", t));
    ASSERT_TRUE(applied.ok()) << applied.status().ToString();
    auto info = WaitLatestReady(**p, "hello-00002");
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    ASSERT_TRUE((*p)->Sync().ok());
    std::map<std::string, int> seen;
    for (int i = 0; i < 10000; ++i) {
      HttpResponse r = Send(**p, "hello.default.ofn.io");
      ASSERT_EQ(r.status, 200) << r.body;
      ++seen[r.body];
    }
    EXPECT_NEAR(seen["one"], a * 100, 300) << a << "/" << b;
    EXPECT_NEAR(seen["two"], b * 100, 300) << a << "/" << b;
    EXPECT_EQ(seen["one"] + seen["two"], 10000);
  }
  // Only two revisions: changing traffic alone makes none.
  auto revs = (*p)->Revisions("hello");
  ASSERT_TRUE(revs.ok());
  ASSERT_EQ(revs->size(), 2u);
  EXPECT_EQ((*revs)[0].percent, 90);
  EXPECT_EQ((*revs)[1].percent, 10);
  EXPECT_EQ((*revs)[0].tags, std::vector<std::string>{"old"});
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(Send(**p, "old-hello.default.ofn.io").body, "one");
    EXPECT_EQ(Send(**p, "new-hello.default.ofn.io").body, "two");
  }
  auto info = (*p)->GetFunction("hello");
  ASSERT_TRUE(info.ok());
  EXPECT_NE(info->json.find(R"({"type":"Tag","value":"http://old-hello.default.ofn.io/"})"), std::string::npos)
      << info->json;
  EXPECT_EQ(info->latest_created_revision, "hello-00002");
}

TEST(TrafficTest, InvalidTrafficIsRejectedAndChangesNothing) {
  TempDir dir;
  auto p = Platform::Open(Opts(dir.path()));
  ASSERT_TRUE(p.ok());
  auto r = (*p)->Apply(Hello("one", "  traffic:\n    - revisionName: hello-00001\n      percent: 60\n"
                                    "    - latestRevision: true\n      revisionName: x\n      percent: 30\n      tag: Bad\n"));
  ASSERT_FALSE(r.ok());
  const std::string& msg = r.status().message();
  EXPECT_NE(msg.find("spec.traffic: percents must sum to 100, got 90"), std::string::npos) << msg;
  EXPECT_NE(msg.find("spec.traffic[1].revisionName: must not be set together with latestRevision"), std::string::npos);
  EXPECT_NE(msg.find("spec.traffic[1].tag: must be a DNS label"), std::string::npos);
  auto bad_scale = (*p)->Apply(Hello("one", "", "    scaleOptions:\n      knative:\n"
                                                "        autoscaling.knative.dev/metric: cpu\n"));
  ASSERT_FALSE(bad_scale.ok());
  EXPECT_NE(bad_scale.status().message().find("autoscaling.knative.dev/metric"), std::string::npos);
  EXPECT_FALSE((*p)->GetFunction("hello").ok());
}

TEST(TrafficTest, ARevisionThatNeverGetsReadyLeavesTrafficWhereItWas) {
  TempDir dir;
  auto p = Platform::Open(Opts(dir.path()));
  ASSERT_TRUE(p.ok());
  (*p)->functions().Http("one", [](const HttpRequest&) { return HttpResponse::Text(200, "one"); });
  ASSERT_TRUE((*p)->Apply(Hello("one")).ok());
  ASSERT_TRUE(WaitLatestReady(**p, "hello-00001").ok());
  ASSERT_TRUE((*p)->Apply(Hello("missing")).ok());
  auto info = (*p)->WaitFor("hello", [](const FunctionInfo& f) { return f.serving_reason == "RevisionFailed"; },
                            seconds(10));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->serving_state, "Running");
  EXPECT_EQ(info->latest_created_revision, "hello-00002");
  EXPECT_EQ(info->latest_ready_revision, "hello-00001");
  EXPECT_NE(info->serving_message.find("missing"), std::string::npos) << info->serving_message;
  EXPECT_EQ(Send(**p, "hello.default.ofn.io").body, "one");
}

TEST(RolloutTest, NewRevisionUnderContinuousLoadLosesNothing) {
  TempDir dir;
  auto p = Platform::Open(Opts(dir.path()));
  ASSERT_TRUE(p.ok());
  std::atomic<int> inits{0};
  (*p)->functions().Http("one", [](const HttpRequest&) { return HttpResponse::Text(200, "one"); });
  (*p)->functions().Http("two", [](const HttpRequest&) { return HttpResponse::Text(200, "two"); });
  (*p)->functions().Init("two", [&](std::string_view) {
    ++inits;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a real cold start
  });
  ASSERT_TRUE((*p)->Apply(Hello("one")).ok());
  ASSERT_TRUE(WaitLatestReady(**p, "hello-00001").ok());

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, bad{0}, twos{0};
  std::mutex mu;
  std::string first_bad;
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      while (!stop.load()) {
        HttpResponse r = Send(**p, "hello.default.ofn.io");
        if (r.status == 200) {
          ++ok;
          if (r.body == "two") ++twos;
        } else {
          ++bad;
          std::lock_guard<std::mutex> lock(mu);
          if (first_bad.empty()) first_bad = std::to_string(r.status) + " " + r.body;
        }
      }
    });
  }
  while (ok.load() < 200) std::this_thread::yield();
  ASSERT_TRUE((*p)->Apply(Hello("two")).ok());
  ASSERT_TRUE(WaitLatestReady(**p, "hello-00002").ok());
  int at_switch = twos.load();
  while (twos.load() < at_switch + 200) std::this_thread::yield();
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(bad.load(), 0) << first_bad;
  EXPECT_GT(ok.load(), 400);
  EXPECT_GE(inits.load(), 1);
}

// The autoscaler on a ManualClock: ticks happen only when the test says.
class ScaleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto o = Opts(dir_.path(), &clock_);
    o.autoscale_ticker = false;
    auto p = Platform::Open(o);
    ASSERT_TRUE(p.ok());
    p_ = std::move(*p);
    p_->functions().Http("slow", [this](const HttpRequest&) {
      std::unique_lock<std::mutex> lock(mu_);
      ++in_handler_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_; });
      return HttpResponse::Text(200, "done");
    });
    p_->functions().Init("slow", [this](std::string_view) { ++inits_; });
  }
  void Tick(int seconds_each, int n) {
    for (int i = 0; i < n; ++i) {
      clock_.Advance(seconds(seconds_each));
      p_->Autoscale();
    }
  }
  RevisionInfo Rev() {
    auto revs = p_->Revisions("hello");
    EXPECT_TRUE(revs.ok() && !revs->empty());
    return revs.ok() && !revs->empty() ? revs->back() : RevisionInfo{};
  }
  void SetOpen(bool open) {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = open;
    cv_.notify_all();
  }
  void WaitInHandler(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, seconds(10), [&] { return in_handler_ >= n; })) << in_handler_;
  }

  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<Platform> p_;
  std::mutex mu_;
  std::condition_variable cv_;
  int in_handler_ = 0;
  bool open_ = true;
  std::atomic<int> inits_{0};
};

TEST_F(ScaleTest, IdleToZeroAfterGraceThenColdStartOnTheFirstRequest) {
  ASSERT_TRUE(p_->Apply(Hello("slow")).ok());
  ASSERT_TRUE(p_->WaitReady("hello", seconds(10)).ok());
  EXPECT_EQ(Rev().ready_instances, 1);
  Tick(2, 15);  // 30 s idle: still in the grace period (it began at the first tick)
  EXPECT_EQ(Rev().ready_instances, 1);
  Tick(2, 1);
  EXPECT_EQ(Rev().ready_instances, 0) << "scaled to zero after the 30 s grace";
  // Zero -> one: the request waits in the activator, the poke starts an instance.
  HttpResponse r = Send(*p_, "hello.default.ofn.io");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "done");
  EXPECT_EQ(inits_.load(), 2);
  RevisionInfo rev = Rev();
  EXPECT_EQ(rev.cold_starts, 2u);
  EXPECT_EQ(rev.ready_instances, 1);
  std::string metrics = p_->Metrics();
  EXPECT_NE(metrics.find("ofn_revision_cold_start_seconds_count{namespace=\"default\",function=\"hello\","
                         "revision=\"hello-00001\"} 2"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("ofn_revision_queued_requests_total{namespace=\"default\",function=\"hello\","
                         "revision=\"hello-00001\"} 1"),
            std::string::npos);
}

TEST_F(ScaleTest, ASupersededRevisionGoesToZeroWhateverItsMinReplicas) {
  const std::string min2 = "    scaleOptions:\n      minReplicas: 2\n";
  ASSERT_TRUE(p_->Apply(Hello("slow", "", min2)).ok());
  auto ready = p_->WaitReady("hello", seconds(10));
  ASSERT_TRUE(ready.ok()) << ready.status().ToString() << " " << p_->GetFunction("hello")->json;
  Tick(2, 1);
  auto first = [&] {
    auto revs = p_->Revisions("hello");
    return revs.ok() && !revs->empty() ? revs->front() : RevisionInfo{};
  };
  ASSERT_TRUE(p_->WaitFor("hello", [&](const FunctionInfo&) { return first().ready_instances == 2; }, seconds(10)).ok());
  // A new revision takes all traffic; the old one keeps its two instances
  // only through the scale-to-zero grace.
  p_->functions().Http("other", [](const HttpRequest&) { return HttpResponse::Text(200, "other"); });
  ASSERT_TRUE(p_->Apply(Hello("other", "", min2)).ok());
  ASSERT_TRUE(WaitLatestReady(*p_, "hello-00002").ok());
  EXPECT_EQ(first().percent, 0);
  Tick(2, 16);
  EXPECT_EQ(first().ready_instances, 0) << "a revision without traffic kept its minReplicas";
  EXPECT_EQ(Rev().ready_instances, 2);  // the routed revision keeps them
}

TEST_F(ScaleTest, BurstPanicsWithinOnePanicWindowThenScalesBackToZero) {
  // Target 1 × 0.7 per instance: 10 requests in flight want ceil(10 / 0.7) = 15.
  ASSERT_TRUE(p_->Apply(Hello("slow", "", "    scaleOptions:\n      knative:\n"
                                          "        autoscaling.knative.dev/target: \"1\"\n")).ok());
  ASSERT_TRUE(p_->WaitReady("hello", seconds(10)).ok());
  SetOpen(false);
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 10; ++i) {
    clients.emplace_back([&] {
      if (Send(*p_, "hello.default.ofn.io", seconds(30)).status == 200) ++ok;
    });
  }
  WaitInHandler(10);
  bool panicked = false;
  int ticks_to_panic = 0;
  for (int i = 1; i <= 3 && !panicked; ++i) {  // 3 ticks × 2 s = one 6 s panic window
    Tick(2, 1);
    panicked = Rev().panicking;
    ticks_to_panic = i;
  }
  EXPECT_TRUE(panicked) << "panic mode within one panic window";
  EXPECT_EQ(ticks_to_panic, 1);
  EXPECT_EQ(Rev().desired_instances, 15);
  SetOpen(true);
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 10) << "no request lost while scaling";
  // Panic holds for a stable window after the last tick over the threshold.
  Tick(2, 29);
  EXPECT_TRUE(Rev().panicking);
  EXPECT_EQ(Rev().desired_instances, 15) << "panic mode never scales down";
  Tick(2, 2);
  EXPECT_FALSE(Rev().panicking);
  // Then down at most halving per tick, and to zero after the grace period.
  Tick(2, 40);
  EXPECT_EQ(Rev().ready_instances, 0);
  EXPECT_EQ(Rev().desired_instances, 0);
}

// Knative's cluster settings from a ConfigMap knative-serving/config-autoscaler
// applied to the running platform: with scale to zero disabled an idle
// revision keeps one instance; removing the ConfigMap restores the default.
TEST_F(ScaleTest, ConfigAutoscalerConfigMapIsReadOnTheNextPass) {
  const std::string config = R"(apiVersion: v1
kind: ConfigMap
metadata:
  name: config-autoscaler
  namespace: knative-serving
data:
  enable-scale-to-zero: "false"
  scale-to-zero-grace-period: "10s"
)";
  ASSERT_TRUE(p_->Apply(config).ok());
  ASSERT_TRUE(p_->Apply(Hello("slow")).ok());
  ASSERT_TRUE(p_->WaitReady("hello", seconds(10)).ok());
  Tick(2, 40);
  EXPECT_EQ(Rev().ready_instances, 1) << "scale to zero is disabled";
  ASSERT_TRUE(p_->Delete("ConfigMap", "knative-serving", "config-autoscaler").ok());
  ASSERT_TRUE(p_->Sync().ok());
  Tick(2, 16);
  EXPECT_EQ(Rev().ready_instances, 0) << "default settings again: to zero after the grace period";
  // A bad setting is refused at apply, naming the key; nothing is stored.
  auto bad = p_->Apply(R"(apiVersion: v1
kind: ConfigMap
metadata:
  name: config-autoscaler
  namespace: knative-serving
data:
  stable-window: "2s"
)");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("data.stable-window: must be in 6s"), std::string::npos)
      << bad.status().message();
  EXPECT_FALSE(p_->Get("ConfigMap", "knative-serving", "config-autoscaler").ok());
}

}  // namespace
}  // namespace ofn
