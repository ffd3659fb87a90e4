// The Function's status as a pure step.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "libofn/platform/internal/status.h"

namespace ofn::platform::internal {
namespace {

namespace json = boost::json;

route::FunctionRoute Route(const std::string& name, const std::string& spec) {
  auto r = route::CompileRoute("default", name, spec, route::GatewayConfig{}, 1);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return *r;
}

const char kHostBased[] = R"({"serving":{"triggers":{"http":{"port":8080}}}})";

TEST(FunctionStatusTest, AddressesBuildRouteAndServing) {
  route::FunctionRoute r = Route("hello", kHostBased);
  route::FunctionRoute tag = Route("v2-hello", kHostBased);
  FunctionStatusInput in;
  in.generation = 3;
  in.build_hash = "b";
  in.serving_hash = "s";
  in.route = ObserveRoute(&r);
  in.addresses = RouteAddresses(r, {&tag});
  in.latest_created = "hello-00002";
  in.latest_ready = "hello-00001";
  in.serving_state = "Running";
  in.service = "hello-inprocess";
  json::value st = json::parse(MakeFunctionStatus(in, nullptr, "2026-12-01T00:00:00Z"));
  const json::array& addrs = st.at("addresses").as_array();
  ASSERT_GE(addrs.size(), 3u);
  EXPECT_EQ(addrs[0].at("type"), "External");
  EXPECT_EQ(addrs[0].at("value"), "http://hello.default.ofn.io/");
  EXPECT_EQ(addrs.back().at("type"), "Tag");
  EXPECT_EQ(addrs.back().at("value"), "http://v2-hello.default.ofn.io/");
  EXPECT_EQ(st.at("build").at("state"), "Skipped");
  EXPECT_EQ(st.at("route").at("conditions").at(0).at("status"), "True");
  EXPECT_EQ(st.at("route").at("conditions").at(0).at("observedGeneration"), 3);
  EXPECT_EQ(st.at("serving").at("resourceRef"), "hello-00002");
  EXPECT_EQ(st.at("serving").at("lastSuccessfulResourceRef"), "hello-00001");
  EXPECT_EQ(st.at("serving").at("service"), "hello-inprocess");
  EXPECT_FALSE(st.at("serving").as_object().contains("reason"));
}

TEST(FunctionStatusTest, Table) {
  route::FunctionRoute r = Route("hello", kHostBased);
  struct Case {
    const char* name;
    std::function<void(FunctionStatusInput&)> set;
    std::function<void(const json::object&)> check;
  } cases[] = {
      {"a build that no builder runs is Pending with the reason", [](FunctionStatusInput& in) { in.has_build = true; },
       [](const json::object& st) {
         EXPECT_EQ(st.at("build").at("state"), "Pending");
         EXPECT_EQ(st.at("build").at("reason"), "NoBuilder");
       }},
      {"no HTTP trigger: no route, no addresses", [](FunctionStatusInput& in) { in.route.reset(); },
       [](const json::object& st) {
         EXPECT_FALSE(st.contains("route"));
         EXPECT_FALSE(st.contains("addresses"));
       }},
      {"a route not accepted has no addresses and says why",
       [](FunctionStatusInput& in) {
         in.route->status = "False";
         in.route->reason = "Conflicted";
         in.route->message = "taken";
       },
       [](const json::object& st) {
         EXPECT_FALSE(st.contains("addresses"));
         EXPECT_EQ(st.at("route").at("conditions").at(0).at("reason"), "Conflicted");
         EXPECT_EQ(st.at("route").at("hosts").at(0), "hello.default.ofn.io");
       }},
      {"a route that did not compile has a condition but no hosts, and no addresses",
       [](FunctionStatusInput& in) { in.route = ObserveRoute(nullptr, "False", "InvalidRoute", "rules[0]: bad"); },
       [](const json::object& st) {
         EXPECT_FALSE(st.contains("addresses"));
         EXPECT_EQ(st.at("route").at("conditions").at(0).at("reason"), "InvalidRoute");
         EXPECT_FALSE(st.at("route").as_object().contains("hosts"));
       }},
      {"backendRefs add a ResolvedRefs condition after Accepted, saying which refs do not resolve",
       [](FunctionStatusInput& in) {
         in.route->has_backend_refs = true;
         in.route->refs_status = "False";
         in.route->refs_reason = "BackendNotFound";
         in.route->refs_message = "backendRef default/ghost: no Function of that name is served here";
       },
       [](const json::object& st) {
         const json::array& conds = st.at("route").at("conditions").as_array();
         ASSERT_EQ(conds.size(), 2u);
         EXPECT_EQ(conds[0].at("type"), "Accepted");
         EXPECT_EQ(conds[1].at("type"), "ResolvedRefs");
         EXPECT_EQ(conds[1].at("status"), "False");
         EXPECT_EQ(conds[1].at("reason"), "BackendNotFound");
         EXPECT_TRUE(st.contains("addresses"));  // accepted: still served
       }},
      {"without backendRefs only Accepted",
       [](FunctionStatusInput&) {},
       [](const json::object& st) { EXPECT_EQ(st.at("route").at("conditions").as_array().size(), 1u); }},
      {"a failed serving carries its reason and message",
       [](FunctionStatusInput& in) {
         in.serving_state = "Failed";
         in.serving_reason = "NoBackend";
         in.serving_message = "none";
         in.latest_ready.clear();
         in.service = "x";
       },
       [](const json::object& st) {
         EXPECT_EQ(st.at("serving").at("state"), "Failed");
         EXPECT_EQ(st.at("serving").at("reason"), "NoBackend");
         EXPECT_FALSE(st.at("serving").as_object().contains("service"));  // only with a ready revision
       }},
  };
  for (const Case& c : cases) {
    FunctionStatusInput in;
    in.route = ObserveRoute(&r);
    in.addresses = RouteAddresses(r, {});
    in.serving_state = "Running";
    in.latest_ready = "hello-00001";
    c.set(in);
    json::value st = json::parse(MakeFunctionStatus(in, nullptr, "t0"));
    SCOPED_TRACE(c.name);
    c.check(st.as_object());
  }
}

TEST(FunctionStatusTest, AConditionKeepsItsTransitionTimeUntilItChanges) {
  route::FunctionRoute r = Route("hello", kHostBased);
  FunctionStatusInput in;
  in.route = ObserveRoute(&r);
  in.serving_state = "Running";
  json::value first = json::parse(MakeFunctionStatus(in, nullptr, "t0"));
  json::value same = json::parse(MakeFunctionStatus(in, &first.as_object(), "t1"));
  EXPECT_EQ(same.at("route").at("conditions").at(0).at("lastTransitionTime"), "t0");
  in.route->status = "False";
  in.route->reason = "Conflicted";
  json::value changed = json::parse(MakeFunctionStatus(in, &same.as_object(), "t2"));
  EXPECT_EQ(changed.at("route").at("conditions").at(0).at("lastTransitionTime"), "t2");
}

}  // namespace
}  // namespace ofn::platform::internal
