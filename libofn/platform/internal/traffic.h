// Pure steps of the reconciler, table-tested (tests/unit/platform/steps_test.cc):
// which spec changes make a revision, which revisions get traffic, under
// which tags, and which old revisions are collected. No store, no clock.
#ifndef LIBOFN_PLATFORM_INTERNAL_TRAFFIC_H_
#define LIBOFN_PLATFORM_INTERNAL_TRAFFIC_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ofn::platform::internal {

// One entry of spec.traffic (Knative's TrafficTarget); no spec.traffic is
// one target: latest, 100 %.
struct TrafficTarget {
  std::string revision_name;  // as written (may be empty)
  bool latest = false;
  int percent = 0;
  std::string tag;
};

// What traffic resolution needs to know of a revision.
struct RevisionReadiness {
  std::string name;
  bool ready = false;
  std::string message;  // why it is not ready, if known
};

struct TrafficResolution {
  // Empty when every target resolved; else why not (the last good split
  // stays in place).
  std::string unresolved;
  std::map<std::string, int> percents;                  // revision -> percent (> 0 only)
  std::vector<std::pair<std::string, std::string>> tags;  // (tag, revision)
};

// Resolves targets against the revisions (oldest first): latestRevision
// means the latest ready one; a target naming a missing or unready
// revision leaves the whole split unresolved.
TrafficResolution ResolveTraffic(std::string_view function, const std::vector<TrafficTarget>& targets,
                                 const std::vector<RevisionReadiness>& revisions);

// The name of a Function's revision number `number`: "hello-00001".
std::string RevisionName(std::string_view function, int64_t number);

// What a Function's spec (canonical JSON) means for its revisions: the
// serving part (image, version, serving, workloadRuntime,
// imageCredentials) as stored with a revision, its hash, the build's hash,
// and whether it differs from the newest revision's (then the next
// revision is `number`, named `name`).
struct RevisionStep {
  std::string serving_spec;  // canonical JSON of the serving part
  std::string serving_hash, build_hash;
  bool create = false;
  int64_t number = 0;
  std::string name;
};
struct LatestRevision {
  int64_t number = 0;
  std::string spec_hash;
};
RevisionStep NextRevision(std::string_view function, std::string_view spec_json,
                          const std::optional<LatestRevision>& latest);

// Revisions (oldest first) to delete: beyond `history` of those `keep` does
// not hold on to, the newest kept first.
std::vector<std::string> RevisionsToCollect(const std::vector<std::string>& revisions,
                                            const std::function<bool(const std::string&)>& keep, int history);

}  // namespace ofn::platform::internal

#endif  // LIBOFN_PLATFORM_INTERNAL_TRAFFIC_H_
