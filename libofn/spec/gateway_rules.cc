// Gateway (networking.openfunction.io/v1alpha1): the default listeners the
// gateway controller adds (seed 000), and checks of domain and templates.
#include <boost/json.hpp>

#include "libofn/common/regex.h"
#include "libofn/spec/internal/kinds.h"

namespace ofn::spec::internal {
namespace {

json::object DefaultListener(std::string_view name, const std::string& hostname) {
  return json::object{{"name", name},
                      {"hostname", hostname},
                      {"protocol", "HTTP"},
                      {"port", 80},
                      {"allowedRoutes", json::object{{"namespaces", json::object{{"from", "All"}}}}}};
}

void Defaults(json::object& root) {
  json::object& spec = EnsureObject(root, "spec");
  std::string domain(StringOr(&spec, "domain", ""));
  std::string cluster_domain(StringOr(&spec, "clusterDomain", "cluster.local"));
  json::object& gs = EnsureObject(spec, "gatewaySpec");
  json::value& lv = gs["listeners"];
  if (!lv.is_array()) lv = json::array();
  json::array& listeners = lv.as_array();
  auto find = [&](std::string_view name) -> json::object* {
    for (json::value& l : listeners) {
      if (l.is_object() && StringOr(&l.as_object(), "name", "") == name) return &l.as_object();
    }
    return nullptr;
  };
  const std::pair<std::string_view, std::string> wanted[] = {
      {"ofn-http-internal", "*." + cluster_domain}, {"ofn-http-external", "*." + domain}};
  for (const auto& [name, host] : wanted) {
    if (name == "ofn-http-external" && domain.empty()) continue;
    if (json::object* l = find(name)) {
      if (!l->contains("hostname")) (*l)["hostname"] = host;
    } else {
      listeners.push_back(DefaultListener(name, host));
    }
  }
}

void CheckTemplate(const json::object& spec, std::string_view key,
                   std::initializer_list<std::string_view> allowed, Reporter* rep) {
  const json::value* v = spec.if_contains(key);
  if (!v || !v->is_string()) return;
  std::string t(v->as_string());
  std::string path = JoinPath("spec", key);
  static const auto var = Regex::MustCompile("\\{\\{\\s*\\.([A-Za-z]+)\\s*\\}\\}");
  for (const std::string& name : var->FirstGroups(t)) {
    bool ok = false;
    for (std::string_view a : allowed) ok = ok || a == name;
    if (!ok) {
      std::string list;
      for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string("{{.") + std::string(a) + "}}";
      rep->Error(path, "unknown variable {{." + name + "}} (allowed: " + list + ")");
    }
  }
  std::string stripped = var->ReplaceAll(t, "");
  if (stripped.find("{{") != std::string::npos || stripped.find("}}") != std::string::npos) {
    rep->Error(path, "malformed template \"" + t + "\"");
  }
}

void Validate(const json::object& root, Reporter* rep) {
  const json::object* spec = ObjectAt(root, {"spec"});
  if (!spec) return;
  std::string_view domain = StringOr(spec, "domain", "");
  if (!IsDns1123Subdomain(domain)) {
    rep->Error("spec.domain", "\"" + std::string(domain) + "\" is not a valid DNS domain");
  }
  std::string_view cd = StringOr(spec, "clusterDomain", "cluster.local");
  if (!IsDns1123Subdomain(cd)) {
    rep->Error("spec.clusterDomain", "\"" + std::string(cd) + "\" is not a valid DNS domain");
  }
  CheckTemplate(*spec, "hostTemplate", {"Name", "Namespace", "Domain"}, rep);
  CheckTemplate(*spec, "pathTemplate", {"Name", "Namespace"}, rep);
  if (const json::value* ls = ValueAt(*spec, {"gatewaySpec", "listeners"}); ls && ls->is_array()) {
    std::vector<std::string> seen;
    size_t i = 0;
    for (const json::value& l : ls->as_array()) {
      std::string name(StringOr(l.if_object(), "name", ""));
      for (const std::string& s : seen) {
        if (s == name) {
          rep->Error(IndexPath("spec.gatewaySpec.listeners", i) + ".name",
                     "duplicate listener name \"" + name + "\"");
        }
      }
      seen.push_back(name);
      ++i;
    }
  }
}

}  // namespace

KindRules GatewayRules() {
  KindRules r;
  r.group = "networking.openfunction.io";
  r.kind = "Gateway";
  r.versions = {"v1alpha1"};
  r.defaults = Defaults;
  r.validate = Validate;
  return r;
}

}  // namespace ofn::spec::internal
