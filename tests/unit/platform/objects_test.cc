// Stored records as the API shows them: the same canonical JSON whether the
// stored spec and status are copied as they are or parsed and written again.
#include "libofn/platform/internal/objects.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "libofn/spec/internal/emit.h"

namespace ofn::platform::internal {
namespace {

namespace json = boost::json;

store::Record Function(std::string spec, std::string status) {
  store::Record r;
  r.kind = "Function";
  r.api_version = "core.openfunction.io/v1beta2";
  r.ns = "default";
  r.name = "hello";
  r.uid = "u-1";
  r.generation = 2;
  r.resource_version = 41;
  r.creation_time = 1'700'000'000'000'000'000;
  r.spec = std::move(spec);
  r.status = std::move(status);
  return r;
}

// What the general path writes: the object parsed, keys sorted.
std::string Rewritten(const std::string& text) { return spec::internal::EmitJson(json::parse(text), false); }

TEST(ObjectInfoTest, CopiedAndRewrittenTextAreTheSame) {
  const std::string spec = R"({"image":"ofn.local/hello:latest","serving":{"params":{"A":"1"},"scaleOptions":{"maxReplicas":3}}})";
  const std::string status = R"({"serving":{"resourceRef":"hello-00001","state":"Running"}})";
  for (int variant = 0; variant < 6; ++variant) {
    store::Record r = Function(spec, variant % 2 ? status : "{}");
    if (variant >= 2) {
      r.labels = {{"app", "x"}, {"b", "q\"uote"}};
      r.annotations = {{"ofn.io/backend", "inprocess"}};
      r.finalizers = {"f/1", "f/2"};
    }
    if (variant >= 4) {
      r.ns.clear();
      r.deletion_time = 1'700'000'100'000'000'000;
    }
    ObjectInfo copied = ToObjectInfo(r);
    EXPECT_EQ(copied.json, Rewritten(copied.json)) << variant;
    // The same record with a spec that is not canonical text (a space)
    // takes the general path, and gives the same bytes.
    r.spec = " " + r.spec;
    EXPECT_EQ(ToObjectInfo(r).json, copied.json) << variant;
    json::value v = json::parse(copied.json);
    EXPECT_EQ(v.at("metadata").at("name"), "hello");
    EXPECT_EQ(v.at("metadata").at("resourceVersion"), "41");
    EXPECT_EQ(v.at("spec").at("serving").at("scaleOptions").at("maxReplicas"), 3);
    EXPECT_EQ(v.as_object().contains("status"), variant % 2 == 1);
    if (variant >= 2) {
      EXPECT_EQ(v.at("metadata").at("labels").at("b"), "q\"uote");
    }
  }
}

TEST(ObjectInfoTest, SpecsThatAreNotCanonicalAreWrittenCanonically) {
  // A fraction and an escaped string: parsed and written again.
  store::Record r = Function(R"({"b":{"x":1.5},"a":"say \"hi\""})", R"({"z":1, "y":2})");
  ObjectInfo o = ToObjectInfo(r);
  EXPECT_EQ(o.json, Rewritten(o.json));
  json::value v = json::parse(o.json);
  EXPECT_EQ(v.at("spec").at("a"), "say \"hi\"");
  EXPECT_EQ(v.at("spec").at("b").at("x"), 1.5);
  EXPECT_EQ(v.at("status").at("y"), 2);
}

}  // namespace
}  // namespace ofn::platform::internal
