// The MQTT components against a real mosquitto on loopback (started and
// stopped here; skipped when mosquitto is not installed).
#include <gtest/gtest.h>

#include <mutex>
#include <set>

#include "libofn/events/component.h"
#include "tests/unit/events/brokers.h"

namespace ofn::events {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing_brokers::FreePort;
using testing_brokers::Inbox;

class MqttTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_.up()) GTEST_SKIP() << "mosquitto is not installed (scripts/setup.sh installs it)";
    RegisterBuiltinComponents(&registry_);
  }
  ComponentSpec Spec(const std::string& type, std::map<std::string, std::string> md = {}) {
    ComponentSpec s;
    s.ns = "default";
    s.name = "mq";
    s.type = type;
    s.metadata = std::move(md);
    s.metadata["url"] = "tcp://" + server_.host();
    return s;
  }
  // Subscriptions are made when the broker has acknowledged them; a
  // message published before would be lost, so wait for one to come through.
  static bool Primed(PubSub& ps, const std::string& topic, Inbox& inbox) {
    for (int i = 0; i < 200 && inbox.size() == 0; ++i) {
      if (!ps.Publish(topic, "probe", "", {}).ok()) return false;
      inbox.WaitFor(1, milliseconds(25));
    }
    return inbox.size() > 0;
  }
  testing_brokers::MosquittoServer server_;
  ComponentRegistry registry_;
  testing_brokers::FakeEnv env_;
};

TEST_F(MqttTest, EachConsumerGetsEveryMessageItsSubscribersShareThem) {
  auto ps = registry_.NewPubSub(Spec("pubsub.mqtt3"), &env_);
  ASSERT_TRUE(ps.ok()) << ps.status().ToString();
  Inbox a1, a2, b;
  auto sa1 = (*ps)->Subscribe("orders", "default/a", a1.Handler());
  auto sa2 = (*ps)->Subscribe("orders", "default/a", a2.Handler());
  auto sb = (*ps)->Subscribe("orders", "default/b", b.Handler());
  ASSERT_TRUE(sa1.ok() && sa2.ok() && sb.ok()) << (sa1.ok() ? "" : sa1.status().ToString());
  ASSERT_TRUE(Primed(**ps, "orders", b));
  auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while ((a1.size() == 0 || a2.size() == 0) && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE((*ps)->Publish("orders", "probe", "", {}).ok());
    a1.WaitFor(a1.size() + 1, milliseconds(10));
  }
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*ps)->Publish("orders", "order-" + std::to_string(i), "", {}).ok());
  // Counted as orders, not messages: a probe still on its way may land
  // among them.
  auto orders_of_b = [&] {
    size_t n = 0;
    for (const Message& m : b.Snapshot()) n += m.data == "probe" ? 0 : 1;
    return n;
  };
  deadline = std::chrono::steady_clock::now() + seconds(10);
  while (orders_of_b() < 100 && std::chrono::steady_clock::now() < deadline) {
    b.WaitFor(b.size() + 1, milliseconds(20));
  }
  // Consumer a's orders (probes still on their way may land after them: not counted).
  auto orders_of_a = [&](std::set<std::string>* seen) {
    size_t n = 0;
    for (Inbox* in : {&a1, &a2}) {
      std::lock_guard<std::mutex> lock(in->mu);
      for (const Message& m : in->messages) {
        if (m.data == "probe") continue;
        ++n;
        if (seen) seen->insert(m.data);
      }
    }
    return n;
  };
  deadline = std::chrono::steady_clock::now() + seconds(10);
  while (orders_of_a(nullptr) < 100 && std::chrono::steady_clock::now() < deadline) {
    a1.WaitFor(a1.size() + 1, milliseconds(20));
  }
  std::set<std::string> seen;
  EXPECT_EQ(orders_of_a(&seen), 100u);  // every order reached consumer a once, shared by its two subscribers
  EXPECT_EQ(seen.size(), 100u);
  // Consumer b got each of them too (MQTT keeps no order across a QoS 1
  // client's in-flight window, so as a set).
  std::set<std::string> b_seen;
  for (const Message& m : b.Snapshot()) {
    if (m.data != "probe") b_seen.insert(m.data);
    EXPECT_EQ(m.topic, "orders");
  }
  EXPECT_EQ(b_seen.size(), 100u);
  EXPECT_TRUE(b_seen.contains("order-99"));
}

TEST_F(MqttTest, BindingsReadAndWriteATopic) {
  auto in = registry_.NewInputBinding(Spec("bindings.mqtt3", {{"topic", "sensors/t1"}}), &env_);
  auto out = registry_.NewOutputBinding(Spec("bindings.mqtt3", {{"topic", "sensors/t1"}}), &env_);
  ASSERT_TRUE(in.ok() && out.ok()) << (in.ok() ? out.status().ToString() : in.status().ToString());
  Inbox got;
  ASSERT_TRUE((*in)->Read("default/reader", got.Handler()).ok());
  auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (got.size() == 0 && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE((*out)->Invoke({"create", "21.5", {}}).ok());
    got.WaitFor(1, milliseconds(25));
  }
  ASSERT_GT(got.size(), 0u);
  EXPECT_EQ(got.At(0).data, "21.5");
  EXPECT_EQ((*out)->Invoke({"delete", "", {}}).status().message(),
            "bindings.mqtt3: operation \"delete\" is not supported (create)");
  (*in)->Close();
}

TEST_F(MqttTest, AnUnreachableBrokerIsNamed) {
  ComponentSpec s = Spec("pubsub.mqtt3");
  s.metadata["url"] = "tcp://127.0.0.1:" + std::to_string(FreePort());
  auto ps = registry_.NewPubSub(s, &env_);
  ASSERT_FALSE(ps.ok());
  EXPECT_NE(ps.status().message().find("component default/mq (pubsub.mqtt3): cannot connect to MQTT broker 127.0.0.1:"),
            std::string::npos)
      << ps.status().message();
  s.metadata["url"] = "ssl://127.0.0.1:8883";
  EXPECT_EQ(registry_.NewPubSub(s, &env_).status().message(),
            "component default/mq (pubsub.mqtt3): url \"ssl://127.0.0.1:8883\": only tcp:// (no TLS) is supported here");
}

}  // namespace
}  // namespace ofn::events
