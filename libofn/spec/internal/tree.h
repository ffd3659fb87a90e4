// The generic document tree every manifest is parsed into, with the source
// position of each node, and the context that turns a field path into a
// located Diagnostic. Internal to libofn.
#ifndef LIBOFN_SPEC_INTERNAL_TREE_H_
#define LIBOFN_SPEC_INTERNAL_TREE_H_

#include <boost/json/value.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "libofn/spec/diagnostic.h"

namespace ofn::spec::internal {

namespace json = boost::json;

struct Mark {
  int line = 0;    // 1-based, 0 = unknown
  int column = 0;  // 1-based
};

// Where each node of a document came from, keyed by field path.
class SourceMap {
 public:
  void SetValue(const std::string& path, Mark m) { value_[path] = m; }
  void SetKey(const std::string& path, Mark m) { key_[path] = m; }
  // The value's position; else the key's; else the nearest ancestor's.
  Mark Find(std::string_view path) const;
  // The key's position when the path names a mapping entry; else Find().
  Mark FindKey(std::string_view path) const;
  // A copy holding only paths under `prefix`, re-rooted (for List items).
  SourceMap Sub(const std::string& prefix) const;
  // Copies the marks under `from` to the same places under `to` (an alias
  // has the marks of what the node it repeats holds).
  void Graft(const std::string& from, const std::string& to);

 private:
  std::unordered_map<std::string, Mark> value_;
  std::unordered_map<std::string, Mark> key_;
};

// "a" + "b" -> "a.b"; keys that are not identifiers use brackets: "a[x.y/z]".
std::string JoinPath(std::string_view parent, std::string_view key);
std::string IndexPath(std::string_view parent, size_t index);
// The parent of a path: "a.b[2].c" -> "a.b[2]"; "a" -> "".
std::string ParentPath(std::string_view path);

// Collects diagnostics for one document.
class Reporter {
 public:
  Reporter(std::string file, const SourceMap* marks, std::vector<Diagnostic>* out)
      : file_(std::move(file)), marks_(marks), out_(out) {}

  void Error(const std::string& path, std::string message);
  void ErrorAtKey(const std::string& path, std::string message);
  void Warning(const std::string& path, std::string message);
  void ErrorAt(Mark m, const std::string& path, std::string message);
  int errors() const { return errors_; }
  const std::string& file() const { return file_; }

 private:
  void Add(Severity s, Mark m, const std::string& path, std::string message);
  std::string file_;
  const SourceMap* marks_;
  std::vector<Diagnostic>* out_;
  int errors_ = 0;
};

struct Document {
  json::value root;
  SourceMap marks;
  Mark start;
};

// Parses YAML (any number of documents) or JSON. Syntax errors, duplicate
// keys and non-scalar keys are reported; documents with errors are dropped.
// Plain scalars resolve as YAML 1.1 does (what kubectl and PyYAML do): null,
// booleans (true/false/yes/no/on/off), integers, floats; anything quoted is a
// string.
std::vector<Document> ParseYaml(std::string_view text, const std::string& file,
                                std::vector<Diagnostic>* diags);

// Short description of a value for messages: `string "abc"`, `integer 7`.
std::string Describe(const json::value& v);
std::string TypeName(const json::value& v);

}  // namespace ofn::spec::internal

#endif  // LIBOFN_SPEC_INTERNAL_TREE_H_
