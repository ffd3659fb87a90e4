// The gateway's data path to a process instance, side by side with the same
// requests sent straight to the instance (the reference: what a client gets
// with no platform in between). The instance is examples/node-echo (Node.js).
//
//   ./build/benches/proxy_bench                      (from the repository root)
//
// Both sides use one keep-alive connection per benchmark thread; the
// difference per request is what the gateway (routing, activator, proxy,
// pooled upstream connection) adds.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "libofn/platform/platform.h"
#include "libofn/testing/loopback.h"

namespace {

std::unique_ptr<ofn::Platform> g_platform;
int g_gateway_port = 0;
int g_instance_port = 0;

using ofn::testing::ConnectLoopback;
using ofn::testing::PortOf;

// One request on a keep-alive connection; the response must carry
// Content-Length. Returns the status, 0 on a broken connection.
int RoundTrip(int fd, const std::string& request, std::string* buf) {
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) return 0;
  buf->clear();
  size_t need = std::string::npos;
  char tmp[16384];
  for (;;) {
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return 0;
    buf->append(tmp, static_cast<size_t>(n));
    if (need == std::string::npos) {
      size_t end = buf->find("\r\n\r\n");
      if (end == std::string::npos) continue;
      size_t cl = buf->find("Content-Length: ");
      if (cl == std::string::npos) cl = buf->find("content-length: ");
      if (cl == std::string::npos) return 0;
      need = end + 4 + std::strtoull(buf->c_str() + cl + 16, nullptr, 10);
    }
    if (buf->size() >= need) return std::atoi(buf->c_str() + 9);
  }
}

void Run(benchmark::State& state, int port, const std::string& host, size_t body_bytes) {
  int fd = ConnectLoopback(port);
  if (fd < 0) {
    state.SkipWithError("cannot connect");
    return;
  }
  std::string body(body_bytes, 'b');
  std::string request = "POST /bench HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\nContent-Type: application/octet-stream\r\n\r\n" + body;
  std::string buf;
  for (auto _ : state) {
    if (RoundTrip(fd, request, &buf) != 200) {
      state.SkipWithError("request failed");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  ::close(fd);
}

void BM_Direct(benchmark::State& state) {
  Run(state, g_instance_port, "127.0.0.1", static_cast<size_t>(state.range(0)));
}
void BM_ThroughGateway(benchmark::State& state) {
  Run(state, g_gateway_port, "node-echo.default.ofn.io", static_cast<size_t>(state.range(0)));
}
// The gateway's own cost without a proxy hop: the same request answered by
// an in-process function (body read into memory, answered from a thread).
void BM_InProcessFunction(benchmark::State& state) {
  Run(state, g_gateway_port, "bench-inproc.default.ofn.io", static_cast<size_t>(state.range(0)));
}
BENCHMARK(BM_Direct)->Arg(0)->Arg(64 << 10)->Arg(1 << 20)->UseRealTime();
BENCHMARK(BM_ThroughGateway)->Arg(0)->Arg(64 << 10)->Arg(1 << 20)->UseRealTime();
BENCHMARK(BM_InProcessFunction)->Arg(0)->Arg(64 << 10)->Arg(1 << 20)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  char dir_template[] = "/tmp/ofn-bench-XXXXXX";
  std::string dir = ::mkdtemp(dir_template);
  ofn::Platform::Options o;
  o.state_dir = dir;
  o.gateway_address = "127.0.0.1:0";
  if (const char* io = std::getenv("OFN_BENCH_IO_THREADS")) o.io_threads = std::atoi(io);
  auto p = ofn::Platform::Open(o);
  if (!p.ok()) {
    std::fprintf(stderr, "%s\n", p.status().ToString().c_str());
    return 1;
  }
  g_platform = std::move(*p);
  std::ifstream f("examples/node-echo/function.yaml");
  std::string manifest((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // Its relative workingDir is the manifest's directory.
  const std::string base_dir = std::filesystem::absolute("examples/node-echo").string();
  if (manifest.empty() || !g_platform->Apply(manifest, "examples/node-echo/function.yaml", nullptr, base_dir).ok() ||
      !g_platform->WaitFor("node-echo", [](const ofn::FunctionInfo& fi) { return fi.serving_state == "Running"; },
                           std::chrono::seconds(30))
           .ok()) {
    std::fprintf(stderr, "run from the repository root: examples/node-echo did not start (node installed?)\n");
    return 1;
  }
  g_platform->functions().Http("bench-echo", [](const ofn::HttpRequest& r) {
    return ofn::HttpResponse::Json(200, "{\"bytes\":" + std::to_string(r.body.size()) + "}\n");
  });
  const char* inproc =
      "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: bench-inproc\nspec:\n"
      "  version: v1.0.0\n  image: ofn.local/bench:latest\n  serving:\n    params:\n      FUNC_NAME: bench-echo\n"
      "    template:\n      containers:\n        - name: function\n    triggers:\n      http:\n        port: 8080\n";
  if (!g_platform->Apply(inproc).ok() ||
      !g_platform->WaitFor("bench-inproc", [](const ofn::FunctionInfo& fi) { return fi.serving_state == "Running"; },
                           std::chrono::seconds(30))
           .ok()) {
    return 1;
  }
  g_gateway_port = PortOf(g_platform->gateway_address());
  // The instance's port, from its log line "node-echo (v1) listening on N".
  std::ifstream log(dir + "/logs/default/node-echo-00001.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  size_t at = text.find("listening on ");
  if (at == std::string::npos) return 1;
  g_instance_port = std::atoi(text.c_str() + at + 13);
  benchmark::RunSpecifiedBenchmarks();
  g_platform->Close();
  g_platform.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
