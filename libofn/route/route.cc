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
  return g;
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
  hosts.push_back(internal_host);
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
    for (size_t i = 0; i < rules->size(); ++i) {
      const json::object* r = Obj(&(*rules)[i]);
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
      out.rules.push_back(std::move(rule));
    }
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
