#include "libofn/platform/internal/traffic.h"
#include "libofn/platform/internal/reconciler.h"

#include <boost/json.hpp>
#include <cstdio>

#include "libofn/common/internal/json_access.h"
#include "libofn/spec/internal/emit.h"

namespace ofn::platform::internal {

TrafficResolution ResolveTraffic(std::string_view function, const std::vector<TrafficTarget>& targets,
                                 const std::vector<RevisionReadiness>& revisions) {
  TrafficResolution out;
  std::string latest_ready;
  for (const RevisionReadiness& r : revisions) {
    if (r.ready) latest_ready = r.name;
  }
  for (const TrafficTarget& t : targets) {
    const std::string name = t.latest ? latest_ready : t.revision_name;
    const RevisionReadiness* found = nullptr;
    for (const RevisionReadiness& r : revisions) {
      if (r.name == name) found = &r;
    }
    if (t.latest && name.empty()) {
      out.unresolved = "no revision of " + std::string(function) + " is ready yet";
    } else if (!found) {
      out.unresolved = "revision " + name + " does not exist";
    } else if (!found->ready) {
      out.unresolved = "revision " + name + " is not ready" + (found->message.empty() ? "" : ": " + found->message);
    }
    if (!out.unresolved.empty()) {
      out.percents.clear();
      out.tags.clear();
      return out;
    }
    if (t.percent > 0) out.percents[name] += t.percent;
    if (!t.tag.empty()) out.tags.emplace_back(t.tag, name);
  }
  return out;
}

std::string RevisionName(std::string_view function, int64_t number) {
  char digits[24];
  std::snprintf(digits, sizeof(digits), "%05lld", static_cast<long long>(number));
  return std::string(function) + "-" + digits;
}

std::vector<std::string> RevisionsToCollect(const std::vector<std::string>& revisions,
                                            const std::function<bool(const std::string&)>& keep, int history) {
  std::vector<std::string> out;
  int kept = 0;
  for (auto it = revisions.rbegin(); it != revisions.rend(); ++it) {
    if (keep(*it)) continue;
    if (++kept <= history) continue;
    out.push_back(*it);
  }
  return out;
}

uint64_t Hash64(std::string_view data) {  // FNV-1a
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

RevisionStep NextRevision(std::string_view function, std::string_view spec_json,
                          const std::optional<LatestRevision>& latest) {
  namespace json = boost::json;
  json::value root = ofn::internal::ParseObjectOrEmpty(spec_json);
  const json::object& spec = root.as_object();
  json::object part;
  for (const char* key : {"image", "version", "serving", "workloadRuntime", "imageCredentials", "buildOutput", "imageDigest"}) {
    if (const json::value* v = spec.if_contains(key)) part[key] = *v;
  }
  RevisionStep out;
  out.serving_spec = spec::internal::EmitJson(spec::internal::Canonical(part), false);
  out.serving_hash = std::to_string(Hash64(out.serving_spec));
  const json::value* build = spec.if_contains("build");
  out.build_hash = std::to_string(Hash64(build ? json::serialize(spec::internal::Canonical(*build)) : "{}"));
  out.create = !latest || latest->spec_hash != out.serving_hash;
  if (out.create) {
    out.number = latest ? latest->number + 1 : 1;
    out.name = RevisionName(function, out.number);
  }
  return out;
}

}  // namespace ofn::platform::internal
