#include "libofn/common/internal/json_access.h"
#include "libofn/route/route.h"

#include <boost/json.hpp>

namespace ofn::route {

namespace json = boost::json;
using ofn::internal::Arr;
using ofn::internal::At;
using ofn::internal::Obj;
using ofn::internal::Str;

namespace {




Result<json::value> ParseJson(std::string_view text, std::string_view what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return Status(StatusCode::kInvalidArgument, std::string(what) + ": not JSON: " + ec.message());
  return v;
}

const json::object* RouteObject(const json::value& spec) {
  const json::object* http = Obj(At(Obj(At(Obj(At(Obj(&spec), "serving")), "triggers")), "http"));
  return Obj(At(http, "route"));
}

// Route expressions are RE2 (as Envoy reads the Gateway API's
// RegularExpression): matching is linear in the path or header, whatever
// the client sends.
Result<std::shared_ptr<const Regex>> Compile(const std::string& pattern, const std::string& path) {
  if (pattern.size() > 1024) {
    return Status(StatusCode::kInvalidArgument, path + ": regular expression longer than 1024 characters");
  }
  auto re = Regex::Compile(pattern);
  if (!re.ok()) {
    return Status(StatusCode::kInvalidArgument, path + ": invalid regular expression \"" + pattern +
                                                    "\": " + re.status().message());
  }
  return *re;
}

Result<std::vector<ValueMatch>> ParseValueMatches(const json::array* items, const std::string& path,
                                                  bool lower_names) {
  std::vector<ValueMatch> out;
  if (!items) return out;
  for (size_t i = 0; i < items->size(); ++i) {
    const json::object* m = Obj(&(*items)[i]);
    std::string p = path + "[" + std::to_string(i) + "]";
    ValueMatch vm;
    vm.name = Str(m, "name");
    if (lower_names) {
      for (char& c : vm.name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    vm.value = Str(m, "value");
    vm.regex = Str(m, "type", "Exact") == "RegularExpression";
    if (vm.regex) {
      OFN_ASSIGN_OR_RETURN(vm.re, Compile(vm.value, p + ".value"));
    }
    out.push_back(std::move(vm));
  }
  return out;
}

Result<UrlRewrite::Kind> ParsePathModifier(const json::object* path, const std::string& where,
                                           std::string* value) {
  if (!path) return UrlRewrite::Kind::kNone;
  std::string type = Str(path, "type");
  if (type == "ReplaceFullPath") {
    *value = Str(path, "replaceFullPath");
    return UrlRewrite::Kind::kReplaceFullPath;
  }
  if (type == "ReplacePrefixMatch") {
    *value = Str(path, "replacePrefixMatch");
    return UrlRewrite::Kind::kReplacePrefixMatch;
  }
  return Status(StatusCode::kInvalidArgument, where + ".type: unsupported path modifier \"" + type + "\"");
}

Status ParseFilters(const json::array* filters, const std::string& path, Rule* rule) {
  if (!filters) return Status::Ok();
  for (size_t i = 0; i < filters->size(); ++i) {
    const json::object* f = Obj(&(*filters)[i]);
    std::string p = path + "[" + std::to_string(i) + "]";
    std::string type = Str(f, "type");
    if (type == "RequestHeaderModifier") {
      const json::object* m = Obj(At(f, "requestHeaderModifier"));
      HeaderModifier hm;
      for (const char* key : {"set", "add"}) {
        if (const json::array* a = Arr(At(m, key))) {
          for (const json::value& h : *a) {
            auto& list = std::string_view(key) == "set" ? hm.set : hm.add;
            list.emplace_back(Str(Obj(&h), "name"), Str(Obj(&h), "value"));
          }
        }
      }
      if (const json::array* a = Arr(At(m, "remove"))) {
        for (const json::value& h : *a) {
          if (h.is_string()) hm.remove.emplace_back(h.as_string());
        }
      }
      rule->request_headers = std::move(hm);
    } else if (type == "URLRewrite") {
      const json::object* m = Obj(At(f, "urlRewrite"));
      UrlRewrite rw;
      if (At(m, "hostname")) rw.hostname = Str(m, "hostname");
      OFN_ASSIGN_OR_RETURN(rw.kind, ParsePathModifier(Obj(At(m, "path")), p + ".urlRewrite.path", &rw.path));
      rule->rewrite = std::move(rw);
    } else if (type == "RequestRedirect") {
      const json::object* m = Obj(At(f, "requestRedirect"));
      Redirect rd;
      if (At(m, "scheme")) rd.scheme = Str(m, "scheme");
      if (At(m, "hostname")) rd.hostname = Str(m, "hostname");
      if (const json::value* port = At(m, "port"); port && port->is_int64()) {
        rd.port = static_cast<int>(port->as_int64());
      }
      if (const json::value* code = At(m, "statusCode"); code && code->is_int64()) {
        rd.status = static_cast<int>(code->as_int64());
      }
      OFN_ASSIGN_OR_RETURN(rd.path_kind,
                           ParsePathModifier(Obj(At(m, "path")), p + ".requestRedirect.path", &rd.path));
      rule->redirect = std::move(rd);
    } else {
      return Status(StatusCode::kInvalidArgument,
                    p + ".type: filter \"" + type + "\" is not supported by the libofn gateway "
                        "(supported: RequestHeaderModifier, URLRewrite, RequestRedirect)");
    }
  }
  if (rule->redirect && rule->rewrite) {
    return Status(StatusCode::kInvalidArgument, path + ": RequestRedirect and URLRewrite cannot be combined");
  }
  return Status::Ok();
}

// A rule's backendRefs (Gateway API HTTPBackendRef): kind Service (the
// default) naming a Function, in `ns` unless the ref says otherwise.
Status ParseBackendRefs(const json::array* refs, const std::string& path, std::string_view ns, Rule* rule) {
  if (!refs) return Status::Ok();
  for (size_t i = 0; i < refs->size(); ++i) {
    const json::object* r = Obj(&(*refs)[i]);
    const std::string p = path + "[" + std::to_string(i) + "]";
    const std::string group = Str(r, "group"), kind = Str(r, "kind", "Service");
    if (!group.empty() || kind != "Service") {
      return Status(StatusCode::kInvalidArgument, p + ": only Services (group \"\", kind Service) are supported, got " +
                                                      (group.empty() ? "" : group + "/") + kind);
    }
    BackendRef ref;
    ref.name = Str(r, "name");
    if (ref.name.empty()) return Status(StatusCode::kInvalidArgument, p + ".name: required");
    ref.ns = Str(r, "namespace", std::string(ns));
    if (const json::value* port = At(r, "port")) {
      if (!port->is_int64() || port->as_int64() < 1 || port->as_int64() > 65535) {
        return Status(StatusCode::kInvalidArgument, p + ".port: must be in 1..65535");
      }
      ref.port = static_cast<int>(port->as_int64());
    }
    if (const json::value* weight = At(r, "weight")) {
      if (!weight->is_int64() || weight->as_int64() < 0 || weight->as_int64() > 1000000) {
        return Status(StatusCode::kInvalidArgument, p + ".weight: must be in 0..1000000");
      }
      ref.weight = static_cast<int>(weight->as_int64());
    }
    Rule filters;
    OFN_RETURN_IF_ERROR(ParseFilters(Arr(At(r, "filters")), p + ".filters", &filters));
    if (filters.redirect) {
      return Status(StatusCode::kInvalidArgument, p + ".filters: RequestRedirect applies to a rule, not to a backend");
    }
    ref.request_headers = std::move(filters.request_headers);
    ref.rewrite = std::move(filters.rewrite);
    rule->backends.push_back(std::move(ref));
  }
  return Status::Ok();
}

Result<Match> ParseMatch(const json::object* m, const std::string& p);

// spec...rules[]: matches (none: every request), filters, backendRefs.
Status ParseRules(const json::array& rules, const std::string& base, std::string_view ns, std::vector<Rule>* out) {
  for (size_t i = 0; i < rules.size(); ++i) {
    const json::object* r = Obj(&rules[i]);
    std::string rp = base + ".rules[" + std::to_string(i) + "]";
    Rule rule;
    const json::array* matches = Arr(At(r, "matches"));
    if (!matches || matches->empty()) {
      rule.matches.push_back(Match{});
    } else {
      for (size_t j = 0; j < matches->size(); ++j) {
        OFN_ASSIGN_OR_RETURN(Match m, ParseMatch(Obj(&(*matches)[j]), rp + ".matches[" + std::to_string(j) + "]"));
        rule.matches.push_back(std::move(m));
      }
    }
    OFN_RETURN_IF_ERROR(ParseFilters(Arr(At(r, "filters")), rp + ".filters", &rule));
    OFN_RETURN_IF_ERROR(ParseBackendRefs(Arr(At(r, "backendRefs")), rp + ".backendRefs", ns, &rule));
    out->push_back(std::move(rule));
  }
  return Status::Ok();
}

Result<Match> ParseMatch(const json::object* m, const std::string& p) {
  Match match;
  const json::object* path = Obj(At(m, "path"));
  std::string type = Str(path, "type", "PathPrefix");
  match.path = Str(path, "value", "/");
  if (type == "Exact") {
    match.path_type = PathType::kExact;
  } else if (type == "RegularExpression") {
    match.path_type = PathType::kRegularExpression;
    OFN_ASSIGN_OR_RETURN(match.path_re, Compile(match.path, p + ".path.value"));
  } else {
    match.path_type = PathType::kPathPrefix;
  }
  if (match.path_type != PathType::kRegularExpression && (match.path.empty() || match.path[0] != '/')) {
    return Status(StatusCode::kInvalidArgument, p + ".path.value: must start with \"/\", got \"" + match.path + "\"");
  }
  match.method = Str(m, "method");
  OFN_ASSIGN_OR_RETURN(match.headers, ParseValueMatches(Arr(At(m, "headers")), p + ".headers", true));
  OFN_ASSIGN_OR_RETURN(match.query, ParseValueMatches(Arr(At(m, "queryParams")), p + ".queryParams", false));
  return match;
}

}  // namespace

std::string_view PathTypeName(PathType t) {
  switch (t) {
    case PathType::kExact: return "Exact";
    case PathType::kPathPrefix: return "PathPrefix";
    case PathType::kRegularExpression: return "RegularExpression";
  }
  return "PathPrefix";
}

Result<GatewayConfig> GatewayConfigFromSpec(std::string_view ns, std::string_view name,
                                            std::string_view spec_json) {
  OFN_ASSIGN_OR_RETURN(json::value spec, ParseJson(spec_json, "gateway spec"));
  const json::object* s = Obj(&spec);
  GatewayConfig g;
  g.ns = std::string(ns);
  g.name = std::string(name);
  g.domain = Str(s, "domain", g.domain);
  g.cluster_domain = Str(s, "clusterDomain", g.cluster_domain);
  g.host_template = Str(s, "hostTemplate", g.host_template);
  g.path_template = Str(s, "pathTemplate", g.path_template);
  if (const json::array* ls = Arr(At(Obj(At(s, "gatewaySpec")), "listeners"))) {
    for (const json::value& lv : *ls) {
      const json::object* l = Obj(&lv);
      Listener listener;
      listener.name = Str(l, "name");
      listener.hostname = Str(l, "hostname");
      for (char& c : listener.hostname) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      listener.protocol = Str(l, "protocol", listener.protocol);
      if (const json::value* port = At(l, "port"); port && port->is_int64()) {
        listener.port = static_cast<int>(port->as_int64());
      }
      listener.allowed_from = Str(Obj(At(Obj(At(l, "allowedRoutes")), "namespaces")), "from", "Same");
      g.listeners.push_back(std::move(listener));
    }
  }
  return g;
}

namespace {

// Whether `host` (a name or "*.suffix") is within wildcard `wild` ("*.suffix").
bool Within(std::string_view host, std::string_view wild) {
  std::string_view suffix = wild.substr(1);  // ".example.com"
  return host.size() > suffix.size() && host.substr(host.size() - suffix.size()) == suffix;
}

}  // namespace

std::vector<std::string> IntersectHostnames(std::string_view listener, const std::vector<std::string>& route) {
  std::vector<std::string> out;
  if (route.empty()) {
    out.emplace_back(listener.empty() ? "*" : std::string(listener));
    return out;
  }
  const bool lwild = listener.rfind("*.", 0) == 0;
  for (const std::string& h : route) {
    const bool rwild = h.rfind("*.", 0) == 0;
    std::string take;
    if (listener.empty() || h == listener) {
      take = h;
    } else if (!rwild && lwild) {
      if (Within(h, listener)) take = h;
    } else if (rwild && !lwild) {
      if (Within(listener, h)) take = std::string(listener);
    } else if (rwild && lwild) {
      if (Within(h, listener)) {
        take = h;
      } else if (Within(listener, h)) {
        take = std::string(listener);
      }
    }
    if (!take.empty() && std::find(out.begin(), out.end(), take) == out.end()) out.push_back(std::move(take));
  }
  return out;
}

CompiledHttpRoute CompileHttpRoute(std::string_view ns, std::string_view name, std::string_view spec_json,
                                   const std::map<std::string, GatewayConfig>& gateways, int64_t created) {
  CompiledHttpRoute out;
  auto parsed = ParseJson(spec_json, "HTTPRoute spec");
  json::value spec = parsed.ok() ? std::move(*parsed) : json::value(json::object());
  const json::object* s = Obj(&spec);
  std::vector<std::string> route_hosts;
  if (const json::array* hs = Arr(At(s, "hostnames"))) {
    for (const json::value& h : *hs) {
      if (!h.is_string()) continue;
      std::string host(h.as_string());
      for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      route_hosts.push_back(std::move(host));
    }
  }
  FunctionRoute route;
  route.kind = "HTTPRoute";
  route.ns = std::string(ns);
  route.name = std::string(name);
  route.created = created;
  Status rules_ok = Status::Ok();
  if (const json::array* rules = Arr(At(s, "rules")); rules && !rules->empty()) {
    rules_ok = ParseRules(*rules, "spec", ns, &route.rules);
  } else {
    Rule rule;  // the Gateway API's default: one rule matching every request, with no backend (500)
    rule.matches.push_back(Match{});
    route.rules.push_back(std::move(rule));
  }
  std::vector<std::string> hosts;
  const json::array* parents = Arr(At(s, "parentRefs"));
  for (size_t i = 0; parents && i < parents->size(); ++i) {
    const json::object* p = Obj(&(*parents)[i]);
    ParentStatus ps;
    ps.ref.group = Str(p, "group", ps.ref.group);
    ps.ref.kind = Str(p, "kind", ps.ref.kind);
    ps.ref.ns = Str(p, "namespace", std::string(ns));
    ps.ref.name = Str(p, "name");
    ps.ref.section = Str(p, "sectionName");
    auto reject = [&](std::string reason, std::string message) {
      ps.status = "False";
      ps.reason = std::move(reason);
      ps.message = std::move(message);
    };
    auto gw = gateways.find(ps.ref.ns + "/" + ps.ref.name);
    if (ps.ref.kind != "Gateway" ||
        (ps.ref.group != "gateway.networking.k8s.io" && ps.ref.group != "networking.openfunction.io")) {
      reject("NoMatchingParent", "only Gateways are parents here, not " + ps.ref.group + "/" + ps.ref.kind);
    } else if (gw == gateways.end()) {
      reject("NoMatchingParent", "gateway " + ps.ref.ns + "/" + ps.ref.name + " does not exist");
    } else if (!rules_ok.ok()) {
      reject("UnsupportedValue", rules_ok.message());
    } else {
      bool named = false, allowed = false, any_host = false;
      for (const Listener& l : gw->second.listeners) {
        if (!ps.ref.section.empty() && l.name != ps.ref.section) continue;
        named = true;
        if (l.protocol != "HTTP" && l.protocol != "HTTPS") continue;
        if (l.allowed_from != "All" && !(l.allowed_from == "Same" && ps.ref.ns == std::string(ns))) continue;
        allowed = true;
        for (std::string& h : IntersectHostnames(l.hostname, route_hosts)) {
          any_host = true;
          if (std::find(hosts.begin(), hosts.end(), h) == hosts.end()) hosts.push_back(std::move(h));
        }
      }
      if (!named) {
        reject("NoMatchingParent", ps.ref.section.empty()
                                       ? "gateway " + ps.ref.ns + "/" + ps.ref.name + " has no listeners"
                                       : "gateway " + ps.ref.ns + "/" + ps.ref.name + " has no listener named \"" +
                                             ps.ref.section + "\"");
      } else if (!allowed) {
        reject("NotAllowedByListeners", "no listener of gateway " + ps.ref.ns + "/" + ps.ref.name +
                                            " allows routes from namespace " + std::string(ns));
      } else if (!any_host) {
        reject("NoMatchingListenerHostname", "no hostname of the route is within a listener's hostname");
      } else if (route.gateway.empty()) {
        route.gateway = ps.ref.ns + "/" + ps.ref.name;
      }
    }
    out.parents.push_back(std::move(ps));
  }
  if (!hosts.empty()) {
    route.hostnames = std::move(hosts);
    out.route = std::move(route);
  }
  return out;
}

Result<std::string> ExpandTemplate(std::string_view tmpl, std::string_view name, std::string_view ns,
                                   std::string_view domain) {
  std::string out;
  size_t pos = 0;
  while (pos < tmpl.size()) {
    size_t open = tmpl.find("{{", pos);
    if (open == std::string_view::npos) {
      out.append(tmpl.substr(pos));
      break;
    }
    out.append(tmpl.substr(pos, open - pos));
    size_t close = tmpl.find("}}", open);
    if (close == std::string_view::npos) {
      return Status(StatusCode::kInvalidArgument, "template \"" + std::string(tmpl) + "\": unclosed \"{{\"");
    }
    std::string_view var = tmpl.substr(open + 2, close - open - 2);
    while (!var.empty() && var.front() == ' ') var.remove_prefix(1);
    while (!var.empty() && var.back() == ' ') var.remove_suffix(1);
    if (var == ".Name") {
      out.append(name);
    } else if (var == ".Namespace") {
      out.append(ns);
    } else if (var == ".Domain") {
      out.append(domain);
    } else {
      return Status(StatusCode::kInvalidArgument, "template \"" + std::string(tmpl) + "\": unknown variable \"" +
                                                      std::string(var) + "\" (known: .Name, .Namespace, .Domain)");
    }
    pos = close + 2;
  }
  return out;
}

std::vector<std::string> FunctionRoute::AllHosts() const {
  std::vector<std::string> hosts = hostnames;
  if (!internal_host.empty()) hosts.push_back(internal_host);
  return hosts;
}

std::pair<std::string, std::string> GatewayRefOf(std::string_view function_spec_json) {
  std::pair<std::string, std::string> ref{"openfunction", "openfunction"};
  auto spec = ParseJson(function_spec_json, "function spec");
  if (!spec.ok()) return ref;
  const json::object* g = Obj(At(RouteObject(*spec), "gatewayRef"));
  ref.first = Str(g, "namespace", ref.first);
  ref.second = Str(g, "name", ref.second);
  return ref;
}

bool HasHttpTrigger(std::string_view function_spec_json) {
  auto spec = ParseJson(function_spec_json, "function spec");
  if (!spec.ok()) return false;
  return At(Obj(At(Obj(At(Obj(&*spec), "serving")), "triggers")), "http") != nullptr;
}

Result<FunctionRoute> CompileRoute(std::string_view ns, std::string_view name,
                                   std::string_view function_spec_json, const GatewayConfig& gateway,
                                   int64_t created) {
  OFN_ASSIGN_OR_RETURN(json::value spec, ParseJson(function_spec_json, "function spec"));
  const json::object* route = RouteObject(spec);
  const std::string base = "spec.serving.triggers.http.route";
  FunctionRoute out;
  out.ns = std::string(ns);
  out.name = std::string(name);
  out.created = created;
  out.gateway = gateway.ns + "/" + gateway.name;
  out.internal_host = out.name + "." + out.ns + ".svc." + gateway.cluster_domain;

  const json::array* hostnames = Arr(At(route, "hostnames"));
  bool path_based = hostnames && !hostnames->empty();
  if (path_based) {
    for (const json::value& h : *hostnames) {
      if (!h.is_string()) continue;
      std::string host(h.as_string());
      for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.hostnames.push_back(std::move(host));
    }
  } else {
    auto host = ExpandTemplate(gateway.host_template, name, ns, gateway.domain);
    if (!host.ok()) {
      return Status(StatusCode::kInvalidArgument, "gateway " + out.gateway + " spec.hostTemplate: " +
                                                      host.status().message());
    }
    out.hostnames.push_back(*host);
  }

  const json::array* rules = Arr(At(route, "rules"));
  if (rules && !rules->empty()) {
    OFN_RETURN_IF_ERROR(ParseRules(*rules, base, ns, &out.rules));
  } else {
    Rule rule;
    Match m;
    if (path_based) {
      auto path = ExpandTemplate(gateway.path_template, name, ns, gateway.domain);
      if (!path.ok()) {
        return Status(StatusCode::kInvalidArgument, "gateway " + out.gateway + " spec.pathTemplate: " +
                                                        path.status().message());
      }
      m.path = "/" + *path;
    }
    rule.matches.push_back(std::move(m));
    out.rules.push_back(std::move(rule));
  }
  return out;
}

std::vector<Address> Addresses(const FunctionRoute& route) {
  std::string path = "/";
  if (!route.rules.empty() && !route.rules[0].matches.empty()) {
    const Match& m = route.rules[0].matches[0];
    if (m.path_type != PathType::kRegularExpression) path = m.path;
  }
  if (path.empty() || path.back() != '/') path += "/";
  std::vector<Address> out;
  for (const std::string& h : route.hostnames) {
    if (h.rfind("*.", 0) == 0) continue;
    out.push_back({"External", "http://" + h + path});
    break;
  }
  out.push_back({"Internal", "http://" + route.internal_host + path});
  return out;
}

std::vector<std::pair<std::string, std::string>> StatusPaths(const FunctionRoute& route) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Rule& r : route.rules) {
    for (const Match& m : r.matches) {
      std::pair<std::string, std::string> p{std::string(PathTypeName(m.path_type)), m.path};
      if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(std::move(p));
    }
  }
  return out;
}

}  // namespace ofn::route
