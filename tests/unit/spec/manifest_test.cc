#include <gtest/gtest.h>

#include "libofn/spec/components.h"
#include "libofn/spec/object.h"
#include "tests/unit/test_util.h"

namespace ofn::spec {
namespace {

using ofn::testing::DataPath;
using ofn::testing::YamlFiles;

std::vector<std::string> Lines(const ParseResult& r) {
  std::vector<std::string> out;
  for (const Diagnostic& d : r.diagnostics) out.push_back(d.ToString());
  return out;
}

TEST(ManifestTest, FiveMistakesGiveFiveErrorsWithPositions) {
  ParseResult r = ParseManifestFile(DataPath("manifests/five_errors.yaml"));
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.objects.empty());
  std::string f = DataPath("manifests/five_errors.yaml");
  std::vector<std::string> want = {
      f + ":5:9: metadata.name: \"Bad_Name\" is not a DNS-1123 label (lower case alphanumerics and "
          "'-', starting and ending with an alphanumeric, at most 63)",
      f + ":11:20: spec.serving.scaleOptions.minReplicas: must be of type integer, got string \"two\"",
      f + ":14:15: spec.serving.triggers.http.port: must be in 1..65535, got 70000",
      f + ":19:27: spec.serving.triggers.http.route.rules[0].matches[0].path.type: must be one of "
          "\"Exact\", \"PathPrefix\", \"RegularExpression\"; got string \"Prefix\"",
      f + ":21:5: spec.serving.timeoutt: unknown field \"timeoutt\"",
  };
  EXPECT_EQ(Lines(r), want);
}

// yaml-cpp 0.7 loops for ever on a stray flow entry (found by fuzz_manifest:
// a lone "," made endless empty documents until memory ran out).
TEST(ManifestTest, AStrayFlowEntryIsAnErrorNotAHang) {
  for (const char* text : {",", "a: 1\n---\n,\n", "  ,\n", "]", "}"}) {
    ParseResult r = ParseManifests(text, "stray.yaml");
    ASSERT_FALSE(r.ok()) << text;
    ASSERT_FALSE(r.diagnostics.empty());
    EXPECT_NE(r.diagnostics[0].ToString().find("stray.yaml:"), std::string::npos) << r.diagnostics[0].ToString();
    EXPECT_TRUE(r.objects.empty()) << text;
  }
  ParseResult fine = ParseManifests("[a, b]\n", "list.yaml");  // a flow sequence is no hang (and no manifest)
  EXPECT_FALSE(fine.ok());
}

TEST(ManifestTest, PortOutOfRangeOnOtherwiseValidFunction) {
  ParseResult r = ParseManifests(
      "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: f\n"
      "spec:\n  image: x\n  serving:\n    triggers:\n      http:\n        port: 70000\n",
      "fn.yaml");
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].ToString(),
            "fn.yaml:10:15: spec.serving.triggers.http.port: must be in 1..65535, got 70000");
}

TEST(ManifestTest, UnknownKindAndUnservedVersion) {
  ParseResult r = ParseManifests(
      "apiVersion: core.openfunction.io/v1alpha9\nkind: Function\nmetadata: {name: f}\n---\n"
      "apiVersion: v1\nkind: Pod\nmetadata: {name: c}\n---\nkind: Function\n",
      "k.yaml");
  std::vector<std::string> got = Lines(r);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], "k.yaml:1:13: apiVersion: version v1alpha9 of Function is not served (served: "
                    "v1beta1, v1beta2)");
  EXPECT_NE(got[1].find("k.yaml:6:7: kind: unknown kind Pod in v1"), std::string::npos);
  EXPECT_EQ(got[2], "k.yaml:9:1: apiVersion: required field is missing");
}

// Core v1 Secrets: stringData is merged into data (base64) and the body
// stays at the top level; a TLS Secret needs both halves; bad base64 is
// named by its key.
TEST(ManifestTest, SecretsAsKubernetesStoresThem) {
  ParseResult ok = ParseManifests(R"(apiVersion: v1
kind: Secret
metadata: {name: site-tls}
type: kubernetes.io/tls
data:
  tls.crt: Q0VSVA==
stringData:
  tls.key: KEY
)", "s.yaml");
  ASSERT_TRUE(ok.ok()) << ::testing::PrintToString(Lines(ok));
  ASSERT_EQ(ok.objects.size(), 1u);
  const Object& s = ok.objects[0];
  EXPECT_EQ(s.ns(), "default");
  EXPECT_EQ(s.SpecJson(), R"({"data":{"tls.crt":"Q0VSVA==","tls.key":"S0VZ"},"type":"kubernetes.io/tls"})");
  EXPECT_EQ(s.ToYaml().find("spec:"), std::string::npos) << s.ToYaml();
  EXPECT_EQ(s.ToYaml().find("stringData"), std::string::npos) << s.ToYaml();

  ParseResult opaque = ParseManifests("apiVersion: v1\nkind: Secret\nmetadata: {name: o}\nstringData: {a: b}\n", "o.yaml");
  ASSERT_TRUE(opaque.ok());
  EXPECT_EQ(opaque.objects[0].SpecJson(), R"({"data":{"a":"Yg=="},"type":"Opaque"})");

  ParseResult bad = ParseManifests(R"(apiVersion: v1
kind: Secret
metadata: {name: bad}
type: kubernetes.io/tls
data:
  tls.crt: "not base64!"
  "a/b": Zg==
)", "b.yaml");
  EXPECT_FALSE(bad.ok());
  std::vector<std::string> got = Lines(bad);
  ASSERT_EQ(got.size(), 3u) << ::testing::PrintToString(got);
  EXPECT_NE(got[0].find("data.tls.crt: base64: length 11 is not a multiple of 4"), std::string::npos) << got[0];
  EXPECT_NE(got[1].find("data.a/b: a key must consist of"), std::string::npos) << got[1];
  EXPECT_NE(got[2].find("data: a kubernetes.io/tls Secret needs tls.key"), std::string::npos) << got[2];
}

// A long scalar once overflowed the stack (std::regex recursed per
// character while resolving its type); now it is just a string or a number.
TEST(ManifestTest, LongScalarsAreReadWithoutRecursion) {
  std::string digits(300000, '7');
  ParseResult r = ParseManifests("apiVersion: v1\nkind: Secret\nmetadata: {name: big}\nstringData:\n  a: x" + digits +
                                     "\n  b: " + digits + "\n",
                                 "big.yaml");
  // b is a number (YAML 1.1 resolution), which stringData refuses: an error, not a crash.
  ASSERT_FALSE(r.ok());
  EXPECT_NE(Lines(r)[0].find("stringData.b"), std::string::npos) << Lines(r)[0];
}

TEST(ManifestTest, NamespaceDefaultsAndClusterScope) {
  ParseResult r = ParseManifests(
      "apiVersion: events.openfunction.io/v1alpha1\nkind: EventBus\nmetadata: {name: b}\n"
      "spec: {natsStreaming: {natsURL: 'nats://x:4222', natsStreamingClusterID: stan, subscriptionType: queue, durableSubscriptionName: d}}\n---\n"
      "apiVersion: events.openfunction.io/v1alpha1\nkind: ClusterEventBus\n"
      "metadata: {name: c, namespace: x}\nspec: {natsStreaming: {natsURL: 'nats://x:4222', natsStreamingClusterID: stan, subscriptionType: queue, durableSubscriptionName: d}}\n",
      "n.yaml", ParseOptions{.default_namespace = "team-a", .base_dir = ""});
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(Lines(r));
  ASSERT_EQ(r.objects.size(), 2u);
  EXPECT_EQ(r.objects[0].ns(), "team-a");
  EXPECT_EQ(r.objects[1].ns(), "");
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].severity, Severity::kWarning);
}

TEST(ManifestTest, MetadataChecks) {
  ParseResult r = ParseManifests(
      "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: f\n"
      "  namespace: Team\n  labels:\n    'bad key!': x\n    ok: 'not valid value!'\n"
      "  annotations:\n    a: 1\n  owner: me\nspec: {image: x, serving: {}}\n",
      "m.yaml");
  std::vector<std::string> got = Lines(r);
  std::vector<std::string> want = {
      "m.yaml:5:14: metadata.namespace: \"Team\" is not a DNS-1123 label",
      "m.yaml:7:5: metadata.labels[bad key!]: invalid key: must be a qualified name ([prefix/]name, "
      "name up to 63 alphanumeric characters, '-', '_' or '.')",
      "m.yaml:8:9: metadata.labels.ok: invalid label value \"not valid value!\"",
      "m.yaml:10:8: metadata.annotations.a: must be of type string, got integer 1",
      "m.yaml:11:3: metadata.owner: unknown field \"owner\"",
  };
  EXPECT_EQ(got, want);
}

TEST(ManifestTest, ListWrapperIsUnpacked) {
  ParseResult r = ParseManifests(
      "apiVersion: v1\nkind: List\nitems:\n"
      "- apiVersion: core.openfunction.io/v1beta2\n  kind: Function\n  metadata: {name: a}\n"
      "  spec: {image: x, serving: {}}\n"
      "- apiVersion: core.openfunction.io/v1beta2\n  kind: Function\n  metadata: {name: b}\n"
      "  spec: {serving: {}}\n",
      "l.yaml");
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(r.objects[0].name(), "a");
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].ToString(), "l.yaml:11:9: spec.image: required field is missing");
}

TEST(ManifestTest, JsonInputIsAccepted) {
  ParseResult r = ParseManifests(
      R"({"apiVersion":"core.openfunction.io/v1beta2","kind":"Function",)"
      R"("metadata":{"name":"j"},"spec":{"image":"x","serving":{"triggers":{"http":{"port":9000}}}}})",
      "j.json");
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(Lines(r));
  EXPECT_NE(r.objects[0].SpecJson().find("\"port\":9000"), std::string::npos);
}

TEST(ManifestTest, UnreadableFileIsOneError) {
  ParseResult r = ParseManifestFile("/nonexistent/file.yaml");
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_NE(r.diagnostics[0].message.find("cannot read file"), std::string::npos);
}

// Every manifest the tests use that parses: serialize -> parse gives an equal
// object, through YAML and through JSON, and serializing is stable.
TEST(ManifestTest, RoundTripOfEveryAcceptedManifest) {
  int objects = 0;
  for (const char* dir : {"seeds/verbatim", "seeds/completed", "manifests"}) {
    for (const std::string& file : YamlFiles(dir)) {
      ParseResult r = ParseManifestFile(file);
      for (const Object& o : r.objects) {
        ++objects;
        ParseResult y = ParseManifests(o.ToYaml(), file + "#yaml");
        ASSERT_TRUE(y.ok()) << file << "\n" << o.ToYaml() << ::testing::PrintToString(Lines(y));
        ASSERT_EQ(y.objects.size(), 1u);
        EXPECT_TRUE(y.objects[0] == o) << file << "\n" << o.ToYaml() << "\n" << y.objects[0].ToYaml();
        EXPECT_EQ(y.objects[0].ToYaml(), o.ToYaml());
        ParseResult j = ParseManifests(o.ToJson(), file + "#json");
        ASSERT_TRUE(j.ok()) << file;
        EXPECT_TRUE(j.objects[0] == o) << file;
        for (const Diagnostic& d : y.diagnostics) {
          // What this platform cannot run is said each time; any other warning is a
          // normalization that did not hold.
          if (d.message.starts_with("not run here: ") || d.message.find("not read here yet") != std::string::npos) {
            continue;
          }
          EXPECT_NE(d.severity, Severity::kWarning) << "normalized output must not warn: " << d.ToString();
        }
      }
    }
  }
  EXPECT_GE(objects, 40);
}

TEST(ManifestTest, AsyncFieldsAreCheckedAsDaprLoadsThem) {
  std::string builtin;
  for (std::string_view t : BuiltinComponentTypes()) builtin += (builtin.empty() ? "" : ", ") + std::string(t);
  ParseResult r = ParseManifests(
      "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: a\nspec:\n  image: x\n"
      "  serving:\n    bindings:\n      cron:\n        type: bindings.cron\n        version: v1\n"
      "        metadata: []\n      k:\n        type: bindings.kafka\n        version: v1\n        metadata: []\n"
      "    triggers:\n      dapr:\n        - name: cron\n          type: pubsub.redis\n"
      "      inputs:\n        - dapr: {name: s, type: state.redis}\n"
      "    outputs:\n      - dapr: {name: bus, type: pubsub.redis}\n",
      "a.yaml");
  EXPECT_EQ(Lines(r), (std::vector<std::string>{
                          "a.yaml:12:19: spec.serving.bindings.cron.metadata: bindings.cron needs a \"schedule\" "
                          "(e.g. \"@every 2s\" or \"0 */5 * * * *\")",
                          "a.yaml:14:9: warning: spec.serving.bindings.k.type: not run here: bindings.kafka: Kafka "
                          "needs a Kafka client library (librdkafka) and a reachable broker; this build has neither, "
                          "so use a pub/sub or binding this machine can run (built in: " + builtin + ")",
                          "a.yaml:20:17: spec.serving.triggers.dapr[0].type: \"pubsub.redis\" but component cron is "
                          "bindings.cron",
                          "a.yaml:24:15: spec.serving.outputs[0].dapr.topic: a pub/sub output needs a topic"}));
}

TEST(ManifestTest, YamlQuotesStringsThatWouldReadAsOtherTypes) {
  ParseResult r = ParseManifests(
      "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: q\n"
      "  annotations: {a: 'yes', b: '0x10', c: '', d: ' lead', e: 'x: y', f: '#c', g: '1.0', "
      "h: \"multi\\nline\", i: 'null', j: '-1', k: '*.x', l: '1e3', m: 'on'}\n"
      "spec: {image: x, serving: {}}\n",
      "q.yaml");
  ASSERT_TRUE(r.ok());
  ParseResult again = ParseManifests(r.objects[0].ToYaml(), "again.yaml");
  ASSERT_TRUE(again.ok()) << r.objects[0].ToYaml();
  EXPECT_TRUE(again.objects[0] == r.objects[0]) << r.objects[0].ToYaml();
}

TEST(ManifestTest, DiagnosticsOfADocumentAreInLineOrder) {
  ParseResult r = ParseManifestFile(DataPath("manifests/five_errors.yaml"));
  for (size_t i = 1; i < r.diagnostics.size(); ++i) {
    EXPECT_LE(r.diagnostics[i - 1].line, r.diagnostics[i].line);
  }
}

}  // namespace
}  // namespace ofn::spec
