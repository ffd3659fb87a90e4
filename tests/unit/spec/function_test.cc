// Defaulting, conversion and webhook validation of Function, Gateway and the
// events kinds.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "libofn/spec/internal/kinds.h"
#include "libofn/spec/object.h"

namespace ofn::spec {
namespace {

namespace json = boost::json;

struct Parsed {
  ParseResult result;
  json::value tree;  // the first object's tree
  std::vector<std::string> lines;
};

Parsed Parse(const std::string& yaml) {
  Parsed p;
  p.result = ParseManifests(yaml, "f.yaml");
  for (const Diagnostic& d : p.result.diagnostics) p.lines.push_back(d.ToString());
  if (!p.result.objects.empty()) p.tree = p.result.objects[0].data().root;
  return p;
}

const json::value* At(const json::value& v, std::initializer_list<std::string_view> path) {
  return internal::ValueAt(v.as_object(), path);
}

constexpr const char* kHead =
    "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: fn\n";

TEST(FunctionDefaultsTest, ServingFunctionGetsWebhookDefaults) {
  Parsed p = Parse(std::string(kHead) + "spec:\n  image: img\n  serving: {}\n");
  ASSERT_TRUE(p.result.ok()) << ::testing::PrintToString(p.lines);
  EXPECT_EQ(*At(p.tree, {"spec", "version"}), json::value("latest"));
  EXPECT_EQ(*At(p.tree, {"spec", "workloadRuntime"}), json::value("OCIContainer"));
  EXPECT_EQ(*At(p.tree, {"spec", "serving", "triggers", "http", "port"}), json::value(8080));
  EXPECT_EQ(*At(p.tree, {"spec", "serving", "triggers", "http", "route", "gatewayRef", "name"}),
            json::value("openfunction"));
  EXPECT_EQ(*At(p.tree, {"spec", "serving", "triggers", "http", "route", "gatewayRef", "namespace"}),
            json::value("openfunction"));
  EXPECT_EQ(*At(p.tree, {"metadata", "namespace"}), json::value("default"));
}

TEST(FunctionDefaultsTest, DaprTriggeredFunctionGetsNoHttpTrigger) {
  Parsed p = Parse(std::string(kHead) +
                   "spec:\n  image: img\n  serving:\n    triggers:\n      dapr:\n      - name: cron\n");
  ASSERT_TRUE(p.result.ok());
  EXPECT_EQ(At(p.tree, {"spec", "serving", "triggers", "http"}), nullptr);
}

TEST(FunctionDefaultsTest, ExplicitValuesAreKept) {
  Parsed p = Parse(std::string(kHead) +
                   "spec:\n  version: v2\n  image: img\n  serving:\n    triggers:\n      http:\n"
                   "        port: 9000\n        route:\n          gatewayRef: {name: gw, namespace: ns}\n");
  ASSERT_TRUE(p.result.ok());
  EXPECT_EQ(*At(p.tree, {"spec", "version"}), json::value("v2"));
  EXPECT_EQ(*At(p.tree, {"spec", "serving", "triggers", "http", "port"}), json::value(9000));
  EXPECT_EQ(*At(p.tree, {"spec", "serving", "triggers", "http", "route", "gatewayRef", "name"}),
            json::value("gw"));
}

TEST(FunctionDefaultsTest, WasmEdgeWorkloadGetsAnnotationsAndRuntimeClass) {
  Parsed p = Parse(std::string(kHead) +
                   "spec:\n  workloadRuntime: wasmedge\n  image: img\n  build:\n    dockerfile: Dockerfile\n"
                   "    srcRepo: {url: 'https://x/y.git'}\n  serving:\n    template:\n      containers:\n"
                   "      - name: function\n");
  ASSERT_TRUE(p.result.ok()) << ::testing::PrintToString(p.lines);
  EXPECT_EQ(*At(p.tree, {"metadata", "annotations", "module.wasm.image/variant"}),
            json::value("compat-smart"));
  EXPECT_EQ(*At(p.tree, {"spec", "serving", "annotations", "module.wasm.image/variant"}),
            json::value("compat-smart"));
  EXPECT_EQ(*At(p.tree, {"spec", "serving", "template", "runtimeClassName"}),
            json::value("openfunction-crun"));
  EXPECT_EQ(*At(p.tree, {"spec", "build", "shipwright", "strategy", "name"}), json::value("wasmedge"));
}

TEST(FunctionNormalizeTest, AV1beta1ServingRuntimeInAV1beta2FunctionIsDroppedWithAWarning) {
  // As OpenFunction's own samples still write it.
  Parsed p = Parse(std::string(kHead) +
                   "spec:\n  version: v1\n  image: x\n  serving:\n    runtime: knative\n"
                   "    triggers:\n      http:\n        port: 8080\n");
  ASSERT_TRUE(p.result.ok()) << ::testing::PrintToString(p.lines);
  ASSERT_EQ(p.lines.size(), 1u);
  EXPECT_EQ(p.lines[0].rfind("f.yaml:9:5: warning: spec.serving.runtime: \"knative\" is a v1beta1 field", 0), 0u)
      << p.lines[0];
  EXPECT_EQ(At(p.tree, {"spec", "serving", "runtime"}), nullptr);
}

TEST(FunctionValidationTest, BuildRules) {
  Parsed p = Parse(std::string(kHead) +
                   "spec:\n  image: img\n  imageCredentials: {name: ''}\n  build:\n"
                   "    srcRepo: {revision: main}\n    timeout: 10 minutes\n"
                   "    successfulBuildsHistoryLimit: -1\n    shipwright:\n      strategy: {name: s, kind: Weird}\n");
  std::vector<std::string> want = {
      "f.yaml:7:28: spec.imageCredentials.name: must be set when spec.build is set",
      "f.yaml:9:5: spec.build.builder: one of spec.build.builder or spec.build.dockerfile is required",
      "f.yaml:9:14: spec.build.srcRepo: one of url or bundleContainer is required",
      "f.yaml:10:14: spec.build.timeout: invalid duration \"10 minutes\" (use a number with a unit: ns, "
      "us, ms, s, m, h; e.g. 5m0s)",
      "f.yaml:11:35: spec.build.successfulBuildsHistoryLimit: must not be less than 0, got -1",
      "f.yaml:13:33: spec.build.shipwright.strategy.kind: must be one of \"BuildStrategy\", "
      "\"ClusterBuildStrategy\"; got \"Weird\"",
  };
  EXPECT_EQ(p.lines, want);
}

TEST(FunctionValidationTest, ServingRules) {
  Parsed p = Parse(std::string(kHead) +
                   "spec:\n  image: img\n  serving:\n    timeout: 5x\n    scaleOptions:\n"
                   "      minReplicas: 5\n      maxReplicas: 2\n      keda:\n        scaledObject: {}\n"
                   "        scaledJob: {restartPolicy: Sometimes}\n    triggers:\n      http:\n"
                   "        engine: nginx\n        route:\n          hostnames: ['ok.example.com', 'Bad_Host']\n");
  std::vector<std::string> want = {
      "f.yaml:8:14: spec.serving.timeout: invalid duration \"5x\" (use a number with a unit: ns, us, "
      "ms, s, m, h; e.g. 5m0s)",
      "f.yaml:10:20: spec.serving.scaleOptions.minReplicas: must not be greater than maxReplicas (5 > 2)",
      "f.yaml:13:9: spec.serving.scaleOptions.keda: at most one of scaledJob, scaledObject and "
      "httpScaledObject may be set",
      "f.yaml:14:36: spec.serving.scaleOptions.keda.scaledJob.restartPolicy: must be one of \"Always\", "
      "\"OnFailure\", \"Never\"; got \"Sometimes\"",
      "f.yaml:17:17: spec.serving.triggers.http.engine: must be one of \"knative\", \"keda\"; got \"nginx\"",
      "f.yaml:19:41: spec.serving.triggers.http.route.hostnames[1]: must match the pattern "
      "\"^(\\\\*\\\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$\", got \"Bad_Host\"",
  };
  EXPECT_EQ(p.lines, want);
}

TEST(FunctionValidationTest, ResourceQuantities) {
  Parsed p = Parse(std::string(kHead) +
                   "spec:\n  image: img\n  serving:\n    template:\n      containers:\n        - name: function\n"
                   "          resources:\n            limits: {memory: 128Mi, cpu: 500m}\n"
                   "            requests: {memory: lots, cpu: 1.5x}\n");
  std::vector<std::string> want = {
      "f.yaml:13:32: spec.serving.template.containers[0].resources.requests.memory: \"lots\" is not a quantity "
      "(e.g. 128Mi, 500m, 2)",
      "f.yaml:13:43: spec.serving.template.containers[0].resources.requests.cpu: \"1.5x\" is not a quantity "
      "(e.g. 128Mi, 500m, 2)",
  };
  EXPECT_EQ(p.lines, want);
}

TEST(QuantityTest, KubernetesSyntax) {
  double v = 0;
  EXPECT_TRUE(internal::ParseQuantity("128Mi", &v));
  EXPECT_DOUBLE_EQ(v, 128.0 * 1024 * 1024);
  EXPECT_TRUE(internal::ParseQuantity("500m", &v));
  EXPECT_DOUBLE_EQ(v, 0.5);
  EXPECT_TRUE(internal::ParseQuantity("1.5G", &v));
  EXPECT_DOUBLE_EQ(v, 1.5e9);
  EXPECT_TRUE(internal::ParseQuantity("12e3", &v));
  EXPECT_DOUBLE_EQ(v, 12000);
  EXPECT_TRUE(internal::ParseQuantity("2", &v));
  EXPECT_DOUBLE_EQ(v, 2);
  EXPECT_FALSE(internal::ParseQuantity("", &v));
  EXPECT_FALSE(internal::ParseQuantity("Mi", &v));
  EXPECT_FALSE(internal::ParseQuantity("-1", &v));
  EXPECT_FALSE(internal::ParseQuantity("1.2.3", &v));
  EXPECT_FALSE(internal::ParseQuantity("5 Mi", &v));
  EXPECT_FALSE(internal::ParseQuantity("1e", &v));
}

TEST(FunctionValidationTest, NeitherBuildNorServing) {
  Parsed p = Parse(std::string(kHead) + "spec:\n  image: img\n");
  ASSERT_EQ(p.lines.size(), 1u);
  EXPECT_EQ(p.lines[0], "f.yaml:6:3: spec.serving: required when spec.build is not set");
}

TEST(FunctionNormalizeTest, ShipwrightParamsMapBecomesListWithWarning) {
  Parsed p = Parse(std::string(kHead) +
                   "spec:\n  image: img\n  build:\n    builder: b\n    srcRepo: {url: 'https://x'}\n"
                   "    shipwright:\n      params:\n        RUN_IMAGE: run\n        ENV_VARS: ''\n");
  ASSERT_TRUE(p.result.ok()) << ::testing::PrintToString(p.lines);
  ASSERT_EQ(p.lines.size(), 1u);
  EXPECT_EQ(p.lines[0], "f.yaml:11:7: warning: spec.build.shipwright.params: written as a map; read "
                        "as the list of {name, value} the CRD defines");
  EXPECT_EQ(json::serialize(*At(p.tree, {"spec", "build", "shipwright", "params"})),
            R"([{"name":"RUN_IMAGE","value":"run"},{"name":"ENV_VARS","value":""}])");
}

TEST(FunctionNormalizeTest, KedaReplicaCountsMoveToScaleOptions) {
  Parsed p = Parse(std::string(kHead) +
                   "spec:\n  image: img\n  serving:\n    scaleOptions:\n      keda:\n        scaledObject:\n"
                   "          minReplicaCount: 0\n          maxReplicaCount: 10\n          cooldownPeriod: 30\n");
  ASSERT_TRUE(p.result.ok()) << ::testing::PrintToString(p.lines);
  ASSERT_EQ(p.lines.size(), 2u);
  EXPECT_EQ(p.lines[0], "f.yaml:11:11: warning: spec.serving.scaleOptions.keda.scaledObject."
                        "minReplicaCount: not in the CRD; read as spec.serving.scaleOptions.minReplicas");
  EXPECT_EQ(*At(p.tree, {"spec", "serving", "scaleOptions", "minReplicas"}), json::value(0));
  EXPECT_EQ(*At(p.tree, {"spec", "serving", "scaleOptions", "maxReplicas"}), json::value(10));
  EXPECT_EQ(At(p.tree, {"spec", "serving", "scaleOptions", "keda", "scaledObject", "minReplicaCount"}),
            nullptr);
}

TEST(FunctionKedaTest, WhatCannotScaleIsSaidAtApplyAndTheIdleCountIsChecked) {
  const std::string async =
      "spec:\n  image: img\n  serving:\n    triggers:\n      dapr:\n        - {name: q, topic: t}\n"
      "    pubsub:\n      q: {type: pubsub.in-memory, version: v1, metadata: []}\n"
      "    scaleOptions:\n      minReplicas: 1\n      keda:\n        triggers:\n"
      "          - type: kafka\n            metadata: {topic: logs, lagThreshold: \"20\"}\n";
  Parsed p = Parse(std::string(kHead) + async);
  ASSERT_TRUE(p.result.ok()) << ::testing::PrintToString(p.lines);
  ASSERT_EQ(p.lines.size(), 1u);
  EXPECT_NE(p.lines[0].find("warning: spec.serving.scaleOptions.keda.triggers[0].type: not run here: libofn has no "
                            "kafka scaler (redis, redis-streams, nats-jetstream, cron;"),
            std::string::npos)
      << p.lines[0];
  // The idle count sits in an annotation (the CRD's scaledObject has no
  // idleReplicaCount) and must be below minReplicas, as KEDA requires.
  Parsed idle = Parse(std::string(kHead) + "  annotations:\n    ofn.io/idle-replica-count: \"1\"\n" + async);
  ASSERT_FALSE(idle.result.ok()) << ::testing::PrintToString(idle.lines);
  bool named = false;
  for (const std::string& line : idle.lines) {
    named = named || line.find("metadata.annotations.ofn.io/idle-replica-count: must be below minReplicas (1 >= 1)") !=
                         std::string::npos;
  }
  EXPECT_TRUE(named) << ::testing::PrintToString(idle.lines);
}

TEST(FunctionAsyncTest, FunctionInputsAreStateStores) {
  const std::string head = std::string(kHead) +
                           "spec:\n  image: img\n  serving:\n    states:\n      cache:\n        spec: {type: state.redis, "
                           "version: v1, metadata: [{name: redisHost, value: 'h:1'}]}\n"
                           "    pubsub:\n      bus: {type: pubsub.in-memory, version: v1, metadata: []}\n"
                           "    triggers:\n      dapr: [{name: bus, topic: t}]\n      inputs:\n";
  Parsed ok = Parse(head + "        - dapr: {name: cache}\n        - dapr: {name: elsewhere, type: state.mysql}\n");
  EXPECT_TRUE(ok.result.ok()) << ::testing::PrintToString(ok.lines);
  for (const std::string& line : ok.lines) EXPECT_EQ(line.find("inputs"), std::string::npos) << line;
  Parsed bus = Parse(head + "        - dapr: {name: bus}\n");
  ASSERT_FALSE(bus.result.ok());
  EXPECT_NE(bus.lines[0].find("spec.serving.triggers.inputs[0].dapr.type: an input is a state store (state.*); "
                              "\"pubsub.in-memory\" is a trigger: list it under triggers.dapr"),
            std::string::npos)
      << bus.lines[0];
  Parsed contradicts = Parse(head + "        - dapr: {name: cache, type: state.sqlite}\n");
  ASSERT_FALSE(contradicts.result.ok());
  EXPECT_NE(contradicts.lines[0].find("\"state.sqlite\" but component cache is state.redis"), std::string::npos);
}

TEST(FunctionNormalizeTest, ConflictingReplicaCountIsAnError) {
  Parsed p = Parse(std::string(kHead) +
                   "spec:\n  image: img\n  serving:\n    scaleOptions:\n      maxReplicas: 3\n      keda:\n"
                   "        scaledObject:\n          maxReplicaCount: 10\n");
  ASSERT_FALSE(p.result.ok());
  EXPECT_NE(p.lines[0].find("conflicts with spec.serving.scaleOptions.maxReplicas (3 vs 10)"),
            std::string::npos);
}

TEST(FunctionNormalizeTest, OtherUnknownFieldsStayErrors) {
  Parsed p = Parse(std::string(kHead) +
                   "spec:\n  image: img\n  serving:\n    scaleOptions:\n      keda:\n        scaledObject:\n"
                   "          idleReplicaCount: 0\n");
  ASSERT_EQ(p.lines.size(), 1u);
  EXPECT_EQ(p.lines[0], "f.yaml:11:11: spec.serving.scaleOptions.keda.scaledObject.idleReplicaCount: "
                        "unknown field \"idleReplicaCount\"");
}

TEST(FunctionConversionTest, AsyncV1beta1BecomesDaprTriggersAndOutputs) {
  Parsed p = Parse(
      "apiVersion: core.openfunction.io/v1beta1\nkind: Function\nmetadata:\n  name: ep\n"
      "  annotations:\n    plugins: |\n      order: [a, b]\n"
      "spec:\n  version: v1\n  image: img\n  serving:\n    runtime: async\n"
      "    inputs:\n    - {name: cron-in, component: cron}\n"
      "    outputs:\n    - {name: target, component: kafka, operation: create, params: {k: v}}\n"
      "    bindings:\n      cron: {type: bindings.cron, version: v1, metadata: [{name: schedule, value: '@every 1s'}]}\n"
      "      kafka: {type: bindings.kafka, version: v1, metadata: []}\n"
      "    states:\n      s: {type: state.redis, version: v1, metadata: [{name: redisHost, value: 'redis:6379'}]}\n"
      "    scaleOptions:\n      keda:\n        scaledObject: {minReplicaCount: 1, pollingInterval: 5}\n"
      "    triggers:\n    - type: kafka\n      metadata: {topic: t}\n");
  ASSERT_TRUE(p.result.ok()) << ::testing::PrintToString(p.lines);
  EXPECT_EQ(*At(p.tree, {"apiVersion"}), json::value("core.openfunction.io/v1beta2"));
  EXPECT_EQ(json::serialize(*At(p.tree, {"spec", "serving", "triggers", "dapr"})),
            R"([{"inputName":"cron-in","name":"cron","type":"bindings.cron"}])");
  EXPECT_EQ(json::serialize(*At(p.tree, {"spec", "serving", "outputs"})),
            R"([{"dapr":{"metadata":{"k":"v"},"name":"kafka","operation":"create","outputName":"target","type":"bindings.kafka"}}])");
  EXPECT_EQ(*At(p.tree, {"spec", "serving", "scaleOptions", "minReplicas"}), json::value(1));
  EXPECT_EQ(*At(p.tree, {"spec", "serving", "workloadType"}), json::value("Deployment"));
  EXPECT_EQ(At(p.tree, {"spec", "serving", "scaleOptions", "keda", "triggers"})->as_array()[0].at("type"),
            json::value("kafka"));
  EXPECT_NE(At(p.tree, {"spec", "serving", "states", "s", "spec"}), nullptr);
  EXPECT_EQ(json::serialize(*At(p.tree, {"spec", "serving", "hooks"})),
            R"({"policy":"Override","post":["b","a"],"pre":["a","b"]})");
  EXPECT_EQ(At(p.tree, {"spec", "serving", "runtime"}), nullptr);
}

TEST(FunctionConversionTest, KnativeV1beta1MovesPortAndRouteIntoHttpTrigger) {
  Parsed p = Parse(
      "apiVersion: core.openfunction.io/v1beta1\nkind: Function\nmetadata:\n  name: kn\n"
      "spec:\n  image: img\n  port: 9090\n  route:\n    hostnames: [a.example.com]\n"
      "  build:\n    builder: b\n    srcRepo: {url: 'https://x'}\n    params: {K: V}\n"
      "  serving:\n    runtime: knative\n    params: {FUNCTION_TARGET: t}\n");
  ASSERT_TRUE(p.result.ok()) << ::testing::PrintToString(p.lines);
  EXPECT_EQ(*At(p.tree, {"spec", "serving", "triggers", "http", "port"}), json::value(9090));
  EXPECT_EQ(json::serialize(*At(p.tree, {"spec", "serving", "triggers", "http", "route", "hostnames"})),
            R"(["a.example.com"])");
  EXPECT_EQ(json::serialize(*At(p.tree, {"spec", "build", "shipwright", "params"})),
            R"([{"name":"K","value":"V"}])");
  EXPECT_EQ(*At(p.tree, {"spec", "serving", "params", "FUNCTION_TARGET"}), json::value("t"));
  EXPECT_EQ(At(p.tree, {"spec", "port"}), nullptr);
}

TEST(FunctionDefaultsTest, ARelativeWorkingDirRecordsTheManifestsDirectory) {
  auto parse = [](const std::string& dir, const std::string& extra_meta, const std::string& base) {
    ParseOptions po;
    po.base_dir = base;
    ParseResult r = ParseManifests(std::string(kHead) + extra_meta +
                                       "spec:\n  image: img\n  serving:\n    template:\n      containers:\n"
                                       "      - name: function\n        command: [./server]\n        workingDir: " +
                                       dir + "\n",
                                   "f.yaml", po);
    EXPECT_TRUE(r.ok());
    const json::value* a = r.objects.empty() ? nullptr
                                             : internal::ValueAt(r.objects[0].data().root.as_object(),
                                                                 {"metadata", "annotations", "ofn.io/base-dir"});
    return a ? std::string(a->as_string()) : std::string("<none>");
  };
  EXPECT_EQ(parse("app", "", "/srv/fns"), "/srv/fns");
  EXPECT_EQ(parse("../app", "", "/srv/fns"), "/srv/fns");
  EXPECT_EQ(parse("/opt/app", "", "/srv/fns"), "<none>");  // absolute: nothing to record
  EXPECT_EQ(parse("app", "", ""), "<none>");               // the text's place is unknown
  // One the manifest sets is kept (a re-applied `get -o yaml` keeps its place).
  EXPECT_EQ(parse("app", "  annotations:\n    ofn.io/base-dir: /elsewhere\n", "/srv/fns"), "/elsewhere");
}

TEST(GatewayTest, DefaultListenersAndTemplates) {
  Parsed p = Parse(
      "apiVersion: networking.openfunction.io/v1alpha1\nkind: Gateway\nmetadata:\n  name: g\n"
      "  namespace: openfunction\nspec:\n  domain: example.com\n  gatewaySpec:\n    listeners:\n"
      "    - {name: ofn-http-internal, port: 8080, protocol: HTTP}\n");
  ASSERT_TRUE(p.result.ok()) << ::testing::PrintToString(p.lines);
  const json::array& ls = At(p.tree, {"spec", "gatewaySpec", "listeners"})->as_array();
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_EQ(ls[0].at("hostname"), json::value("*.cluster.local"));
  EXPECT_EQ(ls[0].at("port"), json::value(8080));
  EXPECT_EQ(ls[1].at("name"), json::value("ofn-http-external"));
  EXPECT_EQ(ls[1].at("hostname"), json::value("*.example.com"));
  EXPECT_EQ(*At(p.tree, {"spec", "hostTemplate"}), json::value("{{.Name}}.{{.Namespace}}.{{.Domain}}"));
  EXPECT_EQ(*At(p.tree, {"spec", "pathTemplate"}), json::value("{{.Namespace}}/{{.Name}}"));
  EXPECT_EQ(*At(p.tree, {"spec", "httpRouteLabelKey"}), json::value("app.kubernetes.io/managed-by"));
}

TEST(GatewayTest, BadTemplatesAndDomain) {
  Parsed p = Parse(
      "apiVersion: networking.openfunction.io/v1alpha1\nkind: Gateway\nmetadata:\n  name: g\n"
      "spec:\n  domain: Bad_Domain\n  hostTemplate: '{{.Name}}.{{.Zone}}'\n  pathTemplate: '{{.Name'\n"
      "  gatewaySpec:\n    listeners:\n    - {name: a, port: 80, protocol: HTTP}\n"
      "    - {name: a, port: 81, protocol: HTTP}\n");
  std::vector<std::string> want = {
      "f.yaml:6:11: spec.domain: \"Bad_Domain\" is not a valid DNS domain",
      "f.yaml:7:17: spec.hostTemplate: unknown variable {{.Zone}} (allowed: {{.Name}}, {{.Namespace}}, "
      "{{.Domain}})",
      "f.yaml:8:17: spec.pathTemplate: malformed template \"{{.Name\"",
      "f.yaml:12:14: spec.gatewaySpec.listeners[1].name: duplicate listener name \"a\"",
  };
  EXPECT_EQ(p.lines, want);
}

TEST(EventsTest, TriggerConditions) {
  Parsed p = Parse(
      "apiVersion: events.openfunction.io/v1alpha1\nkind: Trigger\nmetadata:\n  name: t\n"
      "spec:\n  eventBus: default\n  inputs:\n    a: {eventSource: s, event: e}\n    b: {eventSource: s, event: f}\n"
      "  subscribers:\n  - {condition: 'a && (b || !a)', topic: x}\n  - {condition: 'a && c', topic: x}\n"
      "  - {condition: 'a &&', topic: x}\n  - {condition: '(a', topic: x}\n  - {condition: a}\n");
  std::vector<std::string> want = {
      "f.yaml:12:17: spec.subscribers[1].condition: \"a && c\" unknown input \"c\" at offset 5",
      "f.yaml:13:17: spec.subscribers[2].condition: \"a &&\" expected an input name at offset 4",
      "f.yaml:14:17: spec.subscribers[3].condition: \"(a\" missing ')' at offset 2",
      "f.yaml:15:5: spec.subscribers[4]: one of sink or topic is required",
  };
  EXPECT_EQ(p.lines, want);
}

TEST(EventsTest, EventSourceNeedsASourceAndADestination) {
  Parsed p = Parse(
      "apiVersion: events.openfunction.io/v1alpha1\nkind: EventSource\nmetadata:\n  name: s\n"
      "spec:\n  logLevel: '2'\n");
  std::vector<std::string> want = {
      "f.yaml:6:3: spec: at least one source (kafka, cron, redis or mqtt) is required",
      "f.yaml:6:3: spec: one of sink or eventBus is required: events need somewhere to go",
  };
  EXPECT_EQ(p.lines, want);
}

TEST(DurationTest, GoSyntax) {
  double s = 0;
  EXPECT_TRUE(internal::ParseGoDuration("5m0s", &s));
  EXPECT_DOUBLE_EQ(s, 300);
  EXPECT_TRUE(internal::ParseGoDuration("1h30m", &s));
  EXPECT_DOUBLE_EQ(s, 5400);
  EXPECT_TRUE(internal::ParseGoDuration("300ms", &s));
  EXPECT_DOUBLE_EQ(s, 0.3);
  EXPECT_TRUE(internal::ParseGoDuration("-1.5s", &s));
  EXPECT_DOUBLE_EQ(s, -1.5);
  EXPECT_TRUE(internal::ParseGoDuration("0", &s));
  EXPECT_FALSE(internal::ParseGoDuration("", &s));
  EXPECT_FALSE(internal::ParseGoDuration("5", &s));
  EXPECT_FALSE(internal::ParseGoDuration("5 m", &s));
  EXPECT_FALSE(internal::ParseGoDuration("m", &s));
}

}  // namespace
}  // namespace ofn::spec
