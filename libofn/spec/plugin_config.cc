#include "libofn/spec/plugin_config.h"

#include <boost/json.hpp>
#include <set>

#include "libofn/common/internal/json_access.h"

namespace ofn::spec {
namespace {

namespace json = boost::json;
using ofn::internal::Arr;
using ofn::internal::At;
using ofn::internal::Obj;

constexpr std::string_view kKeyAuth = "key-auth";
constexpr std::string_view kKeyRateLimit = "key-rate-limit";

std::string Index(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

// A scalar as text (keys like 123456 arrive as numbers from YAML).
bool ScalarText(const json::value* v, std::string* out) {
  if (!v) return false;
  if (v->is_string()) {
    *out = std::string(v->as_string());
  } else if (v->is_int64() || v->is_uint64() || v->is_double()) {
    *out = json::serialize(*v);
  } else {
    return false;
  }
  return true;
}

class Parser {
 public:
  explicit Parser(std::vector<PluginError>* errors) : errors_(errors) {}
  void Error(std::string path, std::string message) { errors_->push_back({std::move(path), std::move(message)}); }

  std::vector<std::string> Strings(const json::object* o, std::string_view key, const std::string& path) {
    std::vector<std::string> out;
    const json::value* v = At(o, key);
    if (!v) return out;
    const json::array* a = Arr(v);
    if (!a) {
      Error(path, "must be a list of strings");
      return out;
    }
    for (size_t i = 0; i < a->size(); ++i) {
      std::string s;
      if (!ScalarText(&(*a)[i], &s) || s.empty()) {
        Error(Index(path, i), "must be a non-empty string");
        continue;
      }
      out.push_back(std::move(s));
    }
    return out;
  }

  bool Bool(const json::object* o, std::string_view key, bool fallback, const std::string& path) {
    const json::value* v = At(o, key);
    if (!v) return fallback;
    if (!v->is_bool()) {
      Error(path, "must be true or false");
      return fallback;
    }
    return v->as_bool();
  }

  // key-auth settings of one scope; `instance`: consumers/keys belong here,
  // allow does not.
  KeyAuthConfig KeyAuth(const json::object* o, const std::string& path, bool instance) {
    KeyAuthConfig c;
    if (const json::value* v = At(o, "consumers")) {
      const json::array* a = Arr(v);
      if (!a) Error(path + ".consumers", "must be a list of {name, credential}");
      std::set<std::string> names, credentials;
      for (size_t i = 0; a && i < a->size(); ++i) {
        const json::object* co = Obj(&(*a)[i]);
        KeyAuthConsumer consumer;
        std::string p = Index(path + ".consumers", i);
        if (!ScalarText(At(co, "name"), &consumer.name) || consumer.name.empty()) Error(p + ".name", "required");
        if (!ScalarText(At(co, "credential"), &consumer.credential) || consumer.credential.empty()) {
          Error(p + ".credential", "required");
        }
        if (!consumer.name.empty() && !names.insert(consumer.name).second) Error(p + ".name", "\"" + consumer.name + "\" appears twice");
        if (!consumer.credential.empty() && !credentials.insert(consumer.credential).second) {
          Error(p + ".credential", "the same credential is given to two consumers");
        }
        c.consumers.push_back(std::move(consumer));
      }
    }
    c.keys = Strings(o, "keys", path + ".keys");
    c.in_query = Bool(o, "in_query", true, path + ".in_query");
    c.in_header = Bool(o, "in_header", true, path + ".in_header");
    if (At(o, "allow")) {
      c.has_allow = true;
      c.allow = Strings(o, "allow", path + ".allow");
      if (instance) Error(path + ".allow", "allow belongs in a rule (_rules_ or matchRules), not at the instance level");
    }
    if (instance) {
      if (c.consumers.empty()) Error(path + ".consumers", "required: at least one consumer");
      if (c.keys.empty()) Error(path + ".keys", "required: at least one header or query parameter name");
      if (!c.in_query && !c.in_header) Error(path, "at least one of in_query and in_header must be true");
    }
    return c;
  }

  KeyRateLimitConfig KeyRateLimit(const json::object* o, const std::string& path, bool required) {
    KeyRateLimitConfig c;
    ScalarText(At(o, "limit_by_header"), &c.limit_by_header);
    ScalarText(At(o, "limit_by_param"), &c.limit_by_param);
    const bool any = At(o, "limit_keys") || !c.limit_by_header.empty() || !c.limit_by_param.empty();
    if (!required && !any) return c;
    if (c.limit_by_header.empty() == c.limit_by_param.empty()) {
      Error(path, "exactly one of limit_by_header and limit_by_param is required");
    }
    const json::array* a = Arr(At(o, "limit_keys"));
    if (!a || a->empty()) Error(path + ".limit_keys", "required: at least one {key, query_per_second|minute|hour|day}");
    static const std::pair<std::string_view, int64_t> kPer[] = {
        {"query_per_second", 1}, {"query_per_minute", 60}, {"query_per_hour", 3600}, {"query_per_day", 86400}};
    for (size_t i = 0; a && i < a->size(); ++i) {
      const json::object* ko = Obj(&(*a)[i]);
      std::string p = Index(path + ".limit_keys", i);
      RateLimitKey k;
      if (!ScalarText(At(ko, "key"), &k.key) || k.key.empty()) Error(p + ".key", "required");
      int given = 0;
      for (const auto& [field, seconds] : kPer) {
        const json::value* v = At(ko, field);
        if (!v) continue;
        ++given;
        if (!v->is_int64() || v->as_int64() <= 0) {
          Error(p + "." + std::string(field), "must be a positive integer");
          continue;
        }
        k.requests = v->as_int64();
        k.per = std::chrono::seconds(seconds);
      }
      if (given != 1) Error(p, "exactly one of query_per_second, query_per_minute, query_per_hour, query_per_day");
      c.keys.push_back(std::move(k));
    }
    return c;
  }

  PluginScope Scope(PluginConfig::Type type, const json::object* o, const std::string& path, bool instance) {
    PluginScope s;
    if (type == PluginConfig::Type::kKeyAuth) {
      s.auth = KeyAuth(o, path, instance);
    } else {
      s.limit = KeyRateLimit(o, path, !instance);
    }
    return s;
  }

 private:
  std::vector<PluginError>* errors_;
};

}  // namespace

std::string PluginTypeName(std::string_view metadata_name, std::string_view spec_json) {
  json::value root = ofn::internal::ParseObjectOrEmpty(spec_json);
  const json::object* spec = Obj(&root);
  auto known = [](std::string_view s) -> std::string {
    for (std::string_view k : {kKeyRateLimit, kKeyAuth}) {  // longest first: key-auth is not in key-rate-limit
      if (s == k) return std::string(k);
    }
    return "";
  };
  std::string plugin_name = ofn::internal::Str(spec, "pluginName");
  if (!plugin_name.empty()) return known(plugin_name);
  std::string url = ofn::internal::Str(spec, "url");
  if (!url.empty()) {
    std::string_view u = url;
    u = u.substr(u.rfind('/') == std::string_view::npos ? 0 : u.rfind('/') + 1);
    return known(u.substr(0, u.find(':')));
  }
  return known(metadata_name);
}

PluginConfig ParsePlugin(std::string_view ns, std::string_view metadata_name, std::string_view spec_json,
                         std::vector<PluginError>* errors) {
  Parser p(errors);
  PluginConfig c;
  c.ns = ns;
  c.name = metadata_name;
  const std::string type = PluginTypeName(metadata_name, spec_json);
  if (type.empty()) {
    p.Error("spec.url", "libofn enforces the plugins key-auth and key-rate-limit (named by spec.pluginName, "
                        "spec.url or metadata.name); this WasmPlugin names neither");
    return c;
  }
  c.type = type == kKeyAuth ? PluginConfig::Type::kKeyAuth : PluginConfig::Type::kKeyRateLimit;
  json::value root = ofn::internal::ParseObjectOrEmpty(spec_json);
  const json::object* spec = Obj(&root);
  const json::object* defaults = Obj(At(spec, "defaultConfig"));
  c.defaults = p.Scope(c.type, defaults, "spec.defaultConfig", true);
  std::vector<std::string> rule_paths;
  auto add_rule = [&](const json::object* rule, const json::value* domains, const std::string& path,
                      const std::string& domains_path) {
    rule_paths.push_back(path);
    PluginScope s = p.Scope(c.type, rule, path, false);
    const json::array* a = Arr(domains);
    if (!a || a->empty()) p.Error(domains_path, "required: the domains the rule applies to");
    for (size_t i = 0; a && i < a->size(); ++i) {
      std::string d;
      if (!ScalarText(&(*a)[i], &d) || d.empty()) {
        p.Error(Index(domains_path, i), "must be a host name");
        continue;
      }
      for (char& ch : d) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      s.domains.push_back(std::move(d));
    }
    c.rules.push_back(std::move(s));
  };
  if (const json::array* rules = Arr(At(defaults, "_rules_"))) {
    for (size_t i = 0; i < rules->size(); ++i) {
      std::string path = Index("spec.defaultConfig._rules_", i);
      const json::object* r = Obj(&(*rules)[i]);
      if (At(r, "_match_route_") && !At(r, "_match_domain_")) {
        p.Error(path + "._match_route_", "route rules are not supported; use _match_domain_");
        continue;
      }
      add_rule(r, At(r, "_match_domain_"), path, path + "._match_domain_");
    }
  }
  if (const json::array* rules = Arr(At(spec, "matchRules"))) {
    for (size_t i = 0; i < rules->size(); ++i) {
      std::string path = Index("spec.matchRules", i);
      const json::object* r = Obj(&(*rules)[i]);
      add_rule(Obj(At(r, "config")), At(r, "domain"), path + ".config", path + ".domain");
    }
  }
  if (c.type == PluginConfig::Type::kKeyAuth) {
    std::set<std::string> names;
    for (const KeyAuthConsumer& k : c.defaults.auth.consumers) names.insert(k.name);
    for (size_t i = 0; i < c.rules.size(); ++i) {
      for (const std::string& a : c.rules[i].auth.allow) {
        if (!names.count(a)) p.Error(rule_paths[i] + ".allow", "no consumer is named \"" + a + "\"");
      }
    }
    const json::value* global = At(defaults, "global_auth");
    if (global && !global->is_bool()) p.Error("spec.defaultConfig.global_auth", "must be true or false");
    c.global = global && global->is_bool() ? global->as_bool() : c.rules.empty();
  } else {
    c.global = c.rules.empty();
    if (c.rules.empty() && c.defaults.limit.keys.empty()) {
      p.Error("spec.defaultConfig", "key-rate-limit needs limit_keys, at the instance level or in a rule");
    }
  }
  return c;
}

}  // namespace ofn::spec
