// The Function's status as a pure step: made from what a reconcile pass
// decided (revisions, route, serving state), keeping each condition's
// lastTransitionTime while it does not change. Table-tested in
// tests/unit/platform/status_test.cc.
#ifndef LIBOFN_PLATFORM_INTERNAL_STATUS_H_
#define LIBOFN_PLATFORM_INTERNAL_STATUS_H_

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "libofn/backend/backend.h"
#include "libofn/build/builder.h"
#include "libofn/route/route.h"

namespace ofn::platform::internal {

struct FunctionStatusInput {
  int64_t generation = 0;
  bool has_build = false;  // spec.build is set
  bool has_serving = true;  // spec.serving is set (else: a build-only Function)
  // Where its build stands (null: no builder runs).
  const build::BuildView* build = nullptr;
  std::string image_digest;  // status.revision.imageDigest (the revision controller's type image)
  std::string build_hash, serving_hash;
  // With an HTTP trigger: its Accepted condition, hosts and paths (those
  // only when it compiled).
  std::optional<backend::RouteObservation> route;
  // status.addresses while the route is accepted (RouteAddresses).
  std::vector<std::pair<std::string, std::string>> addresses;
  std::string latest_created, latest_ready;
  std::string serving_state, serving_reason, serving_message;
  std::string service;  // status.serving.service while a split serves it
};

// Canonical status JSON. `old_status` is the status as stored (for the
// conditions' lastTransitionTime), `now` an RFC 3339 time.
std::string MakeFunctionStatus(const FunctionStatusInput& in, const boost::json::object* old_status,
                               const std::string& now);

// What status.route says of a compiled route (null: it did not compile).
backend::RouteObservation ObserveRoute(const route::FunctionRoute* compiled, std::string status = "True",
                                       std::string reason = "Valid", std::string message = "Valid HTTPRoute");
// status.addresses of a route and its tag routes (type "Tag" for those).
std::vector<std::pair<std::string, std::string>> RouteAddresses(
    const route::FunctionRoute& route, const std::vector<const route::FunctionRoute*>& tag_routes);

// An Accepted condition of status.route, keeping the old lastTransitionTime
// when its status and reason did not change.
boost::json::object AcceptedCondition(const boost::json::object* old_status, const std::string& status,
                                      const std::string& reason, const std::string& message, int64_t generation,
                                      const std::string& now);
// A condition of status.route of any type (Accepted, ResolvedRefs), the same way.
boost::json::object RouteCondition(const boost::json::object* old_status, const std::string& type,
                                   const std::string& status, const std::string& reason, const std::string& message,
                                   int64_t generation, const std::string& now);

}  // namespace ofn::platform::internal

#endif  // LIBOFN_PLATFORM_INTERNAL_STATUS_H_
