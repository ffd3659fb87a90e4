// The KEDA decider: event-driven scaling as KEDA and the Kubernetes HPA do
// it, as a pure function of the spec, the scalers' readings, the current
// replica count and now (platform clock). What the two controllers remember
// (when a trigger was last active, the HPA's recent recommendations and
// scale events, scaler failures in a row) is passed in and out as KedaState.
//
// Each polling interval:
//   active   = some trigger reads above its activation threshold (or the
//              revision has work in flight: a delivery waiting or running)
//   0 -> n   when active at zero (or at idleReplicaCount):
//            n = minReplicaCount, at least 1 (KEDA scales this itself)
//   n -> 0   when no trigger is active nor failing, minReplicaCount is 0 (or
//            idleReplicaCount is set) and the last activity is one
//            cooldownPeriod old: to idleReplicaCount, else 0
//   1 -> N   otherwise the HPA's formula over each trigger's metric
//            (AverageValue: ceil(value / target); Value: ceil(current ×
//            value / target); within 10 % of the current ratio: no change),
//            the largest over the triggers, within [max(min, 1), max], then
//            the behaviour: stabilization windows (scale up takes the least
//            recent recommendation, scale down the greatest) and the rate
//            policies (Pods / Percent per period, selectPolicy).
//   fallback when a trigger failed fallback.failureThreshold polls in a
//            row: fallback.replicas.
#ifndef LIBOFN_SCALE_KEDA_H_
#define LIBOFN_SCALE_KEDA_H_

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "libofn/common/clock.h"
#include "libofn/common/fifo.h"

namespace ofn::scale {

enum class KedaMetricType { kAverageValue, kValue };

// One trigger (a KEDA scaler) as the decider sees it. What it measures is
// the probe's business (events::ScalerProbe reads `metadata`).
struct KedaTrigger {
  std::string type;  // "redis-streams"
  std::string name;  // the metric's name
  std::map<std::string, std::string> metadata;
  // The metadata key the target came from, when the type measures more
  // than one thing (redis-streams: "lagCount", "streamLength" or
  // "pendingEntriesCount").
  std::string measure;
  double target = 5;      // the scaler's target value (listLength, lagCount, lagThreshold, ...)
  double activation = 0;  // active when the value is above it
  KedaMetricType metric_type = KedaMetricType::kAverageValue;
  friend bool operator==(const KedaTrigger&, const KedaTrigger&) = default;
};

struct HpaPolicy {
  enum class Type { kPods, kPercent };
  Type type = Type::kPods;
  int value = 1;
  std::chrono::seconds period{15};
  friend bool operator==(const HpaPolicy&, const HpaPolicy&) = default;
};

enum class SelectPolicy { kMax, kMin, kDisabled };

// One direction of HorizontalPodAutoscalerBehavior.
struct HpaRules {
  std::chrono::seconds stabilization{0};
  SelectPolicy select = SelectPolicy::kMax;
  std::vector<HpaPolicy> policies;
  friend bool operator==(const HpaRules&, const HpaRules&) = default;
};

// The HPA's defaults: up without stabilization, by 100 % or 4 pods per
// 15 s (the larger); down after a 300 s window, by up to 100 % per 15 s.
HpaRules DefaultScaleUp();
HpaRules DefaultScaleDown();

// scaleOptions.keda.scaledJob: instead of a replica count, jobs — each an
// instance that takes one batch of work (the trigger's target value of
// messages) and ends when it has answered them, or when the queue is empty.
struct KedaJobSpec {
  enum class Strategy { kDefault, kCustom, kAccurate };
  Strategy strategy = Strategy::kDefault;
  int custom_deduction = 0;             // customScalingQueueLengthDeduction
  double custom_running_percentage = 1;  // customScalingRunningJobPercentage
  enum class Calculation { kMax, kMin, kAvg, kSum };
  Calculation calculation = Calculation::kMax;  // multipleScalersCalculation
  // successfulJobsHistoryLimit, failedJobsHistoryLimit: read and checked;
  // jobs here are counted, not kept as records, so there is nothing to prune.
  int successful_history = 100;
  int failed_history = 100;
  friend bool operator==(const KedaJobSpec&, const KedaJobSpec&) = default;
};

struct KedaSpec {
  std::chrono::seconds polling_interval{30};
  std::chrono::seconds cooldown{300};
  int min_replicas = 0;
  int max_replicas = 100;
  std::optional<int> idle_replicas;
  int fallback_failure_threshold = 0;  // 0: no fallback
  int fallback_replicas = 0;
  HpaRules scale_up = DefaultScaleUp();
  HpaRules scale_down = DefaultScaleDown();
  std::vector<KedaTrigger> triggers;
  std::optional<KedaJobSpec> job;  // scaledJob rather than scaledObject
  friend bool operator==(const KedaSpec&, const KedaSpec&) = default;
};

// What a scaler read this poll; not ok: the scaler failed (error says why).
struct TriggerReading {
  bool ok = false;
  double value = 0;
  std::string error;
};

struct KedaState {
  bool ever_active = false;
  Clock::Duration last_active{0};
  Fifo<std::pair<Clock::Duration, int>> recommendations;  // (time, HPA recommendation)
  Fifo<std::pair<Clock::Duration, int>> scale_events;          // (time, replicas added (+) or removed (-))
  std::vector<int> failures;                                    // per trigger, polls failed in a row
};

struct KedaDecision {
  int desired = 0;
  bool active = false;
  bool fallback = false;
  int recommendation = 0;  // the HPA's, before its behaviour (0: the HPA did not run)
  // What decided: "activate", "deactivate", "min", "hpa", "hold" (errors,
  // nothing to act on), "fallback", "idle" (stays at zero or idle).
  std::string reason;
};

// One poll. `busy`: the revision has deliveries waiting or running.
KedaDecision KedaDecide(const KedaSpec& spec, const std::vector<TriggerReading>& readings, bool busy, int current,
                        Clock::Duration now, KedaState* state);

// scaledJob: how many jobs to start this poll, KEDA's way. The queue length
// is the triggers' readings combined (multipleScalersCalculation), the
// largest count ceil(queue / target) within maxReplicaCount; `running`
// counts jobs not finished, `pending` those not ready yet. Inactive
// triggers start nothing.
//   default:  max scale - running
//   custom:   min(max scale - deduction - running × percentage, max)
//   accurate: max - running when max scale + running > max, else max scale - pending
int KedaJobsToStart(const KedaSpec& spec, const std::vector<TriggerReading>& readings, int running, int pending);

// How many messages one job takes: the first trigger's target (at least 1).
int KedaJobBatch(const KedaSpec& spec);

// The replica count a KEDA-scaled revision starts with, before the first
// poll: idleReplicaCount when set, else minReplicaCount.
int KedaInitialReplicas(const KedaSpec& spec);

}  // namespace ofn::scale

#endif  // LIBOFN_SCALE_KEDA_H_
