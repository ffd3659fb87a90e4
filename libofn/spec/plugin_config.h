// Gateway plugins given as Higress WasmPlugin objects (extensions.higress.io/
// v1alpha1), as seed 004 writes them: key-auth and key-rate-limit, with an
// instance-level `defaultConfig` and per-domain `_rules_` (`_match_domain_`)
// inside it, or the newer `matchRules` (domain + config). libofn enforces
// them natively in its gateway; no wasm runs. Pure parsing and validation.
#ifndef LIBOFN_SPEC_PLUGIN_CONFIG_H_
#define LIBOFN_SPEC_PLUGIN_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ofn::spec {

struct KeyAuthConsumer {
  std::string name, credential;
};

// One scope of key-auth: the instance level (consumers, keys, where to look)
// or a rule (which consumers are allowed).
struct KeyAuthConfig {
  std::vector<KeyAuthConsumer> consumers;
  std::vector<std::string> keys;
  bool in_query = true;
  bool in_header = true;
  bool has_allow = false;
  std::vector<std::string> allow;
};

struct RateLimitKey {
  std::string key;
  int64_t requests = 0;
  std::chrono::seconds per{1};
};

struct KeyRateLimitConfig {
  std::string limit_by_header;  // one of these two
  std::string limit_by_param;
  std::vector<RateLimitKey> keys;
};

struct PluginScope {
  std::vector<std::string> domains;  // empty at the instance level; "*.example.com" matches subdomains
  KeyAuthConfig auth;
  KeyRateLimitConfig limit;
};

struct PluginConfig {
  enum class Type { kKeyAuth, kKeyRateLimit };
  Type type = Type::kKeyAuth;
  std::string ns, name;
  // Whether the instance-level scope applies to requests no rule matches:
  // global_auth when given, else only when there are no rules.
  bool global = true;
  PluginScope defaults;
  std::vector<PluginScope> rules;
};

struct PluginError {
  std::string path;  // "spec.defaultConfig.consumers[0].credential"
  std::string message;
};

// Which plugin a WasmPlugin object is: its spec.pluginName, else the name in
// spec.url ("oci://.../key-auth:1.0.0"), else metadata.name. "" when none of
// these names a plugin libofn enforces.
std::string PluginTypeName(std::string_view metadata_name, std::string_view spec_json);

// Parses the spec of a WasmPlugin; every problem goes to `errors` (the
// config is then not to be used).
PluginConfig ParsePlugin(std::string_view ns, std::string_view metadata_name, std::string_view spec_json,
                         std::vector<PluginError>* errors);

}  // namespace ofn::spec

#endif  // LIBOFN_SPEC_PLUGIN_CONFIG_H_
