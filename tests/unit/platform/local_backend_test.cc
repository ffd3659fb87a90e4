// The local backend behind the Backend seam: plans in, observations out,
// requests served through the route table it publishes.
#include "libofn/platform/internal/local_backend.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>

#include "libofn/common/clock.h"
#include "libofn/testing/fake_driver.h"

namespace ofn::platform::internal {
namespace {

backend::RevisionPlan Revision(const std::string& name, const std::string& invalid = "") {
  backend::RevisionPlan r;
  r.name = name;
  r.invalid = invalid;
  if (invalid.empty()) {
    r.workload.ns = "default";
    r.workload.function = "hello";
    r.workload.revision = name;
    r.workload.image = "example.com/hello:" + name;
  }
  return r;
}

backend::FunctionPlan Plan(const std::string& name, std::vector<backend::RevisionPlan> revisions, int64_t created) {
  backend::FunctionPlan p;
  p.ns = "default";
  p.name = name;
  p.created = created;
  p.http = true;
  p.revisions = std::move(revisions);
  for (backend::RevisionPlan& r : p.revisions) r.workload.function = name;
  return p;
}

class LocalBackendTest : public ::testing::Test {
 protected:
  LocalBackendTest()
      : autoscaler_(&clock_, Inline(), Inline(), nullptr),
        local_(&drivers_, &dispatcher_, &autoscaler_, LocalBackendOptions{}) {
    EXPECT_TRUE(drivers_.Add({100, fake_}).ok());
    local_.SetGateways({{"openfunction/openfunction", route::GatewayConfig{}}});
  }
  ~LocalBackendTest() override { autoscaler_.Stop(); }

  static gateway::Executor Inline() {
    return [](std::function<void()> task) { task(); };
  }
  backend::FunctionObservation Observe(const std::string& name) {
    auto o = local_.Observe("default", name);
    EXPECT_TRUE(o.ok()) << o.status().ToString();
    return o.ok() ? *o : backend::FunctionObservation{};
  }
// g++ 12 at -O3 takes the short string copied out of `r` for uninitialized
// (a known false positive of its SSO inlining).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
  HttpResponse Get(const std::string& host) {
    HttpRequest r;
    r.method = "GET";
    r.target = "/x";
    r.headers.Set("Host", host);
    return dispatcher_.Handle(r);
  }
#pragma GCC diagnostic pop

  ManualClock clock_;
  std::shared_ptr<testing::FakeDriver> fake_ = std::make_shared<testing::FakeDriver>("fake");
  backend::Registry drivers_;
  gateway::Dispatcher dispatcher_;
  Autoscaler autoscaler_;
  LocalBackend local_;
};

// A request that waits at a revision with no instance pokes the autoscaler,
// which decides on the request's thread: the start goes to the start pool,
// or, for a driver that StartsInline, happens right there, and the waiting
// request is handed to its instance once the decision is over.
// A started instance joins its pool and stops counting as starting in one
// step: the request it is handed at once sees one instance, not one ready
// and one still starting (a tick there would count it twice).
TEST(AutoscalerPokeTest, AStartedInstanceIsCountedOnceWhenItsFirstRequestIsHandedToIt) {
  ManualClock clock;
  std::vector<std::function<void()>> starts, calls;
  std::vector<int> counted;  // ready + starting, as each call was handed out
  Autoscaler* self = nullptr;
  Autoscaler autoscaler(
      &clock,
      [&](std::function<void()> t) {
        auto st = self->Status("default", "hello-00001");
        counted.push_back(st ? st->ready + st->starting : -1);
        calls.push_back(std::move(t));
      },
      [&](std::function<void()> t) { starts.push_back(std::move(t)); }, nullptr);
  self = &autoscaler;
  auto fake = std::make_shared<testing::FakeDriver>("fake");
  scale::ScaleSpec spec;
  spec.initial_scale = 0;
  auto pool = autoscaler.Ensure("default", "hello-00001", fake.get(),
                                std::make_shared<const backend::Workload>(Revision("hello-00001").workload),
                                std::make_shared<const scale::ScaleSpec>(spec), gateway::PoolOptions{});
  HttpRequest r;
  r.method = "GET";
  r.target = "/x";
  std::optional<HttpResponse> got;
  pool->Submit(r, [&](HttpResponse res) { got = std::move(res); });
  ASSERT_EQ(starts.size(), 1u);
  starts[0]();  // started: joins the pool, which hands it the waiting request
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(counted, std::vector<int>{1});
  calls[0]();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, 200);
  autoscaler.Stop();
}

TEST(AutoscalerPokeTest, AWaitingRequestStartsAnInstanceOnTheStartPoolOrRightThere) {
  for (bool starts_inline : {false, true}) {
    SCOPED_TRACE(starts_inline ? "starts inline" : "start pool");
    ManualClock clock;
    std::vector<std::function<void()>> starts, calls;  // posted, run by the test
    Autoscaler autoscaler(
        &clock, [&](std::function<void()> t) { calls.push_back(std::move(t)); },
        [&](std::function<void()> t) { starts.push_back(std::move(t)); }, nullptr);
    auto fake = std::make_shared<testing::FakeDriver>("fake");
    fake->SetStartsInline(starts_inline);
    backend::Workload w = Revision("hello-00001").workload;
    scale::ScaleSpec spec;
    spec.initial_scale = 0;
    auto pool = autoscaler.Ensure("default", "hello-00001", fake.get(), std::make_shared<const backend::Workload>(w),
                                  std::make_shared<const scale::ScaleSpec>(spec), gateway::PoolOptions{});
    ASSERT_TRUE(starts.empty());
    ASSERT_EQ(pool->ready(), 0);
    HttpRequest r;
    r.method = "GET";
    r.target = "/x";
    std::optional<HttpResponse> got;
    pool->Submit(r, [&](HttpResponse res) { got = std::move(res); });
    if (starts_inline) {
      EXPECT_TRUE(starts.empty());
      EXPECT_EQ(fake->starts(), 1);
      EXPECT_EQ(pool->ready(), 1);
    } else {
      EXPECT_EQ(fake->starts(), 0);
      EXPECT_EQ(pool->queued(), 1u);
      ASSERT_EQ(starts.size(), 1u);
      starts[0]();
      EXPECT_EQ(fake->starts(), 1);
    }
    // Either way the request reaches the instance through the call executor.
    EXPECT_FALSE(got.has_value());
    ASSERT_EQ(calls.size(), 1u);
    calls[0]();
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->status, 200);
    EXPECT_EQ(fake->handled(), 1);
    autoscaler.Stop();
  }
}

TEST_F(LocalBackendTest, APlanRunsServesAndReportsItsRevisions) {
  ASSERT_TRUE(local_.Apply(Plan("hello", {Revision("hello-00001"), Revision("hello-00002", "spec.serving.timeout: bad")}, 1))
                  .ok());
  // Nothing happens before the pass commits.
  EXPECT_EQ(fake_->starts(), 0);
  local_.Commit();
  EXPECT_EQ(fake_->starts(), 1);  // the initial scale of the revision that makes a workload
  backend::FunctionObservation o = Observe("hello");
  ASSERT_EQ(o.revisions.size(), 2u);
  EXPECT_TRUE(o.revisions[0].ready);
  EXPECT_EQ(o.revisions[0].percent, 100);
  EXPECT_TRUE(o.revisions[0].routed);
  EXPECT_FALSE(o.revisions[1].ready);
  EXPECT_EQ(o.revisions[1].reason, "InvalidWorkload");
  // The newest failed: traffic stays on the one that works, and says so.
  EXPECT_EQ(o.state, "Running");
  EXPECT_EQ(o.reason, "RevisionFailed");
  EXPECT_NE(o.message.find("traffic stays on hello-00001"), std::string::npos) << o.message;
  EXPECT_EQ(o.latest_ready_revision, "hello-00001");
  EXPECT_EQ(o.service, "hello-fake");
  ASSERT_TRUE(o.route.has_value());
  EXPECT_EQ(o.route->status, "True");
  EXPECT_EQ(o.route->gateway, "openfunction/openfunction");
  ASSERT_FALSE(o.addresses.empty());
  EXPECT_EQ(o.addresses[0], (std::pair<std::string, std::string>{"External", "http://hello.default.ofn.io/"}));
  EXPECT_EQ(Get("hello.default.ofn.io").body, "fake hello-00001 GET /x");
}

TEST_F(LocalBackendTest, TagsConflictsAndMissingGatewaysShowInTheRouteObservation) {
  backend::FunctionPlan hello = Plan("hello", {Revision("hello-00001"), Revision("hello-00002")}, 1);
  hello.traffic = {{"hello-00001", false, 100, ""}, {"", true, 0, "next"}};
  ASSERT_TRUE(local_.Apply(hello).ok());
  // A younger Function claiming the same host loses it.
  backend::FunctionPlan copy = Plan("copy", {Revision("copy-00001")}, 2);
  copy.route_json = R"({"hostnames":["hello.default.ofn.io"],"rules":[{"matches":[{"path":{"type":"PathPrefix","value":"/"}}]}]})";
  ASSERT_TRUE(local_.Apply(copy).ok());
  backend::FunctionPlan lost = Plan("lost", {Revision("lost-00001")}, 3);
  lost.route_json = R"({"gatewayRef":{"name":"nosuch","namespace":"x"}})";
  ASSERT_TRUE(local_.Apply(lost).ok());
  local_.Commit();

  backend::FunctionObservation o = Observe("hello");
  EXPECT_EQ(o.revisions[0].percent, 100);
  EXPECT_EQ(o.revisions[1].percent, 0);
  EXPECT_EQ(o.revisions[1].tags, (std::vector<std::string>{"next"}));
  EXPECT_TRUE(o.revisions[1].routed);  // tagged
  EXPECT_TRUE(std::count(o.addresses.begin(), o.addresses.end(),
                         std::pair<std::string, std::string>{"Tag", "http://next-hello.default.ofn.io/"}));
  EXPECT_EQ(Get("hello.default.ofn.io").body, "fake hello-00001 GET /x");
  EXPECT_EQ(Get("next-hello.default.ofn.io").body, "fake hello-00002 GET /x");

  backend::FunctionObservation c = Observe("copy");
  ASSERT_TRUE(c.route.has_value());
  EXPECT_EQ(c.route->status, "False");
  EXPECT_EQ(c.route->reason, "Conflicted");
  EXPECT_TRUE(c.addresses.empty());

  backend::FunctionObservation l = Observe("lost");
  EXPECT_EQ(l.route->reason, "GatewayNotFound");
  EXPECT_EQ(l.route->message, "gateway x/nosuch does not exist");
  EXPECT_TRUE(l.route->hosts.empty());
}

TEST_F(LocalBackendTest, DeleteStopsItsRevisionsAtTheNextCommit) {
  ASSERT_TRUE(local_.Apply(Plan("hello", {Revision("hello-00001")}, 1)).ok());
  local_.Commit();
  EXPECT_EQ(fake_->live(), 1);
  EXPECT_EQ(autoscaler_.Keys(), (std::vector<std::string>{"default/hello-00001"}));
  ASSERT_TRUE(local_.Delete("default", "hello").ok());
  EXPECT_EQ(local_.Observe("default", "hello").status().code(), StatusCode::kNotFound);
  local_.Commit();
  EXPECT_TRUE(autoscaler_.Keys().empty());
  EXPECT_EQ(fake_->live(), 0);
  EXPECT_EQ(Get("hello.default.ofn.io").status, 404);
}

TEST_F(LocalBackendTest, ACommitConvergesWhatChangedAndReportsWhatItTouched) {
  ASSERT_TRUE(local_.Apply(Plan("hello", {Revision("hello-00001")}, 1)).ok());
  backend::FunctionPlan copy = Plan("copy", {Revision("copy-00001")}, 2);
  copy.route_json = R"({"hostnames":["hello.default.ofn.io"],"rules":[{"matches":[{"path":{"type":"PathPrefix","value":"/"}}]}]})";
  ASSERT_TRUE(local_.Apply(copy).ok());
  ASSERT_TRUE(local_.Apply(Plan("other", {Revision("other-00001")}, 3)).ok());
  local_.Commit();
  auto touched = [&] {
    std::vector<std::string> t = local_.Touched();
    std::sort(t.begin(), t.end());
    return t;
  };
  EXPECT_EQ(touched(), (std::vector<std::string>{"default/copy", "default/hello", "default/other"}));
  EXPECT_EQ(Observe("copy").route->reason, "Conflicted");
  EXPECT_EQ(fake_->starts(), 3);

  // The starts that settled during that commit (inline here) are looked at
  // once more; then nothing changed: nothing converges, nothing starts, the
  // table stands.
  local_.Commit();
  EXPECT_EQ(touched(), (std::vector<std::string>{"default/copy", "default/hello", "default/other"}));
  local_.Commit();
  EXPECT_TRUE(touched().empty());
  EXPECT_EQ(fake_->starts(), 3);
  EXPECT_EQ(Get("other.default.ofn.io").body, "fake other-00001 GET /x");

  // The older claimant goes: the younger one's route is accepted now, though
  // its own plan did not change, and it gets its address.
  ASSERT_TRUE(local_.Delete("default", "hello").ok());
  local_.Commit();
  EXPECT_EQ(touched(), (std::vector<std::string>{"default/copy"}));
  backend::FunctionObservation c = Observe("copy");
  EXPECT_EQ(c.route->status, "True");
  ASSERT_FALSE(c.addresses.empty());
  EXPECT_EQ(Get("hello.default.ofn.io").body, "fake copy-00001 GET /x");

  // Everything converges again when asked to (new drivers, new gateways).
  local_.InvalidateAll();
  local_.Commit();
  EXPECT_EQ(touched(), (std::vector<std::string>{"default/copy", "default/other"}));
}

TEST_F(LocalBackendTest, ARevisionNoDriverTakesSaysWhichDriversExist) {
  backend::RevisionPlan r = Revision("hello-00001");
  r.workload.backend = "k8s";  // a driver that is not registered
  ASSERT_TRUE(local_.Apply(Plan("hello", {r}, 1)).ok());
  local_.Commit();
  backend::FunctionObservation o = Observe("hello");
  EXPECT_EQ(o.state, "Failed");
  EXPECT_EQ(o.reason, "NoBackend");
  EXPECT_NE(o.message.find("fake"), std::string::npos) << o.message;
  EXPECT_EQ(fake_->starts(), 0);
}

TEST_F(LocalBackendTest, BackendRefsSendARulesRequestsToOtherFunctionsByWeight) {
  // Seed 002: one route, two Functions; a header match to v2 only, the rest
  // split 50/50, exactly.
  ASSERT_TRUE(local_.Apply(Plan("hello-v2", {Revision("hello-v2-00001")}, 2)).ok());
  backend::FunctionPlan v1 = Plan("hello-v1", {Revision("hello-v1-00001")}, 1);
  v1.route_json = R"({"hostnames":["hello.example.com"],"rules":[
      {"matches":[{"path":{"type":"PathPrefix","value":"/"},"headers":[{"name":"x-version","value":"v2"}]}],
       "backendRefs":[{"name":"hello-v2","port":8080}]},
      {"matches":[{"path":{"type":"PathPrefix","value":"/"}}],
       "backendRefs":[{"name":"hello-v1","weight":50},{"name":"hello-v2","weight":50,"port":80,
         "filters":[{"type":"URLRewrite","urlRewrite":{"path":{"type":"ReplacePrefixMatch","replacePrefixMatch":"/v2"}}}]}]}]})";
  ASSERT_TRUE(local_.Apply(v1).ok());
  local_.Commit();
  backend::FunctionObservation o = Observe("hello-v1");
  ASSERT_TRUE(o.route.has_value());
  EXPECT_EQ(o.route->status, "True");
  EXPECT_TRUE(o.route->has_backend_refs);
  EXPECT_EQ(o.route->refs_status, "True");
  EXPECT_EQ(o.route->refs_reason, "ResolvedRefs");

  std::map<std::string, int> seen;
  for (int i = 0; i < 100; ++i) ++seen[Get("hello.example.com").body];
  EXPECT_EQ(seen, (std::map<std::string, int>{{"fake hello-v1-00001 GET /x", 50}, {"fake hello-v2-00001 GET /v2/x", 50}}));
  HttpRequest r;
  r.target = "/x";
  r.headers.Set("Host", "hello.example.com");
  r.headers.Set("x-version", "v2");
  for (int i = 0; i < 10; ++i) EXPECT_EQ(dispatcher_.Handle(r).body, "fake hello-v2-00001 GET /x");
  // hello-v2's own route still serves it.
  EXPECT_EQ(Get("hello-v2.default.ofn.io").body, "fake hello-v2-00001 GET /x");
}

TEST_F(LocalBackendTest, ABackendRefToNoFunctionGets500ForItsShareAndSaysBackendNotFound) {
  backend::FunctionPlan v1 = Plan("hello-v1", {Revision("hello-v1-00001")}, 1);
  v1.route_json = R"({"hostnames":["hello.example.com"],"rules":[
      {"backendRefs":[{"name":"hello-v1"},{"name":"ghost"},{"name":"hello-v1","port":9999}]}]})";
  ASSERT_TRUE(local_.Apply(v1).ok());
  local_.Commit();
  backend::FunctionObservation o = Observe("hello-v1");
  EXPECT_EQ(o.route->status, "True");  // accepted, with refs that do not resolve
  EXPECT_EQ(o.route->refs_status, "False");
  EXPECT_EQ(o.route->refs_reason, "BackendNotFound");
  EXPECT_NE(o.route->refs_message.find("backendRef default/ghost: no Function"), std::string::npos)
      << o.route->refs_message;
  EXPECT_NE(o.route->refs_message.find("port 9999 is not served"), std::string::npos) << o.route->refs_message;
  std::map<int, int> codes;
  for (int i = 0; i < 100; ++i) ++codes[Get("hello.example.com").status];
  EXPECT_EQ(codes, (std::map<int, int>{{200, 34}, {500, 66}}));  // thirds: 34, 33, 33
  // All weights 0: 500 for every request.
  v1.route_json = R"({"hostnames":["hello.example.com"],"rules":[{"backendRefs":[{"name":"hello-v1","weight":0}]}]})";
  ASSERT_TRUE(local_.Apply(v1).ok());
  local_.Commit();
  EXPECT_EQ(Get("hello.example.com").status, 500);
}

}  // namespace
}  // namespace ofn::platform::internal
