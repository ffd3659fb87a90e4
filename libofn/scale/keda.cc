#include "libofn/scale/keda.h"

#include <algorithm>
#include <cmath>

namespace ofn::scale {

namespace {

// The HPA leaves the count alone while the usage ratio is within 10 % of 1.
constexpr double kTolerance = 0.1;

// ceil(x) as a replica count: readings can be anything a broker says.
int CeilCount(double x) {
  if (!(x > 0)) return 0;
  return x >= 1e9 ? 1000000000 : static_cast<int>(std::ceil(x));
}

// The HPA's count for one trigger's reading, `current` > 0.
int TriggerRecommendation(const KedaTrigger& t, double value, int current) {
  double target = std::max(t.target, 1e-9);
  if (t.metric_type == KedaMetricType::kValue) {
    double ratio = value / target;
    if (std::abs(ratio - 1.0) <= kTolerance) return current;
    return CeilCount(ratio * current);
  }
  double ratio = value / (target * current);
  if (std::abs(ratio - 1.0) <= kTolerance) return current;
  return CeilCount(value / target);
}

// Replicas added (up) or removed (down) within `period` before now.
int ChangedWithin(const KedaState& state, Clock::Duration now, std::chrono::seconds period, bool up) {
  int sum = 0;
  for (const auto& [t, change] : state.scale_events) {
    if (t <= now - period) continue;
    if (up && change > 0) sum += change;
    if (!up && change < 0) sum -= change;
  }
  return sum;
}

// How far the count may move now under one direction's rules: up, the
// most it may rise to; down, the least it may fall to. Each policy allows a
// change from the count at the start of its period; selectPolicy Max takes
// the policy that allows the greatest change, Min the smallest.
int RateLimit(const HpaRules& rules, const KedaState& state, int current, Clock::Duration now, bool up) {
  if (rules.select == SelectPolicy::kDisabled || rules.policies.empty()) return current;
  const int sign = up ? 1 : -1;
  bool first = true;
  int limit = current;
  for (const HpaPolicy& p : rules.policies) {
    const int start = current - sign * ChangedWithin(state, now, p.period, up);
    int proposed = start + sign * p.value;
    if (p.type == HpaPolicy::Type::kPercent) {
      proposed = up ? CeilCount(start * (1.0 + p.value / 100.0))
                    : static_cast<int>(std::floor(std::max(0.0, start * (1.0 - p.value / 100.0))));
    }
    // In the direction of the change, "greater" for Max; against it for Min.
    const bool take = first || ((sign * proposed > sign * limit) == (rules.select == SelectPolicy::kMax));
    if (take) limit = proposed;
    first = false;
  }
  return up ? std::max(limit, current) : std::min(limit, current);
}

void Prune(const KedaSpec& spec, Clock::Duration now, KedaState* state) {
  auto window = std::max(spec.scale_up.stabilization, spec.scale_down.stabilization);
  while (!state->recommendations.empty() && state->recommendations.front().first <= now - window) {
    state->recommendations.pop_front();
  }
  std::chrono::seconds longest{0};
  for (const HpaRules* r : {&spec.scale_up, &spec.scale_down}) {
    for (const HpaPolicy& p : r->policies) longest = std::max(longest, p.period);
  }
  while (!state->scale_events.empty() && state->scale_events.front().first <= now - longest) {
    state->scale_events.pop_front();
  }
}

// The HPA's step from `current` (> 0) towards `recommendation`.
int Hpa(const KedaSpec& spec, int recommendation, int current, Clock::Duration now, KedaState* state) {
  const int hpa_min = std::max(spec.min_replicas, 1);
  const int hpa_max = std::max(spec.max_replicas, hpa_min);
  if (current > hpa_max) return hpa_max;
  // Stabilization: up to the least recommendation of the up window, down
  // to the greatest of the down window.
  int up = recommendation, down = recommendation;
  for (const auto& [t, r] : state->recommendations) {
    if (t > now - spec.scale_up.stabilization) up = std::min(up, r);
    if (t > now - spec.scale_down.stabilization) down = std::max(down, r);
  }
  state->recommendations.emplace_back(now, recommendation);
  int desired = current;
  if (desired < up) desired = up;
  if (desired > down) desired = down;
  if (desired > current) {
    desired = std::min({desired, RateLimit(spec.scale_up, *state, current, now, true), hpa_max});
  } else if (desired < current) {
    desired = std::max({desired, RateLimit(spec.scale_down, *state, current, now, false), hpa_min});
  }
  return desired;
}

}  // namespace

HpaRules DefaultScaleUp() {
  return HpaRules{std::chrono::seconds(0), SelectPolicy::kMax,
                  {HpaPolicy{HpaPolicy::Type::kPercent, 100, std::chrono::seconds(15)},
                   HpaPolicy{HpaPolicy::Type::kPods, 4, std::chrono::seconds(15)}}};
}

HpaRules DefaultScaleDown() {
  return HpaRules{std::chrono::seconds(300), SelectPolicy::kMax,
                  {HpaPolicy{HpaPolicy::Type::kPercent, 100, std::chrono::seconds(15)}}};
}

int KedaInitialReplicas(const KedaSpec& spec) {
  return spec.job ? 0 : spec.idle_replicas.value_or(spec.min_replicas);
}

int KedaJobBatch(const KedaSpec& spec) {
  return spec.triggers.empty() ? 1 : std::max(1, CeilCount(spec.triggers[0].target));
}

int KedaJobsToStart(const KedaSpec& spec, const std::vector<TriggerReading>& readings, int running, int pending) {
  if (!spec.job) return 0;
  const KedaJobSpec& job = *spec.job;
  bool active = false;
  // Each scaler's queue and its count of jobs, combined as asked.
  double queue = 0, target = 0;
  int n = 0;
  for (size_t i = 0; i < spec.triggers.size() && i < readings.size(); ++i) {
    if (!readings[i].ok) continue;
    const double v = readings[i].value, t = std::max(spec.triggers[i].target, 1e-9);
    active = active || v > spec.triggers[i].activation;
    switch (job.calculation) {
      case KedaJobSpec::Calculation::kMax:
        if (n == 0 || v / t > queue / target) queue = v, target = t;
        break;
      case KedaJobSpec::Calculation::kMin:
        if (n == 0 || v / t < queue / target) queue = v, target = t;
        break;
      case KedaJobSpec::Calculation::kAvg:
      case KedaJobSpec::Calculation::kSum:
        queue += v;
        target += t;
        break;
    }
    ++n;
  }
  if (!active || n == 0) return 0;
  if (job.calculation == KedaJobSpec::Calculation::kAvg) {
    queue /= n;
    target /= n;
  } else if (job.calculation == KedaJobSpec::Calculation::kSum) {
    target /= n;
  }
  const int max = spec.max_replicas;
  int max_scale = std::min(CeilCount(queue / target), max);
  int start = 0;
  switch (job.strategy) {
    case KedaJobSpec::Strategy::kDefault:
      start = max_scale - running;
      break;
    case KedaJobSpec::Strategy::kCustom:
      start = std::min(static_cast<int>(std::max(-1e9, max_scale - job.custom_deduction - running * job.custom_running_percentage)), max);
      break;
    case KedaJobSpec::Strategy::kAccurate:
      start = max_scale + running > max ? max - running : max_scale - pending;
      break;
  }
  return std::clamp(start, 0, std::max(0, max - running));
}

KedaDecision KedaDecide(const KedaSpec& spec, const std::vector<TriggerReading>& readings, bool busy, int current,
                        Clock::Duration now, KedaState* state) {
  KedaDecision d;
  d.desired = current;
  state->failures.resize(spec.triggers.size(), 0);
  bool errored = false, any_ok = false;
  for (size_t i = 0; i < spec.triggers.size(); ++i) {
    const TriggerReading* r = i < readings.size() ? &readings[i] : nullptr;
    if (!r || !r->ok) {
      errored = true;
      ++state->failures[i];
      continue;
    }
    state->failures[i] = 0;
    any_ok = true;
    if (r->value > spec.triggers[i].activation) d.active = true;
  }
  d.active = d.active || busy;
  if (d.active) {
    state->ever_active = true;
    state->last_active = now;
  }
  Prune(spec, now, state);

  // The HPA's own changes count against its rate policies; KEDA's
  // activation and deactivation do not.
  auto changed = [&](int desired, std::string reason) {
    if (desired != current && reason == "hpa") state->scale_events.emplace_back(now, desired - current);
    d.desired = desired;
    d.reason = std::move(reason);
    return d;
  };

  if (spec.fallback_failure_threshold > 0) {
    for (int failures : state->failures) {
      if (failures >= spec.fallback_failure_threshold && !d.active) {
        d.fallback = true;
        return changed(std::min(spec.fallback_replicas, spec.max_replicas), "fallback");
      }
    }
  }
  const bool at_rest = current == 0 || (spec.idle_replicas && current == *spec.idle_replicas);
  if (at_rest) {
    if (d.active) {
      state->recommendations.clear();
      return changed(std::min(std::max(spec.min_replicas, 1), std::max(spec.max_replicas, 1)), "activate");
    }
    if (current < spec.min_replicas && !spec.idle_replicas) return changed(spec.min_replicas, "min");
    d.reason = "idle";
    return d;
  }
  if (!d.active && !errored && (spec.min_replicas == 0 || spec.idle_replicas) &&
      (!state->ever_active || now - state->last_active >= spec.cooldown)) {
    state->recommendations.clear();
    return changed(spec.idle_replicas.value_or(0), "deactivate");
  }
  if (current < spec.min_replicas) return changed(spec.min_replicas, "min");
  if (!any_ok) {
    d.reason = "hold";
    return d;
  }
  int recommendation = 0;
  for (size_t i = 0; i < spec.triggers.size(); ++i) {
    if (i >= readings.size() || !readings[i].ok) continue;
    recommendation = std::max(recommendation, TriggerRecommendation(spec.triggers[i], readings[i].value, current));
  }
  const int hpa_min = std::max(spec.min_replicas, 1);
  recommendation = std::clamp(recommendation, hpa_min, std::max(spec.max_replicas, hpa_min));
  d.recommendation = recommendation;
  return changed(Hpa(spec, recommendation, current, now, state), "hpa");
}

}  // namespace ofn::scale
