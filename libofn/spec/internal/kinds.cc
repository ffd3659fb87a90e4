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
    v->push_back(HttpRouteRules());
    v->push_back(ComponentRules());
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
