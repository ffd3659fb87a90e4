// The serving slice end to end: a Platform on port 0, manifests applied,
// real HTTP through the gateway.
#include "libofn/platform/platform.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <cstdio>
#include <map>
#include <mutex>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <thread>
#include <vector>

#include "libofn/gateway/client.h"
#include "libofn/testing/fake_driver.h"
#include "libofn/testing/recording_backend.h"
#include "libofn/testing/loopback.h"
#include "tests/unit/test_util.h"

namespace ofn {
namespace {

namespace json = boost::json;
using std::chrono::seconds;
using testing::BuildRoot;
using testing::ReadFile;
using testing::SourceRoot;
using testing::TempDir;

Platform::Options Opts(const std::string& state_dir) {
  Platform::Options o;
  o.state_dir = state_dir;
  o.gateway_address = "127.0.0.1:0";
  o.library_dirs = {BuildRoot() + "/examples"};
  return o;
}

HttpResponse Get(Platform& p, const std::string& url_or_path, const std::string& host = "") {
  // url: http://host/path -> Host header + path
  std::string h = host, path = url_or_path;
  if (url_or_path.rfind("http://", 0) == 0) {
    std::string rest = url_or_path.substr(7);
    size_t slash = rest.find('/');
    h = rest.substr(0, slash);
    path = slash == std::string::npos ? "/" : rest.substr(slash);
  }
  HttpRequest req;
  req.target = path;
  req.headers.Set("Host", h);
  auto r = gateway::HttpCall(p.gateway_address(), req, seconds(10));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : HttpResponse{};
}

using testing::RawExchange;

int PortOf(const std::string& address) { return std::stoi(address.substr(address.rfind(':') + 1)); }

std::string Manifest(const std::string& name, const std::string& route_yaml, const std::string& func_name = "") {
  std::string m = "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: " + name +
                  "\nspec:\n  version: v1.0.0\n  image: ofn.local/" + name + ":latest\n  serving:\n";
  if (!func_name.empty()) m += "    params:\n      FUNC_NAME: " + func_name + "\n";
  m += "    template:\n      containers:\n        - name: function\n    triggers:\n      http:\n        port: 8080\n";
  if (!route_yaml.empty()) m += "        route:\n" + route_yaml;
  return m;
}

class PlatformTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = Platform::Open(Opts(dir_.path()));
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    platform_ = std::move(*p);
    platform_->functions().Http("echo", [](const HttpRequest& r) {
      return HttpResponse::Text(200, "echo " + r.method + " " + r.target + " host=" + r.headers.GetOr("Host", ""));
    });
  }
  Platform& p() { return *platform_; }

  TempDir dir_;
  std::unique_ptr<Platform> platform_;
};

TEST_F(PlatformTest, ExampleServesEveryAddressInAllThreeRoutingModes) {
  for (const char* f : {"host-based.yaml", "path-based.yaml", "host-and-path.yaml"}) {
    auto r = p().Apply(ReadFile(SourceRoot() + "/examples/hello-world/" + f), f);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  struct Want {
    std::string name, external, internal;
  };
  for (const Want& w : std::vector<Want>{
           {"hello", "http://hello.default.ofn.io/", "http://hello.default.svc.cluster.local/"},
           {"hello-path", "http://sample.ofn.io/default/hello-path/",
            "http://hello-path.default.svc.cluster.local/default/hello-path/"},
           {"hello-v2", "http://sample.ofn.io/v2/foo/", "http://hello-v2.default.svc.cluster.local/v2/foo/"}}) {
    auto info = p().WaitReady(w.name, seconds(10));
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->build_state, "Skipped");
    EXPECT_EQ(info->serving_state, "Running");
    EXPECT_EQ(info->route_status, "True");
    EXPECT_EQ(info->route_reason, "Valid");
    EXPECT_EQ(info->route_message, "Valid HTTPRoute");
    EXPECT_EQ(info->Address("External"), w.external);
    EXPECT_EQ(info->Address("Internal"), w.internal);
    for (const auto& [type, url] : info->addresses) {
      HttpResponse r = Get(p(), url);
      EXPECT_EQ(r.status, 200) << url;
      std::string path = url.substr(url.find('/', 7));
      EXPECT_EQ(r.body, "Hello, World! (path " + path + ")\n") << url;
    }
  }
  auto hello = p().GetFunction("hello");
  ASSERT_TRUE(hello.ok());
  EXPECT_NE(hello->json.find(R"("hosts":["hello.default.ofn.io","hello.default.svc.cluster.local"])"), std::string::npos)
      << hello->json;
  EXPECT_NE(hello->json.find(R"("paths":[{"type":"PathPrefix","value":"/"}])"), std::string::npos);
  EXPECT_NE(hello->json.find(R"("resourceRef":"hello-00001")"), std::string::npos) << hello->json;
  EXPECT_NE(hello->json.find(R"("lastSuccessfulResourceRef":"hello-00001")"), std::string::npos);
  // The list of summaries says the same, from the stored status alone.
  auto all = p().ListFunctions("default");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 3u);
  const FunctionInfo& first = (*all)[0];
  EXPECT_EQ(first.name, "hello");
  EXPECT_TRUE(first.json.empty());
  EXPECT_EQ(first.serving_state, hello->serving_state);
  EXPECT_EQ(first.state, ServingState::kRunning);
  EXPECT_EQ(first.route, RouteAcceptance::kAccepted);
  EXPECT_EQ(first.addresses, hello->addresses);
  EXPECT_EQ(first.latest_ready_revision, "hello-00001");
  EXPECT_EQ(first.created, hello->created);
  EXPECT_FALSE(first.created.empty());
  EXPECT_TRUE(p().ListFunctions("elsewhere")->empty());
  // Path-based: the host alone is not the function.
  EXPECT_EQ(Get(p(), "/", "sample.ofn.io").status, 404);
  EXPECT_EQ(Get(p(), "/default/hello-pathx", "sample.ofn.io").status, 404);
}

TEST_F(PlatformTest, FunctionsFollowGatewayChanges) {
  ASSERT_TRUE(p().Apply(Manifest("gw-fn", "", "echo")).ok());
  ASSERT_TRUE(p().WaitReady("gw-fn", seconds(10)).ok());
  EXPECT_EQ(Get(p(), "/", "gw-fn.default.ofn.io").status, 200);
  auto gw = p().Apply(R"(apiVersion: networking.openfunction.io/v1alpha1
kind: Gateway
metadata:
  name: openfunction
  namespace: openfunction
spec:
  domain: example.com
  clusterDomain: corp.local
  hostTemplate: "{{.Namespace}}-{{.Name}}.{{.Domain}}"
  pathTemplate: "fn/{{.Name}}"
  gatewayRef:
    name: contour
    namespace: projectcontour
  gatewaySpec:
    listeners:
      - name: ofn-http-external
        hostname: "*.example.com"
        protocol: HTTP
        port: 80
)");
  ASSERT_TRUE(gw.ok()) << gw.status().ToString();
  auto info = p().WaitFor("gw-fn", [](const FunctionInfo& f) { return f.Address("External") == "http://default-gw-fn.example.com/"; },
                          seconds(10));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->Address("Internal"), "http://gw-fn.default.svc.corp.local/");
  EXPECT_EQ(Get(p(), "/", "default-gw-fn.example.com").status, 200);
  EXPECT_EQ(Get(p(), "/", "gw-fn.default.ofn.io").status, 404);
  EXPECT_EQ(Get(p(), "/", "gw-fn.default.svc.corp.local").status, 200);
}

TEST_F(PlatformTest, ConflictingRouteIsNotAcceptedAndTheFirstKeepsServing) {
  std::string route = "          hostnames: [\"shared.ofn.io\"]\n          rules:\n            - matches:\n                - path: {type: PathPrefix, value: /api}\n";
  ASSERT_TRUE(p().Apply(Manifest("first", route, "echo")).ok());
  ASSERT_TRUE(p().WaitReady("first", seconds(10)).ok());
  p().functions().Http("second-fn", [](const HttpRequest&) { return HttpResponse::Text(200, "second"); });
  ASSERT_TRUE(p().Apply(Manifest("second", route, "second-fn")).ok());
  auto second = p().WaitFor("second", [](const FunctionInfo& f) { return !f.route_status.empty(); }, seconds(10));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->route_status, "False");
  EXPECT_EQ(second->route_reason, "Conflicted");
  EXPECT_NE(second->route_message.find("default/first"), std::string::npos) << second->route_message;
  EXPECT_TRUE(second->addresses.empty());
  HttpResponse r = Get(p(), "/api/x", "shared.ofn.io");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.rfind("echo", 0), 0u) << r.body;
  // When the first goes, the second takes over.
  ASSERT_TRUE(p().Delete("Function", "default", "first").ok());
  ASSERT_TRUE(p().WaitFor("second", [](const FunctionInfo& f) { return f.route_status == "True"; }, seconds(10)).ok());
  EXPECT_EQ(Get(p(), "/api/x", "shared.ofn.io").body, "second");
}

TEST_F(PlatformTest, ThrowingFunctionGives500AndThePlatformKeepsServing) {
  p().functions().Http("thrower", [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("kaput"); });
  ASSERT_TRUE(p().Apply(Manifest("bad", "", "thrower") + "---\n" + Manifest("good", "", "echo")).ok());
  ASSERT_TRUE(p().WaitReady("bad", seconds(10)).ok());
  ASSERT_TRUE(p().WaitReady("good", seconds(10)).ok());
  for (int i = 0; i < 3; ++i) {
    HttpResponse r = Get(p(), "/", "bad.default.ofn.io");
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(r.headers.GetOr("Content-Type", ""), "application/json");
    EXPECT_NE(r.body.find("kaput"), std::string::npos);
    EXPECT_EQ(Get(p(), "/", "good.default.ofn.io").status, 200);
  }
}

TEST_F(PlatformTest, InvokeTakesTheSamePathAsHttp) {
  ASSERT_TRUE(p().Apply(Manifest("inv", "", "echo")).ok());
  ASSERT_TRUE(p().WaitReady("inv", seconds(10)).ok());
  HttpRequest req;
  req.method = "POST";
  req.target = "/x?y=1";
  HttpResponse r = p().Invoke("inv", req);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "echo POST /x?y=1 host=inv.default.svc.cluster.local");
  EXPECT_EQ(p().Invoke("missing", HttpRequest{}).status, 404);
}

TEST_F(PlatformTest, InvokeRunsAProvenShortFunctionOnTheCallingThread) {
  std::mutex mu;
  std::vector<std::thread::id> ran_on;
  p().functions().Http("where", [&](const HttpRequest&) {
    std::lock_guard<std::mutex> lock(mu);
    ran_on.push_back(std::this_thread::get_id());
    return HttpResponse::Text(200, "ok");
  });
  ASSERT_TRUE(p().Apply(Manifest("where", "", "where")).ok());
  ASSERT_TRUE(p().WaitReady("where", seconds(10)).ok());
  // A new function runs on the platform's workers until its calls have
  // proved short (RevisionPool's streak), then on the caller, which waits
  // for it anyway.
  for (int i = 0; i < 100; ++i) ASSERT_EQ(p().Invoke("where", HttpRequest{}).status, 200);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(ran_on.size(), 100u);
  EXPECT_NE(ran_on.front(), std::this_thread::get_id());
  EXPECT_EQ(ran_on.back(), std::this_thread::get_id());
}

TEST_F(PlatformTest, MissingFunctionCodeFailsServingWithTheReason) {
  ASSERT_TRUE(p().Apply(Manifest("nocode", "")).ok());
  auto r = p().WaitReady("nocode", seconds(10));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  auto info = p().GetFunction("nocode");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->serving_state, "Failed");
  // No backend takes it; the message says which exist and what each needs.
  EXPECT_EQ(info->serving_reason, "NoBackend");
  EXPECT_NE(info->serving_message.find("ofn.local/nocode:latest"), std::string::npos) << info->serving_message;
  EXPECT_NE(info->serving_message.find("inprocess needs a function registered in this process as \"nocode\""),
            std::string::npos)
      << info->serving_message;
  EXPECT_NE(info->serving_message.find("process needs a command"), std::string::npos) << info->serving_message;
  // Its route still exists and answers 503: there is nothing to run.
  EXPECT_EQ(Get(p(), "/", "nocode.default.ofn.io").status, 503);
  // Registering the function afterwards is enough: the platform retries.
  p().functions().Http("nocode", [](const HttpRequest&) { return HttpResponse::Text(200, "late\n"); });
  auto running = p().WaitFor("nocode", [](const FunctionInfo& f) { return f.serving_state == "Running"; }, seconds(10));
  ASSERT_TRUE(running.ok()) << running.status().ToString();
  EXPECT_EQ(Get(p(), "/", "nocode.default.ofn.io").body, "late\n");
}

TEST(PlatformBackendsTest, AHostPlugsADriverInThroughOptionsAlone) {
  TempDir dir;
  auto fake = std::make_shared<testing::FakeDriver>("fake");
  Platform::Options o = Opts(dir.path());
  o.drivers.push_back({50, fake});  // below the built-in drivers
  auto p = Platform::Open(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  (*p)->functions().Http("echo", [](const HttpRequest&) { return HttpResponse::Text(200, "in process"); });
  // Named by annotation: the fake runs it, whatever the priorities say.
  std::string named = Manifest("named", "", "echo");
  named.replace(named.find("  name: named\n"), 14, "  name: named\n  annotations:\n    ofn.io/backend: fake\n");
  ASSERT_TRUE((*p)->Apply(named).ok());
  ASSERT_TRUE((*p)->WaitReady("named", seconds(10)).ok());
  EXPECT_EQ(Get(**p, "/x", "named.default.ofn.io").body, "fake named-00001 GET /x");
  EXPECT_EQ(fake->starts(), 1);
  EXPECT_EQ(fake->last_workload().image, "ofn.local/named:latest");
  EXPECT_EQ(fake->last_workload().Env("FUNC_NAME"), "echo");
  // Its logs come from the driver that ran it, through the platform.
  EXPECT_EQ(Get(**p, "/y", "named.default.ofn.io").status, 200);
  auto logs = (*p)->Logs("named");
  ASSERT_TRUE(logs.ok()) << logs.status().ToString();
  EXPECT_EQ(logs->revision, "named-00001");
  EXPECT_EQ(logs->text, "GET /x\nGET /y\n");
  EXPECT_EQ((*p)->Logs("named", "", 1)->text, "GET /y\n");
  EXPECT_GE(fake->logs(), 2);
  // Not named: the highest-priority driver that accepts it (inprocess).
  ASSERT_TRUE((*p)->Apply(Manifest("plain", "", "echo")).ok());
  ASSERT_TRUE((*p)->WaitReady("plain", seconds(10)).ok());
  EXPECT_EQ(Get(**p, "/", "plain.default.ofn.io").body, "in process");
  EXPECT_EQ(fake->starts(), 1);
  // No backend has logs of it: the error says what each one said.
  auto none = (*p)->Logs("plain");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find("inprocess: the inprocess backend keeps no logs"), std::string::npos)
      << none.status().message();
  EXPECT_EQ((*p)->Logs("nosuch").status().code(), StatusCode::kNotFound);
  // A name no driver has says which exist.
  std::string unknown = Manifest("lost", "", "echo");
  unknown.replace(unknown.find("  name: lost\n"), 13, "  name: lost\n  annotations:\n    ofn.io/backend: k8s\n");
  ASSERT_TRUE((*p)->Apply(unknown).ok());
  auto lost = (*p)->WaitFor("lost", [](const FunctionInfo& f) { return f.serving_reason == "NoBackend"; }, seconds(10));
  ASSERT_TRUE(lost.ok()) << lost.status().ToString();
  EXPECT_NE(lost->serving_message.find("enabled: inprocess, process, fake"), std::string::npos) << lost->serving_message;
  (*p)->Close(seconds(1));
  EXPECT_EQ(fake->shutdowns(), 1);
  EXPECT_EQ(fake->live(), 0);  // its instance was dropped at close
}

TEST(PlatformBackendsTest, InstancesThatSurvivedTheLastRunAreAdoptedOrDropped) {
  TempDir dir;
  auto fake = std::make_shared<testing::FakeDriver>("fake");
  Platform::Options o = Opts(dir.path());
  o.drivers.push_back({50, fake});
  o.autoscale_ticker = false;  // only the decisions a registration makes
  std::string named = Manifest("named", "", "echo");
  named.replace(named.find("  name: named\n"), 14, "  name: named\n  annotations:\n    ofn.io/backend: fake\n");
  {
    auto p = Platform::Open(o);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    ASSERT_TRUE((*p)->Apply(named).ok());
    ASSERT_TRUE((*p)->WaitReady("named", seconds(10)).ok());
    (*p)->Close(seconds(1));
  }
  ASSERT_EQ(fake->starts(), 1);
  ASSERT_EQ(fake->live(), 0);
  // The backend kept two instances of the revision running, and one of a
  // revision the store no longer has.
  fake->LeaveRunning("default", "named-00001", 2);
  fake->LeaveRunning("default", "gone-00007", 1);
  auto p = Platform::Open(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(fake->recovers(), 2);  // once per open
  ASSERT_TRUE((*p)->Sync(seconds(10)).ok());
  ASSERT_TRUE((*p)->WaitReady("named", seconds(10)).ok());
  // Adopted: they serve at once, nothing was started, the stranger is gone.
  EXPECT_EQ(Get(**p, "/x", "named.default.ofn.io").body, "fake named-00001 GET /x");
  EXPECT_EQ(fake->starts(), 1);
  EXPECT_EQ(fake->live(), 2);
  auto revs = (*p)->Revisions("named");
  ASSERT_TRUE(revs.ok()) << revs.status().ToString();
  ASSERT_EQ(revs->size(), 1u);
  EXPECT_EQ((*revs)[0].recovered, 2);
  EXPECT_EQ((*revs)[0].ready_instances, 2);
  EXPECT_EQ((*revs)[0].cold_starts, 0u);
  (*p)->Close(seconds(1));
  EXPECT_EQ(fake->live(), 0);
}

// One survivor and no traffic yet: the autoscaler's first decision counts
// it as the revision's current scale (it is not scaled away at once, before
// the scale-to-zero grace, as if the revision had been at zero).
TEST(PlatformBackendsTest, ASingleSurvivorIsKeptByTheFirstDecisions) {
  TempDir dir;
  auto fake = std::make_shared<testing::FakeDriver>("fake");
  Platform::Options o = Opts(dir.path());
  o.drivers.push_back({50, fake});
  o.autoscale_ticker = false;
  std::string named = Manifest("named", "", "echo");
  named.replace(named.find("  name: named\n"), 14, "  name: named\n  annotations:\n    ofn.io/backend: fake\n");
  {
    auto p = Platform::Open(o);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    ASSERT_TRUE((*p)->Apply(named).ok());
    ASSERT_TRUE((*p)->WaitReady("named", seconds(10)).ok());
    (*p)->Close(seconds(1));
  }
  fake->LeaveRunning("default", "named-00001", 1);
  auto p = Platform::Open(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_TRUE((*p)->Sync(seconds(10)).ok());
  (*p)->Autoscale();
  (*p)->Autoscale();
  EXPECT_EQ(fake->live(), 1);
  EXPECT_EQ(fake->starts(), 1);
  auto revs = (*p)->Revisions("named");
  ASSERT_TRUE(revs.ok());
  ASSERT_EQ(revs->size(), 1u);
  EXPECT_EQ((*revs)[0].ready_instances, 1);
  EXPECT_EQ((*revs)[0].recovered, 1);
}

TEST(PlatformBackendsTest, RestartReplacesEveryInstanceOfAFunction) {
  TempDir dir;
  auto fake = std::make_shared<testing::FakeDriver>("fake");
  Platform::Options o = Opts(dir.path());
  o.drivers.push_back({50, fake});
  auto p = Platform::Open(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  std::string named = Manifest("named", "", "echo");
  named.replace(named.find("  name: named\n"), 14, "  name: named\n  annotations:\n    ofn.io/backend: fake\n");
  ASSERT_TRUE((*p)->Apply(named).ok());
  ASSERT_TRUE((*p)->WaitReady("named", seconds(10)).ok());
  ASSERT_EQ(fake->starts(), 1);
  ASSERT_TRUE((*p)->Restart("named").ok());
  ASSERT_TRUE((*p)->WaitReady("named", seconds(10)).ok());
  EXPECT_EQ(Get(**p, "/r", "named.default.ofn.io").body, "fake named-00001 GET /r");
  EXPECT_EQ(fake->starts(), 2);  // a new instance
  EXPECT_EQ(fake->live(), 1);    // and the old one gone
  EXPECT_EQ((*p)->Restart("nosuch").code(), StatusCode::kNotFound);
}

TEST(PlatformBackendsTest, AnOrchestratingBackendGetsExactlyThePlanChanges) {
  TempDir dir;
  auto k8s = std::make_shared<testing::RecordingBackend>("k8s");
  Platform::Options o = Opts(dir.path());
  o.backends.push_back(k8s);
  auto p = Platform::Open(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto manifest = [](const std::string& image, const std::string& traffic) {
    std::string m = Manifest("hello", "", "echo");
    m.replace(m.find("  name: hello\n"), 14, "  name: hello\n  annotations:\n    ofn.io/backend: k8s\n");
    m.replace(m.find("ofn.local/hello:latest"), 22, image);
    if (!traffic.empty()) m.replace(m.find("spec:\n"), 6, "spec:\n" + traffic);
    return m;
  };
  auto settle = [&] {
    EXPECT_TRUE((*p)->Sync(seconds(10)).ok());
  };
  ASSERT_TRUE((*p)->Apply(manifest("example.com/hello:v1", "")).ok());
  settle();
  EXPECT_EQ(k8s->calls(), (std::vector<std::string>{"apply default/hello revisions=hello-00001 traffic=latest:100"}));
  auto info = (*p)->WaitFor("hello", [](const FunctionInfo& f) { return f.serving_state == "Running"; }, seconds(10));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->latest_ready_revision, "hello-00001");
  backend::FunctionPlan plan = k8s->plan("default/hello");
  ASSERT_EQ(plan.revisions.size(), 1u);
  EXPECT_EQ(plan.revisions[0].workload.image, "example.com/hello:v1");
  EXPECT_EQ(plan.revisions[0].workload.backend, "k8s");
  EXPECT_EQ(plan.hosts, (std::vector<std::string>{"hello.default.ofn.io", "hello.default.svc.cluster.local"}));
  // Nothing of it is served here.
  EXPECT_EQ(Get(**p, "/", "hello.default.ofn.io").status, 404);
  // The same manifest again: no call. A new image: a new revision in the plan.
  ASSERT_TRUE((*p)->Apply(manifest("example.com/hello:v1", "")).ok());
  settle();
  EXPECT_EQ(k8s->calls().size(), 1u);
  ASSERT_TRUE((*p)->Apply(manifest("example.com/hello:v2", "")).ok());
  settle();
  // A traffic change alone: the plan's traffic, no new revision.
  ASSERT_TRUE((*p)->Apply(manifest("example.com/hello:v2",
                                   "  traffic:\n    - revisionName: hello-00001\n      percent: 80\n"
                                   "    - latestRevision: true\n      percent: 20\n      tag: canary\n"))
                  .ok());
  settle();
  ASSERT_TRUE((*p)->Delete("Function", "default", "hello").ok());
  settle();
  EXPECT_EQ(k8s->calls(), (std::vector<std::string>{
                              "apply default/hello revisions=hello-00001 traffic=latest:100",
                              "apply default/hello revisions=hello-00001,hello-00002 traffic=latest:100",
                              "apply default/hello revisions=hello-00001,hello-00002 traffic=hello-00001:80,latest:20@canary",
                              "delete default/hello",
                          }));
}

TEST(PlatformBackendsTest, ADriverNamedLikeABuiltinOneIsRefused) {
  TempDir dir;
  Platform::Options o = Opts(dir.path());
  o.drivers.push_back({10, std::make_shared<testing::FakeDriver>("process")});
  auto p = Platform::Open(o);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kAlreadyExists);
}

TEST_F(PlatformTest, ChangesSinceReturnsWhatHappenedAfterASequenceNumber) {
  Platform::Changes none = p().ChangesSince(-1, "", std::chrono::milliseconds(0));
  EXPECT_TRUE(none.changes.empty());
  const int64_t start = none.next;
  ASSERT_TRUE(p().Apply(Manifest("watched", "", "echo")).ok());
  Platform::Changes got = p().ChangesSince(start, "Function", seconds(5));
  ASSERT_FALSE(got.changes.empty());
  EXPECT_EQ(got.changes[0].type, WatchEventType::kAdded);
  EXPECT_EQ(got.changes[0].object.name, "watched");
  EXPECT_GT(got.next, start);
  EXPECT_EQ(got.missed, 0);
  // Another kind only: none of those.
  EXPECT_TRUE(p().ChangesSince(start, "HTTPRoute", std::chrono::milliseconds(0)).changes.empty());
  // More changes than the history holds: the caller is told it missed some.
  std::string many;
  for (int i = 0; i < 1100; ++i) {
    many += "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c" + std::to_string(i) + "\ndata:\n  k: v\n";
  }
  const int64_t before = p().ChangesSince(-1, "", std::chrono::milliseconds(0)).next;
  ASSERT_TRUE(p().Apply(many).ok());
  Platform::Changes late = p().ChangesSince(before, "ConfigMap", std::chrono::milliseconds(0));
  EXPECT_GE(late.missed, 1100 - 1024);
  EXPECT_LE(late.changes.size(), 1024u);
}

TEST_F(PlatformTest, InvalidApplyNamesTheFieldAndChangesNothing) {
  ASSERT_TRUE(p().Apply(Manifest("keep", "", "echo")).ok());
  ASSERT_TRUE(p().Sync().ok());
  auto before = p().Get("Function", "default", "keep");
  ASSERT_TRUE(before.ok());
  std::string bad = Manifest("keep", "", "other") + "---\n" +
                    "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: broken\nspec:\n"
                    "  version: v1\n  serving:\n    triggers:\n      http:\n        port: 99999\n";
  auto r = p().Apply(bad, "bad.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bad.yaml:"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("spec.serving.triggers.http.port"), std::string::npos) << r.status().message();
  auto after = p().Get("Function", "default", "keep");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->generation, before->generation);
  EXPECT_FALSE(p().Get("Function", "default", "broken").ok());
}

TEST_F(PlatformTest, BadRequestsGet4xxAndCloseOnlyTheirConnection) {
  ASSERT_TRUE(p().Apply(Manifest("ok", "", "echo")).ok());
  ASSERT_TRUE(p().WaitReady("ok", seconds(10)).ok());
  int port = PortOf(p().gateway_address());
  std::string malformed = RawExchange(port, "GARBAGE\r\n\r\n");
  EXPECT_EQ(malformed.rfind("HTTP/1.1 400", 0), 0u) << malformed;
  EXPECT_NE(malformed.find("Connection: close"), std::string::npos);
  std::string bad_version = RawExchange(port, "GET / HTTP/9.x\r\nHost: ok.default.ofn.io\r\n\r\n");
  EXPECT_EQ(bad_version.rfind("HTTP/1.1 400", 0), 0u) << bad_version;
  std::string big_header = RawExchange(port, "GET / HTTP/1.1\r\nHost: ok.default.ofn.io\r\nX-Big: " +
                                                  std::string(9000, 'a') + "\r\n\r\n");
  EXPECT_EQ(big_header.rfind("HTTP/1.1 431", 0), 0u) << big_header.substr(0, 100);
  std::string big_body = RawExchange(port, "POST / HTTP/1.1\r\nHost: ok.default.ofn.io\r\nContent-Length: " +
                                                std::to_string(9 * 1024 * 1024) + "\r\n\r\nabc");
  EXPECT_EQ(big_body.rfind("HTTP/1.1 413", 0), 0u) << big_body.substr(0, 100);
  // Keep-alive: two requests on one connection, then close.
  std::string two = RawExchange(port, "GET /a HTTP/1.1\r\nHost: ok.default.ofn.io\r\n\r\n"
                                      "GET /b HTTP/1.1\r\nHost: ok.default.ofn.io\r\nConnection: close\r\n\r\n");
  EXPECT_NE(two.find("echo GET /a"), std::string::npos) << two;
  EXPECT_NE(two.find("echo GET /b"), std::string::npos) << two;
  EXPECT_EQ(Get(p(), "/", "ok.default.ofn.io").status, 200);
}

TEST(PlatformLimitsTest, HeaderAndBodyLimitsAreConfigurable) {
  TempDir dir;
  auto o = Opts(dir.path());
  o.max_header_bytes = 1024;
  o.max_body_bytes = 100;
  auto p = Platform::Open(o);
  ASSERT_TRUE(p.ok());
  (*p)->functions().Http("echo", [](const HttpRequest& r) { return HttpResponse::Text(200, r.body); });
  ASSERT_TRUE((*p)->Apply(Manifest("lim", "", "echo")).ok());
  ASSERT_TRUE((*p)->WaitReady("lim", seconds(10)).ok());
  int port = PortOf((*p)->gateway_address());
  std::string h = RawExchange(port, "GET / HTTP/1.1\r\nHost: lim.default.ofn.io\r\nX: " + std::string(1100, 'a') + "\r\n\r\n");
  EXPECT_EQ(h.rfind("HTTP/1.1 431", 0), 0u);
  std::string b = RawExchange(port, "POST / HTTP/1.1\r\nHost: lim.default.ofn.io\r\nConnection: close\r\nContent-Length: 101\r\n\r\n" +
                                        std::string(101, 'x'));
  EXPECT_EQ(b.rfind("HTTP/1.1 413", 0), 0u);
  std::string ok = RawExchange(port, "POST / HTTP/1.1\r\nHost: lim.default.ofn.io\r\nConnection: close\r\nContent-Length: 100\r\n\r\n" +
                                         std::string(100, 'x'));
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u);
}

TEST(PlatformTimeoutTest, HangingFunctionGets504AndOthersAreServed) {
  TempDir dir;
  auto o = Opts(dir.path());
  o.request_timeout = std::chrono::milliseconds(200);
  auto p = Platform::Open(o);
  ASSERT_TRUE(p.ok());
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  (*p)->functions().Http("hang", [&](const HttpRequest&) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
    return HttpResponse::Text(200, "late");
  });
  (*p)->functions().Http("echo", [](const HttpRequest&) { return HttpResponse::Text(200, "fine"); });
  ASSERT_TRUE((*p)->Apply(Manifest("hang", "", "hang") + "---\n" + Manifest("fine", "", "echo")).ok());
  ASSERT_TRUE((*p)->WaitReady("hang", seconds(10)).ok());
  ASSERT_TRUE((*p)->WaitReady("fine", seconds(10)).ok());
  EXPECT_EQ(Get(**p, "/", "hang.default.ofn.io").status, 504);
  EXPECT_EQ(Get(**p, "/", "fine.default.ofn.io").body, "fine");
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
}

TEST(PlatformRestartTest, ReopeningTheStateDirRestoresFunctionsAndRoutes) {
  TempDir dir;
  std::string ref;
  {
    auto p = Platform::Open(Opts(dir.path()));
    ASSERT_TRUE(p.ok());
    for (const char* f : {"host-based.yaml", "host-and-path.yaml"}) {
      ASSERT_TRUE((*p)->Apply(ReadFile(SourceRoot() + "/examples/hello-world/" + f), f).ok());
    }
    auto info = (*p)->WaitReady("hello", seconds(10));
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    ref = info->json.substr(info->json.find("\"resourceRef\""), 40);
    ASSERT_TRUE((*p)->WaitReady("hello-v2", seconds(10)).ok());
  }
  auto p = Platform::Open(Opts(dir.path()));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_TRUE((*p)->Sync().ok());
  auto info = (*p)->WaitReady("hello", seconds(10));
  ASSERT_TRUE(info.ok());
  EXPECT_NE(info->json.find(ref), std::string::npos) << "the serving is the same one after a restart";
  EXPECT_EQ(Get(**p, "/", "hello.default.ofn.io").body, "Hello, World! (path /)\n");
  EXPECT_EQ(Get(**p, "/v2/foo/bar", "sample.ofn.io").body, "Hello, World! (path /v2/foo/bar)\n");
  auto gws = (*p)->List("Gateway");
  ASSERT_TRUE(gws.ok());
  EXPECT_EQ(gws->size(), 1u) << "the default gateway is created once";
}

TEST(PlatformAdminTest, UnixSocketIsPrivateAndServesTheApi) {
  TempDir dir;
  auto o = Opts(dir.path());
  o.admin_address = "unix";
  auto p = Platform::Open(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  struct stat st;
  ASSERT_EQ(::stat((dir.path() + "/admin.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  (*p)->functions().Http("echo", [](const HttpRequest& r) { return HttpResponse::Text(200, "admin " + r.target); });
  HttpRequest apply;
  apply.method = "POST";
  apply.target = "/v1/apply";
  apply.body = Manifest("adm", "", "echo");
  auto r = gateway::HttpCall((*p)->admin_address(), apply);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
  ASSERT_TRUE((*p)->WaitReady("adm", seconds(10)).ok());
  HttpRequest list;
  list.target = "/v1/functions";
  r = gateway::HttpCall((*p)->admin_address(), list);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->body.find("\"name\":\"adm\""), std::string::npos);
  HttpRequest invoke;
  invoke.target = "/v1/invoke/default/adm/some/path?q=1";
  r = gateway::HttpCall((*p)->admin_address(), invoke);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "admin /some/path?q=1");
  HttpRequest bad;
  bad.method = "POST";
  bad.target = "/v1/apply";
  bad.body = "kind: Function\n";
  r = gateway::HttpCall((*p)->admin_address(), bad);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400);
  HttpRequest del;
  del.method = "DELETE";
  del.target = "/v1/functions/default/adm";
  r = gateway::HttpCall((*p)->admin_address(), del);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE((*p)->Get("Function", "default", "adm").ok());
}

TEST(PlatformAdminTest, TcpNeedsLoopbackAndTheToken) {
  TempDir dir;
  auto o = Opts(dir.path());
  o.admin_address = "0.0.0.0:0";
  EXPECT_FALSE(Platform::Open(o).ok());
  o.admin_address = "127.0.0.1:0";
  auto p = Platform::Open(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  struct stat st;
  ASSERT_EQ(::stat((dir.path() + "/admin.token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string token;
  std::ifstream(dir.path() + "/admin.token") >> token;
  HttpRequest req;
  req.target = "/v1/functions";
  auto r = gateway::HttpCall((*p)->admin_address(), req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401);
  req.headers.Set("Authorization", "Bearer wrong");
  EXPECT_EQ(gateway::HttpCall((*p)->admin_address(), req)->status, 401);
  req.headers.Set("Authorization", "Bearer " + token);
  EXPECT_EQ(gateway::HttpCall((*p)->admin_address(), req)->status, 200);
}

TEST(PlatformWatchTest, WatchSeesAppliesAndStatusWrites) {
  TempDir dir;
  auto p = Platform::Open(Opts(dir.path()));
  ASSERT_TRUE(p.ok());
  (*p)->functions().Http("echo", [](const HttpRequest&) { return HttpResponse::Text(200, "w"); });
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> events;
  int64_t id = (*p)->Watch("Function", [&](WatchEventType type, const ObjectInfo& o) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(std::string(WatchEventTypeName(type)) + " " + o.name);
    cv.notify_all();
  });
  ASSERT_TRUE((*p)->Apply(Manifest("w", "", "echo")).ok());
  ASSERT_TRUE((*p)->WaitReady("w", seconds(10)).ok());
  // Watch events are delivered after the commit, on the writer's thread; the
  // status write WaitReady saw may still be on its way to this watcher.
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_for(lock, seconds(10), [&] { return events.size() >= 2; });
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events[0], "ADDED w");
  EXPECT_EQ(events[1], "MODIFIED w");
  lock.unlock();
  (*p)->Unwatch(id);
}

// Calls that take a namespace default to Options::default_namespace.
TEST(PlatformNamespaceTest, TheDefaultNamespaceComesFromOptions) {
  TempDir dir;
  Platform::Options o = Opts(dir.path());
  o.default_namespace = "team";
  auto p = Platform::Open(o);
  ASSERT_TRUE(p.ok());
  (*p)->functions().Http("echo", [](const HttpRequest& r) { return HttpResponse::Text(200, "team " + r.target); });
  auto applied = (*p)->Apply(Manifest("f", "", "echo"));
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  EXPECT_EQ((*applied)[0].ns, "team");
  auto ready = (*p)->WaitReady("f", seconds(10));
  ASSERT_TRUE(ready.ok()) << ready.status().ToString();
  EXPECT_EQ(ready->ns, "team");
  EXPECT_EQ(ready->state, ServingState::kRunning);
  EXPECT_EQ(ready->route, RouteAcceptance::kAccepted);
  EXPECT_TRUE((*p)->GetFunction("f").ok());
  EXPECT_FALSE((*p)->GetFunction("f", "default").ok());
  HttpRequest req;
  req.target = "/x";
  EXPECT_EQ((*p)->Invoke("f", req).body, "team /x");
  auto revs = (*p)->Revisions("f");
  ASSERT_TRUE(revs.ok());
  ASSERT_EQ(revs->size(), 1u);
  EXPECT_EQ((*revs)[0].ns, "team");
  EXPECT_EQ((*p)->Revisions("", "*")->size(), 1u);
}

// One platform per state dir: a second one is refused, naming the holder,
// and takes nothing of the first (its admin socket still answers).
TEST(PlatformLockTest, ASecondPlatformOnTheSameStateDirIsRefused) {
  TempDir dir;
  Platform::Options o = Opts(dir.path());
  o.admin_address = "unix";
  auto first = Platform::Open(o);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = Platform::Open(o);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use by another platform (pid " + std::to_string(::getpid()) + ")"),
            std::string::npos)
      << second.status().message();
  HttpRequest health;
  health.target = "/healthz";
  auto r = gateway::HttpCall((*first)->admin_address(), health, seconds(5));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  // Closed, the dir is free again.
  (*first)->Close(seconds(1));
  auto third = Platform::Open(o);
  EXPECT_TRUE(third.ok()) << third.status().ToString();
}

// HTTPRoute objects applied directly (Gateway API cases, as this project's
// own tests: the requests and the expectations of the published conformance
// cases for matching, weights, hostname intersection, filters, redirects
// and status).
class HttpRouteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = Platform::Open(Opts(dir_.path()));
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    platform_ = std::move(*p);
    for (const char* v : {"v1", "v2", "v3"}) {
      std::string name = v;
      platform_->functions().Http(name, [name](const HttpRequest& r) {
        return HttpResponse::Text(200, name + " " + r.target + " x-a=" + r.headers.GetOr("x-a", "-") +
                                           " x-b=" + r.headers.GetOr("x-b", "-"));
      });
      ASSERT_TRUE(platform_->Apply(Manifest("backend-" + name, "", name)).ok());
      ASSERT_TRUE(platform_->WaitReady("backend-" + name, seconds(10)).ok());
    }
  }
  Platform& p() { return *platform_; }
  // Applies an HTTPRoute and waits until the reconciler has routed it.
  void Route(const std::string& yaml) {
    auto r = p().Apply(yaml, "route.yaml");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(p().Sync().ok());
  }
  std::string Body(const std::string& host, const std::string& path, const Headers& extra = {}) {
    HttpRequest req;
    req.target = path;
    req.headers = extra;
    req.headers.Set("Host", host);
    auto r = gateway::HttpCall(p().gateway_address(), req, seconds(10));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::to_string(r->status) + " " + r->body.substr(0, r->body.find(" x-a")) : "";
  }
  json::value Status(const std::string& name, const std::string& ns = "default") {
    auto o = p().Get("HTTPRoute", ns, name);
    EXPECT_TRUE(o.ok()) << o.status().ToString();
    return o.ok() ? json::parse(o->json).at("status") : json::value();
  }

  TempDir dir_;
  std::unique_ptr<Platform> platform_;
};

constexpr char kRouteHead[] = R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: %s
spec:
  parentRefs:
    - name: openfunction
      namespace: openfunction
)";

std::string HttpRoute(const std::string& name, const std::string& rest) {
  char head[512];
  std::snprintf(head, sizeof head, kRouteHead, name.c_str());
  return head + rest;
}

TEST_F(HttpRouteTest, MatchingAcrossRoutesAndRuleOrder) {
  Route(HttpRoute("matching", R"(  hostnames: [app.ofn.io]
  rules:
    - matches: [{path: {type: PathPrefix, value: /}}]
      backendRefs: [{name: backend-v1, port: 8080}]
    - matches: [{path: {type: PathPrefix, value: /v2}}, {headers: [{name: version, value: two}]}]
      backendRefs: [{name: backend-v2, port: 8080}]
    - matches: [{path: {type: Exact, value: /exact}}]
      backendRefs: [{name: backend-v3, port: 8080}]
    - matches: [{path: {type: Exact, value: /exact}}]
      backendRefs: [{name: backend-v1, port: 8080}]
)"));
  EXPECT_EQ(Body("app.ofn.io", "/"), "200 v1 /");
  EXPECT_EQ(Body("app.ofn.io", "/example"), "200 v1 /example");
  EXPECT_EQ(Body("app.ofn.io", "/v2"), "200 v2 /v2");
  EXPECT_EQ(Body("app.ofn.io", "/v2/example"), "200 v2 /v2/example");
  EXPECT_EQ(Body("app.ofn.io", "/v2example"), "200 v1 /v2example");  // prefixes match whole segments
  Headers two;
  two.Set("version", "two");
  EXPECT_EQ(Body("app.ofn.io", "/", two), "200 v2 /");
  EXPECT_EQ(Body("app.ofn.io", "/exact"), "200 v3 /exact");  // the first of two equal rules
  EXPECT_EQ(Body("app.ofn.io", "/exact/x"), "200 v1 /exact/x");
  // Another route on the same host: the older one wins the tie.
  Route(HttpRoute("younger", R"(  hostnames: [app.ofn.io]
  rules:
    - matches: [{path: {type: Exact, value: /exact}}]
      backendRefs: [{name: backend-v2, port: 8080}]
    - matches: [{path: {type: Exact, value: /only-younger}}]
      backendRefs: [{name: backend-v2, port: 8080}]
)"));
  EXPECT_EQ(Body("app.ofn.io", "/exact"), "200 v3 /exact");
  EXPECT_EQ(Body("app.ofn.io", "/only-younger"), "200 v2 /only-younger");
  EXPECT_EQ(Status("younger").at("parents").at(0).at("conditions").at(0).at("status"), "True");
}

TEST_F(HttpRouteTest, WeightsSplitExactly) {
  Route(HttpRoute("weighted", R"(  hostnames: [weighted.ofn.io]
  rules:
    - backendRefs:
        - {name: backend-v1, port: 8080, weight: 70}
        - {name: backend-v2, port: 8080, weight: 30}
        - {name: backend-v3, port: 8080, weight: 0}
)"));
  std::map<std::string, int> seen;
  for (int i = 0; i < 100; ++i) ++seen[Body("weighted.ofn.io", "/")];
  EXPECT_EQ(seen, (std::map<std::string, int>{{"200 v1 /", 70}, {"200 v2 /", 30}}));
}

TEST_F(HttpRouteTest, HostnamesIntersectWithTheListeners) {
  // Listeners: *.cluster.local and *.ofn.io. The route's names within them
  // serve; the others do not; a wildcard over a listener name narrows to it.
  Route(HttpRoute("hosts", R"(  hostnames: [very.specific.ofn.io, "*.wildcard.ofn.io", not.matching.example.com]
  rules:
    - backendRefs: [{name: backend-v1, port: 8080}]
)"));
  EXPECT_EQ(Body("very.specific.ofn.io", "/s"), "200 v1 /s");
  EXPECT_EQ(Body("foo.wildcard.ofn.io", "/w"), "200 v1 /w");
  EXPECT_EQ(Body("not.matching.example.com", "/").substr(0, 3), "404");
  // Nothing in common with any listener: not accepted, and says why.
  Route(HttpRoute("elsewhere", R"(  hostnames: [only.example.com]
  rules:
    - backendRefs: [{name: backend-v1, port: 8080}]
)"));
  json::value st = Status("elsewhere");
  EXPECT_EQ(st.at("parents").at(0).at("conditions").at(0).at("reason"), "NoMatchingListenerHostname");
  EXPECT_EQ(Body("only.example.com", "/").substr(0, 3), "404");
  // No hostnames: every host of the listeners.
  Route(HttpRoute("anyhost", R"(  rules:
    - matches: [{path: {type: PathPrefix, value: /anyhost}}]
      backendRefs: [{name: backend-v2, port: 8080}]
)"));
  EXPECT_EQ(Body("whatever.ofn.io", "/anyhost"), "200 v2 /anyhost");
  EXPECT_EQ(Body("svc.ns.svc.cluster.local", "/anyhost"), "200 v2 /anyhost");
}

TEST_F(HttpRouteTest, FiltersRewritesAndRedirects) {
  Route(HttpRoute("filters", R"(  hostnames: [filters.ofn.io]
  rules:
    - matches: [{path: {type: PathPrefix, value: /set}}]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: {set: [{name: x-a, value: set}], remove: [x-b]}
      backendRefs: [{name: backend-v1, port: 8080}]
    - matches: [{path: {type: PathPrefix, value: /prefix/one}}]
      filters:
        - type: URLRewrite
          urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /one}}
      backendRefs: [{name: backend-v1, port: 8080}]
    - matches: [{path: {type: PathPrefix, value: /backend}}]
      backendRefs:
        - name: backend-v2
          port: 8080
          filters:
            - type: RequestHeaderModifier
              requestHeaderModifier: {add: [{name: x-b, value: from-backend}]}
    - matches: [{path: {type: PathPrefix, value: /redirect}}]
      filters:
        - type: RequestRedirect
          requestRedirect: {hostname: example.org, statusCode: 301}
)"));
  HttpRequest req;
  req.target = "/set";
  req.headers.Set("Host", "filters.ofn.io");
  req.headers.Set("x-b", "gone");
  auto r = gateway::HttpCall(p().gateway_address(), req, seconds(10));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "v1 /set x-a=set x-b=-");
  EXPECT_EQ(Body("filters.ofn.io", "/prefix/one/two"), "200 v1 /one/two");
  req.target = "/backend";
  req.headers.Remove("x-b");
  r = gateway::HttpCall(p().gateway_address(), req, seconds(10));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "v2 /backend x-a=- x-b=from-backend");
  req.target = "/redirect/x";
  r = gateway::HttpCall(p().gateway_address(), req, seconds(10));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 301);
  // Only the hostname changes: the listener's port stays (the spec's rule).
  EXPECT_EQ(r->headers.GetOr("Location", ""),
            "http://example.org:" + std::to_string(PortOf(p().gateway_address())) + "/redirect/x");
}

TEST_F(HttpRouteTest, ParentsListenersAndReferencesSayWhyInStatus) {
  // A Gateway whose listener "web" takes routes of its own namespace only
  // (OpenFunction's defaulting adds its two listeners beside it).
  ASSERT_TRUE(p().Apply(R"(apiVersion: networking.openfunction.io/v1alpha1
kind: Gateway
metadata:
  name: strict
  namespace: gw
spec:
  domain: strict.io
  gatewayRef: {name: contour, namespace: projectcontour}
  gatewaySpec:
    listeners:
      - name: web
        hostname: "*.strict.io"
        protocol: HTTP
        port: 80
        allowedRoutes: {namespaces: {from: Same}}
)").ok());
  Route(R"(apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata:
  name: parents
spec:
  parentRefs:
    - {name: strict, namespace: gw, sectionName: web}
    - {name: openfunction, namespace: openfunction, sectionName: nosuch}
    - {name: nosuch, namespace: gw}
    - {name: openfunction, namespace: openfunction, sectionName: ofn-http-external}
  hostnames: [refs.ofn.io]
  rules:
    - backendRefs: [{name: backend-v1, port: 8080}, {name: ghost, port: 8080}]
)");
  json::value st = Status("parents");
  const json::array& parents = st.at("parents").as_array();
  ASSERT_EQ(parents.size(), 4u);
  EXPECT_EQ(parents[0].at("conditions").at(0).at("reason"), "NotAllowedByListeners");
  EXPECT_EQ(parents[1].at("conditions").at(0).at("reason"), "NoMatchingParent");
  EXPECT_EQ(parents[2].at("conditions").at(0).at("reason"), "NoMatchingParent");
  EXPECT_EQ(parents[3].at("conditions").at(0).at("status"), "True");
  EXPECT_EQ(parents[3].at("parentRef").at("sectionName"), "ofn-http-external");
  EXPECT_EQ(parents[3].at("controllerName"), "ofn.io/gateway");
  const json::value& refs = parents[3].at("conditions").at(1);
  EXPECT_EQ(refs.at("type"), "ResolvedRefs");
  EXPECT_EQ(refs.at("status"), "False");
  EXPECT_EQ(refs.at("reason"), "BackendNotFound");
  // Half the requests reach backend-v1, the ghost's half gets 500.
  std::map<std::string, int> codes;
  for (int i = 0; i < 100; ++i) ++codes[Body("refs.ofn.io", "/").substr(0, 3)];
  EXPECT_EQ(codes, (std::map<std::string, int>{{"200", 50}, {"500", 50}}));
  // The Gateway counts the routes attached to it.
  auto gw = p().Get("Gateway", "openfunction", "openfunction");
  ASSERT_TRUE(gw.ok());
  EXPECT_GE(json::parse(gw->json).at("status").at("listeners").at(0).at("attachedRoutes").as_int64(), 4);
  // A rule without backendRefs answers 500.
  Route(HttpRoute("empty", "  hostnames: [empty.ofn.io]\n  rules:\n    - matches: [{path: {value: /}}]\n"));
  EXPECT_EQ(Body("empty.ofn.io", "/").substr(0, 3), "500");
  // Deleting the route takes it out.
  ASSERT_TRUE(p().Delete("HTTPRoute", "default", "parents").ok());
  ASSERT_TRUE(p().Sync().ok());
  EXPECT_EQ(Body("refs.ofn.io", "/").substr(0, 3), "404");
}

}  // namespace
}  // namespace ofn
