// The process backend's pure parts: the restart back-off and an instance's
// environment.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "libofn/backends/process/config.h"
#include "libofn/backends/process/supervisor.h"

namespace ofn::process {
namespace {

using std::chrono::milliseconds;

TEST(RestartBackoffTest, DoublesFromBaseUpToTheCap) {
  struct Case {
    int crashes;
    int base_ms, cap_ms;
    int want_ms;
  } cases[] = {
      {1, 1000, 10000, 1000}, {2, 1000, 10000, 2000}, {3, 1000, 10000, 4000}, {4, 1000, 10000, 8000},
      {5, 1000, 10000, 10000}, {50, 1000, 10000, 10000}, {1, 100, 400, 100},   {3, 100, 400, 400},
      {0, 100, 400, 100},     {1, 500, 300, 300},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(RestartBackoff(c.crashes, milliseconds(c.base_ms), milliseconds(c.cap_ms)), milliseconds(c.want_ms))
        << c.crashes << " crashes, base " << c.base_ms << ", cap " << c.cap_ms;
  }
}

TEST(InstanceEnvironmentTest, HostThenSpecThenContextAndPort) {
  Config cfg;
  cfg.env = {{"FROM_SPEC", "1"}, {"HOME", "/spec-home"}};
  cfg.func_context = R"({"name":"f","triggers":{"http":{"port":8080}},"port":"8080"})";
  std::vector<std::string> env = InstanceEnvironment({"HOME=/root", "PATH=/bin", "PORT=1"}, cfg, 41000);
  auto get = [&](const std::string& k) -> std::string {
    for (const std::string& e : env) {
      if (e.rfind(k + "=", 0) == 0) return e.substr(k.size() + 1);
    }
    return "<absent>";
  };
  EXPECT_EQ(get("PATH"), "/bin");
  EXPECT_EQ(get("HOME"), "/spec-home");  // the spec wins over the host
  EXPECT_EQ(get("FROM_SPEC"), "1");
  EXPECT_EQ(get("PORT"), "41000");
  EXPECT_EQ(get("CONTEXT_MODE"), "self-host");
  boost::json::value ctx = boost::json::parse(get("FUNC_CONTEXT"));
  EXPECT_EQ(ctx.at("port"), "41000");
  EXPECT_EQ(ctx.at("triggers").at("http").at("port"), 41000);
  EXPECT_EQ(ctx.at("name"), "f");
  // A context without triggers gets one for the port.
  cfg.func_context = "{}";
  env = InstanceEnvironment({}, cfg, 5);
  EXPECT_EQ(boost::json::parse(get("FUNC_CONTEXT")).at("triggers").at("http").at("port"), 5);
}

}  // namespace
}  // namespace ofn::process
