// The async runtime end to end in one platform: cron inputs on the manual
// clock, context.send to a pub/sub topic, subscribers, retries with back-off,
// dead letters, positions across a restart, and what status says when a
// component is missing.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "libofn/platform/platform.h"
#include "tests/unit/test_util.h"

namespace ofn {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::TempDir;

// What functions saw, with a wait for it.
struct Seen {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> items;
  void Add(std::string s) {
    // Notified under the lock: a waiter that sees the item may destroy this
    // at once.
    std::lock_guard<std::mutex> lock(mu);
    items.push_back(std::move(s));
    cv.notify_all();
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return items.size();
  }
  std::vector<std::string> copy() {
    std::lock_guard<std::mutex> lock(mu);
    return items;
  }
};

std::string Function(const std::string& name, const std::string& serving, const std::string& annotations = "") {
  return "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: " + name + "\n" +
         (annotations.empty() ? "" : "  annotations:\n" + annotations) + "spec:\n  version: v1.0.0\n  image: ofn.local/" +
         name + ":latest\n  serving:\n    template:\n      containers:\n        - name: function\n" + serving;
}

const char* kCronEvery2s =
    "    triggers:\n      dapr:\n        - name: cron\n          type: bindings.cron\n"
    "    bindings:\n      cron:\n        type: bindings.cron\n        version: v1\n        metadata:\n"
    "          - name: schedule\n            value: \"@every 2s\"\n";

const char* kBusComponent =
    "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: bus\nspec:\n  type: pubsub.in-memory\n"
    "  version: v1\n  metadata: []\n";

std::string Subscriber(const std::string& topic) {
  return "    triggers:\n      dapr:\n        - name: bus\n          type: pubsub.in-memory\n          topic: " + topic +
         "\n";
}

// Closes the platform when a test body ends, however it ends: declared after
// the locals its functions use, it goes before them.
struct CloseAtEnd {
  std::unique_ptr<Platform>& platform;
  ~CloseAtEnd() {
    if (platform) platform->Close(std::chrono::seconds(1));
  }
};

class AsyncTest : public ::testing::Test {
 protected:
  void Open() {
    Platform::Options o;
    o.state_dir = dir_.path();
    o.clock = &clock_;
    o.gateway_address = "";  // no listener: nothing here needs one
    o.autoscale_ticker = false;
    o.events_ticker = false;  // the test fires what is due (RunEvents)
    auto p = Platform::Open(o);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    platform_ = std::move(*p);
  }
  void Apply(const std::string& yaml) {
    auto r = platform_->Apply(yaml);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  void Running(const std::string& name) {
    auto r = platform_->WaitFor(name, [](const FunctionInfo& f) { return f.serving_state == "Running"; }, seconds(10));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  // Runs what is due until `seen` holds `n` items (or 10 s pass): each
  // firing or retry goes out once the one before it was answered.
  bool RunUntil(Seen& seen, size_t n) {
    auto deadline = std::chrono::steady_clock::now() + seconds(10);
    std::unique_lock<std::mutex> lock(seen.mu);
    while (seen.items.size() < n && std::chrono::steady_clock::now() < deadline) {
      lock.unlock();
      platform_->RunEvents();
      lock.lock();
      seen.cv.wait_for(lock, milliseconds(5), [&] { return seen.items.size() >= n; });
    }
    return seen.items.size() >= n;
  }
  // The value of one metric line once it reads `want` (counters move after
  // the function answered), or what it read last after 10 s.
  std::string MetricBecomes(const std::string& line_prefix, const std::string& want) {
    auto deadline = std::chrono::steady_clock::now() + seconds(10);
    std::string got = Metric(line_prefix);
    while (got != want && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(2));
      got = Metric(line_prefix);
    }
    return got;
  }
  std::string Metric(const std::string& line_prefix) {
    std::string text = platform_->Metrics();
    size_t at = text.find(line_prefix + " ");
    if (at == std::string::npos) return "<none>";
    size_t end = text.find('\n', at);
    return text.substr(at + line_prefix.size() + 1, end - at - line_prefix.size() - 1);
  }

  TempDir dir_;
  ManualClock clock_{ManualClock::TimePoint(seconds(1795000000))};
  std::unique_ptr<Platform> platform_;
};

TEST_F(AsyncTest, ACronTriggeredProducerSendsToASubscriberThroughPubSub) {
  Open();
  Seen produced, consumed;
  std::atomic<int> with_request{0};
  const CloseAtEnd closer{platform_};
  platform_->functions().OpenFunction("producer", [&](Context& ctx, std::string_view) {
    if (ctx.http_request()) ++with_request;
    std::string n = std::to_string(produced.size() + 1);
    produced.Add(n);
    if (!ctx.Send("bus", "{\"tick\":" + n + "}")) throw std::runtime_error("send refused");
    return std::string();
  });
  platform_->functions().OpenFunction("consumer", [&](Context&, std::string_view data) {
    consumed.Add(std::string(data));
    return std::string();
  });
  Apply(kBusComponent);
  Apply(Function("consumer", Subscriber("ticks")));
  Apply(Function("producer", std::string(kCronEvery2s) +
                                 "    outputs:\n      - dapr:\n          name: bus\n          topic: ticks\n"));
  Running("consumer");
  Running("producer");
  ASSERT_TRUE(platform_->Sync().ok());

  platform_->RunEvents();
  EXPECT_EQ(produced.size(), 0u);  // nothing due before 2 s
  clock_.Advance(seconds(2));
  ASSERT_TRUE(RunUntil(consumed, 1));
  clock_.Advance(seconds(4));
  ASSERT_TRUE(RunUntil(consumed, 3));
  // The subscriber gets the data of the CloudEvent the output published.
  EXPECT_EQ(consumed.copy(), (std::vector<std::string>{"{\"tick\":1}", "{\"tick\":2}", "{\"tick\":3}"}));
  EXPECT_EQ(produced.size(), 3u);
  EXPECT_EQ(with_request, 0);  // an event, not a client, called them
  EXPECT_EQ(MetricBecomes("ofn_async_delivered_total{namespace=\"default\",function=\"consumer\",input=\"bus\"}", "3"), "3");
  EXPECT_EQ(MetricBecomes("ofn_async_delivered_total{namespace=\"default\",function=\"producer\",input=\"cron\"}", "3"), "3");
}

TEST_F(AsyncTest, AFailedDeliveryIsRetriedWithBackOffThenDeadLettered) {
  Open();
  Seen flaky_seen, doomed_seen, morgue;
  const CloseAtEnd closer{platform_};
  platform_->functions().OpenFunction("sender", [](Context& ctx, std::string_view data) {
    const bool flaky = ctx.Send("bus", std::string(data));
    return std::string(flaky ? "sent" : "refused");
  });
  platform_->functions().OpenFunction("flaky", [&](Context&, std::string_view data) {
    flaky_seen.Add(std::string(data));
    if (flaky_seen.size() < 3) throw std::runtime_error("not yet");
    return std::string();
  });
  platform_->functions().OpenFunction("doomed", [&](Context&, std::string_view data) -> std::string {
    doomed_seen.Add(std::string(data));
    throw std::runtime_error("never");
  });
  platform_->functions().OpenFunction("morgue", [&](Context&, std::string_view data) {
    morgue.Add(std::string(data));
    return std::string();
  });
  Apply(kBusComponent);
  Apply(Function("flaky", Subscriber("work")));
  Apply(Function("doomed", Subscriber("work"),
                 "    ofn.io/max-delivery-attempts: \"2\"\n    ofn.io/dead-letter-topic: dead\n"));
  Apply(Function("morgue", Subscriber("dead")));
  Apply(Function("sender", "    triggers:\n      http:\n        port: 8080\n"
                           "    outputs:\n      - dapr:\n          name: bus\n          topic: work\n"));
  for (const char* f : {"flaky", "doomed", "morgue", "sender"}) Running(f);
  ASSERT_TRUE(platform_->Sync().ok());

  HttpRequest send;
  send.method = "POST";
  send.body = "job-1";
  HttpResponse r = platform_->Invoke("sender", send);
  ASSERT_EQ(r.body, "sent");
  const std::string flaky = "{namespace=\"default\",function=\"flaky\",input=\"bus\"}";
  const std::string doomed = "{namespace=\"default\",function=\"doomed\",input=\"bus\"}";
  ASSERT_TRUE(RunUntil(flaky_seen, 1));
  ASSERT_TRUE(RunUntil(doomed_seen, 1));
  // A retry is due a back-off after the failure was seen.
  ASSERT_EQ(MetricBecomes("ofn_async_retried_total" + flaky, "1"), "1");
  ASSERT_EQ(MetricBecomes("ofn_async_retried_total" + doomed, "1"), "1");
  // The first retry waits 1 s of the platform clock, the second 2 s more.
  platform_->RunEvents();
  EXPECT_EQ(flaky_seen.size(), 1u);
  clock_.Advance(seconds(1));
  ASSERT_TRUE(RunUntil(flaky_seen, 2));
  ASSERT_TRUE(RunUntil(doomed_seen, 2));  // its last attempt
  ASSERT_TRUE(RunUntil(morgue, 1));       // ... then the dead-letter topic
  ASSERT_EQ(MetricBecomes("ofn_async_retried_total" + flaky, "2"), "2");
  clock_.Advance(milliseconds(1999));
  platform_->RunEvents();
  EXPECT_EQ(flaky_seen.size(), 2u);
  clock_.Advance(milliseconds(1));
  ASSERT_TRUE(RunUntil(flaky_seen, 3));
  EXPECT_EQ(flaky_seen.copy(), (std::vector<std::string>{"job-1", "job-1", "job-1"}));
  EXPECT_EQ(morgue.copy(), (std::vector<std::string>{"job-1"}));
  EXPECT_EQ(doomed_seen.size(), 2u);
  EXPECT_EQ(MetricBecomes("ofn_async_delivered_total" + flaky, "1"), "1");
  EXPECT_EQ(Metric("ofn_async_retried_total" + flaky), "2");
  EXPECT_EQ(MetricBecomes("ofn_async_dead_lettered_total" + doomed, "1"), "1");
  EXPECT_EQ(Metric("ofn_async_delivered_total" + doomed), "0");
}

TEST_F(AsyncTest, CronFiringsMissedWhileThePlatformWasDownAreDeliveredAfterARestart) {
  Seen ids;
  const CloseAtEnd closer{platform_};
  auto register_ticker = [&] {
    platform_->functions().Http("ticker", [&](const HttpRequest& r) {
      ids.Add(r.event_input + " " + r.headers.GetOr("ce-type", "") + " " + r.headers.GetOr("ce-id", ""));
      return HttpResponse::Text(200, "ok");
    });
  };
  auto firing = [&](int s) {
    return "cron bindings.cron " + FormatRfc3339(ManualClock::TimePoint(seconds(1795000000 + s)));
  };
  Open();
  register_ticker();
  Apply(Function("ticker", kCronEvery2s));
  Running("ticker");
  clock_.Advance(seconds(4));
  ASSERT_TRUE(RunUntil(ids, 2));
  // Both consumed (acknowledged) before the platform stops.
  ASSERT_EQ(MetricBecomes("ofn_async_delivered_total{namespace=\"default\",function=\"ticker\",input=\"cron\"}", "2"),
            "2");
  platform_->Close(seconds(1));
  platform_.reset();

  clock_.Advance(seconds(6));  // down from +4 s to +10 s
  Open();
  register_ticker();
  Running("ticker");
  ASSERT_TRUE(RunUntil(ids, 5)) << ::testing::PrintToString(ids.copy()) << platform_->Metrics();
  platform_->RunEvents();
  EXPECT_EQ(ids.copy(), (std::vector<std::string>{firing(2), firing(4), firing(6), firing(8), firing(10)}));
}

TEST_F(AsyncTest, AMissingComponentIsNamedInTheServingStatus) {
  Open();
  platform_->functions().OpenFunction("lonely", [](Context&, std::string_view) { return std::string(); });
  Apply(Function("lonely", Subscriber("t")));
  auto r = platform_->WaitFor("lonely", [](const FunctionInfo& f) { return f.serving_reason == "ComponentUnavailable"; },
                              seconds(10));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->serving_message,
            "component bus is neither in serving.bindings/pubsub/states nor a Component in namespace default");
  // Applying the Component makes it run.
  Apply(kBusComponent);
  r = platform_->WaitFor("lonely", [](const FunctionInfo& f) { return f.serving_reason.empty(); }, seconds(10));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->serving_state, "Running");
}

}  // namespace
}  // namespace ofn
