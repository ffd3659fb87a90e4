// The built-in components: in-memory pub/sub and state, and the cron
// binding on a manual clock with its positions kept across a restart.
#include <gtest/gtest.h>

#include <algorithm>

#include "libofn/events/component.h"
#include "libofn/gateway/server.h"
#include "libofn/spec/components.h"
#include "libofn/spec/internal/keda_spec.h"
#include "tests/unit/test_util.h"

namespace ofn::events {
namespace {

using std::chrono::seconds;

class FakeEnv final : public ComponentEnv {
 public:
  Clock* clock() override { return &clock_; }
  Result<std::string> GetOffset(const std::string& key) override {
    ++gets;
    auto it = offsets.find(key);
    if (it == offsets.end()) return Status(StatusCode::kNotFound, "none");
    return it->second;
  }
  Status SetOffset(const std::string& key, const std::string& value) override {
    ++sets;
    offsets[key] = value;
    return Status::Ok();
  }
  ManualClock clock_{ManualClock::TimePoint(seconds(1795000000))};  // 2026-11-18T...Z, a whole second
  std::map<std::string, std::string> offsets;
  int gets = 0, sets = 0;
};

ComponentSpec Spec(std::string type, std::map<std::string, std::string> md = {}) {
  ComponentSpec s;
  s.ns = "default";
  s.name = "c";
  s.type = std::move(type);
  s.metadata = std::move(md);
  return s;
}

TEST(ComponentRegistryTest, TheBuiltInTypesAreTheOnesTheSpecLayerNames) {
  ComponentRegistry r;
  RegisterBuiltinComponents(&r);
  std::vector<std::string> want(spec::BuiltinComponentTypes().begin(), spec::BuiltinComponentTypes().end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(r.Types(), want);
  FakeEnv env;
  auto missing = r.NewPubSub(Spec("pubsub.kafka"), &env);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "component default/c: no pub/sub of type pubsub.kafka here (pubsub.in-memory, pubsub.jetstream, "
            "pubsub.mqtt3, pubsub.redis)");
  auto bad = r.NewInputBinding(Spec("bindings.cron", {{"schedule", "70 * * * *"}}), &env);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "component default/c (bindings.cron): schedule: minutes field \"70\": out of range 0-59");
}

// The scaler types registered are the ones apply knows (and warns about
// the rest); the cron scaler's window on explicit times.
TEST(ScalerTest, TheCronScalerAsksForDesiredReplicasInsideItsWindow) {
  ComponentRegistry r;
  RegisterBuiltinComponents(&r);
  std::vector<std::string> want(spec::internal::BuiltinScalerTypes());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(r.ScalerTypes(), want);
  FakeEnv env;
  scale::KedaTrigger t;
  t.type = "cron";
  t.name = "office";
  t.metadata = {{"timezone", "UTC"}, {"start", "0 8 * * 1-5"}, {"end", "30 18 * * 1-5"}, {"desiredReplicas", "3"}};
  auto cron = r.NewScaler(t, &env);
  ASSERT_TRUE(cron.ok()) << cron.status().ToString();
  // 2026-11-30 is a Monday.
  auto at = [](int day, int h, int m, int s = 0) {
    return Clock::TimePoint(std::chrono::sys_days(std::chrono::year(2026) / 11 / day).time_since_epoch() +
                            std::chrono::hours(h) + std::chrono::minutes(m) + seconds(s));
  };
  struct Case {
    Clock::TimePoint t;
    double want;
  } cases[] = {
      {at(30, 7, 59, 59), 0}, {at(30, 8, 0), 3},   {at(30, 12, 0), 3}, {at(30, 18, 29, 59), 3},
      {at(30, 18, 30), 0},    {at(30, 23, 0), 0},  {at(29, 12, 0), 0},  // Sunday
  };
  for (const Case& c : cases) {
    auto v = (*cron)->Read(c.t);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(*v, c.want) << std::chrono::duration_cast<seconds>(c.t.time_since_epoch()).count();
  }
  scale::KedaTrigger none = t;
  none.type = "kafka";
  auto missing = r.NewScaler(none, &env);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "trigger office: no scaler of type kafka here (cron, nats-jetstream, redis, redis-streams)");
}

// state.sqlite in a file: etags, all-or-nothing transactions, TTL on the
// platform clock, and the data still there when the store is opened again.
TEST(SqliteStateStoreTest, EtagsTransactionsTtlAndReopening) {
  ComponentRegistry r;
  RegisterBuiltinComponents(&r);
  FakeEnv env;
  testing::TempDir dir;
  const std::string file = dir.path() + "/state.db";
  auto opened = r.NewStateStore(Spec("state.sqlite", {{"connectionString", file}}), &env);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto st = *opened;
  auto missing = st->Get("k");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(st->Set(StateItem{"k", "v1", "", {}}).ok());
  auto got = st->Get("k");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->value, "v1");
  const std::string etag = got->etag;
  EXPECT_FALSE(etag.empty());
  Status stale = st->Set(StateItem{"k", "v2", "not-it", {}});
  EXPECT_EQ(stale.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(stale.message(), "etag mismatch for key \"k\"");
  ASSERT_TRUE(st->Set(StateItem{"k", "v2", etag, {}}).ok());
  EXPECT_NE(st->Get("k")->etag, etag);
  EXPECT_EQ(st->Delete("k", etag).code(), StatusCode::kFailedPrecondition);  // the old etag
  // All or nothing: the second operation's etag is wrong, so "a" is not written either.
  Status tx = st->Transact({StateOperation{StateOperation::Kind::kUpsert, StateItem{"a", "1", "", {}}},
                            StateOperation{StateOperation::Kind::kDelete, StateItem{"k", "", "wrong", {}}}});
  EXPECT_EQ(tx.code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(st->Get("a").ok());
  EXPECT_EQ(st->Get("k")->value, "v2");
  ASSERT_TRUE(st->Transact({StateOperation{StateOperation::Kind::kUpsert, StateItem{"a", "1", "", {}}},
                            StateOperation{StateOperation::Kind::kDelete, StateItem{"k", "", "", {}}}})
                  .ok());
  EXPECT_EQ(st->Get("a")->value, "1");
  EXPECT_FALSE(st->Get("k").ok());
  // ttlInSeconds: gone once the platform clock passes it.
  ASSERT_TRUE(st->Set(StateItem{"short", "x", "", {{"ttlInSeconds", "10"}}}).ok());
  env.clock_.Advance(seconds(9));
  EXPECT_TRUE(st->Get("short").ok());
  env.clock_.Advance(seconds(1));
  EXPECT_FALSE(st->Get("short").ok());
  EXPECT_EQ(st->Set(StateItem{"bad", "x", "", {{"ttlInSeconds", "soon"}}}).code(), StatusCode::kInvalidArgument);
  // A second store on the same file sees what the first wrote.
  auto again = r.NewStateStore(Spec("state.sqlite", {{"connectionString", file}}), &env);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->Get("a")->value, "1");

  auto no_file = r.NewStateStore(Spec("state.sqlite"), &env);
  ASSERT_FALSE(no_file.ok());
  EXPECT_NE(no_file.status().message().find("metadata connectionString is required"), std::string::npos);
  auto bad_table = r.NewStateStore(Spec("state.sqlite", {{"connectionString", file}, {"tableName", "x; drop"}}), &env);
  ASSERT_FALSE(bad_table.ok());
  EXPECT_NE(bad_table.status().message().find("tableName \"x; drop\""), std::string::npos);
}

struct Received {
  std::vector<Message> messages;
  std::vector<Ack> acks;
};

MessageHandler Keep(Received* r) {
  return [r](Message m, Ack a) {
    r->messages.push_back(std::move(m));
    r->acks.push_back(std::move(a));
  };
}

TEST(MemoryPubSubTest, EveryConsumerGetsEveryMessageAndAConsumersSubscribersShareThem) {
  ComponentRegistry r;
  RegisterBuiltinComponents(&r);
  FakeEnv env;
  auto ps = r.NewPubSub(Spec("pubsub.in-memory"), &env);
  ASSERT_TRUE(ps.ok());
  Received a1, a2, b;
  auto sa1 = (*ps)->Subscribe("orders", "a", Keep(&a1));
  auto sa2 = (*ps)->Subscribe("orders", "a", Keep(&a2));
  auto sb = (*ps)->Subscribe("orders", "b", Keep(&b));
  Received other;
  auto so = (*ps)->Subscribe("invoices", "a", Keep(&other));
  ASSERT_TRUE(sa1.ok() && sa2.ok() && sb.ok() && so.ok());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE((*ps)->Publish("orders", "o" + std::to_string(i), "text/plain", {{"k", "v"}}).ok());
  }
  EXPECT_EQ(b.messages.size(), 10u);
  EXPECT_EQ(a1.messages.size() + a2.messages.size(), 10u);
  EXPECT_EQ(a1.messages.size(), 5u);  // round robin
  EXPECT_TRUE(other.messages.empty());
  EXPECT_EQ(b.messages[3].data, "o3");
  EXPECT_EQ(b.messages[3].topic, "orders");
  EXPECT_EQ(b.messages[3].metadata.at("k"), "v");
  // A closed subscription gets nothing more.
  (*sb)->Close();
  ASSERT_TRUE((*ps)->Publish("orders", "late", "", {}).ok());
  EXPECT_EQ(b.messages.size(), 10u);
}

TEST(MemoryPubSubTest, UnacknowledgedMessagesAreBounded) {
  ComponentRegistry r;
  RegisterBuiltinComponents(&r);
  FakeEnv env;
  auto ps = r.NewPubSub(Spec("pubsub.in-memory"), &env);
  ASSERT_TRUE(ps.ok());
  Received slow;  // never acks
  auto sub = (*ps)->Subscribe("t", "slow", Keep(&slow));
  ASSERT_TRUE(sub.ok());
  Status last;
  int accepted = 0;
  for (int i = 0; i < 20000 && last.ok(); ++i) {
    last = (*ps)->Publish("t", "x", "", {});
    if (last.ok()) ++accepted;
  }
  EXPECT_EQ(last.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(slow.messages.size(), 32u);  // in flight
  EXPECT_EQ(accepted, 32 + 10000);
  // Acknowledging one lets the next out.
  slow.acks[0](true);
  EXPECT_EQ(slow.messages.size(), 33u);
  EXPECT_TRUE((*ps)->Publish("t", "x", "", {}).ok());
}

TEST(MemoryStateStoreTest, EtagsAndTransactions) {
  ComponentRegistry r;
  RegisterBuiltinComponents(&r);
  FakeEnv env;
  auto st = r.NewStateStore(Spec("state.in-memory"), &env);
  ASSERT_TRUE(st.ok());
  StateStore& s = **st;
  EXPECT_EQ(s.Get("k").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(s.Set({"k", "1", "", {}}).ok());
  auto got = s.Get("k");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->value, "1");
  const std::string etag = got->etag;
  EXPECT_FALSE(etag.empty());
  ASSERT_TRUE(s.Set({"k", "2", etag, {}}).ok());
  EXPECT_EQ(s.Set({"k", "3", etag, {}}).code(), StatusCode::kFailedPrecondition);  // stale etag
  EXPECT_EQ(s.Get("k")->value, "2");
  // All or nothing: a stale etag in the second operation leaves the first undone.
  std::vector<StateOperation> ops = {{StateOperation::Kind::kUpsert, {"a", "x", "", {}}},
                                     {StateOperation::Kind::kDelete, {"k", "", etag, {}}}};
  EXPECT_EQ(s.Transact(ops).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.Get("a").status().code(), StatusCode::kNotFound);
  ops[1].item.etag = s.Get("k")->etag;
  ASSERT_TRUE(s.Transact(ops).ok());
  EXPECT_EQ(s.Get("a")->value, "x");
  EXPECT_EQ(s.Get("k").status().code(), StatusCode::kNotFound);
}

TEST(HttpBindingTest, SendsTheDataToTheUrlWithThePathAndHeadersOfTheRequest) {
  std::mutex mu;
  std::vector<std::string> seen;
  gateway::ServerOptions so;
  auto server = gateway::HttpServer::Start(so, [&](HttpRequest& r) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(r.method + " " + r.target + " " + std::string(r.headers.GetOr("X-Key", "-")) + " " + r.body);
    if (r.target == "/api/missing") return HttpResponse::Text(404, "no such item");
    return HttpResponse::Text(200, "ok " + r.method);
  });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  ComponentRegistry r;
  RegisterBuiltinComponents(&r);
  FakeEnv env;
  auto b = r.NewOutputBinding(Spec("bindings.http", {{"url", "http://" + (*server)->address() + "/api"}}), &env);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  auto created = (*b)->Invoke({"create", "{\"n\":1}", {{"path", "items"}, {"X-Key", "k1"}}});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->data, "ok POST");
  EXPECT_EQ(created->metadata.at("statusCode"), "200");
  ASSERT_TRUE((*b)->Invoke({"get", "", {{"path", "/items/1"}}}).ok());
  auto missing = (*b)->Invoke({"delete", "", {{"path", "missing"}}});
  EXPECT_EQ(missing.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(missing.status().message().find("answered 404: no such item"), std::string::npos) << missing.status().message();
  EXPECT_EQ((*b)->Invoke({"explode", "", {}}).status().message(),
            "bindings.http: operation \"explode\" is not an HTTP method");
  EXPECT_EQ(seen, (std::vector<std::string>{"POST /api/items k1 {\"n\":1}", "GET /api/items/1 - ",
                                            "DELETE /api/missing - "}));
  auto tls = r.NewOutputBinding(Spec("bindings.http", {{"url", "https://example.com"}}), &env);
  EXPECT_EQ(tls.status().message(),
            "component default/c (bindings.http): url \"https://example.com\": https is not supported by bindings.http here");
  (*server)->Stop(std::chrono::milliseconds(100));
}

TEST(CronBindingTest, FiresOnTheClockOneAtATimeAndResumesAfterARestart) {
  ComponentRegistry r;
  RegisterBuiltinComponents(&r);
  FakeEnv env;
  const Clock::TimePoint start = env.clock_.Now();
  auto firing = [&](int s) { return FormatRfc3339(start + seconds(s)); };
  Received got;
  {
    auto cron = r.NewInputBinding(Spec("bindings.cron", {{"schedule", "@every 2s"}}), &env);
    ASSERT_TRUE(cron.ok());
    ASSERT_TRUE((*cron)->Read("default/fn", Keep(&got)).ok());
    (*cron)->Tick();
    EXPECT_TRUE(got.messages.empty());  // nothing due yet
    env.clock_.Advance(seconds(1));
    (*cron)->Tick();
    EXPECT_TRUE(got.messages.empty());
    env.clock_.Advance(seconds(1));
    (*cron)->Tick();
    ASSERT_EQ(got.messages.size(), 1u);
    EXPECT_EQ(got.messages[0].id, firing(2));
    EXPECT_EQ(got.messages[0].metadata.at("readTimeUTC"), firing(2));
    // Three more are due, but the first is not consumed yet.
    env.clock_.Advance(seconds(6));
    (*cron)->Tick();
    EXPECT_EQ(got.messages.size(), 1u);
    got.acks[0](true);
    for (int i = 0; i < 5; ++i) {
      const size_t before = got.acks.size();
      (*cron)->Tick();
      if (got.acks.size() > before) got.acks.back()(true);
    }
    ASSERT_EQ(got.messages.size(), 4u);  // 2, 4, 6, 8: none skipped, none twice
    EXPECT_EQ(got.messages[3].id, firing(8));
    EXPECT_EQ(env.offsets.at("cron/default/c/default/fn"), firing(8));
    // One handed out but not consumed when the platform stops.
    env.clock_.Advance(seconds(2));
    (*cron)->Tick();
    ASSERT_EQ(got.messages.size(), 5u);
    got.acks.back()(false);
    (*cron)->Close();
  }
  // Down for 5 s; the new binding goes on from the last consumed firing.
  env.clock_.Advance(seconds(5));
  Received after;
  auto cron = r.NewInputBinding(Spec("bindings.cron", {{"schedule", "@every 2s"}}), &env);
  ASSERT_TRUE(cron.ok());
  ASSERT_TRUE((*cron)->Read("default/fn", Keep(&after)).ok());
  for (int i = 0; i < 10; ++i) {
    (*cron)->Tick();
    if (after.acks.size() > static_cast<size_t>(i)) after.acks.back()(true);
  }
  std::vector<std::string> ids;
  for (const Message& m : after.messages) ids.push_back(m.id);
  EXPECT_EQ(ids, (std::vector<std::string>{firing(10), firing(12), firing(14)}));
  // Another reader of the same component keeps its own position.
  Received other;
  auto second = r.NewInputBinding(Spec("bindings.cron", {{"schedule", "@every 2s"}}), &env);
  ASSERT_TRUE((*second)->Read("default/other", Keep(&other)).ok());
  (*second)->Tick();
  EXPECT_TRUE(other.messages.empty());  // it starts from now
}

}  // namespace
}  // namespace ofn::events
