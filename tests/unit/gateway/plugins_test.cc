// key-auth and key-rate-limit as seed 004 configures them, on a ManualClock;
// the token bucket; WasmPlugin parsing errors.
#include "libofn/gateway/plugins.h"

#include <gtest/gtest.h>

#include "libofn/spec/object.h"

namespace ofn::gateway {
namespace {

using std::chrono::seconds;

// The seed's two WasmPlugins, their spec as JSON.
constexpr const char* kRateLimitSpec = R"({"defaultConfig":{"_rules_":[{"_match_domain_":["hello.default.example.com"],
  "limit_by_header":"x-ca-key","limit_keys":[{"key":123456,"query_per_minute":2}]}]},
  "url":"oci://higress-registry.cn-hangzhou.cr.aliyuncs.com/plugins/key-rate-limit:1.0.0"})";
constexpr const char* kKeyAuthSpec = R"({"defaultConfig":{
  "consumers":[{"credential":"2bda943c-ba2b-11ec-ba07-00163e1250b5","name":"consumer1"},
               {"credential":"c8c8e9ca-558e-4a2d-bb62-e700dcc40e35","name":"consumer2"}],
  "keys":["apikey"],"in_query":true,
  "_rules_":[{"_match_domain_":["hello.default.example.com"],"allow":["consumer2"]}]},
  "url":"oci://higress-registry.cn-hangzhou.cr.aliyuncs.com/plugins/key-auth:1.0.0"})";

spec::PluginConfig Parse(const std::string& name, const std::string& spec) {
  std::vector<spec::PluginError> errors;
  spec::PluginConfig c = spec::ParsePlugin("higress-system", name, spec, &errors);
  EXPECT_TRUE(errors.empty()) << errors.front().path << ": " << errors.front().message;
  return c;
}

HttpRequest Req(const std::string& host, const std::string& target = "/") {
  HttpRequest r;
  r.target = target;
  r.headers.Set("Host", host);
  return r;
}

int StatusOf(const PluginChain& chain, HttpRequest r) {
  auto stop = chain.Check(&r);
  return stop ? stop->status : 200;
}

TEST(TokenBucketTest, FullAtStartThenRefillsContinuously) {
  TokenBucket b(2, std::chrono::minutes(1), seconds(100));
  EXPECT_TRUE(b.Take(seconds(100)));
  EXPECT_TRUE(b.Take(seconds(100)));
  EXPECT_FALSE(b.Take(seconds(100)));
  EXPECT_EQ(b.Wait(seconds(100)), seconds(30));
  EXPECT_FALSE(b.Take(seconds(129)));
  EXPECT_TRUE(b.Take(seconds(130)));   // one token per 30 s
  EXPECT_FALSE(b.Take(seconds(131)));
  EXPECT_TRUE(b.Take(seconds(1000)));  // capped at 2 after a long pause
  EXPECT_TRUE(b.Take(seconds(1000)));
  EXPECT_FALSE(b.Take(seconds(1000)));
}

TEST(PluginsTest, SeedKeyRateLimitSession) {
  ManualClock clock;
  PluginChain chain({Parse("key-rate-limit", kRateLimitSpec)}, &clock, std::make_shared<RateLimits>());
  auto with_key = [](std::string key) {
    HttpRequest r = Req("hello.default.example.com");
    r.headers.Set("x-ca-key", std::move(key));
    return r;
  };
  EXPECT_EQ(StatusOf(chain, with_key("123456")), 200);
  EXPECT_EQ(StatusOf(chain, with_key("123456")), 200);
  HttpRequest third = with_key("123456");
  auto stop = chain.Check(&third);
  ASSERT_TRUE(stop);
  EXPECT_EQ(stop->status, 429);
  EXPECT_EQ(stop->body, "rate_limited");
  EXPECT_EQ(stop->headers.GetOr("Retry-After", ""), "30");
  // Other keys, requests without the header and other domains are not limited.
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(StatusOf(chain, with_key("other")), 200);
    EXPECT_EQ(StatusOf(chain, Req("hello.default.example.com")), 200);
    HttpRequest elsewhere = Req("world.default.example.com");
    elsewhere.headers.Set("x-ca-key", "123456");
    EXPECT_EQ(StatusOf(chain, elsewhere), 200);
  }
  clock.Advance(seconds(30));
  EXPECT_EQ(StatusOf(chain, with_key("123456")), 200);
  EXPECT_EQ(StatusOf(chain, with_key("123456")), 429);
}

TEST(PluginsTest, SeedKeyAuthSession) {
  ManualClock clock;
  PluginChain chain({Parse("key-auth", kKeyAuthSpec)}, &clock, std::make_shared<RateLimits>());
  HttpRequest none = Req("hello.default.example.com");
  auto r = chain.Check(&none);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_NE(r->headers.GetOr("WWW-Authenticate", ""), "");
  EXPECT_EQ(StatusOf(chain, Req("hello.default.example.com", "/?apikey=2bda943c-ba2b-11ec-ba07-00163e1250b5")), 403);
  HttpRequest ok = Req("hello.default.example.com", "/?apikey=c8c8e9ca-558e-4a2d-bb62-e700dcc40e35");
  EXPECT_FALSE(chain.Check(&ok));
  EXPECT_EQ(ok.headers.GetOr("X-Mse-Consumer", ""), "consumer2");
  // The key also counts in a header (in_header defaults to true); a wrong key is 401.
  HttpRequest header = Req("hello.default.example.com");
  header.headers.Set("apikey", "c8c8e9ca-558e-4a2d-bb62-e700dcc40e35");
  EXPECT_FALSE(chain.Check(&header));
  EXPECT_EQ(StatusOf(chain, Req("hello.default.example.com", "/?apikey=nope")), 401);
  // With rules and no global_auth, other domains are open.
  EXPECT_EQ(StatusOf(chain, Req("open.default.example.com")), 200);
}

TEST(PluginsTest, GlobalAuthWildcardDomainsAndMatchRules) {
  ManualClock clock;
  auto spec = [](const std::string& extra) {
    return R"({"pluginName":"key-auth","defaultConfig":{"consumers":[{"name":"a","credential":"ka"},{"name":"b","credential":"kb"}],
      "keys":["x-key"],"in_query":false)" +
           extra + "}}";
  };
  // No rules: global.
  PluginChain global({Parse("p", spec(""))}, &clock, std::make_shared<RateLimits>());
  EXPECT_EQ(StatusOf(global, Req("any.where")), 401);
  EXPECT_EQ(StatusOf(global, Req("any.where", "/?x-key=ka")), 401);  // in_query: false
  // Rules plus global_auth: true: authenticated everywhere, allow only where a rule says.
  PluginChain both({Parse("p", spec(R"(,"global_auth":true,"_rules_":[{"_match_domain_":["*.example.com"],"allow":["a"]}])"))},
                   &clock, std::make_shared<RateLimits>());
  HttpRequest b_elsewhere = Req("other.io");
  b_elsewhere.headers.Set("x-key", "kb");
  EXPECT_FALSE(both.Check(&b_elsewhere));
  HttpRequest b_sub = Req("deep.sub.example.com");
  b_sub.headers.Set("x-key", "kb");
  EXPECT_EQ(both.Check(&b_sub)->status, 403);
  HttpRequest bare = Req("example.com");  // "*.example.com" is subdomains only
  bare.headers.Set("x-key", "kb");
  EXPECT_FALSE(both.Check(&bare));
  EXPECT_TRUE(DomainMatches({"*"}, "anything"));
}

TEST(PluginsTest, InvalidPluginsNameTheField) {
  struct Case {
    const char* name;
    const char* spec;
    const char* path;
    const char* message;
  } cases[] = {
      {"waf", R"({"url":"oci://r/plugins/waf:1.0.0"})", "spec.url", "key-auth and key-rate-limit"},
      {"key-auth", R"({"defaultConfig":{"keys":["k"]}})", "spec.defaultConfig.consumers", "at least one consumer"},
      {"key-auth", R"({"defaultConfig":{"consumers":[{"name":"a"}],"keys":["k"]}})",
       "spec.defaultConfig.consumers[0].credential", "required"},
      {"key-auth", R"({"defaultConfig":{"consumers":[{"name":"a","credential":"x"}],"keys":["k"],"in_query":false,"in_header":false}})",
       "spec.defaultConfig", "in_query and in_header"},
      {"key-auth", R"({"defaultConfig":{"consumers":[{"name":"a","credential":"x"}],"keys":["k"],
          "_rules_":[{"_match_domain_":["h"],"allow":["zed"]}]}})",
       "spec.defaultConfig._rules_[0].allow", "no consumer is named \"zed\""},
      {"key-rate-limit", R"({"defaultConfig":{"_rules_":[{"_match_domain_":["h"],"limit_by_header":"k","limit_by_param":"p",
          "limit_keys":[{"key":"1","query_per_second":1}]}]}})",
       "spec.defaultConfig._rules_[0]", "exactly one of limit_by_header and limit_by_param"},
      {"key-rate-limit", R"({"defaultConfig":{"_rules_":[{"_match_domain_":["h"],"limit_by_header":"k",
          "limit_keys":[{"key":"1","query_per_second":1,"query_per_day":5}]}]}})",
       "spec.defaultConfig._rules_[0].limit_keys[0]", "exactly one of query_per_second"},
      {"key-rate-limit", R"({"defaultConfig":{"_rules_":[{"limit_by_header":"k","limit_keys":[{"key":"1","query_per_hour":0}]}]}})",
       "spec.defaultConfig._rules_[0].limit_keys[0].query_per_hour", "positive integer"},
  };
  for (const Case& c : cases) {
    std::vector<spec::PluginError> errors;
    spec::ParsePlugin("ns", c.name, c.spec, &errors);
    bool found = false;
    for (const auto& e : errors) found = found || (e.path == c.path && e.message.find(c.message) != std::string::npos);
    std::string all;
    for (const auto& e : errors) all += e.path + ": " + e.message + "\n";
    EXPECT_TRUE(found) << c.spec << "\n" << all;
  }
}

TEST(PluginsTest, TheSeedsManifestsApplyUnchanged) {
  const std::string yaml = R"(apiVersion: extensions.higress.io/v1alpha1
kind: WasmPlugin
metadata:
  name: key-rate-limit
  namespace: higress-system
spec:
  defaultConfig:
    _rules_:
    - _match_domain_:
      - "hello.default.example.com"
      limit_by_header: x-ca-key
      limit_keys:
      - key: 123456
        query_per_minute: 2
  url: oci://higress-registry.cn-hangzhou.cr.aliyuncs.com/plugins/key-rate-limit:1.0.0
---
apiVersion: extensions.higress.io/v1alpha1
kind: WasmPlugin
metadata:
  name: key-auth
  namespace: higress-system
spec:
  defaultConfig:
    consumers:
    - credential: 2bda943c-ba2b-11ec-ba07-00163e1250b5
      name: consumer1
    - credential: c8c8e9ca-558e-4a2d-bb62-e700dcc40e35
      name: consumer2
    keys:
    - apikey
    in_query: true
    _rules_:
    - _match_domain_:
      - "hello.default.example.com"
      allow:
      - consumer2
  url: oci://higress-registry.cn-hangzhou.cr.aliyuncs.com/plugins/key-auth:1.0.0
)";
  spec::ParseResult r = spec::ParseManifests(yaml, "plugins.yaml");
  std::string all;
  for (const auto& d : r.diagnostics) all += d.ToString() + "\n";
  ASSERT_TRUE(r.ok()) << all;
  ASSERT_EQ(r.objects.size(), 2u);
  std::string bad = yaml.substr(0, yaml.find("---")) ;
  bad.replace(bad.find("query_per_minute: 2"), 19, "query_per_minute: -1");
  spec::ParseResult b = spec::ParseManifests(bad, "bad.yaml");
  ASSERT_FALSE(b.ok());
  bool named = false;
  for (const auto& d : b.diagnostics) named = named || d.ToString().find("query_per_minute") != std::string::npos;
  EXPECT_TRUE(named);
}

}  // namespace
}  // namespace ofn::gateway
