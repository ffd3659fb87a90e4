// Micro benchmarks of the hot pure parts: a route lookup in tables of 1,
// 1,000 and 100,000 Function routes (host + path + header rules) and the
// time to build those tables, one KPA decision, and parsing + validating a
// Function manifest; an instance's response head read by the proxy's
// in-place reader against Beast's parser.
//
//   ./build-release/benches/micro_bench
#include <benchmark/benchmark.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "libofn/common/clock.h"
#include "libofn/gateway/internal/response_head.h"
#include "libofn/platform/platform.h"
#include "libofn/route/route.h"
#include "libofn/route/table.h"
#include "libofn/scale/kpa.h"
#include "libofn/spec/object.h"
#include "libofn/store/store.h"

namespace {

using ofn::route::CompileRoute;
using ofn::route::FunctionRoute;
using ofn::route::GatewayConfig;
using ofn::route::RouteTable;

// Route i: host fn-i.default.ofn.io (its own bucket), an Exact path, a
// PathPrefix with a header match, and a catch-all prefix.
std::vector<FunctionRoute> Routes(int n) {
  std::vector<FunctionRoute> out;
  out.reserve(static_cast<size_t>(n));
  GatewayConfig gw;
  for (int i = 0; i < n; ++i) {
    const std::string name = "fn-" + std::to_string(i);
    const std::string spec = R"({"serving":{"triggers":{"http":{"route":{"hostnames":[")" + name +
                             R"(.default.ofn.io"],"rules":[)"
                             R"({"matches":[{"path":{"type":"Exact","value":"/v1/status"}}]},)"
                             R"({"matches":[{"path":{"type":"PathPrefix","value":"/api"},)"
                             R"("headers":[{"name":"x-canary","value":"true"}]}]},)"
                             R"({"matches":[{"path":{"type":"PathPrefix","value":"/"}}]}]}}}}})";
    auto r = CompileRoute("default", name, spec, gw, i);
    if (!r.ok()) std::abort();
    out.push_back(std::move(*r));
  }
  return out;
}

void BM_RouteFind(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::vector<ofn::route::Rejection> rejected;
  RouteTable table = RouteTable::Build(Routes(n), &rejected);
  ofn::Headers headers;
  headers.Add("X-Canary", "true");
  const std::string host = "fn-" + std::to_string(n / 2) + ".default.ofn.io";
  for (auto _ : state) {
    auto hit = table.Find(host, "GET", "/api/items?x=1", headers);
    benchmark::DoNotOptimize(hit);
  }
}
BENCHMARK(BM_RouteFind)->Arg(1)->Arg(1000)->Arg(100000);

void BM_RouteTableBuild(benchmark::State& state) {
  // As the local backend does: each Function's route is compiled once, when
  // its spec changes, and shared by every table built after.
  std::vector<RouteTable::RoutePtr> routes;
  for (FunctionRoute& r : Routes(static_cast<int>(state.range(0)))) {
    routes.push_back(std::make_shared<const FunctionRoute>(std::move(r)));
  }
  for (auto _ : state) {
    std::vector<ofn::route::Rejection> rejected;
    RouteTable table = RouteTable::Build(routes, &rejected);
    if (!rejected.empty()) state.SkipWithError("a route was rejected");
    benchmark::DoNotOptimize(table);
  }
  state.SetLabel("compiled routes, shared");
}
BENCHMARK(BM_RouteTableBuild)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond);

void BM_KpaDecide(benchmark::State& state) {
  ofn::scale::ScaleSpec spec;
  ofn::scale::DeciderState ds;
  ofn::Clock::Duration now{};
  double load = 0;
  for (auto _ : state) {
    now += std::chrono::seconds(2);
    load = load > 400 ? 0 : load + 7.5;
    auto d = ofn::scale::Decide(spec, load, load * 1.5, 3, true, now, &ds);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_KpaDecide);

// What nginx answers a proxied GET with (load.py's upstream), and its body.
constexpr std::string_view kUpstreamAnswer =
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 09:00:00 GMT\r\n"
    "Content-Type: text/plain\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello";

void BM_ResponseHeadInPlace(benchmark::State& state) {
  const std::string_view head = kUpstreamAnswer.substr(0, kUpstreamAnswer.find("\r\n\r\n") + 4);
  for (auto _ : state) {
    ofn::gateway::internal::PlainResponseHead h;
    bool plain = ofn::gateway::internal::ParsePlainResponseHead(head, &h);
    benchmark::DoNotOptimize(plain);
    benchmark::DoNotOptimize(h.count);
  }
}
BENCHMARK(BM_ResponseHeadInPlace);

void BM_ResponseHeadBeast(benchmark::State& state) {
  namespace http = boost::beast::http;
  for (auto _ : state) {
    http::response_parser<http::buffer_body> parser;
    parser.header_limit(64 * 1024);
    boost::beast::error_code ec;
    const size_t used = parser.put(boost::asio::buffer(kUpstreamAnswer.data(), kUpstreamAnswer.size()), ec);
    benchmark::DoNotOptimize(used);
    benchmark::DoNotOptimize(parser.get().keep_alive());
  }
}
BENCHMARK(BM_ResponseHeadBeast);

void BM_ManifestParseAndValidate(benchmark::State& state) {
  const std::string text = R"(apiVersion: core.openfunction.io/v1beta2
kind: Function
metadata:
  name: hello
  annotations:
    autoscaling.knative.dev/target: "20"
spec:
  version: "v1.0.0"
  image: "ofn.local/hello-world:latest"
  serving:
    scaleOptions:
      minReplicas: 0
      maxReplicas: 10
    template:
      containers:
        - name: function
    triggers:
      http:
        port: 8080
        route:
          hostnames: ["hello.example.com"]
          rules:
            - matches:
                - path: {type: PathPrefix, value: /api}
                  headers: [{name: x-canary, value: "true"}]
)";
  for (auto _ : state) {
    auto r = ofn::spec::ParseManifests(text, "fn.yaml");
    if (!r.ok()) state.SkipWithError("the manifest did not validate");
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ManifestParseAndValidate);

}  // namespace

BENCHMARK_MAIN();

// An in-process function's start from zero, as the platform pays it: a
// request to a revision at zero (scaled there on a manual clock, outside the
// timing) until its response — the queue, the autoscaler's poke, the
// driver's start, the hand-over — against the same request with the
// instance up (BM_InvokeWarm). Caches are warm here; after seconds of idle
// the load bench's end-to-end figure adds what cold caches cost.
class ZeroPlatform {
 public:
  ZeroPlatform() {
    char dir_template[] = "/tmp/ofn-bench-zero-XXXXXX";
    if (const char* d = ::mkdtemp(dir_template)) dir_ = d;
    ofn::Platform::Options o;
    o.state_dir = dir_;
    o.gateway_address = "127.0.0.1:0";
    o.clock = &clock_;
    o.autoscale_ticker = false;
    auto p = ofn::Platform::Open(o);
    if (!p.ok()) return;
    platform_ = std::move(*p);
    platform_->functions().Http("hello", [](const ofn::HttpRequest&) { return ofn::HttpResponse::Text(200, "hi\n"); });
    const char* manifest =
        "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: hello\nspec:\n"
        "  version: v1.0.0\n  image: ofn.local/hello:latest\n  serving:\n    params:\n      FUNC_NAME: hello\n"
        "    template:\n      containers:\n        - name: function\n    triggers:\n      http:\n        port: 8080\n";
    if (!platform_->Apply(manifest).ok() || !platform_->WaitReady("hello", std::chrono::seconds(10)).ok()) {
      platform_.reset();
    }
  }
  ~ZeroPlatform() {
    if (platform_) platform_->Close(std::chrono::seconds(1));
    platform_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  ofn::Platform* get() { return platform_.get(); }
  int Ready() {
    auto revs = platform_->Revisions("hello");
    return revs.ok() && !revs->empty() ? revs->back().ready_instances : -1;
  }
  // Idle past the stable window and the scale-to-zero grace.
  bool ToZero() {
    for (int i = 0; i < 64 && Ready() != 0; ++i) {
      clock_.Advance(std::chrono::seconds(2));
      platform_->Autoscale();
    }
    return Ready() == 0;
  }
  bool Call() {
    ofn::HttpRequest req;
    req.target = "/";
    return platform_->Invoke("hello", std::move(req)).status == 200;
  }

 private:
  std::string dir_;
  ofn::ManualClock clock_;
  std::unique_ptr<ofn::Platform> platform_;
};

void BM_InvokeWarm(benchmark::State& state) {
  ZeroPlatform p;
  if (!p.get()) return state.SkipWithError("the platform did not start");
  for (auto _ : state) {
    state.PauseTiming();  // as BM_InvokeFromZero, so both pay the same
    state.ResumeTiming();
    if (!p.Call()) state.SkipWithError("the call failed");
  }
}
BENCHMARK(BM_InvokeWarm)->Iterations(2000)->Unit(benchmark::kMicrosecond);

void BM_InvokeFromZero(benchmark::State& state) {
  ZeroPlatform p;
  if (!p.get()) return state.SkipWithError("the platform did not start");
  for (auto _ : state) {
    state.PauseTiming();
    if (!p.ToZero()) state.SkipWithError("the revision did not scale to zero");
    state.ResumeTiming();
    if (!p.Call()) state.SkipWithError("the call failed");
  }
}
BENCHMARK(BM_InvokeFromZero)->Iterations(2000)->Unit(benchmark::kMicrosecond);

// Storing a Function as `ofn apply` does: one transaction that writes the
// object (WAL, synchronous=NORMAL as `ofn serve` runs it) into a store that
// already holds `state.range(0)` Functions; then the status update a
// reconcile pass makes of it.
void BM_StoreApply(benchmark::State& state) {
  char dir_template[] = "/tmp/ofn-bench-store-XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  if (!dir) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  ofn::store::Store::Options options;
  options.synchronous_full = false;
  auto store = ofn::store::Store::Open(std::string(dir) + "/ofn.db", options);
  if (!store.ok()) {
    state.SkipWithError("the store did not open");
    return;
  }
  auto record = [](int64_t i) {
    ofn::store::Record r;
    r.kind = "Function";
    r.ns = "default";
    r.name = "fn-" + std::to_string(i);
    r.api_version = "core.openfunction.io/v1beta2";
    r.spec = R"({"image":"ofn.local/hello-world:latest","serving":{"template":{"containers":[{"name":"function"}]},)"
             R"("triggers":{"http":{"port":8080}}},"version":"v1.0.0"})";
    return r;
  };
  for (int64_t i = 0; i < state.range(0); ++i) (void)(*store)->Create(record(i));
  int64_t next = state.range(0);
  for (auto _ : state) {
    auto created = (*store)->Create(record(next++));
    if (!created.ok()) state.SkipWithError("create failed");
    auto updated = (*store)->UpdateStatus("Function", "default", created->name,
                                          R"({"serving":{"state":"Running"}})", created->resource_version);
    if (!updated.ok()) state.SkipWithError("status update failed");
  }
  store->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_StoreApply)->Arg(0)->Arg(10000)->Unit(benchmark::kMicrosecond);

