// Object: one parsed, defaulted and validated manifest (Function, Gateway,
// EventSource, EventBus, ClusterEventBus, Trigger), in its storage version.
//
//   auto r = ofn::spec::ParseManifests(text, "fn.yaml");
//   if (!r.ok()) for (auto& d : r.diagnostics) puts(d.ToString().c_str());
//
// Objects are immutable values; copies share the tree. Thread-safe to share.
#ifndef LIBOFN_SPEC_OBJECT_H_
#define LIBOFN_SPEC_OBJECT_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "libofn/common/status.h"
#include "libofn/spec/diagnostic.h"

namespace ofn::spec {

namespace internal {
struct ObjectData;
}

class Object {
 public:
  Object();

  const std::string& api_version() const { return api_version_; }
  const std::string& kind() const { return kind_; }
  const std::string& name() const { return name_; }
  // Empty for cluster-scoped kinds (ClusterEventBus).
  const std::string& ns() const { return ns_; }
  // "kind/name" as `ofn validate` prints it, e.g. "Function/hello".
  std::string Ref() const { return kind_ + "/" + name_; }

  std::string ToYaml() const;
  std::string ToJson(bool pretty = false) const;
  // Parts as canonical JSON (sorted keys); "{}" / "null" when absent.
  std::string SpecJson() const;
  std::string StatusJson() const;
  std::string MetadataJson() const;

  // libofn internals only.
  const internal::ObjectData& data() const { return *d_; }
  explicit Object(std::shared_ptr<const internal::ObjectData> d);

  friend bool operator==(const Object& a, const Object& b);

 private:
  std::shared_ptr<const internal::ObjectData> d_;
  std::string api_version_, kind_, name_, ns_;
};

struct ParseOptions {
  // Namespace given to namespaced objects that name none.
  std::string default_namespace = "default";
  // The absolute directory the text came from ("" = unknown). A Function
  // whose container names a relative workingDir gets it as the annotation
  // ofn.io/base-dir, and a relative workingDir is taken from there.
  std::string base_dir;
};

struct ParseResult {
  std::vector<Object> objects;          // the documents that had no error
  std::vector<Diagnostic> diagnostics;  // every error and warning, in order
  bool ok() const { return !HasErrors(diagnostics); }
};

// Parses one text holding any number of YAML documents (or JSON; `kind: List`
// wrappers are unpacked). `file` is used only in diagnostics.
ParseResult ParseManifests(std::string_view text, const std::string& file,
                           const ParseOptions& options = {});
// Reads and parses a file; an unreadable file is one error diagnostic.
ParseResult ParseManifestFile(const std::string& path, const ParseOptions& options = {});

// The kinds libofn reads, as "group/version Kind" lines (served versions).
std::vector<std::string> KnownKinds();

}  // namespace ofn::spec

#endif  // LIBOFN_SPEC_OBJECT_H_
