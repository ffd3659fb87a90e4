#include "libofn/spec/internal/schema.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace ofn::spec::internal {
namespace {

std::vector<std::string> Check(const char* schema_json, const char* yaml) {
  json::object schema = json::parse(schema_json).as_object();
  std::vector<Diagnostic> diags;
  auto docs = ParseYaml(yaml, "s.yaml", &diags);
  EXPECT_EQ(docs.size(), 1u);
  Reporter rep("s.yaml", &docs[0].marks, &diags);
  ValidateAgainstSchema(docs[0].root, schema, &rep);
  std::vector<std::string> out;
  for (const Diagnostic& d : diags) out.push_back(d.ToString());
  return out;
}

constexpr const char* kSchema = R"({
  "type": "object",
  "properties": {
    "spec": {
      "type": "object",
      "required": ["name"],
      "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^[a-z]+$"},
        "port": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 65535},
        "mode": {"type": "string", "enum": ["A", "B"]},
        "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
        "target": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        "any": {"type": ""}
      }
    }
  }
})";

TEST(SchemaTest, ValidObjectHasNoErrors) {
  EXPECT_TRUE(Check(kSchema,
                    "spec:\n  name: abc\n  port: 80\n  mode: A\n  tags: [x]\n  target: 50%\n"
                    "  labels: {a: b}\n  free: {x: {y: 1}}\n  any: [1, true]\n")
                  .empty());
}

TEST(SchemaTest, EachRuleReportsWithPosition) {
  auto errs = Check(kSchema,
                    "spec:\n"
                    "  name: ABCDEFG\n"
                    "  port: 70000\n"
                    "  mode: C\n"
                    "  tags: [a, b, c]\n"
                    "  target: 1.5\n"
                    "  labels: {a: 1}\n"
                    "  extra: 1\n");
  std::vector<std::string> want = {
      "s.yaml:2:9: spec.name: must be at most 5 characters long, got 7",
      "s.yaml:2:9: spec.name: must match the pattern \"^[a-z]+$\", got \"ABCDEFG\"",
      "s.yaml:3:9: spec.port: must be in 1..65535, got 70000",
      "s.yaml:4:9: spec.mode: must be one of \"A\", \"B\"; got string \"C\"",
      "s.yaml:5:9: spec.tags: must have at most 2 items, got 3",
      "s.yaml:6:11: spec.target: must be an integer or a string, got number 1.5",
      "s.yaml:7:15: spec.labels.a: must be of type string, got integer 1",
      "s.yaml:8:3: spec.extra: unknown field \"extra\"",
  };
  std::sort(errs.begin(), errs.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(errs, want);
}

TEST(SchemaTest, MissingRequiredFieldPointsAtParent) {
  auto errs = Check(kSchema, "spec:\n  port: 1\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0], "s.yaml:2:3: spec.name: required field is missing");
}

TEST(SchemaTest, WrongTypeStopsDescent) {
  auto errs = Check(kSchema, "spec: [1]\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0], "s.yaml:1:7: spec: must be of type object, got array");
}

TEST(SchemaTest, DefaultsFillNestedObjects) {
  json::object schema = json::parse(R"({"type":"object","properties":{"a":{"type":"object",
      "default":{"b":{}},"properties":{"b":{"type":"object","properties":{"c":{"type":"string",
      "default":"x"}}}}},"d":{"type":"integer","default":3}}})").as_object();
  json::value v = json::object{{"d", 7}};
  ApplySchemaDefaults(&v, schema);
  EXPECT_EQ(json::serialize(v), R"({"d":7,"a":{"b":{"c":"x"}}})");
}

TEST(SchemaTest, DropNullsRemovesEmptyValues) {
  json::value v = json::parse(R"({"a":null,"b":{"c":null,"d":1},"e":[null]})");
  DropNulls(&v);
  EXPECT_EQ(v, json::parse(R"({"b":{"d":1},"e":[null]})"));
}

TEST(SchemaTest, EmbeddedSchemasCoverEveryKind) {
  for (auto [g, v, k] : {std::tuple{"core.openfunction.io", "v1beta1", "Function"},
                         {"core.openfunction.io", "v1beta2", "Function"},
                         {"networking.openfunction.io", "v1alpha1", "Gateway"},
                         {"events.openfunction.io", "v1alpha1", "EventSource"},
                         {"events.openfunction.io", "v1alpha1", "EventBus"},
                         {"events.openfunction.io", "v1alpha1", "ClusterEventBus"},
                         {"events.openfunction.io", "v1alpha1", "Trigger"}}) {
    EXPECT_NE(FindSchema(g, v, k), nullptr) << g << "/" << v << " " << k;
  }
  EXPECT_EQ(FindSchema("core.openfunction.io", "v1alpha1", "Function"), nullptr);
}

}  // namespace
}  // namespace ofn::spec::internal
