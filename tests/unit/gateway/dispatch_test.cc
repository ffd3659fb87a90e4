// Dispatcher filters and the in-process call boundary.
#include "libofn/gateway/dispatch.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "libofn/backends/inprocess/inprocess.h"
#include "libofn/serve/cloudevent.h"

namespace ofn::gateway {
namespace {

// Echoes what it received, counting calls.
class EchoInstance : public backend::Instance {
 public:
  HttpResponse Handle(const HttpRequest& r) override {
    ++calls;
    HttpResponse res = HttpResponse::Text(200, r.method + " " + r.target + " host=" + r.headers.GetOr("Host", ""));
    for (const auto& [k, v] : r.headers) res.headers.Add("Echo-" + k, v);
    return res;
  }
  std::atomic<int> calls{0};
};

std::shared_ptr<const Snapshot> SnapshotFor(const std::string& rules, std::shared_ptr<backend::Instance> target) {
  std::string spec = R"({"serving":{"triggers":{"http":{"route":{"hostnames":["h.io"],"rules":)" + rules + "}}}}}";
  auto r = route::CompileRoute("default", "f", spec, route::GatewayConfig{}, 1);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  auto snap = std::make_shared<Snapshot>();
  snap->table = route::RouteTable::Build({*r}, nullptr);
  if (target) {
    auto pool = std::make_shared<RevisionPool>("default", "f", "f-00001", PoolOptions{}, Clock::System(),
                                               [](std::function<void()> task) { task(); });
    pool->AddInstance(std::move(target));
    snap->targets.push_back(TrafficSplit::Single(pool));
  } else {
    snap->targets.push_back(nullptr);
  }
  return snap;
}

HttpRequest Req(const std::string& target, const std::string& host = "h.io") {
  HttpRequest r;
  r.target = target;
  r.headers.Add("Host", host);
  return r;
}

TEST(DispatcherTest, NoMatchIs404NamingHostAndPath) {
  Dispatcher d;
  HttpResponse r = d.Handle(Req("/x?y=1", "nowhere.io:8080"));
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("\"host\":\"nowhere.io\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"path\":\"/x\""), std::string::npos) << r.body;
}

TEST(DispatcherTest, FullPathReachesTheFunctionWithoutFilters) {
  auto echo = std::make_shared<EchoInstance>();
  Dispatcher d;
  d.Publish(SnapshotFor(R"([{"matches":[{"path":{"type":"PathPrefix","value":"/api"}}]}])", echo));
  HttpResponse r = d.Handle(Req("/api/users?id=7"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "GET /api/users?id=7 host=h.io");
  EXPECT_EQ(echo->calls.load(), 1);
}

TEST(DispatcherTest, ReplacePrefixMatchRewrite) {
  auto echo = std::make_shared<EchoInstance>();
  Dispatcher d;
  d.Publish(SnapshotFor(R"([{"matches":[{"path":{"type":"PathPrefix","value":"/api"}}],
      "filters":[{"type":"URLRewrite","urlRewrite":{"hostname":"inner.local","path":{"type":"ReplacePrefixMatch","replacePrefixMatch":"/v2"}}}]}])",
                        echo));
  EXPECT_EQ(d.Handle(Req("/api/users?id=7")).body, "GET /v2/users?id=7 host=inner.local");
  EXPECT_EQ(d.Handle(Req("/api")).body, "GET /v2 host=inner.local");
  EXPECT_EQ(d.Handle(Req("/api/")).body, "GET /v2/ host=inner.local");
  HttpResponse r = d.Handle(Req("/api/x"));
  EXPECT_EQ(r.headers.GetOr("Echo-X-Forwarded-Host", ""), "h.io");
}

TEST(DispatcherTest, ReplacePrefixWithSlash) {
  auto echo = std::make_shared<EchoInstance>();
  Dispatcher d;
  d.Publish(SnapshotFor(R"([{"matches":[{"path":{"type":"PathPrefix","value":"/default/f"}}],
      "filters":[{"type":"URLRewrite","urlRewrite":{"path":{"type":"ReplacePrefixMatch","replacePrefixMatch":"/"}}}]}])",
                        echo));
  EXPECT_EQ(d.Handle(Req("/default/f/hello")).body, "GET /hello host=h.io");
  EXPECT_EQ(d.Handle(Req("/default/f")).body, "GET / host=h.io");
}

TEST(DispatcherTest, ReplaceFullPathKeepsTheQuery) {
  auto echo = std::make_shared<EchoInstance>();
  Dispatcher d;
  d.Publish(SnapshotFor(R"([{"filters":[{"type":"URLRewrite","urlRewrite":{"path":{"type":"ReplaceFullPath","replaceFullPath":"/fixed"}}}]}])",
                        echo));
  EXPECT_EQ(d.Handle(Req("/any/thing?q=1")).body, "GET /fixed?q=1 host=h.io");
}

TEST(DispatcherTest, RequestHeaderModifier) {
  auto echo = std::make_shared<EchoInstance>();
  Dispatcher d;
  d.Publish(SnapshotFor(R"([{"filters":[{"type":"RequestHeaderModifier","requestHeaderModifier":{
      "set":[{"name":"X-Set","value":"new"}],"add":[{"name":"X-Add","value":"2"}],"remove":["X-Drop"]}}]}])",
                        echo));
  HttpRequest req = Req("/");
  req.headers.Add("X-Set", "old");
  req.headers.Add("X-Add", "1");
  req.headers.Add("X-Drop", "gone");
  HttpResponse r = d.Handle(req);
  EXPECT_EQ(r.headers.GetOr("Echo-X-Set", ""), "new");
  int adds = 0;
  for (const auto& [k, v] : r.headers) adds += k == "Echo-X-Add";
  EXPECT_EQ(adds, 2);
  EXPECT_FALSE(r.headers.Has("Echo-X-Drop"));
}

TEST(DispatcherTest, RedirectDoesNotCallTheFunction) {
  auto echo = std::make_shared<EchoInstance>();
  Dispatcher d;
  d.Publish(SnapshotFor(R"([{"matches":[{"path":{"type":"PathPrefix","value":"/old"}}],
      "filters":[{"type":"RequestRedirect","requestRedirect":{"scheme":"https","hostname":"new.io","statusCode":301,
                  "path":{"type":"ReplacePrefixMatch","replacePrefixMatch":"/new"}}}]}])",
                        echo));
  HttpResponse r = d.Handle(Req("/old/page?a=1"));
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.headers.GetOr("Location", ""), "https://new.io/new/page?a=1");
  EXPECT_EQ(echo->calls.load(), 0);
}

TEST(DispatcherTest, RedirectKeepsThePortWhenOnlyThePathChanges) {
  Dispatcher d;
  d.Publish(SnapshotFor(R"([{"filters":[{"type":"RequestRedirect","requestRedirect":{"path":{"type":"ReplaceFullPath","replaceFullPath":"/x"}}}]}])",
                        nullptr));
  HttpResponse r = d.Handle(Req("/y", "h.io:8080"));
  EXPECT_EQ(r.status, 302);
  EXPECT_EQ(r.headers.GetOr("Location", ""), "http://h.io:8080/x");
}

// Location for each kind of redirect, with the gateway's listeners bound to
// 8080 (HTTP) and 8443 (HTTPS), as the Gateway API derives the port.
TEST(RedirectTest, PortsTable) {
  struct Case {
    const char* name;
    std::string redirect;  // requestRedirect JSON
    const char* proto;     // X-Forwarded-Proto of the request ("" none)
    const char* host;      // Host header
    ListenerPorts ports;
    const char* location;
  } cases[] = {
      {"http to https goes to the HTTPS listener", R"({"scheme":"https"})", "http", "h.io:8080", {8080, 8443},
       "https://h.io:8443/p?q=1"},
      {"https to http goes to the HTTP listener", R"({"scheme":"http"})", "https", "h.io:8443", {8080, 8443},
       "http://h.io:8080/p?q=1"},
      {"to https on 443 leaves the port out", R"({"scheme":"https"})", "http", "h.io", {80, 443}, "https://h.io/p?q=1"},
      {"no HTTPS listener here: the well-known port", R"({"scheme":"https"})", "http", "h.io:8080", {8080, 0},
       "https://h.io/p?q=1"},
      {"hostname only keeps the listener's port", R"({"hostname":"new.io"})", "http", "h.io:8080", {8080, 8443},
       "http://new.io:8080/p?q=1"},
      {"hostname only over https", R"({"hostname":"new.io"})", "https", "h.io:8443", {8080, 8443},
       "https://new.io:8443/p?q=1"},
      {"same scheme written out keeps the listener", R"({"scheme":"https","hostname":"new.io"})", "https", "h.io",
       {8080, 8443}, "https://new.io:8443/p?q=1"},
      {"an explicit port wins", R"({"scheme":"https","port":9443})", "http", "h.io:8080", {8080, 8443},
       "https://h.io:9443/p?q=1"},
      {"explicit well-known port is left out", R"({"scheme":"https","port":443})", "http", "h.io:8080", {8080, 8443},
       "https://h.io/p?q=1"},
      {"listeners unknown: the Host header's port", R"({"hostname":"new.io"})", "", "h.io:8080", {0, 0},
       "http://new.io:8080/p?q=1"},
      {"no X-Forwarded-Proto is http", R"({"path":{"type":"ReplaceFullPath","replaceFullPath":"/x"}})", "", "h.io",
       {8080, 8443}, "http://h.io:8080/x?q=1"},
  };
  for (const Case& c : cases) {
    std::string rules = R"([{"filters":[{"type":"RequestRedirect","requestRedirect":)" + c.redirect + "}]}]";
    auto snap = SnapshotFor(rules, nullptr);
    HttpRequest req;
    req.target = "/p?q=1";
    req.headers.Set("Host", c.host);
    if (*c.proto) req.headers.Set("X-Forwarded-Proto", c.proto);
    auto hit = snap->table.Find(req);
    ASSERT_TRUE(hit) << c.name;
    ASSERT_TRUE(hit->rule->redirect) << c.name;
    HttpResponse res = MakeRedirect(*hit->rule->redirect, *hit->match, req, c.ports);
    EXPECT_EQ(res.headers.GetOr("Location", ""), c.location) << c.name;
  }
}

TEST(DispatcherTest, HttpsRedirectSendsPlainHttpToTheHttpsListenerOnly) {
  auto echo = std::make_shared<EchoInstance>();
  Dispatcher d;
  d.Publish(SnapshotFor(R"([{}])", echo));
  d.SetListenerPorts({8080, 8443});
  d.SetHttpsRedirect(true);
  HttpRequest plain = Req("/p?q=1", "h.io:8080");
  plain.method = "POST";
  plain.headers.Set("X-Forwarded-Proto", "http");
  HttpResponse r = d.Handle(plain);
  EXPECT_EQ(r.status, 308);
  EXPECT_EQ(r.headers.GetOr("Location", ""), "https://h.io:8443/p?q=1");
  EXPECT_EQ(echo->calls.load(), 0);
  HttpRequest secure = Req("/p", "h.io:8443");
  secure.headers.Set("X-Forwarded-Proto", "https");
  EXPECT_EQ(d.Handle(secure).status, 200);
  EXPECT_EQ(d.Handle(Req("/p")).status, 200);  // Platform::Invoke: no listener, no redirect
  EXPECT_EQ(echo->calls.load(), 2);
  d.SetListenerPorts({8080, 0});  // no HTTPS listener: nothing to redirect to
  EXPECT_EQ(d.Handle(plain).status, 200);
}

TEST(DispatcherTest, NoInstanceIs503) {
  Dispatcher d;
  d.Publish(SnapshotFor(R"([{}])", nullptr));
  HttpResponse r = d.Handle(Req("/"));
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(r.headers.Has("Retry-After"));
  EXPECT_NE(r.body.find("function default/f has no ready revision"), std::string::npos) << r.body;
}

TEST(DispatcherTest, PublishIsSeenByReadersOnOtherThreads) {
  auto a = std::make_shared<EchoInstance>();
  auto b = std::make_shared<EchoInstance>();
  Dispatcher d;
  d.Publish(SnapshotFor(R"([{}])", a));
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop.load()) d.Handle(Req("/"));
  });
  while (a->calls.load() == 0) std::this_thread::yield();
  d.Publish(SnapshotFor(R"([{}])", b));
  int before = a->calls.load();
  while (b->calls.load() < 10) std::this_thread::yield();
  stop = true;
  reader.join();
  // After the reader saw the new snapshot it never went back to the old one.
  EXPECT_LE(a->calls.load(), before + 1);
}

backend::Workload SpecFor(std::vector<std::string> outputs = {}) {
  backend::Workload s;
  s.ns = "default";
  s.function = "f";
  s.version = "v1";
  s.outputs = std::move(outputs);
  return s;
}

TEST(CallFunctionTest, ThrowingFunctionIs500WithJson) {
  inprocess::Registered fn;
  fn.http = [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("boom"); };
  HttpResponse r = inprocess::CallFunction(fn, SpecFor(), nullptr, HttpRequest{});
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.headers.GetOr("Content-Type", ""), "application/json");
  EXPECT_NE(r.body.find("boom"), std::string::npos);
  EXPECT_NE(r.body.find("default/f"), std::string::npos);
}

TEST(CallFunctionTest, CloudEventBinaryAndStructured) {
  CloudEvent seen;
  inprocess::Registered fn;
  fn.signature = inprocess::Signature::kCloudEvent;
  fn.event = [&](const CloudEvent& e) { seen = e; };
  CloudEvent e;
  e.id = "1";
  e.source = "/src";
  e.type = "t";
  e.data = "payload";
  e.datacontenttype = "text/plain";
  e.extensions["traceparent"] = "abc";
  HttpResponse r = inprocess::CallFunction(fn, SpecFor(), nullptr, serve::CloudEventToHttp(e));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(seen.id, "1");
  EXPECT_EQ(seen.data, "payload");
  EXPECT_EQ(seen.extensions["traceparent"], "abc");

  HttpRequest structured;
  structured.method = "POST";
  structured.headers.Add("Content-Type", "application/cloudevents+json");
  structured.body = R"({"specversion":"1.0","id":"2","source":"/s","type":"t2","data":{"k":1},"myext":"v"})";
  r = inprocess::CallFunction(fn, SpecFor(), nullptr, structured);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(seen.id, "2");
  EXPECT_EQ(seen.data, R"({"k":1})");
  EXPECT_EQ(seen.datacontenttype, "application/json");
  EXPECT_EQ(seen.extensions["myext"], "v");
}

TEST(CallFunctionTest, CloudEventMissingAttributeIs400) {
  inprocess::Registered fn;
  fn.signature = inprocess::Signature::kCloudEvent;
  int calls = 0;
  fn.event = [&](const CloudEvent&) { ++calls; };
  HttpRequest r;
  r.headers.Add("ce-id", "1");
  r.headers.Add("ce-specversion", "1.0");
  r.headers.Add("ce-type", "t");
  HttpResponse res = inprocess::CallFunction(fn, SpecFor(), nullptr, r);
  EXPECT_EQ(res.status, 400);
  EXPECT_NE(res.body.find("source"), std::string::npos);
  EXPECT_EQ(calls, 0);
}

TEST(CallFunctionTest, OpenFunctionContextSendsToDeclaredOutputsOnly) {
  std::vector<std::string> sent;
  inprocess::OutputSink sink = [&](const std::string&, const std::string&, const std::string& out, const std::string& data) {
    sent.push_back(out + "=" + data);
    return true;
  };
  inprocess::Registered fn;
  fn.signature = inprocess::Signature::kOpenFunction;
  fn.openfunction = [](Context& ctx, std::string_view data) {
    bool a = ctx.Send("sink", data);
    bool b = ctx.Send("undeclared", data);
    return std::string(ctx.name()) + ":" + (a ? "1" : "0") + (b ? "1" : "0");
  };
  HttpRequest req;
  req.body = "hello";
  HttpResponse r = inprocess::CallFunction(fn, SpecFor({"sink"}), sink, req);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "f:10");
  EXPECT_EQ(sent, std::vector<std::string>{"sink=hello"});
}

}  // namespace
}  // namespace ofn::gateway
