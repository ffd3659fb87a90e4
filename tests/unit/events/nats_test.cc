// pubsub.jetstream against a real nats-server -js on loopback (started and
// stopped here; skipped when nats-server is not installed).
#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>

#include "libofn/events/component.h"
#include "tests/unit/events/brokers.h"

namespace ofn::events {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing_brokers::FreePort;
using testing_brokers::Inbox;

class JetStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_.up()) GTEST_SKIP() << "nats-server is not installed (scripts/setup.sh installs it)";
    RegisterBuiltinComponents(&registry_);
  }
  ComponentSpec Spec(std::map<std::string, std::string> md = {}) {
    ComponentSpec s;
    s.ns = "default";
    s.name = "js";
    s.type = "pubsub.jetstream";
    s.metadata = std::move(md);
    s.metadata["natsURL"] = "nats://" + server_.host();
    return s;
  }
  testing_brokers::NatsServer server_;
  ComponentRegistry registry_;
  testing_brokers::FakeEnv env_;
};

TEST_F(JetStreamTest, EachDurableConsumerGetsEveryMessageItsSubscribersShareThem) {
  auto ps = registry_.NewPubSub(Spec(), &env_);
  ASSERT_TRUE(ps.ok()) << ps.status().ToString();
  Inbox a1, a2, b;
  auto sa1 = (*ps)->Subscribe("orders", "default/a", a1.Handler());
  auto sa2 = (*ps)->Subscribe("orders", "default/a", a2.Handler());
  auto sb = (*ps)->Subscribe("orders", "default/b", b.Handler());
  ASSERT_TRUE(sa1.ok() && sa2.ok() && sb.ok()) << (sa1.ok() ? "" : sa1.status().ToString());
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE((*ps)->Publish("orders", "order-" + std::to_string(i), "text/plain", {}).ok());
  }
  ASSERT_TRUE(b.WaitFor(200)) << b.size();
  auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (a1.size() + a2.size() < 200 && std::chrono::steady_clock::now() < deadline) {
    a1.WaitFor(a1.size() + 1, milliseconds(20));
  }
  std::set<std::string> seen;
  for (const Message& m : a1.Snapshot()) seen.insert(m.data);
  for (const Message& m : a2.Snapshot()) seen.insert(m.data);
  EXPECT_EQ(a1.size() + a2.size(), 200u);
  EXPECT_EQ(seen.size(), 200u);
  EXPECT_EQ(b.At(5).data, "order-5");
  EXPECT_EQ(b.At(5).content_type, "text/plain");
  EXPECT_FALSE(b.At(5).id.empty());  // the stream sequence
}

TEST_F(JetStreamTest, WhatADeadReaderHeldIsDeliveredAgainAfterAckWait) {
  auto ps = registry_.NewPubSub(Spec({{"ackWait", "500ms"}, {"concurrency", "4"}}), &env_);
  ASSERT_TRUE(ps.ok()) << ps.status().ToString();
  Inbox dying;
  dying.auto_ack = false;
  auto first = (*ps)->Subscribe("jobs", "default/w", dying.Handler());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*ps)->Publish("jobs", "job-" + std::to_string(i), "", {}).ok());
  ASSERT_TRUE(dying.WaitFor(4));
  dying.acks[0](true);  // one done; the reader dies holding the others
  (*first)->Close();

  Inbox next;
  auto second = (*ps)->Subscribe("jobs", "default/w", next.Handler());
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(next.WaitFor(9)) << next.size();
  // At least once: an ack later than ackWait (a loaded machine, a
  // sanitizer build) brings a message twice, so count distinct ones.
  std::set<std::string> seen;
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (true) {
    seen.clear();
    for (const Message& m : next.Snapshot()) seen.insert(m.data);
    if (seen.size() >= 9u || std::chrono::steady_clock::now() >= deadline) break;
    next.WaitFor(next.size() + 1, milliseconds(50));
  }
  EXPECT_GE(seen.size(), 9u);
  EXPECT_FALSE(seen.contains("job-0"));
}

TEST_F(JetStreamTest, AnUnreachableServerIsNamed) {
  ComponentSpec s = Spec();
  s.metadata["natsURL"] = "nats://127.0.0.1:" + std::to_string(FreePort());
  auto ps = registry_.NewPubSub(s, &env_);
  ASSERT_FALSE(ps.ok());
  EXPECT_NE(ps.status().message().find("component default/js (pubsub.jetstream): cannot connect to NATS at nats://"),
            std::string::npos)
      << ps.status().message();
}

// KEDA's nats-jetstream scaler: a consumer's lag (not yet delivered plus
// delivered and not acknowledged) from the monitoring endpoint.
TEST_F(JetStreamTest, TheScalerReadsAConsumersLagFromTheMonitoringEndpoint) {
  scale::KedaTrigger t;
  t.type = "nats-jetstream";
  t.name = "js";
  t.metadata = {{"natsServerMonitoringEndpoint", server_.monitoring()}, {"account", "$G"}, {"stream", "OFN_work"},
                {"consumer", "workers"}};
  auto scaler = registry_.NewScaler(t, &env_);
  ASSERT_TRUE(scaler.ok()) << scaler.status().ToString();
  auto read = [&] {
    auto v = (*scaler)->Read(Clock::System()->Now());
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : -1;
  };
  EXPECT_EQ(read(), 0);  // no stream yet
  auto ps = registry_.NewPubSub(Spec({{"concurrency", "4"}}), &env_);
  ASSERT_TRUE(ps.ok()) << ps.status().ToString();
  for (int i = 0; i < 30; ++i) ASSERT_TRUE((*ps)->Publish("work", "m" + std::to_string(i), "", {}).ok());
  EXPECT_EQ(read(), 30);  // no consumer yet: the whole stream
  Inbox held;
  held.auto_ack = false;
  auto sub = (*ps)->Subscribe("work", "workers", held.Handler());
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  ASSERT_TRUE(held.WaitFor(4));
  EXPECT_EQ(read(), 30);  // 4 delivered and unacknowledged, 26 pending
  auto undelivered = (*sub)->Lag();  // the subscription's own view: not delivered yet
  ASSERT_TRUE(undelivered.ok()) << undelivered.status().ToString();
  EXPECT_EQ(*undelivered, 26);
  {
    std::lock_guard<std::mutex> lock(held.mu);
    for (Ack& a : held.acks) a(true);
    held.acks.clear();
  }
  ASSERT_TRUE(held.WaitFor(8));
  // The acks reach the server asynchronously: read until they show.
  double lag = read();
  for (int i = 0; i < 200 && lag != 26; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
    lag = read();
  }
  EXPECT_EQ(lag, 26);
  (*sub)->Close();

  t.metadata["natsServerMonitoringEndpoint"] = "127.0.0.1:" + std::to_string(FreePort());
  auto down = registry_.NewScaler(t, &env_);
  ASSERT_TRUE(down.ok());
  auto failed = (*down)->Read(Clock::System()->Now());
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("NATS monitoring endpoint 127.0.0.1:"), std::string::npos)
      << failed.status().message();
}

}  // namespace
}  // namespace ofn::events
