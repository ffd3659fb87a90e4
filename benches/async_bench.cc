// Async functions through each pub/sub: a producer Function sends N
// messages with context.send (each carries the time it was sent), a
// subscriber Function records when it started on each. Prints throughput
// (messages per second, first send to last start) and the publish-to-start
// latency (p50, p99), beside the broker's own benchmark tool where it has
// one (redis-benchmark XADD), measured in the same run.
//
//   ./build-release/benches/async_bench [N] [types...]      (default 10000; every type)
//
// Brokers (redis-server, nats-server -js, mosquitto) are started on free
// loopback ports and stopped at the end; a type whose server is missing is
// skipped.
#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "libofn/platform/platform.h"
#include "tests/unit/events/brokers.h"

namespace {

using Clock = std::chrono::steady_clock;
using ofn::events::testing_brokers::BrokerServer;

int64_t NowNs() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

struct Sink {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int64_t> latencies;
  int64_t last = 0;
};

struct Row {
  std::string type;
  double rate = 0, p50_ms = 0, p99_ms = 0;
  std::string reference = "-";
  bool ok = false;
};

Row Run(const std::string& type, const std::string& metadata, int n) {
  Row row;
  row.type = type;
  ofn::testing::TempDir dir;
  ofn::Platform::Options o;
  o.state_dir = dir.path();
  o.gateway_address = "";
  auto p = ofn::Platform::Open(o);
  if (!p.ok()) {
    std::fprintf(stderr, "%s: %s\n", type.c_str(), p.status().ToString().c_str());
    return row;
  }
  Sink sink;
  (*p)->functions().OpenFunction("source", [](ofn::Context& ctx, std::string_view data) {
    int count = std::atoi(std::string(data).c_str());
    for (int i = 0; i < count; ++i) {
      if (!ctx.Send("bus", std::to_string(NowNs()))) throw std::runtime_error("send refused");
    }
    return std::string("sent");
  });
  (*p)->functions().OpenFunction("sink", [&](ofn::Context&, std::string_view data) {
    const int64_t now = NowNs();
    const int64_t sent = std::atoll(std::string(data).c_str());
    {
      std::lock_guard<std::mutex> lock(sink.mu);
      sink.latencies.push_back(now - sent);
      sink.last = now;
    }
    sink.cv.notify_all();
    return std::string();
  });
  const std::string yaml =
      "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: bus\nspec:\n  type: " + type +
      "\n  version: v1\n  metadata:\n" + metadata +
      "---\napiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: sink\nspec:\n"
      "  image: ofn.local/sink:latest\n  serving:\n    scaleOptions:\n      minReplicas: 1\n"
      "    triggers:\n      dapr:\n        - {name: bus, topic: bench}\n"
      "    template:\n      containers:\n        - name: function\n"
      "---\napiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: source\nspec:\n"
      "  image: ofn.local/source:latest\n  serving:\n    triggers:\n      http:\n        port: 8080\n"
      "    outputs:\n      - dapr: {name: bus, topic: bench}\n"
      "    template:\n      containers:\n        - name: function\n";
  auto applied = (*p)->Apply(yaml);
  if (!applied.ok()) {
    std::fprintf(stderr, "%s: %s\n", type.c_str(), applied.status().ToString().c_str());
    return row;
  }
  for (const char* f : {"sink", "source"}) {
    auto r = (*p)->WaitFor(f, [](const ofn::FunctionInfo& i) { return i.serving_state == "Running"; },
                           std::chrono::seconds(20));
    if (!r.ok()) {
      std::fprintf(stderr, "%s: %s\n", type.c_str(), r.status().ToString().c_str());
      return row;
    }
  }
  (void)(*p)->Sync();
  // A warm-up message, so that connections and subscriptions are up.
  ofn::HttpRequest warm;
  warm.method = "POST";
  warm.body = "1";
  (*p)->Invoke("source", warm);
  {
    std::unique_lock<std::mutex> lock(sink.mu);
    if (!sink.cv.wait_for(lock, std::chrono::seconds(20), [&] { return !sink.latencies.empty(); })) {
      std::fprintf(stderr, "%s: the warm-up message did not arrive\n", type.c_str());
      return row;
    }
    sink.latencies.clear();
  }
  ofn::HttpRequest go;
  go.method = "POST";
  go.body = std::to_string(n);
  const int64_t start = NowNs();
  ofn::HttpResponse r = (*p)->Invoke("source", go);
  if (r.body != "sent") {
    std::fprintf(stderr, "%s: the producer answered %d %s\n", type.c_str(), r.status, r.body.c_str());
    return row;
  }
  std::unique_lock<std::mutex> lock(sink.mu);
  sink.cv.wait_for(lock, std::chrono::seconds(120), [&] { return sink.latencies.size() >= static_cast<size_t>(n); });
  if (sink.latencies.size() < static_cast<size_t>(n)) {
    std::fprintf(stderr, "%s: %zu of %d arrived\n", type.c_str(), sink.latencies.size(), n);
    return row;
  }
  std::vector<int64_t> l = sink.latencies;
  std::sort(l.begin(), l.end());
  row.rate = n / ((sink.last - start) / 1e9);
  row.p50_ms = l[l.size() / 2] / 1e6;
  row.p99_ms = l[l.size() * 99 / 100] / 1e6;
  row.ok = true;
  lock.unlock();
  (*p)->Close(std::chrono::seconds(2));
  return row;
}

// redis-benchmark's own XADD rate on the same server.
std::string RedisReference(int port, int n) {
  std::string cmd = "redis-benchmark -p " + std::to_string(port) + " -n " + std::to_string(n) +
                    " -c 1 -q XADD refstream '*' data 1234567890123456789 2>/dev/null";
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return "-";
  char buf[512];
  std::string out;
  while (std::fgets(buf, sizeof buf, f)) out += buf;
  ::pclose(f);
  // "XADD refstream * data ...: 41322.31 requests per second, p50=0.023 msec"
  size_t colon = out.rfind(": ");
  size_t rps = out.find(" requests per second");
  if (colon == std::string::npos || rps == std::string::npos || rps < colon) return "-";
  return "redis-benchmark XADD (1 client): " + out.substr(colon + 2, rps - colon - 2) + "/s";
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 10000;
  if (n <= 0) n = 10000;
  std::vector<std::string> types;
  for (int i = 2; i < argc; ++i) types.push_back(argv[i]);
  if (types.empty()) types = {"pubsub.in-memory", "pubsub.redis", "pubsub.jetstream", "pubsub.mqtt3"};
  std::vector<Row> rows;
  for (const std::string& type : types) {
    if (type == "pubsub.in-memory") {
      rows.push_back(Run(type, "  []\n", n));
    } else if (type == "pubsub.redis") {
      ofn::events::testing_brokers::RedisServer server;
      if (!server.up()) continue;
      rows.push_back(Run(type, "  - {name: redisHost, value: '" + server.host() + "'}\n", n));
      rows.back().reference = RedisReference(server.port(), n);
    } else if (type == "pubsub.jetstream") {
      ofn::events::testing_brokers::NatsServer server;
      if (!server.up()) continue;
      rows.push_back(Run(type, "  - {name: natsURL, value: 'nats://" + server.host() + "'}\n", n));
    } else if (type == "pubsub.mqtt3") {
      ofn::events::testing_brokers::MosquittoServer server;
      if (!server.up()) continue;
      rows.push_back(Run(type, "  - {name: url, value: 'tcp://" + server.host() + "'}\n", n));
    }
  }
  std::printf("%-18s %12s %10s %10s   %s\n", "pubsub", "msgs/s", "p50 ms", "p99 ms", "reference (same run)");
  for (const Row& r : rows) {
    if (!r.ok) {
      std::printf("%-18s %12s\n", r.type.c_str(), "failed");
      continue;
    }
    std::printf("%-18s %12.0f %10.2f %10.2f   %s\n", r.type.c_str(), r.rate, r.p50_ms, r.p99_ms, r.reference.c_str());
  }
  for (const Row& r : rows) {
    if (!r.ok) return 1;
  }
  return 0;
}
