// The parse pipeline: YAML -> tree -> metadata checks -> seed-form
// normalization -> CRD schema -> conversion to the storage version -> schema
// and webhook defaults -> webhook validation -> Object.
#include <boost/json.hpp>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <tuple>
#include <set>
#include <sstream>

#include "libofn/common/regex.h"
#include "libofn/spec/internal/emit.h"
#include "libofn/spec/internal/kinds.h"
#include "libofn/spec/internal/schema.h"
#include "libofn/spec/internal/tree.h"
#include "libofn/spec/object.h"
#include "libofn/spec/workload.h"

namespace ofn::spec {

namespace json = boost::json;
using internal::KindRules;
using internal::Reporter;

std::string Diagnostic::ToString() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (severity == Severity::kWarning) out += "warning: ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

bool HasErrors(const std::vector<Diagnostic>& diags) {
  for (const Diagnostic& d : diags) {
    if (d.severity == Severity::kError) return true;
  }
  return false;
}

namespace {

const std::set<std::string, std::less<>>& MetadataFields() {
  static const auto* fields = new std::set<std::string, std::less<>>{
      "name", "namespace", "labels", "annotations", "generateName", "uid", "resourceVersion",
      "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
      "finalizers", "ownerReferences", "managedFields", "selfLink"};
  return *fields;
}

bool IsQualifiedName(std::string_view key) {
  static const auto name_re = Regex::MustCompile("([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]");
  std::string_view name = key;
  size_t slash = key.find('/');
  if (slash != std::string_view::npos) {
    std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (!internal::IsDns1123Subdomain(prefix)) return false;
  }
  return !name.empty() && name.size() <= 63 && name_re->FullMatch(name);
}

void CheckStringMap(const json::object& meta, std::string_view field, bool label_values,
                    Reporter* rep) {
  const json::value* v = meta.if_contains(field);
  if (!v) return;
  std::string path = internal::JoinPath("metadata", field);
  if (!v->is_object()) {
    rep->Error(path, "must be a map of strings, got " + internal::Describe(*v));
    return;
  }
  static const auto value_re = Regex::MustCompile("(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?");
  for (const auto& [key, val] : v->as_object()) {
    std::string child = internal::JoinPath(path, key);
    if (!IsQualifiedName(key)) {
      rep->ErrorAtKey(child, "invalid key: must be a qualified name ([prefix/]name, name up to 63 "
                             "alphanumeric characters, '-', '_' or '.')");
    }
    if (!val.is_string()) {
      rep->Error(child, "must be of type string, got " + internal::Describe(val));
      continue;
    }
    if (label_values) {
      std::string_view s = val.as_string();
      if (s.size() > 63 || !value_re->FullMatch(s)) {
        rep->Error(child, "invalid label value \"" + std::string(s) + "\"");
      }
    }
  }
}

// Checks metadata and sets its namespace; returns false when the object
// cannot go further (no usable name).
void CheckMetadata(json::object& root, const KindRules& rules, const ParseOptions& options,
                   Reporter* rep) {
  json::value* mv = root.if_contains("metadata");
  if (!mv) {
    rep->Error("metadata.name", "required field is missing");
    return;
  }
  if (!mv->is_object()) {
    rep->Error("metadata", "must be of type object, got " + internal::Describe(*mv));
    return;
  }
  json::object& meta = mv->as_object();
  for (const auto& kv : meta) {
    if (!MetadataFields().contains(kv.key())) {
      rep->ErrorAtKey(internal::JoinPath("metadata", kv.key()),
                      "unknown field \"" + std::string(kv.key()) + "\"");
    }
  }
  const json::value* name = meta.if_contains("name");
  if (!name) {
    rep->Error("metadata.name", "required field is missing");
  } else if (!name->is_string()) {
    rep->Error("metadata.name", "must be of type string, got " + internal::Describe(*name));
  } else if (rules.name_is_label && !internal::IsDns1123Label(name->as_string())) {
    rep->Error("metadata.name", "\"" + std::string(name->as_string()) +
                                    "\" is not a DNS-1123 label (lower case alphanumerics and '-', "
                                    "starting and ending with an alphanumeric, at most 63)");
  } else if (!internal::IsDns1123Subdomain(name->as_string())) {
    rep->Error("metadata.name", "\"" + std::string(name->as_string()) +
                                    "\" is not a DNS-1123 subdomain (lower case alphanumerics, "
                                    "'-' and '.', at most 253)");
  }
  if (const json::value* ns = meta.if_contains("namespace")) {
    if (!ns->is_string()) {
      rep->Error("metadata.namespace", "must be of type string, got " + internal::Describe(*ns));
    } else if (!rules.namespaced) {
      rep->Warning("metadata.namespace", std::string(rules.kind) +
                                             " is cluster-scoped; the namespace is ignored");
      meta.erase("namespace");
    } else if (!internal::IsDns1123Label(ns->as_string())) {
      rep->Error("metadata.namespace",
                 "\"" + std::string(ns->as_string()) + "\" is not a DNS-1123 label");
    }
  } else if (rules.namespaced) {
    meta["namespace"] = options.default_namespace;
  }
  CheckStringMap(meta, "labels", true, rep);
  CheckStringMap(meta, "annotations", false, rep);
  if (const json::value* f = meta.if_contains("finalizers")) {
    bool ok = f->is_array();
    if (ok) {
      for (const json::value& item : f->as_array()) ok = ok && item.is_string();
    }
    if (!ok) rep->Error("metadata.finalizers", "must be a list of strings");
  }
}

void ProcessDocument(json::value root, const internal::SourceMap& marks, const std::string& file,
                     const ParseOptions& options, ParseResult* result);

// A relative workingDir of the function container means the manifest's
// directory, as a path in a file does; the directory goes with the Function
// as the annotation ofn.io/base-dir (unless the manifest sets one).
void RecordBaseDir(json::object& root, const std::string& base_dir) {
  if (base_dir.empty()) return;
  const json::value* containers = nullptr;
  if (const json::object* tmpl = internal::ObjectAt(root, {"spec", "serving", "template"})) {
    containers = tmpl->if_contains("containers");
  }
  if (!containers || !containers->is_array()) return;
  bool relative = false;
  for (const json::value& c : containers->as_array()) {
    const json::object* co = c.if_object();
    if (!co || internal::StringOr(co, "name", "") != "function") continue;
    std::string_view dir = internal::StringOr(co, "workingDir", "");
    relative = !dir.empty() && dir.front() != '/';
  }
  if (!relative) return;
  json::object& meta = root["metadata"].as_object();
  json::value& annotations = meta["annotations"];
  if (!annotations.is_object()) annotations = json::object();
  annotations.as_object().emplace(kBaseDirAnnotation, base_dir);
}

void ProcessList(json::object& root, const internal::SourceMap& marks, const std::string& file,
                 const ParseOptions& options, ParseResult* result) {
  json::value* items = root.if_contains("items");
  if (!items || !items->is_array()) {
    Reporter rep(file, &marks, &result->diagnostics);
    rep.Error("items", "a List must hold an array of objects in items");
    return;
  }
  for (size_t i = 0; i < items->as_array().size(); ++i) {
    std::string prefix = internal::IndexPath("items", i);
    ProcessDocument(items->as_array()[i], marks.Sub(prefix), file, options, result);
  }
}

void ProcessDocument(json::value root, const internal::SourceMap& marks, const std::string& file,
                     const ParseOptions& options, ParseResult* result) {
  Reporter rep(file, &marks, &result->diagnostics);
  if (root.is_null()) return;  // empty document
  if (!root.is_object()) {
    rep.Error("", "a manifest must be a mapping, got " + internal::Describe(root));
    return;
  }
  json::object& obj = root.as_object();
  const json::value* av = obj.if_contains("apiVersion");
  const json::value* kv = obj.if_contains("kind");
  if (!av || !av->is_string() || av->as_string().empty()) {
    rep.Error("apiVersion", av ? "must be a non-empty string" : "required field is missing");
  }
  if (!kv || !kv->is_string() || kv->as_string().empty()) {
    rep.Error("kind", kv ? "must be a non-empty string" : "required field is missing");
  }
  if (rep.errors()) return;
  std::string api_version(av->as_string());
  std::string kind(kv->as_string());
  if (kind == "List" || (kind.size() > 4 && kind.ends_with("List") && obj.contains("items"))) {
    ProcessList(obj, marks, file, options, result);
    return;
  }
  size_t slash = api_version.find('/');
  std::string group = slash == std::string::npos ? "" : api_version.substr(0, slash);
  std::string version = slash == std::string::npos ? api_version : api_version.substr(slash + 1);
  const KindRules* rules = internal::FindKind(group, kind);
  if (!rules) {
    std::string known;
    for (const std::string& k : KnownKinds()) known += (known.empty() ? "" : "; ") + k;
    rep.Error("kind", "unknown kind " + kind + " in " + api_version + " (libofn reads: " + known + ")");
    return;
  }
  bool served = false;
  std::string served_list;
  for (std::string_view v : rules->versions) {
    served = served || v == version;
    served_list += (served_list.empty() ? "" : ", ") + std::string(v);
  }
  if (!served) {
    rep.Error("apiVersion", "version " + version + " of " + kind + " is not served (served: " +
                                served_list + ")");
    return;
  }
  CheckMetadata(obj, *rules, options, &rep);
  if (rules->normalize) rules->normalize(obj, version, &rep);
  internal::DropNulls(&root);
  const json::object* schema = internal::FindSchema(group, version, kind);
  if (!schema) {
    rep.Error("apiVersion", "no schema for " + api_version + " " + kind);
    return;
  }
  internal::ValidateAgainstSchema(root, *schema, &rep);
  // A schema-invalid object in the storage version still gets the webhook
  // checks, so that every error of the document is reported at once.
  if (rep.errors() && version != rules->storage_version()) return;
  if (version != rules->storage_version()) {
    if (rules->convert) rules->convert(obj, version, &rep);
    obj["apiVersion"] = std::string(group) + "/" + std::string(rules->storage_version());
    if (rep.errors()) return;
    const json::object* storage =
        internal::FindSchema(group, rules->storage_version(), kind);
    internal::DropNulls(&root);
    internal::ValidateAgainstSchema(root, *storage, &rep);
    if (rep.errors()) return;
    schema = storage;
  }
  int schema_errors = rep.errors();
  internal::ApplySchemaDefaults(&root, *schema);
  if (rules->defaults) rules->defaults(obj);
  if (rules->validate) rules->validate(obj, &rep);
  if (rep.errors()) return;
  // Defaults must leave a schema-valid object; anything else is our bug.
  if (schema_errors == 0) internal::ValidateAgainstSchema(root, *schema, &rep);
  if (rep.errors()) return;
  if (kind == "Function") RecordBaseDir(obj, options.base_dir);
  auto data = std::make_shared<internal::ObjectData>();
  data->root = internal::Canonical(root);
  result->objects.emplace_back(std::move(data));
}

}  // namespace

Object::Object() : d_(std::make_shared<internal::ObjectData>()) {}

Object::Object(std::shared_ptr<const internal::ObjectData> d) : d_(std::move(d)) {
  const json::object* root = d_->root.if_object();
  if (!root) return;
  api_version_ = std::string(internal::StringOr(root, "apiVersion", ""));
  kind_ = std::string(internal::StringOr(root, "kind", ""));
  const json::object* meta = internal::ObjectAt(*root, {"metadata"});
  name_ = std::string(internal::StringOr(meta, "name", ""));
  ns_ = std::string(internal::StringOr(meta, "namespace", ""));
}

std::string Object::ToYaml() const { return internal::EmitYaml(d_->root); }
std::string Object::ToJson(bool pretty) const { return internal::EmitJson(d_->root, pretty); }

static std::string PartJson(const json::value& root, std::string_view key, const char* absent) {
  const json::value* v = root.is_object() ? root.as_object().if_contains(key) : nullptr;
  return v ? internal::EmitJson(*v, false) : absent;
}

std::string Object::SpecJson() const {
  const json::object* root = d_->root.if_object();
  if (root) {
    std::string_view av = internal::StringOr(root, "apiVersion", "");
    size_t slash = av.find('/');
    const internal::KindRules* rules = internal::FindKind(slash == std::string_view::npos ? "" : av.substr(0, slash),
                                                          internal::StringOr(root, "kind", ""));
    if (rules && rules->body_at_root) {
      json::object body;
      for (const auto& kv : *root) {
        if (kv.key() != "apiVersion" && kv.key() != "kind" && kv.key() != "metadata" && kv.key() != "status") {
          body.emplace(kv.key(), kv.value());
        }
      }
      return internal::EmitJson(body, false);
    }
  }
  return PartJson(d_->root, "spec", "{}");
}
std::string Object::StatusJson() const { return PartJson(d_->root, "status", "{}"); }
std::string Object::MetadataJson() const { return PartJson(d_->root, "metadata", "{}"); }

bool operator==(const Object& a, const Object& b) { return a.d_->root == b.d_->root; }

ParseResult ParseManifests(std::string_view text, const std::string& file,
                           const ParseOptions& options) {
  ParseResult result;
  std::vector<internal::Document> docs = internal::ParseYaml(text, file, &result.diagnostics);
  for (internal::Document& doc : docs) {
    size_t first = result.diagnostics.size();
    ProcessDocument(std::move(doc.root), doc.marks, file, options, &result);
    // Report a document's findings top to bottom.
    std::stable_sort(result.diagnostics.begin() + static_cast<std::ptrdiff_t>(first),
                     result.diagnostics.end(), [](const Diagnostic& a, const Diagnostic& b) {
                       return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                     });
  }
  return result;
}

ParseResult ParseManifestFile(const std::string& path, const ParseOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ParseResult r;
    r.diagnostics.push_back(
        Diagnostic{Severity::kError, path, 0, 0, "", "cannot read file: " + std::string(std::strerror(errno))});
    return r;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseManifests(ss.str(), path, options);
}

std::vector<std::string> KnownKinds() {
  std::vector<std::string> out;
  for (const KindRules& k : internal::AllKinds()) {
    std::string versions;
    for (std::string_view v : k.versions) versions += (versions.empty() ? "" : ",") + std::string(v);
    std::string group = k.group.empty() ? "" : std::string(k.group) + "/";
    out.push_back(group + versions + " " + std::string(k.kind));
  }
  return out;
}

}  // namespace ofn::spec
