// Routes: what a Function's spec.serving.triggers.http.route and its Gateway
// mean, compiled into plain values (seed 000):
//
//  - hostnames: route.hostnames, else Gateway.spec.hostTemplate;
//  - rules: route.rules, else PathPrefix "/" when the hostnames came from the
//    template (host-based), else PathPrefix "/{{pathTemplate}}" (path-based);
//  - the internal host <name>.<namespace>.svc.<clusterDomain> always serves too;
//  - addresses: External http://<host><path>/ and Internal
//    http://<internal host><path>/ from the first rule's path.
//
// Pure functions of their inputs. Values are thread-compatible.
#ifndef LIBOFN_ROUTE_ROUTE_H_
#define LIBOFN_ROUTE_ROUTE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "libofn/common/regex.h"
#include "libofn/common/status.h"

namespace ofn::route {

// The parts of a networking.openfunction.io Gateway that shape routes.
// One listener of the Gateway's gatewaySpec (Gateway API Listener).
struct Listener {
  std::string name;
  std::string hostname;  // "" = every host; "*.example.com" = its subdomains
  std::string protocol = "HTTP";
  int port = 80;
  std::string allowed_from = "Same";  // allowedRoutes.namespaces.from: Same | All | Selector
};

struct GatewayConfig {
  std::string ns = "openfunction";
  std::string name = "openfunction";
  std::string domain = "ofn.io";
  std::string cluster_domain = "cluster.local";
  std::string host_template = "{{.Name}}.{{.Namespace}}.{{.Domain}}";
  std::string path_template = "{{.Namespace}}/{{.Name}}";
  std::vector<Listener> listeners;  // gatewaySpec.listeners
};

// Reads a Gateway's spec (JSON text of a defaulted, validated object).
Result<GatewayConfig> GatewayConfigFromSpec(std::string_view ns, std::string_view name,
                                            std::string_view spec_json);

// Expands {{.Name}}, {{.Namespace}}, {{.Domain}} (spaces inside the braces
// allowed). Unknown variables are an error naming them.
Result<std::string> ExpandTemplate(std::string_view tmpl, std::string_view name,
                                   std::string_view ns, std::string_view domain);

enum class PathType { kExact, kPathPrefix, kRegularExpression };
std::string_view PathTypeName(PathType t);

struct ValueMatch {
  std::string name;
  bool regex = false;
  std::string value;
  std::shared_ptr<const Regex> re;  // compiled when regex (RE2 syntax)
};

struct Match {
  PathType path_type = PathType::kPathPrefix;
  std::string path = "/";
  std::shared_ptr<const Regex> path_re;  // compiled for kRegularExpression (RE2 syntax)
  std::string method;  // empty: any
  std::vector<ValueMatch> headers;
  std::vector<ValueMatch> query;
};

struct HeaderModifier {
  std::vector<std::pair<std::string, std::string>> set, add;
  std::vector<std::string> remove;
};

struct UrlRewrite {
  std::optional<std::string> hostname;
  enum class Kind { kNone, kReplaceFullPath, kReplacePrefixMatch } kind = Kind::kNone;
  std::string path;
};

struct Redirect {
  std::optional<std::string> scheme, hostname;
  std::optional<int> port;
  UrlRewrite::Kind path_kind = UrlRewrite::Kind::kNone;
  std::string path;
  int status = 302;
};

// One of a rule's backendRefs: a Function, by its service name (the
// Function's metadata.name, as OpenFunction names the Service
// {{.Name}}.{{.Namespace}}), that gets `weight` shares of the rule's
// requests, with filters of its own.
struct BackendRef {
  std::string ns, name;
  int port = 0;    // 0: not given
  int weight = 1;  // 0: none of the requests
  std::optional<HeaderModifier> request_headers;
  std::optional<UrlRewrite> rewrite;
};

struct Rule {
  std::vector<Match> matches;
  std::optional<HeaderModifier> request_headers;
  std::optional<UrlRewrite> rewrite;
  std::optional<Redirect> redirect;
  // Where the rule's requests go; empty: the route's own Function.
  std::vector<BackendRef> backends;
};

// A Function's compiled route.
struct FunctionRoute {
  // "Function" (a Function's own route) or "HTTPRoute" (an object applied
  // directly). Function routes own what they match: a younger one claiming
  // the same host and match is rejected whole. HTTPRoutes only lose ties
  // (oldest, then namespace/name, then rule order), as the Gateway API says.
  std::string kind = "Function";
  std::string ns, name;
  int64_t created = 0;  // creation time; older routes win ties and conflicts
  std::string gateway;  // "<ns>/<name>" of the Gateway it attaches to
  std::vector<std::string> hostnames;  // from the spec or the host template
  std::string internal_host;
  std::vector<Rule> rules;
  // All hosts it serves: hostnames, then the internal host.
  std::vector<std::string> AllHosts() const;
};

// The gatewayRef of a Function spec (JSON text), defaulted to openfunction/openfunction.
std::pair<std::string, std::string> GatewayRefOf(std::string_view function_spec_json);

// True when the Function is served over HTTP (has spec.serving.triggers.http).
bool HasHttpTrigger(std::string_view function_spec_json);

// An HTTPRoute's parentRefs entry.
struct ParentRef {
  std::string group = "gateway.networking.k8s.io", kind = "Gateway";
  std::string ns, name, section;  // section: sectionName ("" = every listener)
};

// How one parent took an HTTPRoute: the Accepted condition of its
// status.parents[] entry.
struct ParentStatus {
  ParentRef ref;
  std::string status = "True", reason = "Accepted", message = "Accepted";
};

struct CompiledHttpRoute {
  std::optional<FunctionRoute> route;  // when some parent accepted it
  std::vector<ParentStatus> parents;
};

// Compiles an HTTPRoute object (its spec JSON) against the Gateways it names
// ("ns/name" -> config). Each parentRef picks the Gateway's listeners
// (sectionName: one of them) that allow the route's namespace; the route
// serves the intersection of its hostnames with theirs (IntersectHostnames),
// and every host of such a listener when it has none. A parent that cannot
// take it says why: NoMatchingParent, NotAllowedByListeners,
// NoMatchingListenerHostname, UnsupportedValue (a rule that does not compile).
CompiledHttpRoute CompileHttpRoute(std::string_view ns, std::string_view name, std::string_view spec_json,
                                   const std::map<std::string, GatewayConfig>& gateways, int64_t created);

// The hosts a route with `route_hostnames` serves on a listener with
// `listener_hostname` (Gateway API hostname intersection): a route name
// within the listener's wildcard stays; a route wildcard over a listener
// name becomes the listener's name; of two wildcards the narrower; no
// route hostnames: the listener's ("*" when it has none either). Empty: no
// intersection.
std::vector<std::string> IntersectHostnames(std::string_view listener_hostname,
                                            const std::vector<std::string>& route_hostnames);

// Compiles a Function's route against its Gateway. Errors name the field
// (e.g. an invalid regular expression in rules[0].matches[1].path.value).
Result<FunctionRoute> CompileRoute(std::string_view ns, std::string_view name,
                                   std::string_view function_spec_json,
                                   const GatewayConfig& gateway, int64_t created);

struct Address {
  std::string type;  // "External" or "Internal"
  std::string value;
};
std::vector<Address> Addresses(const FunctionRoute& route);

// status.route.paths: each rule match's path as {type, value}.
std::vector<std::pair<std::string, std::string>> StatusPaths(const FunctionRoute& route);

}  // namespace ofn::route

#endif  // LIBOFN_ROUTE_ROUTE_H_
