// The Redis components against a real redis-server on loopback (started
// and stopped here; skipped when redis-server is not installed).
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "libofn/events/component.h"
#include "libofn/platform/platform.h"
#include "tests/unit/events/brokers.h"
#include "tests/unit/test_util.h"

namespace ofn::events {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing_brokers::FreePort;
using testing_brokers::Inbox;

class RedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_.up()) GTEST_SKIP() << "redis-server is not installed (scripts/setup.sh installs it)";
    RegisterBuiltinComponents(&registry_);
  }
  ComponentSpec Spec(const std::string& type, std::map<std::string, std::string> md = {}) {
    ComponentSpec s;
    s.ns = "default";
    s.name = "redis";
    s.type = type;
    s.metadata = std::move(md);
    s.metadata["redisHost"] = server_.host();
    return s;
  }
  // Publishes prefix-0 .. prefix-(n-1) to a topic, as a producer would.
  void Publish(const std::string& topic, const std::string& prefix, int n) {
    auto producer = registry_.NewPubSub(Spec("pubsub.redis"), &env_);
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    for (int i = 0; i < n; ++i) ASSERT_TRUE((*producer)->Publish(topic, prefix + std::to_string(i), "", {}).ok());
  }
  // A platform on a manual clock whose autoscaler the test ticks.
  std::unique_ptr<Platform> OpenOnClock(ManualClock* clock, const testing::TempDir& dir) {
    Platform::Options o;
    o.state_dir = dir.path();
    o.gateway_address = "";
    o.clock = clock;
    o.autoscale_ticker = false;
    auto p = Platform::Open(o);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(*p) : nullptr;
  }
  testing_brokers::RedisServer server_;
  ComponentRegistry registry_;
  testing_brokers::FakeEnv env_;
};

TEST_F(RedisTest, StreamsDeliverEveryMessageToEachConsumerGroupOnce) {
  auto ps = registry_.NewPubSub(Spec("pubsub.redis"), &env_);
  ASSERT_TRUE(ps.ok()) << ps.status().ToString();
  Inbox a1, a2, b;
  auto sa1 = (*ps)->Subscribe("orders", "group-a", a1.Handler());
  auto sa2 = (*ps)->Subscribe("orders", "group-a", a2.Handler());
  auto sb = (*ps)->Subscribe("orders", "group-b", b.Handler());
  ASSERT_TRUE(sa1.ok() && sa2.ok() && sb.ok());
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE((*ps)->Publish("orders", "order-" + std::to_string(i), "text/plain", {}).ok());
  }
  ASSERT_TRUE(b.WaitFor(200));
  auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (a1.size() + a2.size() < 200 && std::chrono::steady_clock::now() < deadline) {
    a1.WaitFor(a1.size() + 1, milliseconds(20));
  }
  EXPECT_EQ(a1.size() + a2.size(), 200u);  // shared within the group
  std::set<std::string> seen;
  for (const Message& m : a1.Snapshot()) seen.insert(m.data);
  for (const Message& m : a2.Snapshot()) seen.insert(m.data);
  EXPECT_EQ(seen.size(), 200u);  // none twice
  EXPECT_EQ(b.At(7).data, "order-7");
  EXPECT_EQ(b.At(7).content_type, "text/plain");
  EXPECT_EQ(b.At(7).topic, "orders");
}

TEST_F(RedisTest, WhatADeadReaderLeftUnacknowledgedIsDeliveredAgain) {
  auto spec = Spec("pubsub.redis", {{"processingTimeout", "200ms"}, {"redeliverInterval", "100ms"},
                                    {"concurrency", "4"}});
  auto ps = registry_.NewPubSub(spec, &env_);
  ASSERT_TRUE(ps.ok()) << ps.status().ToString();
  Inbox dying;
  dying.auto_ack = false;
  auto first = (*ps)->Subscribe("jobs", "workers", dying.Handler());
  ASSERT_TRUE(first.ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*ps)->Publish("jobs", "job-" + std::to_string(i), "", {}).ok());
  ASSERT_TRUE(dying.WaitFor(4));
  EXPECT_EQ(dying.size(), 4u);  // at most `concurrency` unacknowledged at once
  dying.acks[0](true);          // one done; the reader dies with three in hand
  ASSERT_TRUE(dying.WaitFor(5));
  (*first)->Close();
  const size_t handed = dying.size();

  Inbox next;
  auto second = (*ps)->Subscribe("jobs", "workers", next.Handler());
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(next.WaitFor(9)) << next.size();
  std::set<std::string> seen;
  for (const Message& m : next.Snapshot()) seen.insert(m.data);
  // Everything but the one acknowledged job, the ones the dead reader held included.
  EXPECT_EQ(seen.size(), 9u);
  EXPECT_FALSE(seen.contains("job-0"));
  EXPECT_EQ(handed, 5u);
}

TEST_F(RedisTest, StateKeepsEtagsAndTransactionsAreAllOrNothing) {
  auto st = registry_.NewStateStore(Spec("state.redis"), &env_);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  StateStore& s = **st;
  EXPECT_EQ(s.Get("k").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(s.Set({"k", "v1", "", {}}).ok());
  auto got = s.Get("k");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->value, "v1");
  EXPECT_EQ(got->etag, "1");
  ASSERT_TRUE(s.Set({"k", "v2", "1", {}}).ok());
  Status stale = s.Set({"k", "v3", "1", {}});
  EXPECT_EQ(stale.code(), StatusCode::kFailedPrecondition) << stale.ToString();
  EXPECT_EQ(s.Get("k")->value, "v2");
  std::vector<StateOperation> ops = {{StateOperation::Kind::kUpsert, {"a", "x", "", {}}},
                                     {StateOperation::Kind::kDelete, {"k", "", "1", {}}}};
  EXPECT_EQ(s.Transact(ops).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.Get("a").status().code(), StatusCode::kNotFound);
  ops[1].item.etag = "2";
  ASSERT_TRUE(s.Transact(ops).ok());
  EXPECT_EQ(s.Get("a")->value, "x");
  EXPECT_EQ(s.Get("k").status().code(), StatusCode::kNotFound);
  // Another store on the same server sees it: it is in Redis, not here.
  auto other = registry_.NewStateStore(Spec("state.redis"), &env_);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->Get("a")->value, "x");
  EXPECT_EQ((*other)->Delete("a", "7").code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE((*other)->Delete("a", "").ok());
}

TEST_F(RedisTest, TheOutputBindingSetsGetsAndDeletesKeys) {
  auto b = registry_.NewOutputBinding(Spec("bindings.redis"), &env_);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_TRUE((*b)->Invoke({"create", "hello", {{"key", "greeting"}}}).ok());
  auto got = (*b)->Invoke({"get", "", {{"key", "greeting"}}});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->data, "hello");
  ASSERT_TRUE((*b)->Invoke({"delete", "", {{"key", "greeting"}}}).ok());
  EXPECT_EQ((*b)->Invoke({"get", "", {{"key", "greeting"}}})->data, "");
  auto no_key = (*b)->Invoke({"create", "x", {}});
  EXPECT_EQ(no_key.status().message(), "bindings.redis: metadata \"key\" is required");
  auto bad_op = (*b)->Invoke({"increment", "x", {{"key", "k"}}});
  EXPECT_EQ(bad_op.status().message(), "bindings.redis: operation \"increment\" is not supported (create, get, delete)");
}

TEST_F(RedisTest, AnUnreachableServerIsNamed) {
  ComponentSpec s = Spec("pubsub.redis");
  s.metadata["redisHost"] = "127.0.0.1:" + std::to_string(FreePort());
  auto ps = registry_.NewPubSub(s, &env_);
  ASSERT_FALSE(ps.ok());
  EXPECT_NE(ps.status().message().find("component default/redis (pubsub.redis): cannot connect to redis 127.0.0.1:"),
            std::string::npos)
      << ps.status().message();
  s.metadata.erase("redisHost");
  EXPECT_EQ(registry_.NewPubSub(s, &env_).status().message(),
            "component default/redis (pubsub.redis): metadata redisHost is required (host:port)");
}

// Functions in one platform, through Redis: a producer's context.send to a
// topic, a subscriber Function, every message processed once.
TEST_F(RedisTest, AProducerFunctionPublishesToASubscriberFunctionThroughRedis) {
  testing::TempDir dir;
  Inbox got;  // before the platform: its functions use it until the platform is gone
  Platform::Options o;
  o.state_dir = dir.path();
  o.gateway_address = "";
  auto p = Platform::Open(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  (*p)->functions().OpenFunction("producer", [](Context& ctx, std::string_view data) {
    for (int i = 0; i < 100; ++i) {
      if (!ctx.Send("bus", std::string(data) + "-" + std::to_string(i))) throw std::runtime_error("refused");
    }
    return std::string("sent");
  });
  (*p)->functions().OpenFunction("subscriber", [&](Context&, std::string_view data) {
    got.Handler()(Message{"", "", std::string(data), "", {}}, [](bool) {});
    return std::string();
  });
  const std::string component = "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: bus\nspec:\n"
                                "  type: pubsub.redis\n  version: v1\n  metadata:\n  - name: redisHost\n    value: " +
                                server_.host() + "\n";
  auto fn = [](const std::string& name, const std::string& serving) {
    return "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: " + name +
           "\nspec:\n  image: ofn.local/" + name + ":latest\n  serving:\n" + serving +
           "    template:\n      containers:\n        - name: function\n";
  };
  ASSERT_TRUE((*p)->Apply(component).ok());
  ASSERT_TRUE((*p)->Apply(fn("subscriber", "    triggers:\n      dapr:\n        - name: bus\n          topic: t\n")).ok());
  ASSERT_TRUE((*p)->Apply(fn("producer", "    triggers:\n      http:\n        port: 8080\n"
                                         "    outputs:\n      - dapr:\n          name: bus\n          topic: t\n"))
                  .ok());
  for (const char* name : {"subscriber", "producer"}) {
    auto r = (*p)->WaitFor(name, [](const FunctionInfo& f) { return f.serving_state == "Running"; }, seconds(10));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  ASSERT_TRUE((*p)->Sync().ok());
  HttpRequest req;
  req.method = "POST";
  req.body = "m";
  ASSERT_EQ((*p)->Invoke("producer", req).body, "sent");
  ASSERT_TRUE(got.WaitFor(100)) << got.size();
  std::set<std::string> seen;
  for (const Message& m : got.Snapshot()) seen.insert(m.data);
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_TRUE(seen.contains("m-42"));
  (*p)->Close(seconds(1));
}

// A broker that is down when the Function starts: its status says so, and
// the input opens by itself once the broker is up.
TEST_F(RedisTest, AnInputWhoseBrokerWasDownOpensWhenItComesUp) {
  testing::TempDir dir;
  Inbox got;  // before the platform: its functions use it until the platform is gone
  Platform::Options o;
  o.state_dir = dir.path();
  o.gateway_address = "";
  auto p = Platform::Open(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  (*p)->functions().OpenFunction("late", [&](Context&, std::string_view data) {
    got.Handler()(Message{"", "", std::string(data), "", {}}, [](bool) {});
    return std::string();
  });
  const int port = FreePort();
  ASSERT_TRUE((*p)->Apply("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: later\nspec:\n"
                          "  type: pubsub.redis\n  version: v1\n  metadata:\n  - name: redisHost\n"
                          "    value: 127.0.0.1:" + std::to_string(port) + "\n---\n"
                          "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: late\n"
                          "spec:\n  image: ofn.local/late:latest\n  serving:\n    triggers:\n      dapr:\n"
                          "        - {name: later, topic: t}\n    template:\n      containers:\n"
                          "        - name: function\n")
                  .ok());
  auto down = (*p)->WaitFor("late", [](const FunctionInfo& f) { return f.serving_reason == "ComponentUnavailable"; },
                            seconds(20));
  ASSERT_TRUE(down.ok()) << down.status().ToString();
  EXPECT_NE(down->serving_message.find("input later: component default/later (pubsub.redis): cannot connect to redis "
                                       "127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << down->serving_message;
  testing_brokers::RedisServer server(port);
  ASSERT_TRUE(server.up());
  auto up = (*p)->WaitFor("late", [](const FunctionInfo& f) { return f.serving_reason.empty(); }, seconds(30));
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  EXPECT_EQ(up->serving_state, "Running");
  // It reads now: an entry added to the stream reaches the function.
  ComponentSpec same = Spec("pubsub.redis");
  same.metadata["redisHost"] = server.host();
  auto writer = registry_.NewPubSub(same, &env_);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  auto deadline = std::chrono::steady_clock::now() + seconds(10);
  ASSERT_TRUE((*writer)->Publish("t", "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"x\","
                                      "\"datacontenttype\":\"text/plain\",\"data\":\"hello\"}",
                                 "application/cloudevents+json", {})
                  .ok());
  while (got.size() == 0 && std::chrono::steady_clock::now() < deadline) got.WaitFor(1, milliseconds(50));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got.At(0).data, "hello");
  (*p)->Close(seconds(1));
}


// KEDA's redis and redis-streams scalers against the server: a list's
// length; a stream's length, its group's pending entries and its lag.
TEST_F(RedisTest, TheScalersReadListLengthStreamLengthPendingEntriesAndLag) {
  auto scaler = [&](const std::string& type, const std::string& measure, std::map<std::string, std::string> md) {
    scale::KedaTrigger t;
    t.type = type;
    t.name = type;
    t.measure = measure;
    t.metadata = std::move(md);
    t.metadata["address"] = server_.host();
    auto s = registry_.NewScaler(t, &env_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return *s;
  };
  auto read = [](const std::shared_ptr<ScalerProbe>& s) {
    auto v = s->Read(Clock::System()->Now());
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : -1;
  };
  auto list = scaler("redis", "listLength", {{"listName", "jobs-list"}});
  auto length = scaler("redis-streams", "streamLength", {{"stream", "s"}});
  auto pending = scaler("redis-streams", "pendingEntriesCount", {{"stream", "s"}, {"consumerGroup", "g"}});
  auto lag = scaler("redis-streams", "lagCount", {{"stream", "s"}, {"consumerGroup", "g"}});
  EXPECT_EQ(read(list), 0);
  EXPECT_EQ(read(length), 0);
  EXPECT_EQ(read(pending), 0);  // no stream, no group
  EXPECT_EQ(read(lag), 0);

  auto ps = registry_.NewPubSub(Spec("pubsub.redis", {{"concurrency", "3"}}), &env_);
  ASSERT_TRUE(ps.ok());
  for (int i = 0; i < 12; ++i) ASSERT_TRUE((*ps)->Publish("s", "e" + std::to_string(i), "", {}).ok());
  EXPECT_EQ(read(length), 12);
  EXPECT_EQ(read(lag), 12);  // the group is not made yet: all of it lags
  Inbox held;
  held.auto_ack = false;
  auto sub = (*ps)->Subscribe("s", "g", held.Handler());
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(held.WaitFor(3));
  EXPECT_EQ(read(pending), 3);  // read by the group, not acknowledged
  EXPECT_EQ(read(lag), 9);      // not read by the group yet
  EXPECT_EQ(read(length), 12);
  (*sub)->Close();

  // A list (KEDA's "redis" trigger) filled by another program.
  ASSERT_TRUE(server_.Cli("RPUSH jobs-list a b c d e"));
  EXPECT_EQ(read(list), 5);
  scale::KedaTrigger direct;
  direct.type = "redis";
  direct.metadata = {{"host", "127.0.0.1"}, {"port", std::to_string(server_.port())}, {"listName", "jobs-list"}};
  auto via_host = registry_.NewScaler(direct, &env_);
  ASSERT_TRUE(via_host.ok()) << via_host.status().ToString();
  EXPECT_EQ(read(*via_host), 5);

  scale::KedaTrigger nowhere = direct;
  nowhere.metadata["port"] = std::to_string(FreePort());
  auto down = registry_.NewScaler(nowhere, &env_);
  ASSERT_TRUE(down.ok());
  auto failed = (*down)->Read(Clock::System()->Now());
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("cannot connect to redis 127.0.0.1:"), std::string::npos)
      << failed.status().message();
}

// Handlers held at a gate until the test opens it; what they processed.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  int inside = 0;
  std::set<std::string> done;
  int calls = 0;
  void Pass(std::string data) {
    std::unique_lock<std::mutex> lock(mu);
    ++inside;
    ++calls;
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
    --inside;
    done.insert(std::move(data));
    cv.notify_all();
  }
  // Waits (up to `timeout`) until `pred` holds under the lock.
  template <typename Pred>
  bool Until(Pred pred, std::chrono::milliseconds timeout = seconds(20)) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, timeout, [&] { return pred(); });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu);
    open = true;
    cv.notify_all();
  }
};

// Opens a gate when a test body ends, however it ends (a failed assertion
// must not leave handlers held while the platform closes): declared after
// the platform, it goes before it.
struct OpenAtEnd {
  Gate& gate;
  ~OpenAtEnd() { gate.Open(); }
};

// KEDA-style scaling on a real backlog: 200 entries wait in a stream before
// the Function exists; the first delivery takes it from 0 to 1, the
// redis-streams trigger's lag (lagCount 10) to 4 (maxReplicas) at the next
// poll, and once everything is processed it goes to 1 and, one cooldown
// after the last activity, to 0 — every entry processed. Polls run on the
// manual clock (Platform::Autoscale).
TEST_F(RedisTest, AKedaScaledFunctionGoesFromZeroToNOnABacklogAndBackToZero) {
  ManualClock clock{ManualClock::TimePoint(seconds(1795000000))};
  testing::TempDir dir;
  Gate gate;  // before the platform: its function uses it until the platform is gone
  Publish("jobs", "job-", 200);
  auto p = OpenOnClock(&clock, dir);
  ASSERT_TRUE(p);
  OpenAtEnd open_at_end{gate};
  p->functions().OpenFunction("worker", [&](Context&, std::string_view data) {
    gate.Pass(std::string(data));
    return std::string();
  });
  ASSERT_TRUE(p->Apply("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: bus\nspec:\n"
                          "  type: pubsub.redis\n  version: v1\n  metadata:\n  - {name: redisHost, value: \"" +
                          server_.host() + "\"}\n  - {name: consumerID, value: workers}\n")
                  .ok());
  auto applied = p->Apply(
      "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: worker\nspec:\n"
      "  image: ofn.local/worker:latest\n  serving:\n    containerConcurrency: 1\n"
      "    triggers:\n      dapr:\n        - {name: bus, topic: jobs}\n"
      "    scaleOptions:\n      minReplicas: 0\n      maxReplicas: 4\n      keda:\n        scaledObject:\n"
      "          pollingInterval: 5\n          cooldownPeriod: 30\n          advanced:\n"
      "            horizontalPodAutoscalerConfig:\n              behavior:\n                scaleDown:\n"
      "                  stabilizationWindowSeconds: 0\n"
      "        triggers:\n          - type: redis-streams\n            metadata:\n              address: \"" +
      server_.host() + "\"\n              stream: jobs\n              consumerGroup: workers\n"
      "              lagCount: \"10\"\n"
      "    template:\n      containers:\n        - name: function\n");
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  auto instances = [&](int want) {
    auto deadline = std::chrono::steady_clock::now() + seconds(20);
    int ready = -1;
    while (std::chrono::steady_clock::now() < deadline) {
      auto revs = p->Revisions("worker");
      ready = revs.ok() && !revs->empty() ? revs->back().ready_instances : -1;
      if (ready == want) return true;
      std::this_thread::sleep_for(milliseconds(5));
    }
    std::string why;
    if (auto revs = p->Revisions("worker"); revs.ok() && !revs->empty()) {
      const RevisionInfo& r = revs->back();
      why = " (last poll: " + r.keda_reason + (r.keda_active ? ", active" : "") + ", queued " +
            std::to_string(r.queued);
      for (const RevisionInfo::KedaTrigger& t : r.keda_triggers) {
        why += "; " + t.name + " = " + std::to_string(t.value) + (t.error.empty() ? "" : " " + t.error);
      }
      why += ")";
    }
    ADD_FAILURE() << "ready instances: " << ready << ", want " << want << why << ", " << gate.calls << " calls";
    return false;
  };

  // 0 -> 1: the first deliveries wait for an instance (the poll has not run).
  ASSERT_TRUE(gate.Until([&] { return gate.inside == 1; }));
  ASSERT_TRUE(instances(1));
  // 1 -> 4: the lag (about 200 - 16 read) over 10 per replica, capped.
  clock.Advance(seconds(5));
  p->Autoscale();
  ASSERT_TRUE(instances(4));
  ASSERT_TRUE(gate.Until([&] { return gate.inside == 4; })) << "four handlers at once";
  std::string metrics = p->Metrics();
  EXPECT_NE(metrics.find("ofn_keda_trigger_value{namespace=\"default\",function=\"worker\",revision=\""),
            std::string::npos);
  // The input's lag in /metrics: what the group has not read (the 16 out are not lag).
  const std::string lag_line = "ofn_async_lag{namespace=\"default\",function=\"worker\",input=\"bus\"} ";
  size_t at = metrics.find(lag_line);
  ASSERT_NE(at, std::string::npos) << metrics;
  int lag = std::atoi(metrics.c_str() + at + lag_line.size());
  EXPECT_GT(lag, 100);
  EXPECT_LE(lag, 200 - 16);

  gate.Open();
  ASSERT_TRUE(gate.Until([&] { return gate.done.size() == 200; })) << gate.done.size();
  // Quiet: every delivery answered and acknowledged (a poll that sees one
  // still in flight counts it as activity, rightly).
  auto deadline = std::chrono::steady_clock::now() + seconds(20);
  while (p->Metrics().find("ofn_revision_in_flight{namespace=\"default\",function=\"worker\",revision=\"worker-00001\"} 0\n") ==
             std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  // Idle now; within the cooldown the HPA's floor is 1; after it, 0.
  clock.Advance(seconds(5));
  p->Autoscale();
  ASSERT_TRUE(instances(1));
  clock.Advance(seconds(24));
  p->Autoscale();
  ASSERT_TRUE(instances(1)) << "29 s after the last activity";
  clock.Advance(seconds(6));
  p->Autoscale();
  ASSERT_TRUE(instances(0));
  EXPECT_EQ(gate.done.size(), 200u);
  EXPECT_TRUE(gate.done.contains("job-0") && gate.done.contains("job-199"));
  p->Close(seconds(1));
}

// scaleOptions.keda.scaledJob on a real backlog: 40 entries, jobs of 5
// (the lagCount target), at most 3 at once. A waiting delivery starts the
// first job; the poll starts two more for the lag; each job ends once it
// answered its five; the rest run job by job; an empty queue ends the last.
TEST_F(RedisTest, AScaledJobRunsOneInstancePerBatchToCompletion) {
  ManualClock clock{ManualClock::TimePoint(seconds(1795000000))};
  testing::TempDir dir;
  Gate gate;  // before the platform: its function uses it until the platform is gone
  int most_inside = 0;
  Publish("batch", "item-", 40);
  auto p = OpenOnClock(&clock, dir);
  ASSERT_TRUE(p);
  OpenAtEnd open_at_end{gate};
  p->functions().OpenFunction("batcher", [&](Context&, std::string_view data) {
    {
      std::lock_guard<std::mutex> lock(gate.mu);
      most_inside = std::max(most_inside, gate.inside + 1);
    }
    gate.Pass(std::string(data));
    return std::string();
  });
  auto applied = p->Apply(
      "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: bus\nspec:\n  type: pubsub.redis\n"
      "  version: v1\n  metadata:\n  - {name: redisHost, value: \"" + server_.host() + "\"}\n"
      "  - {name: consumerID, value: batchers}\n---\n"
      "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: batcher\nspec:\n"
      "  image: ofn.local/batcher:latest\n  serving:\n    triggers:\n      dapr:\n        - {name: bus, topic: batch}\n"
      "    scaleOptions:\n      maxReplicas: 3\n      keda:\n        scaledJob:\n          pollingInterval: 5\n"
      "          successfulJobsHistoryLimit: 2\n"
      "        triggers:\n          - type: redis-streams\n            metadata:\n              address: \"" +
      server_.host() + "\"\n              stream: batch\n              consumerGroup: batchers\n"
      "              lagCount: \"5\"\n"
      "    template:\n      containers:\n        - name: function\n");
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  auto revision = [&]() -> RevisionInfo {
    auto revs = p->Revisions("batcher");
    return revs.ok() && !revs->empty() ? revs->back() : RevisionInfo{};
  };

  // The first job, started by the deliveries that wait: it takes its five.
  ASSERT_TRUE(gate.Until([&] { return gate.inside == 5; }))
      << gate.inside << " inside; jobs running " << revision().jobs_running << ", queued " << revision().queued;
  EXPECT_EQ(revision().jobs_running, 1);
  // The poll: a lag of 24 (40 less the 16 read) asks for ceil(24 / 5) = 5
  // jobs, at most 3: two more.
  clock.Advance(seconds(5));
  p->Autoscale();
  ASSERT_TRUE(gate.Until([&] { return gate.inside == 15; })) << gate.inside;
  EXPECT_EQ(revision().jobs_running, 3);
  EXPECT_EQ(revision().keda_reason, "jobs");

  gate.Open();
  // Job by job until all 40 are done: each poll starts what the lag asks for.
  auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (std::chrono::steady_clock::now() < deadline &&
         !gate.Until([&] { return gate.done.size() == 40; }, milliseconds(100))) {
    clock.Advance(seconds(5));
    p->Autoscale();
  }
  ASSERT_EQ(gate.done.size(), 40u);
  // Every job answered a whole batch of five: eight of them.
  auto quiet = std::chrono::steady_clock::now() + seconds(20);
  while (revision().jobs_succeeded < 8 && std::chrono::steady_clock::now() < quiet) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(revision().jobs_succeeded, 8u);
  EXPECT_EQ(revision().jobs_failed, 0u);
  EXPECT_EQ(revision().jobs_running, 0);
  EXPECT_LE(most_inside, 15) << "never more than 3 jobs of 5";
  EXPECT_EQ(gate.calls, 40);
  p->Close(seconds(1));
}
}  // namespace
}  // namespace ofn::events
