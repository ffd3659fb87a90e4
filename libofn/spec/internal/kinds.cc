#include "libofn/common/regex.h"
#include "libofn/spec/internal/kinds.h"

#include <boost/json.hpp>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

namespace ofn::spec::internal {

const std::vector<KindRules>& AllKinds() {
  static const std::vector<KindRules>* kinds = [] {
    auto* v = new std::vector<KindRules>();
    v->push_back(FunctionRules());
    v->push_back(GatewayRules());
    v->push_back(PluginRules());
    v->push_back(SecretRules());
    v->push_back(ConfigMapRules());
    for (KindRules& k : EventsRules()) v->push_back(std::move(k));
    return v;
  }();
  return *kinds;
}

const KindRules* FindKind(std::string_view group, std::string_view kind) {
  for (const KindRules& k : AllKinds()) {
    if (k.group == group && k.kind == kind) return &k;
  }
  return nullptr;
}

json::object* ObjectAt(json::object& root, std::initializer_list<std::string_view> path) {
  json::object* cur = &root;
  for (std::string_view key : path) {
    json::value* v = cur->if_contains(key);
    if (!v || !v->is_object()) return nullptr;
    cur = &v->as_object();
  }
  return cur;
}

const json::object* ObjectAt(const json::object& root,
                             std::initializer_list<std::string_view> path) {
  return ObjectAt(const_cast<json::object&>(root), path);
}

json::object& EnsureObject(json::object& parent, std::string_view key) {
  json::value& v = parent[key];
  if (!v.is_object()) v = json::object();
  return v.as_object();
}

const json::value* ValueAt(const json::object& root, std::initializer_list<std::string_view> path) {
  const json::object* cur = &root;
  const json::value* v = nullptr;
  size_t i = 0;
  for (std::string_view key : path) {
    if (!cur) return nullptr;
    v = cur->if_contains(key);
    if (!v) return nullptr;
    cur = (++i < path.size() && v->is_object()) ? &v->as_object() : nullptr;
  }
  return v;
}

std::string_view StringOr(const json::object* obj, std::string_view key, std::string_view fallback) {
  if (!obj) return fallback;
  const json::value* v = obj->if_contains(key);
  return v && v->is_string() ? std::string_view(v->as_string()) : fallback;
}

bool IsDns1123Label(std::string_view s) {
  static const auto re = Regex::MustCompile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  return !s.empty() && s.size() <= 63 && re->FullMatch(s);
}

bool IsDns1123Subdomain(std::string_view s) {
  static const auto re = Regex::MustCompile("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  return !s.empty() && s.size() <= 253 && re->FullMatch(s);
}

bool IsConfigKey(std::string_view k) {
  if (k.empty() || k.size() > 253 || k == "." || k == "..") return false;
  for (char c : k) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

}  // namespace ofn::spec::internal
