#include "libofn/platform/internal/status.h"

#include <boost/json.hpp>

#include "libofn/common/internal/json_access.h"
#include "libofn/spec/internal/emit.h"

namespace ofn::platform::internal {

namespace json = boost::json;
using ofn::internal::At;
using ofn::internal::Obj;
using ofn::internal::Str;

json::object AcceptedCondition(const json::object* old_status, const std::string& status, const std::string& reason,
                               const std::string& message, int64_t generation, const std::string& now) {
  return RouteCondition(old_status, "Accepted", status, reason, message, generation, now);
}

json::object RouteCondition(const json::object* old_status, const std::string& type, const std::string& status,
                            const std::string& reason, const std::string& message, int64_t generation,
                            const std::string& now) {
  std::string time = now;
  if (const json::value* conds = At(Obj(At(old_status, "route")), "conditions"); conds && conds->is_array()) {
    for (const json::value& c : conds->as_array()) {
      const json::object* co = Obj(&c);
      if (Str(co, "type") == type && Str(co, "status") == status && Str(co, "reason") == reason) {
        time = Str(co, "lastTransitionTime");
      }
    }
  }
  json::object c;
  c["type"] = type;
  c["status"] = status;
  c["reason"] = reason;
  c["message"] = message;
  c["lastTransitionTime"] = time;
  c["observedGeneration"] = generation;
  return c;
}

backend::RouteObservation ObserveRoute(const route::FunctionRoute* compiled, std::string status, std::string reason,
                                       std::string message) {
  backend::RouteObservation r;
  r.status = std::move(status);
  r.reason = std::move(reason);
  r.message = std::move(message);
  if (compiled) {
    r.gateway = compiled->gateway;
    r.hosts = compiled->AllHosts();
    r.paths = route::StatusPaths(*compiled);
  }
  return r;
}

std::vector<std::pair<std::string, std::string>> RouteAddresses(
    const route::FunctionRoute& route, const std::vector<const route::FunctionRoute*>& tag_routes) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const route::Address& a : route::Addresses(route)) out.emplace_back(a.type, a.value);
  for (const route::FunctionRoute* tr : tag_routes) {
    for (const route::Address& a : route::Addresses(*tr)) {
      if (a.type == "External") out.emplace_back("Tag", a.value);
    }
  }
  return out;
}

std::string MakeFunctionStatus(const FunctionStatusInput& in, const json::object* old_status, const std::string& now) {
  json::object st;
  if (in.route && in.route->status == "True" && !in.route->hosts.empty()) {
    json::array addrs;
    for (const auto& [type, value] : in.addresses) addrs.push_back(json::object{{"type", type}, {"value", value}});
    st["addresses"] = std::move(addrs);
  }
  json::object build;
  build["resourceHash"] = in.build_hash;
  if (in.has_build && in.build) {
    const build::BuildView& b = *in.build;
    build["state"] = b.state.empty() ? "Building" : b.state;
    if (!b.reason.empty()) build["reason"] = b.reason;
    if (!b.message.empty()) build["message"] = b.message;
    if (!b.name.empty()) build["resourceRef"] = b.name;
    if (b.serving) build["lastSuccessfulResourceRef"] = b.serving->build;
    if (!b.duration.empty()) build["buildDuration"] = b.duration;
    std::string commit = b.commit.empty() && b.serving ? b.serving->commit : b.commit;
    if (!commit.empty()) {
      json::object source{{"name", "default"}};
      if (commit.rfind("dir:", 0) == 0 || commit.rfind("sha256:", 0) == 0) {
        source["bundle"] = json::object{{"digest", commit}};
      } else {
        source["git"] = json::object{{"commitSha", commit}};
      }
      st["sources"] = json::array{std::move(source)};
    }
  } else if (in.has_build) {
    build["state"] = "Pending";
    build["reason"] = "NoBuilder";
    build["message"] = "no image builder is enabled; serving spec.image as it is";
  } else {
    build["state"] = "Skipped";
  }
  st["build"] = std::move(build);
  if (!in.image_digest.empty()) st["revision"] = json::object{{"imageDigest", in.image_digest}};
  if (in.route) {
    json::object r;
    json::array conditions{
        AcceptedCondition(old_status, in.route->status, in.route->reason, in.route->message, in.generation, now)};
    if (in.route->has_backend_refs) {
      conditions.push_back(RouteCondition(old_status, "ResolvedRefs", in.route->refs_status, in.route->refs_reason,
                                          in.route->refs_message, in.generation, now));
    }
    r["conditions"] = std::move(conditions);
    if (!in.route->hosts.empty()) {
      json::array hosts, paths;
      for (const std::string& h : in.route->hosts) hosts.push_back(json::value(h));
      for (const auto& [type, value] : in.route->paths) paths.push_back(json::object{{"type", type}, {"value", value}});
      r["hosts"] = std::move(hosts);
      r["paths"] = std::move(paths);
    }
    st["route"] = std::move(r);
  }
  if (!in.has_serving) return json::serialize(spec::internal::Canonical(st));
  json::object serving;
  serving["resourceHash"] = in.serving_hash;
  serving["resourceRef"] = in.latest_created;
  serving["state"] = in.serving_state;
  if (!in.serving_reason.empty()) {
    serving["reason"] = in.serving_reason;
    serving["message"] = in.serving_message;
  }
  if (!in.latest_ready.empty()) {
    serving["lastSuccessfulResourceRef"] = in.latest_ready;
    if (!in.service.empty()) serving["service"] = in.service;
  }
  st["serving"] = std::move(serving);
  return json::serialize(spec::internal::Canonical(st));
}

}  // namespace ofn::platform::internal
