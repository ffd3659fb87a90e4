// RouteTable: Gateway API match semantics and precedence, as a table.
#include "libofn/route/table.h"

#include <gtest/gtest.h>

namespace ofn::route {
namespace {

FunctionRoute Make(const std::string& name, int64_t created, const std::string& host, const std::string& rules) {
  std::string spec = R"({"serving":{"triggers":{"http":{"route":{"hostnames":[")" + host + R"("],"rules":)" + rules +
                     "}}}}}";
  auto r = CompileRoute("default", name, spec, GatewayConfig{}, created);
  EXPECT_TRUE(r.ok()) << name << ": " << r.status().ToString();
  return *r;
}

std::string Prefix(const std::string& p, const std::string& extra = "") {
  return R"([{"matches":[{"path":{"type":"PathPrefix","value":")" + p + "\"}" + extra + "}]}]";
}

class PrecedenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<FunctionRoute> routes = {
        Make("exact-api", 1, "api.example.com", R"([{"matches":[{"path":{"type":"Exact","value":"/v1/users"}}]}])"),
        Make("prefix-v1", 2, "api.example.com", Prefix("/v1")),
        Make("prefix-root", 3, "api.example.com", Prefix("/")),
        Make("regex-items", 4, "api.example.com",
             R"([{"matches":[{"path":{"type":"RegularExpression","value":"/v1/items/[0-9]+"}}]}])"),
        Make("method-post", 5, "api.example.com", Prefix("/v1", R"(,"method":"POST")")),
        Make("header-one", 6, "api.example.com", Prefix("/v1", R"(,"headers":[{"name":"x-env","value":"canary"}])")),
        Make("header-two", 7, "api.example.com",
             Prefix("/v1", R"(,"headers":[{"name":"x-env","value":"canary"},{"name":"X-User","type":"RegularExpression","value":"a.*"}])")),
        Make("query-one", 8, "api.example.com", Prefix("/v1", R"(,"queryParams":[{"name":"debug","value":"1"}])")),
        Make("wild-short", 9, "*.example.com", Prefix("/")),
        Make("wild-long", 10, "*.svc.example.com", Prefix("/")),
        Make("older-tie", 11, "tie.example.com", Prefix("/x", R"(,"headers":[{"name":"a","value":"1"}])")),
        Make("newer-tie", 12, "tie.example.com", Prefix("/x", R"(,"headers":[{"name":"b","value":"1"}])")),
        Make("trailing", 13, "trail.example.com", Prefix("/foo/")),
        Make("beta", 20, "name.example.com", Prefix("/n", R"(,"headers":[{"name":"g","value":"1"}])")),
        Make("alpha", 20, "name.example.com", Prefix("/n", R"(,"headers":[{"name":"h","value":"1"}])")),
    };
    std::vector<Rejection> rejected;
    table_ = RouteTable::Build(routes, &rejected);
    EXPECT_TRUE(rejected.empty());
  }
  RouteTable table_;
};

struct Case {
  std::string host, method, target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string want;  // function name, "" for no match
};

TEST_F(PrecedenceTest, Table) {
  const std::vector<Case> cases = {
      {"api.example.com", "GET", "/v1/users", {}, "exact-api"},
      {"api.example.com", "GET", "/v1/users/", {}, "prefix-v1"},
      {"api.example.com", "POST", "/v1/users", {}, "exact-api"},
      {"api.example.com", "POST", "/v1/other", {}, "method-post"},
      {"api.example.com", "GET", "/v1/other", {}, "prefix-v1"},
      {"api.example.com", "GET", "/v1", {}, "prefix-v1"},
      {"api.example.com", "GET", "/v1/", {}, "prefix-v1"},
      {"api.example.com", "GET", "/v10", {}, "prefix-root"},
      {"api.example.com", "GET", "/v1x/y", {}, "prefix-root"},
      {"api.example.com", "GET", "/", {}, "prefix-root"},
      {"api.example.com", "GET", "/v1/items/42", {}, "regex-items"},
      {"api.example.com", "GET", "/v1/items/abc", {}, "prefix-v1"},
      {"api.example.com", "GET", "/v1/items/42/x", {}, "prefix-v1"},
      {"api.example.com", "POST", "/v1/items/42", {}, "regex-items"},
      {"api.example.com", "GET", "/v1/x", {{"x-env", "canary"}}, "header-one"},
      {"api.example.com", "GET", "/v1/x", {{"x-env", "canary"}, {"x-user", "alice"}}, "header-two"},
      {"api.example.com", "GET", "/v1/x", {{"x-env", "canary"}, {"x-user", "bob"}}, "header-one"},
      {"api.example.com", "GET", "/v1/x", {{"X-ENV", "canary"}}, "header-one"},
      {"api.example.com", "GET", "/v1/x", {{"x-env", "Canary"}}, "prefix-v1"},
      {"api.example.com", "GET", "/v1/x?debug=1", {}, "query-one"},
      {"api.example.com", "GET", "/v1/x?debug=2", {}, "prefix-v1"},
      {"api.example.com", "GET", "/v1/x?a=b&debug=1", {}, "query-one"},
      {"api.example.com", "GET", "/v1/x?debug=1", {{"x-env", "canary"}}, "header-one"},
      {"api.example.com", "POST", "/v1/x", {{"x-env", "canary"}}, "method-post"},
      {"api.example.com", "GET", "/v1/x?debug=%31", {}, "query-one"},
      {"API.Example.COM:8080", "GET", "/v1/users", {}, "exact-api"},
      {"foo.example.com", "GET", "/", {}, "wild-short"},
      {"a.b.example.com", "GET", "/deep", {}, "wild-short"},
      {"example.com", "GET", "/", {}, ""},
      {"x.svc.example.com", "GET", "/", {}, "wild-long"},
      {"svc.example.com", "GET", "/", {}, "wild-short"},
      {"unknown.org", "GET", "/", {}, ""},
      {"tie.example.com", "GET", "/x", {{"a", "1"}, {"b", "1"}}, "older-tie"},
      {"tie.example.com", "GET", "/x", {{"b", "1"}}, "newer-tie"},
      {"tie.example.com", "GET", "/x", {}, ""},
      {"trail.example.com", "GET", "/foo", {}, "trailing"},
      {"trail.example.com", "GET", "/foo/bar", {}, "trailing"},
      {"trail.example.com", "GET", "/foobar", {}, ""},
      {"trail.example.com", "GET", "/other", {}, ""},
      {"name.example.com", "GET", "/n", {{"h", "1"}, {"g", "1"}}, "alpha"},
      {"name.example.com", "GET", "/n", {{"g", "1"}}, "beta"},
      {"exact-api.default.svc.cluster.local", "GET", "/v1/users", {}, "exact-api"},
      {"exact-api.default.svc.cluster.local", "GET", "/other", {}, ""},
      {"prefix-root.default.svc.cluster.local", "GET", "/anything", {}, "prefix-root"},
      {"api.example.com", "GET", "/v1/users?x=1", {}, "exact-api"},
      {"api.example.com", "HEAD", "/v1/other", {}, "prefix-v1"},
  };
  ASSERT_GE(cases.size(), 40u);
  for (const Case& c : cases) {
    HttpRequest req;
    req.method = c.method;
    req.target = c.target;
    req.headers.Add("Host", c.host);
    for (const auto& [k, v] : c.headers) req.headers.Add(k, v);
    auto hit = table_.Find(req);
    std::string got = hit ? table_.route(hit->route).name : "";
    EXPECT_EQ(got, c.want) << c.method << " " << c.host << c.target;
  }
}

TEST(PrefixMatchesTest, IsSegmentWise) {
  EXPECT_TRUE(PrefixMatches("/", "/anything"));
  EXPECT_TRUE(PrefixMatches("/foo", "/foo"));
  EXPECT_TRUE(PrefixMatches("/foo", "/foo/"));
  EXPECT_TRUE(PrefixMatches("/foo/", "/foo"));
  EXPECT_TRUE(PrefixMatches("/foo", "/foo/bar"));
  EXPECT_FALSE(PrefixMatches("/foo", "/foobar"));
  EXPECT_FALSE(PrefixMatches("/foo/bar", "/foo"));
}

TEST(ConflictTest, TheLaterRouteIsRejectedAndTheEarlierKeepsServing) {
  std::vector<FunctionRoute> routes = {
      Make("second", 2, "sample.ofn.io", Prefix("/app/")),
      Make("first", 1, "sample.ofn.io", Prefix("/app")),
      Make("other-path", 3, "sample.ofn.io", Prefix("/other")),
      Make("with-header", 4, "sample.ofn.io", Prefix("/app", R"(,"headers":[{"name":"x","value":"1"}])")),
  };
  std::vector<Rejection> rejected;
  RouteTable t = RouteTable::Build(routes, &rejected);
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(t.route(rejected[0].route).name, "second");
  EXPECT_EQ(rejected[0].reason, "Conflicted");
  EXPECT_NE(rejected[0].message.find("sample.ofn.io"), std::string::npos);
  EXPECT_NE(rejected[0].message.find("default/first"), std::string::npos);
  auto hit = t.Find("sample.ofn.io", "GET", "/app/x", Headers());
  ASSERT_TRUE(hit);
  EXPECT_EQ(t.route(hit->route).name, "first");
  // The rejected route is out entirely, internal host included.
  EXPECT_FALSE(t.Find("second.default.svc.cluster.local", "GET", "/app", Headers()));
  EXPECT_TRUE(t.Find("other-path.default.svc.cluster.local", "GET", "/other", Headers()));
}

TEST(ConflictTest, AHostOnlyARejectedRouteHadFallsBackToAWildcard) {
  // "loser" conflicts on shared.io and is rejected whole, so its own host
  // solo.io has no accepted route: a request to it is the wildcard's, as
  // if solo.io had never been named.
  std::vector<FunctionRoute> routes = {
      Make("winner", 1, "shared.io", Prefix("/")),
      Make("wild", 2, "*.io", Prefix("/")),
  };
  FunctionRoute loser = Make("loser", 3, "shared.io", Prefix("/"));
  loser.hostnames.push_back("solo.io");
  routes.push_back(loser);
  std::vector<Rejection> rejected;
  RouteTable t = RouteTable::Build(routes, &rejected);
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(t.route(rejected[0].route).name, "loser");
  auto hit = t.Find("solo.io", "GET", "/", Headers());
  ASSERT_TRUE(hit);
  EXPECT_EQ(t.route(hit->route).name, "wild");
  hit = t.Find("shared.io", "GET", "/", Headers());
  ASSERT_TRUE(hit);
  EXPECT_EQ(t.route(hit->route).name, "winner");
}

TEST(ConflictTest, ResolutionDoesNotDependOnInputOrder) {
  for (int flip = 0; flip < 2; ++flip) {
    std::vector<FunctionRoute> routes = {Make("a", 5, "h.io", Prefix("/")), Make("b", 4, "h.io", Prefix("/"))};
    if (flip) std::swap(routes[0], routes[1]);
    std::vector<Rejection> rejected;
    RouteTable t = RouteTable::Build(routes, &rejected);
    ASSERT_EQ(rejected.size(), 1u);
    EXPECT_EQ(t.route(rejected[0].route).name, "a");
  }
}

TEST(QueryTest, DecodesComponents) {
  EXPECT_EQ(DecodeQueryComponent("a%20b+c"), "a b c");
  EXPECT_EQ(DecodeQueryComponent("100%"), "100%");
  EXPECT_EQ(DecodeQueryComponent("%zz"), "%zz");
}

// Expressions that backtrack exponentially, or recurse per character, in a
// backtracking engine (fuzz_route found std::regex taking over 10 s on one
// request) are matched by RE2 in time linear in the path, with a bounded
// stack: an 8 KB path of the worst kind is answered at once.
TEST(RouteRegexTest, HostileExpressionsAndPathsAreMatchedWithoutBacktracking) {
  std::vector<FunctionRoute> routes = {
      Make("nested", 1, "re.example.com", R"([{"matches":[{"path":{"type":"RegularExpression","value":"/(a+)+b"}}]}])"),
      Make("alt", 2, "re.example.com",
           R"([{"matches":[{"path":{"type":"PathPrefix","value":"/"},"headers":[{"name":"x","type":"RegularExpression","value":"(a|aa)*c"}]}]}])"),
  };
  RouteTable table = RouteTable::Build(routes, nullptr);
  std::string long_a = "/" + std::string(8000, 'a');
  Headers as;
  as.Add("x", std::string(8000, 'a'));
  auto miss = table.Find("re.example.com", "GET", long_a, as);
  EXPECT_FALSE(miss);
  auto hit = table.Find("re.example.com", "GET", long_a + "b", Headers());
  ASSERT_TRUE(hit);
  EXPECT_EQ(table.route(hit->route).name, "nested");
  Headers asc;
  asc.Add("x", std::string(8000, 'a') + "c");
  auto header_hit = table.Find("re.example.com", "GET", "/x", asc);
  ASSERT_TRUE(header_hit);
  EXPECT_EQ(table.route(header_hit->route).name, "alt");
}

}  // namespace
}  // namespace ofn::route
