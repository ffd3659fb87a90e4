// Every YAML example of the seed documents (tests/data/seeds/verbatim, as
// extracted; see tests/data/seeds/README.md). Complete, valid examples must
// validate; fragments and examples that contradict the CRDs must fail with
// exactly the expected errors; their completed forms (seeds/completed) must
// validate.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "libofn/spec/object.h"
#include "tests/unit/test_util.h"

namespace ofn::spec {
namespace {

using ofn::testing::YamlFiles;

// "path: message-start" of each expected error, per verbatim file. Files not
// listed must validate.
const std::map<std::string, std::vector<std::string>>& ExpectedErrors() {
  static const auto* m = new std::map<std::string, std::vector<std::string>>{
      // indentation error in the seed (one space too many before hostnames)
      {"000_03.yaml", {": invalid YAML"}},
      {"001_26.yaml", {": invalid YAML"}},
      // fragments without spec.image (and build without srcRepo / builder)
      {"001_06.yaml", {"spec.build.builder: one of", "spec.image: required"}},
      {"001_07.yaml", {"spec.build.builder: one of", "spec.build.srcRepo: required", "spec.image: required"}},
      {"001_08.yaml", {"spec.build.srcRepo: required", "spec.image: required"}},
      {"001_09.yaml", {"spec.build.srcRepo: required", "spec.image: required"}},
      {"001_10.yaml", {"spec.build.srcRepo: required", "spec.image: required"}},
      {"001_11.yaml", {"spec.image: required"}},
      {"001_12.yaml", {"spec.image: required"}},
      {"001_13.yaml", {"spec.image: required"}},
      {"001_16.yaml", {"spec.image: required"}},
      {"001_17.yaml", {"spec.image: required"}},
      {"001_18.yaml", {"spec.image: required"}},
      {"001_19.yaml", {"spec.image: required"}},
      // "..." placeholders
      {"001_14.yaml", {": invalid YAML"}},
      {"001_15.yaml", {": invalid YAML"}},
      {"001_28.yaml", {"spec.build: must be of type object", "spec.image: required",
                       "spec.serving: must be of type object"}},
      // outputs[].dapr.component is not a v1beta2 field (it is `name`)
      {"001_23.yaml", {"spec.serving.outputs[0].dapr.component: unknown field",
                       "spec.serving.outputs[0].dapr.name: required"}},
      // seed 003: fields written at spec level that v1beta1 has under serving
      {"003_42.yaml", {"spec.params: unknown field"}},
      {"003_43.yaml", {"spec.annotations: unknown field", "spec.inputs: unknown field",
                       "spec.params: unknown field", "spec.template: unknown field"}},
      {"003_44.yaml", {"spec.bindings: unknown field", "spec.outputs: unknown field",
                       "spec.params: unknown field"}},
  };
  return *m;
}

TEST(SeedsTest, VerbatimExamplesValidateOrFailAsExpected) {
  std::vector<std::string> files = YamlFiles("seeds/verbatim");
  ASSERT_EQ(files.size(), 44u);
  int ok = 0;
  for (const std::string& file : files) {
    std::string base = std::filesystem::path(file).filename().string();
    ParseResult r = ParseManifestFile(file);
    std::vector<std::string> errors;
    for (const Diagnostic& d : r.diagnostics) {
      if (d.severity == Severity::kError) errors.push_back(d.path + ": " + d.message);
    }
    std::sort(errors.begin(), errors.end());
    auto it = ExpectedErrors().find(base);
    if (it == ExpectedErrors().end()) {
      EXPECT_TRUE(errors.empty()) << base << ": " << ::testing::PrintToString(errors);
      EXPECT_EQ(r.objects.size(), 1u) << base;
      ++ok;
      continue;
    }
    ASSERT_EQ(errors.size(), it->second.size()) << base << ": " << ::testing::PrintToString(errors);
    for (size_t i = 0; i < errors.size(); ++i) {
      EXPECT_EQ(errors[i].rfind(it->second[i], 0), 0u) << base << ": " << errors[i];
    }
    for (const Diagnostic& d : r.diagnostics) {
      EXPECT_GT(d.line, 0) << base << ": every error has a position: " << d.ToString();
    }
  }
  EXPECT_EQ(ok, 23);
}

TEST(SeedsTest, CompletedFragmentsValidate) {
  std::vector<std::string> files = YamlFiles("seeds/completed");
  EXPECT_EQ(files.size(), 21u);
  for (const std::string& file : files) {
    ParseResult r = ParseManifestFile(file);
    EXPECT_TRUE(r.ok()) << file;
    EXPECT_EQ(r.objects.size(), 1u) << file;
  }
}

TEST(SeedsTest, TheTwoDocumentedFormsOnlyWarn) {
  for (const char* f : {"seeds/verbatim/001_32.yaml", "seeds/completed/001_07.yaml"}) {
    ParseResult r = ParseManifestFile(ofn::testing::DataPath(f));
    ASSERT_TRUE(r.ok()) << f;
    ASSERT_FALSE(r.diagnostics.empty());
    for (const Diagnostic& d : r.diagnostics) {
      EXPECT_EQ(d.severity, Severity::kWarning);
      EXPECT_GT(d.line, 0);
    }
  }
}

}  // namespace
}  // namespace ofn::spec
