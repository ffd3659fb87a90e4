// libFuzzer: route compilation from a Function spec (first line, JSON) and
// matching a request against it (then: host, method, target, and header
// lines "name: value"). The first line is also compiled as an HTTPRoute
// spec against a Gateway with two listeners, and matched the same way.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "libofn/route/route.h"
#include "libofn/route/table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto next_line = [&in]() {
    size_t nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
    return line;
  };
  std::string_view spec = next_line();
  static const std::map<std::string, ofn::route::GatewayConfig> gateways = [] {
    ofn::route::GatewayConfig g;
    g.listeners = {{"internal", "*.cluster.local", "HTTP", 80, "All"}, {"any", "", "HTTP", 80, "Same"}};
    return std::map<std::string, ofn::route::GatewayConfig>{{"openfunction/openfunction", g}};
  }();
  ofn::route::CompiledHttpRoute http = ofn::route::CompileHttpRoute("openfunction", "fuzz", spec, gateways, 2);
  auto route = ofn::route::CompileRoute("default", "fuzz", spec, ofn::route::GatewayConfig{}, 1);
  std::vector<ofn::route::FunctionRoute> routes;
  if (route.ok()) routes.push_back(*route);
  if (http.route) routes.push_back(*http.route);
  if (routes.empty()) return 0;
  std::vector<ofn::route::Rejection> rejected;
  ofn::route::RouteTable table = ofn::route::RouteTable::Build(std::move(routes), &rejected);
  std::string host(next_line()), method(next_line()), target(next_line());
  ofn::Headers headers;
  while (!in.empty()) {
    std::string_view line = next_line();
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    headers.Add(std::string(line.substr(0, colon)), std::string(line.substr(colon + 1)));
  }
  (void)table.Find(host, method.empty() ? "GET" : method, target.empty() ? "/" : target, headers);
  return 0;
}
