#include "libofn/spec/internal/tree.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace ofn::spec::internal {
namespace {

json::value ParseOne(std::string_view text, std::vector<Diagnostic>* diags = nullptr) {
  std::vector<Diagnostic> local;
  auto docs = ParseYaml(text, "t.yaml", diags ? diags : &local);
  return docs.empty() ? json::value() : docs[0].root;
}

TEST(TreeTest, PlainScalarsResolveLikeYaml11) {
  json::value v = ParseOne(
      "a: yes\nb: 'yes'\nc: 8080\nd: \"8080\"\ne: 0x1F\nf: 1.5\ng: ~\nh: off\ni: v1.0.0\nj: 1e5\nk: 010\n");
  const json::object& o = v.as_object();
  EXPECT_EQ(o.at("a"), json::value(true));
  EXPECT_EQ(o.at("b"), json::value("yes"));
  EXPECT_EQ(o.at("c"), json::value(8080));
  EXPECT_EQ(o.at("d"), json::value("8080"));
  EXPECT_EQ(o.at("e"), json::value(31));
  EXPECT_EQ(o.at("f"), json::value(1.5));
  EXPECT_TRUE(o.at("g").is_null());
  EXPECT_EQ(o.at("h"), json::value(false));
  EXPECT_EQ(o.at("i"), json::value("v1.0.0"));
  EXPECT_EQ(o.at("j"), json::value("1e5"));  // YAML 1.1 floats need a dot
  EXPECT_EQ(o.at("k"), json::value(8));      // leading zero: octal
}

TEST(TreeTest, BlockScalarsAreStrings) {
  json::value v = ParseOne("a: |\n  type: source\n  x: 1\nb: >-\n  folded\n  text\n");
  EXPECT_EQ(v.as_object().at("a"), json::value("type: source\nx: 1\n"));
  EXPECT_EQ(v.as_object().at("b"), json::value("folded text"));
}

TEST(TreeTest, DuplicateKeyIsAnErrorWithPosition) {
  std::vector<Diagnostic> diags;
  auto docs = ParseYaml("spec:\n  image: a\n  image: b\n", "d.yaml", &diags);
  EXPECT_TRUE(docs.empty());
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].ToString(), "d.yaml:3:3: spec.image: duplicate key \"image\"");
}

TEST(TreeTest, SyntaxErrorNamesLineAndColumn) {
  std::vector<Diagnostic> diags;
  auto docs = ParseYaml("a:\n  b: 1\n c: 2\n", "s.yaml", &diags);
  EXPECT_TRUE(docs.empty());
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].line, 3);
  EXPECT_NE(diags[0].message.find("invalid YAML"), std::string::npos);
}

TEST(TreeTest, MultipleDocumentsAndJson) {
  std::vector<Diagnostic> diags;
  auto docs = ParseYaml("a: 1\n---\n{\"b\": [1, \"x\"]}\n---\n", "m.yaml", &diags);
  ASSERT_EQ(docs.size(), 3u);  // the empty third document is null
  EXPECT_EQ(docs[1].root.as_object().at("b").as_array()[1], json::value("x"));
  EXPECT_TRUE(docs[2].root.is_null());
  EXPECT_EQ(docs[1].start.line, 3);
}

TEST(TreeTest, MarksPointAtKeysAndValues) {
  std::vector<Diagnostic> diags;
  auto docs = ParseYaml("spec:\n  list:\n    - name: a\n      port: 1\n", "m.yaml", &diags);
  ASSERT_EQ(docs.size(), 1u);
  Mark v = docs[0].marks.Find("spec.list[0].port");
  EXPECT_EQ(v.line, 4);
  EXPECT_EQ(v.column, 13);
  Mark k = docs[0].marks.FindKey("spec.list[0].port");
  EXPECT_EQ(k.column, 7);
  // A path that does not exist falls back to its nearest ancestor.
  EXPECT_EQ(docs[0].marks.Find("spec.list[0].missing").line, 3);
}

TEST(TreeTest, AliasesRepeatTheirAnchorsValueAndMarks) {
  std::vector<Diagnostic> diags;
  auto docs = ParseYaml("base: &b\n  port: 8080\n  tags: [x, y]\nother: *b\nname: &n fn-1\nsame: *n\n", "a.yaml", &diags);
  ASSERT_EQ(docs.size(), 1u) << (diags.empty() ? "" : diags[0].ToString());
  const json::object& o = docs[0].root.as_object();
  EXPECT_EQ(o.at("other"), o.at("base"));
  EXPECT_EQ(o.at("same"), json::value("fn-1"));
  // What the alias holds points where the anchored node's content is.
  EXPECT_EQ(docs[0].marks.Find("other.port").line, 2);
  EXPECT_EQ(docs[0].marks.Find("other.tags[1]").line, 3);
  EXPECT_EQ(docs[0].marks.FindKey("other").line, 4);
}

TEST(TreeTest, KeysThatAreNotScalarsOrRepeatedThroughAnAliasAreErrorsWhereTheyAre) {
  std::vector<Diagnostic> diags;
  auto docs = ParseYaml("a: 1\n? [x, y]\n: dropped\nb: 2\n", "k.yaml", &diags);
  EXPECT_TRUE(docs.empty());
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].ToString(), "k.yaml:2:3: mapping keys must be scalars");
  diags.clear();
  docs = ParseYaml("&k key: 1\n*k : 2\n", "k.yaml", &diags);
  EXPECT_TRUE(docs.empty());
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].ToString(), "k.yaml:2:1: key: duplicate key \"key\"");
}

TEST(TreeTest, ATextThatMakesNoProgressIsRefusedWithoutDocuments) {
  std::vector<Diagnostic> diags;
  auto docs = ParseYaml("a: 1\n---\nb: {c: 1}\n---\n,\n", "p.yaml", &diags);
  EXPECT_TRUE(docs.empty());  // not the documents before it either
  ASSERT_FALSE(diags.empty());
  EXPECT_NE(diags[0].message.find("invalid YAML"), std::string::npos) << diags[0].message;
}

TEST(TreeTest, PathHelpers) {
  EXPECT_EQ(JoinPath("", "spec"), "spec");
  EXPECT_EQ(JoinPath("spec", "serving"), "spec.serving");
  EXPECT_EQ(JoinPath("metadata.annotations", "a.b/c"), "metadata.annotations[a.b/c]");
  EXPECT_EQ(IndexPath("spec.x", 3), "spec.x[3]");
  EXPECT_EQ(ParentPath("spec.x[3].y"), "spec.x[3]");
  EXPECT_EQ(ParentPath("spec.x[3]"), "spec.x");
  EXPECT_EQ(ParentPath("metadata.annotations[a.b/c]"), "metadata.annotations");
  EXPECT_EQ(ParentPath("spec"), "");
}

TEST(TreeTest, SubSourceMapRebasesListItems) {
  std::vector<Diagnostic> diags;
  auto docs = ParseYaml("items:\n- kind: A\n  spec:\n    x: 1\n", "l.yaml", &diags);
  SourceMap sub = docs[0].marks.Sub("items[0]");
  EXPECT_EQ(sub.Find("spec.x").line, 4);
  EXPECT_EQ(sub.Find("kind").line, 2);
}

}  // namespace
}  // namespace ofn::spec::internal
