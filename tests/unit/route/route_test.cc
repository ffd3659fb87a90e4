// Route compilation: seed 000's three routing modes, templates, addresses,
// filters and the errors that name the field.
#include "libofn/route/route.h"

#include <gtest/gtest.h>

#include <map>

namespace ofn::route {
namespace {

std::string Spec(const std::string& route_json) {
  return R"({"image":"x","serving":{"triggers":{"http":{"port":8080,"route":)" + route_json + "}}}}";
}

TEST(TemplateTest, ExpandsVariablesWithOrWithoutSpaces) {
  EXPECT_EQ(*ExpandTemplate("{{.Name}}.{{.Namespace}}.{{.Domain}}", "fn", "ns", "ofn.io"), "fn.ns.ofn.io");
  EXPECT_EQ(*ExpandTemplate("{{ .Namespace }}/{{ .Name }}", "fn", "ns", "d"), "ns/fn");
  EXPECT_EQ(*ExpandTemplate("static", "fn", "ns", "d"), "static");
}

TEST(TemplateTest, UnknownVariableAndUnclosedBraceAreErrors) {
  auto r = ExpandTemplate("{{.Name}}.{{.Cluster}}", "fn", "ns", "d");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(".Cluster"), std::string::npos);
  EXPECT_FALSE(ExpandTemplate("{{.Name", "fn", "ns", "d").ok());
}

TEST(CompileRouteTest, HostBasedIsTheDefault) {
  auto r = CompileRoute("default", "function-sample", Spec("{}"), GatewayConfig{}, 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->hostnames, std::vector<std::string>{"function-sample.default.ofn.io"});
  EXPECT_EQ(r->internal_host, "function-sample.default.svc.cluster.local");
  ASSERT_EQ(r->rules.size(), 1u);
  ASSERT_EQ(r->rules[0].matches.size(), 1u);
  EXPECT_EQ(r->rules[0].matches[0].path_type, PathType::kPathPrefix);
  EXPECT_EQ(r->rules[0].matches[0].path, "/");
  auto a = Addresses(*r);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].type, "External");
  EXPECT_EQ(a[0].value, "http://function-sample.default.ofn.io/");
  EXPECT_EQ(a[1].type, "Internal");
  EXPECT_EQ(a[1].value, "http://function-sample.default.svc.cluster.local/");
  EXPECT_EQ(r->AllHosts(), (std::vector<std::string>{"function-sample.default.ofn.io",
                                                      "function-sample.default.svc.cluster.local"}));
}

TEST(CompileRouteTest, PathBasedWhenHostnamesAreSet) {
  auto r = CompileRoute("default", "function-sample", Spec(R"({"hostnames":["sample.ofn.io"]})"), GatewayConfig{}, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->hostnames, std::vector<std::string>{"sample.ofn.io"});
  EXPECT_EQ(r->rules[0].matches[0].path, "/default/function-sample");
  auto a = Addresses(*r);
  EXPECT_EQ(a[0].value, "http://sample.ofn.io/default/function-sample/");
  EXPECT_EQ(a[1].value, "http://function-sample.default.svc.cluster.local/default/function-sample/");
  auto paths = StatusPaths(*r);
  ASSERT_EQ(paths.size(), 1u);
  EXPECT_EQ(paths[0], (std::pair<std::string, std::string>{"PathPrefix", "/default/function-sample"}));
}

TEST(CompileRouteTest, HostAndPathUsesTheUserRules) {
  auto r = CompileRoute("default", "function-sample",
                        Spec(R"({"hostnames":["sample.ofn.io"],"rules":[{"matches":[{"path":{"type":"PathPrefix","value":"/v2/foo"}}]}]})"),
                        GatewayConfig{}, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Addresses(*r)[0].value, "http://sample.ofn.io/v2/foo/");
}

TEST(CompileRouteTest, UserRulesWithoutHostnamesKeepTheTemplateHost) {
  auto r = CompileRoute("ns1", "f", Spec(R"({"rules":[{"matches":[{"path":{"type":"Exact","value":"/api"}}]}]})"),
                        GatewayConfig{}, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->hostnames, std::vector<std::string>{"f.ns1.ofn.io"});
  EXPECT_EQ(r->rules[0].matches[0].path_type, PathType::kExact);
  EXPECT_EQ(Addresses(*r)[0].value, "http://f.ns1.ofn.io/api/");
}

TEST(CompileRouteTest, GatewayTemplatesAndDomainsAreFollowed) {
  GatewayConfig g;
  g.domain = "example.com";
  g.cluster_domain = "corp.local";
  g.host_template = "{{.Namespace}}-{{.Name}}.{{.Domain}}";
  g.path_template = "fn/{{.Name}}";
  auto host = CompileRoute("team", "f", Spec("{}"), g, 1);
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->hostnames[0], "team-f.example.com");
  EXPECT_EQ(host->internal_host, "f.team.svc.corp.local");
  auto path = CompileRoute("team", "f", Spec(R"({"hostnames":["api.example.com"]})"), g, 1);
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(path->rules[0].matches[0].path, "/fn/f");
}

TEST(CompileRouteTest, WildcardHostnameHasNoExternalAddress) {
  auto r = CompileRoute("d", "f", Spec(R"({"hostnames":["*.ofn.io"]})"), GatewayConfig{}, 1);
  ASSERT_TRUE(r.ok());
  auto a = Addresses(*r);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].type, "Internal");
}

TEST(CompileRouteTest, FiltersAreRead) {
  auto r = CompileRoute("d", "f", Spec(R"({"rules":[
    {"matches":[{"path":{"type":"PathPrefix","value":"/a"}}],
     "filters":[{"type":"RequestHeaderModifier","requestHeaderModifier":{"set":[{"name":"X-A","value":"1"}],"add":[{"name":"X-B","value":"2"}],"remove":["X-C"]}},
                {"type":"URLRewrite","urlRewrite":{"hostname":"inner","path":{"type":"ReplacePrefixMatch","replacePrefixMatch":"/b"}}}]},
    {"matches":[{"path":{"type":"Exact","value":"/old"}}],
     "filters":[{"type":"RequestRedirect","requestRedirect":{"scheme":"https","hostname":"new.example.com","statusCode":301,"path":{"type":"ReplaceFullPath","replaceFullPath":"/new"}}}]}]})"),
                        GatewayConfig{}, 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->rules[0].request_headers);
  EXPECT_EQ(r->rules[0].request_headers->set[0].first, "X-A");
  EXPECT_EQ(r->rules[0].request_headers->remove[0], "X-C");
  ASSERT_TRUE(r->rules[0].rewrite);
  EXPECT_EQ(*r->rules[0].rewrite->hostname, "inner");
  EXPECT_EQ(r->rules[0].rewrite->kind, UrlRewrite::Kind::kReplacePrefixMatch);
  ASSERT_TRUE(r->rules[1].redirect);
  EXPECT_EQ(r->rules[1].redirect->status, 301);
  EXPECT_EQ(*r->rules[1].redirect->scheme, "https");
  EXPECT_EQ(r->rules[1].redirect->path, "/new");
}

TEST(CompileRouteTest, ErrorsNameTheField) {
  auto bad_re = CompileRoute("d", "f", Spec(R"({"rules":[{"matches":[{"path":{"type":"PathPrefix","value":"/"}},{"path":{"type":"RegularExpression","value":"/(unclosed"}}]}]})"),
                             GatewayConfig{}, 1);
  ASSERT_FALSE(bad_re.ok());
  EXPECT_NE(bad_re.status().message().find("spec.serving.triggers.http.route.rules[0].matches[1].path.value"),
            std::string::npos)
      << bad_re.status().message();
  // A repeat count RE2 does not take (fuzz_route first found it overflowing
  // libstdc++'s compiler) is refused with the field named.
  auto huge = CompileRoute("d", "f", Spec(R"({"rules":[{"matches":[{"headers":[{"type":"RegularExpression","name":"x","value":"a{1001}"}]}]}]})"),
                           GatewayConfig{}, 1);
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("rules[0].matches[0].headers[0].value: invalid regular expression"), std::string::npos)
      << huge.status().message();
  EXPECT_NE(huge.status().message().find("invalid regular expression"), std::string::npos);
  auto long_re = CompileRoute("d", "f", Spec(R"({"rules":[{"matches":[{"path":{"type":"RegularExpression","value":"/)" +
                                                  std::string(2000, 'a') + R"("}}]}]})"),
                              GatewayConfig{}, 1);
  ASSERT_FALSE(long_re.ok());
  EXPECT_NE(long_re.status().message().find("longer than 1024"), std::string::npos);
  auto mirror = CompileRoute("d", "f", Spec(R"({"rules":[{"filters":[{"type":"RequestMirror","requestMirror":{"backendRef":{"name":"x"}}}]}]})"),
                             GatewayConfig{}, 1);
  ASSERT_FALSE(mirror.ok());
  EXPECT_NE(mirror.status().message().find("rules[0].filters[0].type"), std::string::npos);
  auto relative = CompileRoute("d", "f", Spec(R"({"rules":[{"matches":[{"path":{"type":"Exact","value":"api"}}]}]})"),
                               GatewayConfig{}, 1);
  ASSERT_FALSE(relative.ok());
  EXPECT_NE(relative.status().message().find("must start with \"/\""), std::string::npos);
  GatewayConfig g;
  g.host_template = "{{.Name}}.{{.Zone}}";
  auto tmpl = CompileRoute("d", "f", Spec("{}"), g, 1);
  ASSERT_FALSE(tmpl.ok());
  EXPECT_NE(tmpl.status().message().find("hostTemplate"), std::string::npos);
}

TEST(CompileRouteTest, GatewayRefDefaultsAndHttpTrigger) {
  EXPECT_EQ(GatewayRefOf(Spec("{}")), (std::pair<std::string, std::string>{"openfunction", "openfunction"}));
  EXPECT_EQ(GatewayRefOf(Spec(R"({"gatewayRef":{"name":"g","namespace":"n"}})")),
            (std::pair<std::string, std::string>{"n", "g"}));
  EXPECT_TRUE(HasHttpTrigger(Spec("{}")));
  EXPECT_FALSE(HasHttpTrigger(R"({"serving":{"triggers":{"dapr":[{"name":"x"}]}}})"));
}

TEST(GatewayConfigTest, ReadsTheSpecWithDefaults) {
  auto g = GatewayConfigFromSpec("openfunction", "openfunction", R"({"domain":"example.com"})");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->domain, "example.com");
  EXPECT_EQ(g->cluster_domain, "cluster.local");
  EXPECT_EQ(g->host_template, "{{.Name}}.{{.Namespace}}.{{.Domain}}");
  EXPECT_FALSE(GatewayConfigFromSpec("a", "b", "not json").ok());
}

TEST(CompileRouteTest, BackendRefsNameFunctionsWithWeightsAndTheirOwnFilters) {
  auto r = CompileRoute("team", "hello", Spec(R"({"rules":[
      {"matches":[{"headers":[{"name":"x-version","value":"v2"}]}],"backendRefs":[{"name":"hello-v2","port":8080}]},
      {"backendRefs":[{"name":"hello-v1","weight":80},
                      {"name":"hello-v2","namespace":"other","weight":20,"kind":"Service",
                       "filters":[{"type":"RequestHeaderModifier","requestHeaderModifier":{"set":[{"name":"x-b","value":"2"}]}}]}]},
      {"matches":[{"path":{"type":"PathPrefix","value":"/own"}}]}]})"),
                        GatewayConfig{}, 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rules.size(), 3u);
  ASSERT_EQ(r->rules[0].backends.size(), 1u);
  const BackendRef& only = r->rules[0].backends[0];
  EXPECT_EQ(only.ns, "team");  // the route's namespace by default
  EXPECT_EQ(only.name, "hello-v2");
  EXPECT_EQ(only.port, 8080);
  EXPECT_EQ(only.weight, 1);  // the Gateway API's default
  ASSERT_EQ(r->rules[1].backends.size(), 2u);
  EXPECT_EQ(r->rules[1].backends[0].weight, 80);
  EXPECT_EQ(r->rules[1].backends[1].ns, "other");
  ASSERT_TRUE(r->rules[1].backends[1].request_headers.has_value());
  EXPECT_EQ(r->rules[1].backends[1].request_headers->set[0].first, "x-b");
  EXPECT_FALSE(r->rules[1].request_headers.has_value());  // the backend's, not the rule's
  EXPECT_TRUE(r->rules[2].backends.empty());               // its own Function
}

TEST(CompileRouteTest, BadBackendRefsNameTheField) {
  struct Case {
    const char* refs;
    const char* error;
  } cases[] = {
      {R"([{"port":80}])", "rules[0].backendRefs[0].name: required"},
      {R"([{"name":"a","weight":-1}])", "rules[0].backendRefs[0].weight: must be in 0..1000000"},
      {R"([{"name":"a","port":70000}])", "rules[0].backendRefs[0].port: must be in 1..65535"},
      {R"([{"name":"a","kind":"Bucket","group":"s3"}])", "rules[0].backendRefs[0]: only Services"},
      {R"([{"name":"a","filters":[{"type":"RequestRedirect","requestRedirect":{"hostname":"x"}}]}])",
       "rules[0].backendRefs[0].filters: RequestRedirect applies to a rule"},
      {R"([{"name":"a","filters":[{"type":"RequestMirror"}]}])", "rules[0].backendRefs[0].filters[0].type"},
  };
  for (const Case& c : cases) {
    auto r = CompileRoute("default", "f", Spec(std::string(R"({"rules":[{"backendRefs":)") + c.refs + "}]}"),
                          GatewayConfig{}, 1);
    ASSERT_FALSE(r.ok()) << c.refs;
    EXPECT_NE(r.status().message().find(c.error), std::string::npos) << r.status().message();
  }
}

TEST(HostnameIntersectionTest, GatewayApiRules) {
  struct Case {
    const char* listener;
    std::vector<std::string> route;
    std::vector<std::string> want;
  } cases[] = {
      {"*.example.com", {"very.specific.example.com"}, {"very.specific.example.com"}},
      {"*.example.com", {"example.com"}, {}},  // a wildcard needs at least one more label
      {"*.example.com", {"*.wildcard.example.com"}, {"*.wildcard.example.com"}},
      {"foo.example.com", {"*.example.com"}, {"foo.example.com"}},
      {"*.foo.example.com", {"*.example.com"}, {"*.foo.example.com"}},
      {"foo.example.com", {"bar.example.com"}, {}},
      {"", {"any.example.org"}, {"any.example.org"}},
      {"*.example.com", {}, {"*.example.com"}},
      {"", {}, {"*"}},
      {"*.example.com", {"a.example.com", "b.other.org", "a.example.com"}, {"a.example.com"}},
  };
  for (const Case& c : cases) EXPECT_EQ(IntersectHostnames(c.listener, c.route), c.want) << c.listener;
}

TEST(CompileHttpRouteTest, ParentsPickListenersAndSayWhyNot) {
  GatewayConfig gw;
  gw.listeners = {{"internal", "*.cluster.local", "HTTP", 80, "All"},
                  {"external", "*.ofn.io", "HTTP", 80, "Same"},
                  {"tcp", "", "TCP", 9000, "All"}};
  std::map<std::string, GatewayConfig> gateways{{"openfunction/openfunction", gw}};
  auto compile = [&](const std::string& ns, const std::string& parents, const std::string& rest) {
    return CompileHttpRoute(ns, "r", R"({"parentRefs":)" + parents + rest + "}", gateways, 5);
  };
  const std::string of = R"([{"name":"openfunction","namespace":"openfunction"}])";
  // In the gateway's namespace both HTTP listeners take it.
  CompiledHttpRoute same = compile("openfunction", of, R"(,"hostnames":["a.ofn.io","b.svc.cluster.local"],
      "rules":[{"backendRefs":[{"name":"f"}]}])");
  ASSERT_TRUE(same.route.has_value());
  EXPECT_EQ(same.route->kind, "HTTPRoute");
  EXPECT_EQ(same.route->hostnames, (std::vector<std::string>{"b.svc.cluster.local", "a.ofn.io"}));
  EXPECT_EQ(same.route->internal_host, "");
  EXPECT_EQ(same.route->rules[0].backends[0].ns, "openfunction");
  ASSERT_EQ(same.parents.size(), 1u);
  EXPECT_EQ(same.parents[0].status, "True");
  // From another namespace only the internal listener (from: All) does.
  CompiledHttpRoute team = compile("team", of, R"(,"hostnames":["a.ofn.io","b.svc.cluster.local"])");
  ASSERT_TRUE(team.route.has_value());
  EXPECT_EQ(team.route->hostnames, (std::vector<std::string>{"b.svc.cluster.local"}));
  struct Case {
    std::string ns, parents, rest, reason;
  } cases[] = {
      {"team", R"([{"name":"openfunction","namespace":"openfunction","sectionName":"external"}])", "",
       "NotAllowedByListeners"},
      {"team", R"([{"name":"openfunction","namespace":"openfunction","sectionName":"nope"}])", "", "NoMatchingParent"},
      {"team", R"([{"name":"missing","namespace":"openfunction"}])", "", "NoMatchingParent"},
      {"team", R"([{"name":"openfunction","namespace":"openfunction","kind":"Service","group":""}])", "",
       "NoMatchingParent"},
      {"team", of, R"(,"hostnames":["x.example.org"])", "NoMatchingListenerHostname"},
      {"team", of, R"(,"rules":[{"matches":[{"path":{"type":"RegularExpression","value":"("}}]}])", "UnsupportedValue"},
  };
  for (const Case& c : cases) {
    CompiledHttpRoute r = compile(c.ns, c.parents, c.rest);
    ASSERT_EQ(r.parents.size(), 1u) << c.parents;
    EXPECT_EQ(r.parents[0].status, "False") << c.parents << c.rest;
    EXPECT_EQ(r.parents[0].reason, c.reason) << c.parents << c.rest << ": " << r.parents[0].message;
    EXPECT_FALSE(r.route.has_value()) << c.parents << c.rest;
  }
}

}  // namespace
}  // namespace ofn::route
