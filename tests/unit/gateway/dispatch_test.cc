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

TEST(DispatcherTest, NoInstanceIs503) {
  Dispatcher d;
  d.Publish(SnapshotFor(R"([{}])", nullptr));
  HttpResponse r = d.Handle(Req("/"));
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(r.headers.Has("Retry-After"));
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
