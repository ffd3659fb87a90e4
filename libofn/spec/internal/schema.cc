#include "libofn/common/regex.h"
#include "libofn/spec/internal/schema.h"

#include <boost/json.hpp>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>

namespace ofn::spec::internal {
namespace {

using SchemaMap = std::map<std::string, json::object, std::less<>>;

const SchemaMap& Schemas() {
  static const SchemaMap* schemas = [] {
    auto* m = new SchemaMap();
    for (size_t i = 0; i < kEmbeddedSchemaCount; ++i) {
      (*m)[kEmbeddedSchemas[i].name] = json::parse(kEmbeddedSchemas[i].json).as_object();
    }
    return m;
  }();
  return *schemas;
}

// Compiled patterns, shared. The CRDs' patterns are Go regular expressions,
// which RE2 reads as Kubernetes does.
const Regex* Pattern(const std::string& p) {
  static std::mutex mu;
  static auto* cache = new std::map<std::string, std::shared_ptr<const Regex>>();
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache->find(p);
  if (it != cache->end()) return it->second.get();
  auto re = Regex::Compile(p);
  // A schema pattern RE2 cannot read is skipped (the schemas are ours).
  return cache->emplace(p, re.ok() ? *re : nullptr).first->second.get();
}

bool Flag(const json::object& s, std::string_view key) {
  const json::value* v = s.if_contains(key);
  return v && v->is_bool() && v->as_bool();
}

const json::object* Child(const json::object& s, std::string_view key) {
  const json::value* v = s.if_contains(key);
  return v && v->is_object() ? &v->as_object() : nullptr;
}

std::string Quote(std::string_view s) { return json::serialize(json::string(s)); }

bool AsNumber(const json::value& v, double* out) {
  if (v.is_int64()) *out = static_cast<double>(v.as_int64());
  else if (v.is_uint64()) *out = static_cast<double>(v.as_uint64());
  else if (v.is_double()) *out = v.as_double();
  else return false;
  return true;
}

std::string NumberText(double d) {
  if (std::floor(d) == d && std::fabs(d) < 1e15) return std::to_string(static_cast<long long>(d));
  return json::serialize(json::value(d));
}

bool TypeMatches(const json::value& v, std::string_view type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_bool();
  if (type == "integer") {
    if (v.is_int64() || v.is_uint64()) return true;
    return v.is_double() && std::floor(v.as_double()) == v.as_double();
  }
  if (type == "number") return v.is_number();
  return true;
}

void Validate(const json::value& v, const json::object& s, const std::string& path, bool root,
              Reporter* rep);

void ValidateObject(const json::object& obj, const json::object& s, const std::string& path,
                    bool root, Reporter* rep) {
  const json::object* props = Child(s, "properties");
  const json::value* additional = s.if_contains("additionalProperties");
  bool preserve = Flag(s, "x-kubernetes-preserve-unknown-fields");
  for (const auto& [key, value] : obj) {
    if (root && (key == "apiVersion" || key == "kind" || key == "metadata")) continue;
    std::string child = JoinPath(path, key);
    const json::value* ps = props ? props->if_contains(key) : nullptr;
    if (ps && ps->is_object()) {
      Validate(value, ps->as_object(), child, false, rep);
    } else if (additional && additional->is_object()) {
      Validate(value, additional->as_object(), child, false, rep);
    } else if (additional && additional->is_bool() && additional->as_bool()) {
      // anything goes
    } else if (!preserve) {
      rep->ErrorAtKey(child, "unknown field \"" + std::string(key) + "\"");
    }
  }
  if (const json::value* req = s.if_contains("required"); req && req->is_array()) {
    for (const json::value& r : req->as_array()) {
      if (!r.is_string()) continue;
      std::string_view name = r.as_string();
      if (root && (name == "apiVersion" || name == "kind" || name == "metadata")) continue;
      if (!obj.contains(name)) {
        rep->Error(JoinPath(path, name), "required field is missing");
      }
    }
  }
  if (const json::value* mp = s.if_contains("maxProperties"); mp && mp->is_int64()) {
    if (static_cast<int64_t>(obj.size()) > mp->as_int64()) {
      rep->Error(path, "must have at most " + std::to_string(mp->as_int64()) + " entries, got " +
                           std::to_string(obj.size()));
    }
  }
}

void Validate(const json::value& v, const json::object& s, const std::string& path, bool root,
              Reporter* rep) {
  if (Flag(s, "x-kubernetes-int-or-string")) {
    if (!v.is_int64() && !v.is_uint64() && !v.is_string()) {
      rep->Error(path, "must be an integer or a string, got " + Describe(v));
    }
    return;
  }
  if (const json::value* t = s.if_contains("type"); t && t->is_string() && !t->as_string().empty()) {
    std::string_view type = t->as_string();
    if (!TypeMatches(v, type)) {
      rep->Error(path, "must be of type " + std::string(type) + ", got " + Describe(v));
      return;
    }
  }
  if (const json::value* e = s.if_contains("enum"); e && e->is_array()) {
    bool found = false;
    for (const json::value& option : e->as_array()) found = found || option == v;
    if (!found) {
      std::string options;
      for (const json::value& option : e->as_array()) {
        if (!options.empty()) options += ", ";
        options += json::serialize(option);
      }
      rep->Error(path, "must be one of " + options + "; got " + Describe(v));
    }
  }
  double num = 0;
  if (AsNumber(v, &num)) {
    const json::value* mn = s.if_contains("minimum");
    const json::value* mx = s.if_contains("maximum");
    double lo = 0, hi = 0;
    bool has_lo = mn && AsNumber(*mn, &lo), has_hi = mx && AsNumber(*mx, &hi);
    if (const json::value* f = s.if_contains("format"); f && f->is_string() && f->as_string() == "int32") {
      if (!has_lo) lo = -2147483648.0;
      if (!has_hi) hi = 2147483647.0;
      has_lo = has_hi = true;
    }
    if ((has_lo && num < lo) || (has_hi && num > hi)) {
      rep->Error(path, "must be in " + NumberText(lo) + ".." + NumberText(hi) + ", got " +
                           json::serialize(v));
    }
  }
  if (v.is_string()) {
    const json::string& str = v.as_string();
    if (const json::value* m = s.if_contains("minLength"); m && m->is_int64() &&
                                                          static_cast<int64_t>(str.size()) < m->as_int64()) {
      rep->Error(path, m->as_int64() == 1 ? std::string("must not be empty")
                                          : "must be at least " + std::to_string(m->as_int64()) +
                                                " characters long");
    }
    if (const json::value* m = s.if_contains("maxLength"); m && m->is_int64() &&
                                                          static_cast<int64_t>(str.size()) > m->as_int64()) {
      rep->Error(path, "must be at most " + std::to_string(m->as_int64()) +
                           " characters long, got " + std::to_string(str.size()));
    }
    if (const json::value* p = s.if_contains("pattern"); p && p->is_string()) {
      const Regex* re = Pattern(std::string(p->as_string()));
      if (re && !re->PartialMatch(str)) {
        rep->Error(path, "must match the pattern " + Quote(p->as_string()) + ", got " + Quote(str));
      }
    }
  }
  if (v.is_array()) {
    const json::array& arr = v.as_array();
    if (const json::value* m = s.if_contains("maxItems"); m && m->is_int64() &&
                                                          static_cast<int64_t>(arr.size()) > m->as_int64()) {
      rep->Error(path, "must have at most " + std::to_string(m->as_int64()) + " items, got " +
                           std::to_string(arr.size()));
    }
    if (const json::value* m = s.if_contains("minItems"); m && m->is_int64() &&
                                                          static_cast<int64_t>(arr.size()) < m->as_int64()) {
      rep->Error(path, "must have at least " + std::to_string(m->as_int64()) + " items, got " +
                           std::to_string(arr.size()));
    }
    if (const json::object* items = Child(s, "items")) {
      for (size_t i = 0; i < arr.size(); ++i) Validate(arr[i], *items, IndexPath(path, i), false, rep);
    }
  }
  if (v.is_object()) ValidateObject(v.as_object(), s, path, root, rep);
}

void Defaults(json::value* v, const json::object& s) {
  if (v->is_object()) {
    json::object& obj = v->as_object();
    const json::object* props = Child(s, "properties");
    if (props) {
      for (const auto& [key, ps] : *props) {
        if (!ps.is_object()) continue;
        if (!obj.contains(key)) {
          if (const json::value* d = ps.as_object().if_contains("default")) obj[key] = *d;
        }
        if (json::value* child = obj.if_contains(key)) Defaults(child, ps.as_object());
      }
    }
    if (const json::object* add = Child(s, "additionalProperties")) {
      for (auto& [key, child] : obj) {
        if (!props || !props->contains(key)) Defaults(&child, *add);
      }
    }
  } else if (v->is_array()) {
    if (const json::object* items = Child(s, "items")) {
      for (json::value& item : v->as_array()) Defaults(&item, *items);
    }
  }
}

}  // namespace

const json::object* FindSchema(std::string_view group, std::string_view version,
                               std::string_view kind) {
  std::string key = std::string(group) + "_" + std::string(version) + "_" + std::string(kind);
  const SchemaMap& m = Schemas();
  auto it = m.find(key);
  return it == m.end() ? nullptr : &it->second;
}

void ValidateAgainstSchema(const json::value& v, const json::object& schema, Reporter* rep) {
  Validate(v, schema, "", true, rep);
}

void ApplySchemaDefaults(json::value* v, const json::object& schema) {
  if (!v->is_object()) return;
  // metadata, apiVersion and kind are not defaulted from the CRD schema.
  Defaults(v, schema);
}

void DropNulls(json::value* v) {
  if (v->is_object()) {
    json::object& obj = v->as_object();
    for (auto it = obj.begin(); it != obj.end();) {
      if (it->value().is_null()) {
        it = obj.erase(it);
      } else {
        DropNulls(&it->value());
        ++it;
      }
    }
  } else if (v->is_array()) {
    for (json::value& item : v->as_array()) DropNulls(&item);
  }
}

}  // namespace ofn::spec::internal
