// The backend registry and the typed workload: which driver runs what, and
// what a Function's spec becomes before any driver sees it.
#include "libofn/backend/registry.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "libofn/spec/workload.h"
#include "libofn/testing/fake_driver.h"

namespace ofn::backend {
namespace {

using testing::FakeDriver;

Workload ImageWorkload(std::string backend = "") {
  Workload w;
  w.ns = "default";
  w.function = "f";
  w.revision = "f-00001";
  w.image = "example.com/f:v1";
  w.kind = WorkloadKind::kImage;
  w.backend = std::move(backend);
  return w;
}

bool IsCommand(const Workload& w) { return w.kind == WorkloadKind::kCommand; }

TEST(RegistryTest, HighestPriorityAcceptingDriverWins) {
  Registry r;
  auto low = std::make_shared<FakeDriver>("low");
  auto high = std::make_shared<FakeDriver>("high", IsCommand);
  auto mid = std::make_shared<FakeDriver>("mid");
  ASSERT_TRUE(r.Add({10, low}).ok());
  ASSERT_TRUE(r.Add({100, high}).ok());
  ASSERT_TRUE(r.Add({50, mid}).ok());
  std::vector<std::string> order;
  for (InstanceDriver* d : r.drivers()) order.emplace_back(d->name());
  EXPECT_EQ(order, (std::vector<std::string>{"high", "mid", "low"}));
  auto picked = r.Pick(ImageWorkload());
  ASSERT_TRUE(picked.ok());
  EXPECT_EQ((*picked)->name(), "mid");  // high refuses images
  Workload cmd = ImageWorkload();
  cmd.kind = WorkloadKind::kCommand;
  EXPECT_EQ((*r.Pick(cmd))->name(), "high");
  // Named: that driver even at the lowest priority.
  EXPECT_EQ((*r.Pick(ImageWorkload("low")))->name(), "low");
}

TEST(RegistryTest, ErrorsSayWhatExistsAndWhatEachNeeds) {
  Registry r;
  ASSERT_TRUE(r.Add({10, std::make_shared<FakeDriver>("a", IsCommand)}).ok());
  Status dup = r.Add({20, std::make_shared<FakeDriver>("a")});
  EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(r.drivers().size(), 1u);

  auto none = r.Pick(ImageWorkload());
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no enabled backend can run this image workload"), std::string::npos)
      << none.status().message();
  EXPECT_NE(none.status().message().find("a needs what the test's predicate wants"), std::string::npos);
  auto unknown = r.Pick(ImageWorkload("containerd"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("\"containerd\", which is not enabled (enabled: a)"), std::string::npos)
      << unknown.status().message();
  auto refused = r.Pick(ImageWorkload("a"));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("backend a cannot run this image workload"), std::string::npos);
}

// Overrides one call, forwards the rest (a test or a metrics layer).
class CountingStarts : public DriverWrapper {
 public:
  using DriverWrapper::DriverWrapper;
  Result<std::shared_ptr<Instance>> Start(const Workload& w) override {
    ++starts;
    return DriverWrapper::Start(w);
  }
  int starts = 0;
};

TEST(RegistryTest, AWrapperForwardsEverythingItDoesNotOverride) {
  FakeDriver inner("inner");
  CountingStarts wrapper(&inner);
  EXPECT_EQ(wrapper.name(), "inner");
  EXPECT_TRUE(wrapper.Accepts(ImageWorkload()));
  auto instance = wrapper.Start(ImageWorkload());
  ASSERT_TRUE(instance.ok());
  EXPECT_EQ((*instance)->Handle(HttpRequest{}).body, "inner f-00001 GET /");
  wrapper.Shutdown();
  EXPECT_EQ(wrapper.starts, 1);
  EXPECT_EQ(inner.starts(), 1);
  EXPECT_EQ(inner.accepts(), 1);
  EXPECT_EQ(inner.handled(), 1);
  EXPECT_EQ(inner.shutdowns(), 1);
  // Logs too: what the inner driver's instance handled.
  auto logs = wrapper.Logs("default", "f-00001", 0);
  ASSERT_TRUE(logs.ok()) << logs.status().ToString();
  EXPECT_EQ(*logs, "GET /\n");
  EXPECT_EQ(inner.logs(), 1);
  instance = Status(StatusCode::kInternal, "drop");
  EXPECT_EQ(inner.live(), 0);
}

// --- MakeWorkload ------------------------------------------------------------

TEST(WorkloadTest, ACommandContainerBecomesACommandWorkload) {
  auto w = spec::MakeWorkload("ns1", "fn", "fn-00002", R"({
    "version": "v2", "image": "example.com/fn:v2",
    "serving": {
      "params": {"FUNC_NAME": "Hello", "N": 3},
      "timeout": "90s",
      "outputs": [{"dapr": {"name": "kafka", "type": "bindings.kafka", "operation": "create"}}],
      "triggers": {"http": {"port": 9000}},
      "template": {"terminationGracePeriodSeconds": 4, "containers": [{
        "name": "function", "command": ["python3", "-m"], "args": ["app"], "workingDir": "/srv",
        "env": [{"name": "N", "value": "4"}, {"name": "FROM_SECRET", "valueFrom": {}}],
        "readinessProbe": {"httpGet": {"path": "ready", "httpHeaders": [{"name": "X", "value": "1"}]}, "periodSeconds": 2},
        "livenessProbe": {"tcpSocket": {"port": 9000}, "failureThreshold": 5},
        "resources": {"limits": {"memory": "64Mi", "cpu": "250m"}}}]}}})",
                              "process");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->kind, WorkloadKind::kCommand);
  EXPECT_EQ(w->backend, "process");
  EXPECT_EQ(w->revision, "fn-00002");
  EXPECT_EQ(w->command, "python3");
  EXPECT_EQ(w->args, (std::vector<std::string>{"-m", "app"}));
  EXPECT_EQ(w->working_dir, "/srv");
  EXPECT_EQ(w->Env("FUNC_NAME"), "Hello");
  EXPECT_EQ(w->Env("N"), "4");  // the container's env wins over params
  EXPECT_EQ(w->Env("FROM_SECRET", "unset"), "unset");
  EXPECT_EQ(w->port, 9000);
  EXPECT_EQ(w->readiness.type, Probe::Type::kHttp);
  EXPECT_EQ(w->readiness.path, "/ready");
  EXPECT_EQ(w->readiness.period, std::chrono::seconds(2));
  EXPECT_EQ(w->readiness.headers.size(), 1u);
  EXPECT_EQ(w->liveness.type, Probe::Type::kTcp);
  EXPECT_EQ(w->liveness.failure_threshold, 5);
  EXPECT_EQ(w->limits.memory_bytes, 64 << 20);
  EXPECT_EQ(w->limits.cpu_millis, 250);
  EXPECT_EQ(w->start_timeout, std::chrono::milliseconds(90000));
  EXPECT_EQ(w->grace, std::chrono::milliseconds(4000));
  EXPECT_EQ(w->outputs, (std::vector<std::string>{"kafka"}));  // outputs go by their component's name
  EXPECT_NE(w->func_context.find("\"componentType\":\"bindings.kafka\""), std::string::npos) << w->func_context;
  EXPECT_NE(w->func_context.find("\"name\":\"fn\""), std::string::npos);
  EXPECT_NE(w->func_context.find("\"runtime\":\"Knative\""), std::string::npos);  // it has an HTTP trigger
}

TEST(WorkloadTest, DaprTriggersMakeTheAsyncRuntimeInFuncContext) {
  auto w = spec::MakeWorkload("ns1", "sub", "sub-00001", R"({
    "serving": {
      "triggers": {"dapr": [{"name": "bus", "topic": "orders"}, {"name": "cron", "type": "bindings.cron"}]},
      "pubsub": {"bus": {"type": "pubsub.redis", "version": "v1", "metadata": []}},
      "outputs": [{"dapr": {"name": "bus", "topic": "done"}}],
      "template": {"containers": [{"name": "function", "command": ["python3"]}]}}})");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  boost::json::value ctx = boost::json::parse(w->func_context);
  EXPECT_EQ(ctx.at("runtime"), "Async");
  // Inputs and outputs by component name; the uri is the topic, or the component's name.
  EXPECT_EQ(boost::json::serialize(ctx.at("inputs")),
            R"({"bus":{"componentName":"bus","componentType":"pubsub.redis","uri":"orders"},)"
            R"("cron":{"componentName":"cron","componentType":"bindings.cron","uri":"cron"}})");
  EXPECT_EQ(boost::json::serialize(ctx.at("outputs")),
            R"({"bus":{"componentName":"bus","componentType":"pubsub.redis","uri":"done"}})");
  EXPECT_FALSE(ctx.as_object().contains("states"));
}

TEST(WorkloadTest, StateStoresAndFunctionInputsAreTheContextsStates) {
  auto w = spec::MakeWorkload("ns1", "reader", "reader-00001", R"({
    "serving": {
      "triggers": {"dapr": [{"name": "bus", "topic": "orders"}],
                   "inputs": [{"dapr": {"name": "mysql", "type": "state.mysql"}}, {"dapr": {"name": "cache"}}]},
      "states": {"cache": {"spec": {"type": "state.redis", "version": "v1", "metadata": []}}},
      "template": {"containers": [{"name": "function", "command": ["python3"]}]}}})");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  boost::json::value ctx = boost::json::parse(w->func_context);
  EXPECT_EQ(boost::json::serialize(ctx.at("states")),
            R"({"cache":{"componentName":"cache","componentType":"state.redis"},)"
            R"("mysql":{"componentName":"mysql","componentType":"state.mysql"}})");
}

TEST(WorkloadTest, KindsDefaultsAndErrors) {
  auto image = spec::MakeWorkload("d", "f", "f-00001", R"({"image": "ofn.local/f:latest"})");
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->kind, WorkloadKind::kImage);
  EXPECT_EQ(image->readiness.type, Probe::Type::kNone);
  EXPECT_FALSE(image->start_timeout.has_value());
  EXPECT_FALSE(image->grace.has_value());
  EXPECT_EQ(image->port, 8080);
  auto wasm = spec::MakeWorkload("d", "f", "f-00001", R"({"image": "w:1", "workloadRuntime": "WasmEdge"})");
  ASSERT_TRUE(wasm.ok());
  EXPECT_EQ(wasm->kind, WorkloadKind::kWasm);

  struct Bad {
    const char* spec;
    const char* message;
  } bad[] = {
      {R"({"serving": {"timeout": "soon"}})", "spec.serving.timeout \"soon\" is not a positive duration"},
      {R"({"serving": {"template": {"containers": [{"name": "function", "command": []}]}}})",
       "spec.serving.template.containers[function].command is empty"},
      {R"({"serving": {"template": {"containers": [{"name": "function", "resources": {"limits": {"memory": "lots"}}}]}}})",
       "resources.limits.memory \"lots\" is not a quantity"},
  };
  for (const Bad& b : bad) {
    auto w = spec::MakeWorkload("d", "f", "f-00001", b.spec);
    ASSERT_FALSE(w.ok()) << b.spec;
    EXPECT_NE(w.status().message().find(b.message), std::string::npos) << w.status().message();
  }
}

}  // namespace
}  // namespace ofn::backend
