// The Dapr HTTP API as a Dapr client library calls it, over in-memory
// components: tokens, publish, bindings, state (keys prefixed per app,
// etags, bulk, transactions) and Dapr's error answers.
#include "libofn/platform/internal/dapr_api.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace ofn::platform::internal {
namespace {

class NoOffsets final : public events::ComponentEnv {
 public:
  Clock* clock() override { return &clock_; }
  Result<std::string> GetOffset(const std::string&) override { return Status(StatusCode::kNotFound, ""); }
  Status SetOffset(const std::string&, const std::string&) override { return Status::Ok(); }
  ManualClock clock_;
};

events::ComponentSpec Component(const std::string& name, const std::string& type,
                                std::map<std::string, std::string> md = {}) {
  events::ComponentSpec c;
  c.ns = "default";
  c.name = name;
  c.type = type;
  c.metadata = std::move(md);
  return c;
}

class DaprApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    events::RegisterBuiltinComponents(&registry_);
    runtime_ = std::make_unique<AsyncRuntime>(
        &registry_, &env_, &env_.clock_,
        [this](const std::string&, const std::string& fn, HttpRequest r, std::function<void(HttpResponse)> done) {
          delivered_.push_back(fn + " " + r.target + " " + r.body);
          done(HttpResponse::Text(200, ""));
          return true;
        },
        AsyncRuntime::Options{});
    std::vector<AsyncFunction> fns;
    for (const char* name : {"alpha", "beta"}) {
      AsyncFunction f;
      f.ns = "default";
      f.name = name;
      f.components["bus"] = Component("bus", "pubsub.in-memory");
      f.components["store"] = Component("store", "state.in-memory");
      f.components["shared"] = Component("shared", "state.in-memory", {{"keyPrefix", "name"}});
      fns.push_back(f);
    }
    // beta reads the topic alpha publishes to.
    fns[1].inputs.push_back({"bus", Component("bus", "pubsub.in-memory"), "orders"});
    runtime_->Set(fns);
  }
  HttpResponse Call(const std::string& app, const std::string& method, const std::string& target,
                    const std::string& body = "", std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    if (!app.empty()) r.headers.Set("dapr-api-token", runtime_->TokenOf("default", app));
    for (auto& [k, v] : headers) r.headers.Set(k, v);
    return HandleDaprApi(*runtime_, r);
  }
  static std::string Code(const HttpResponse& r) {
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    return !ec && v.is_object() && v.as_object().contains("errorCode")
               ? std::string(v.as_object().at("errorCode").as_string())
               : "";
  }

  events::ComponentRegistry registry_;
  NoOffsets env_;
  std::vector<std::string> delivered_;
  std::unique_ptr<AsyncRuntime> runtime_;
};

TEST_F(DaprApiTest, TheTokenSaysWhoCalls) {
  EXPECT_EQ(Call("", "GET", "/v1.0/healthz").status, 204);  // health needs no token
  HttpResponse none = Call("", "GET", "/v1.0/metadata");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(Code(none), "ERR_UNAUTHORIZED");
  HttpRequest forged;
  forged.target = "/v1.0/metadata";
  forged.headers.Set("dapr-api-token", "guessed");
  EXPECT_EQ(HandleDaprApi(*runtime_, forged).status, 401);
  HttpResponse md = Call("alpha", "GET", "/v1.0/metadata");
  EXPECT_EQ(md.status, 200);
  EXPECT_NE(md.body.find("\"id\":\"alpha\""), std::string::npos) << md.body;
  EXPECT_NE(runtime_->TokenOf("default", "alpha"), runtime_->TokenOf("default", "beta"));
}

TEST_F(DaprApiTest, PublishReachesTheSubscribersAsACloudEvent) {
  HttpResponse r = Call("alpha", "POST", "/v1.0/publish/bus/orders", "{\"id\":7}", {{"Content-Type", "application/json"}});
  EXPECT_EQ(r.status, 204) << r.body;
  ASSERT_EQ(delivered_.size(), 1u);
  EXPECT_EQ(delivered_[0].substr(0, 10), "beta /bus ");
  EXPECT_NE(delivered_[0].find("\"data\":{\"id\":7}"), std::string::npos) << delivered_[0];
  EXPECT_NE(delivered_[0].find("\"source\":\"alpha\""), std::string::npos) << delivered_[0];
  HttpResponse unknown = Call("alpha", "POST", "/v1.0/publish/nope/orders", "x");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(Code(unknown), "ERR_PUBSUB_NOT_FOUND");
  EXPECT_NE(unknown.body.find("it reaches: bus, shared, store"), std::string::npos) << unknown.body;
  HttpResponse wrong = Call("alpha", "POST", "/v1.0/publish/store/orders", "x");
  EXPECT_EQ(wrong.status, 400);
  EXPECT_NE(wrong.body.find("is a state.in-memory, not a pub/sub"), std::string::npos) << wrong.body;
}

TEST_F(DaprApiTest, StateIsPerAppUnlessTheStoreSharesItAndEtagsGuardWrites) {
  EXPECT_EQ(Call("alpha", "POST", "/v1.0/state/store", R"([{"key":"k","value":{"n":1}}])").status, 204);
  HttpResponse got = Call("alpha", "GET", "/v1.0/state/store/k");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, "{\"n\":1}");
  const std::string etag(got.headers.GetOr("ETag", ""));
  EXPECT_FALSE(etag.empty());
  EXPECT_EQ(Call("beta", "GET", "/v1.0/state/store/k").status, 204);  // another app's key
  EXPECT_EQ(Call("alpha", "POST", "/v1.0/state/shared", R"([{"key":"k","value":"v"}])").status, 204);
  EXPECT_EQ(Call("beta", "GET", "/v1.0/state/shared/k").body, "\"v\"");  // keyPrefix: name
  // A stale etag is a conflict and changes nothing.
  EXPECT_EQ(Call("alpha", "POST", "/v1.0/state/store", R"([{"key":"k","value":2,"etag":")" + etag + "\"}]").status, 204);
  HttpResponse stale = Call("alpha", "POST", "/v1.0/state/store", R"([{"key":"k","value":3,"etag":")" + etag + "\"}]");
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(Code(stale), "ERR_STATE_SAVE");
  EXPECT_EQ(Call("alpha", "GET", "/v1.0/state/store/k").body, "2");
  // Bulk and transactions.
  EXPECT_EQ(Call("alpha", "POST", "/v1.0/state/store/transaction",
                 R"({"operations":[{"operation":"upsert","request":{"key":"a","value":"x"}},)"
                 R"({"operation":"delete","request":{"key":"k"}}]})")
                .status,
            204);
  HttpResponse bulk = Call("alpha", "POST", "/v1.0/state/store/bulk", R"({"keys":["a","k"]})");
  EXPECT_EQ(bulk.status, 200);
  EXPECT_NE(bulk.body.find("{\"key\":\"a\",\"data\":\"x\""), std::string::npos) << bulk.body;
  EXPECT_NE(bulk.body.find("{\"key\":\"k\"}"), std::string::npos) << bulk.body;
  EXPECT_EQ(Call("alpha", "DELETE", "/v1.0/state/store/a", "", {{"If-Match", "999"}}).status, 409);
  EXPECT_EQ(Call("alpha", "DELETE", "/v1.0/state/store/a").status, 204);
  EXPECT_EQ(Call("alpha", "GET", "/v1.0/state/store/a").status, 204);
  // Malformed requests are 400 with Dapr's code.
  HttpResponse bad = Call("alpha", "POST", "/v1.0/state/store", "{not json");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(Code(bad), "ERR_MALFORMED_REQUEST");
  EXPECT_EQ(Call("alpha", "GET", "/v1.0/state/nostore/k").status, 400);
  EXPECT_EQ(Call("alpha", "GET", "/v1.0/actors/x").status, 404);
}

}  // namespace
}  // namespace ofn::platform::internal
