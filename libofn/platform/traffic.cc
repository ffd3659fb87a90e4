#include "libofn/platform/internal/traffic.h"

#include <cstdio>

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

}  // namespace ofn::platform::internal
