// ScaleSpec: how one revision scales, read from a Function's serving part
// with Knative's annotation names and defaults (config-autoscaler):
//
//   spec.serving.scaleOptions.minReplicas / maxReplicas
//   spec.serving.scaleOptions.knative["autoscaling.knative.dev/..."]
//     target, metric (concurrency | rps), target-utilization-percentage,
//     window, panic-window-percentage, panic-threshold-percentage,
//     initial-scale, scale-down-delay, min-scale, max-scale,
//     target-burst-capacity, activation-scale
//   spec.serving.containerConcurrency (libofn extension, Knative's field)
//
// As in OpenFunction, the knative annotations win over min/maxReplicas.
// spec::ParseScaleSpec (libofn/spec/scale_spec.h) reads it from a Function and
// the cluster's AutoscalerConfig.
// A plain value.
#ifndef LIBOFN_SCALE_OPTIONS_H_
#define LIBOFN_SCALE_OPTIONS_H_

#include <chrono>
#include <optional>
#include <string_view>
#include <string>
#include <utility>
#include <vector>

#include "libofn/common/status.h"
#include "libofn/scale/keda.h"

namespace ofn::scale {

enum class Metric { kConcurrency, kRps };

// The cluster-wide autoscaler settings, with the names and defaults of
// Knative's config-autoscaler ConfigMap. Per-revision annotations win
// where Knative lets them. Set through Platform::Options::autoscaler,
// `ofn serve --autoscaler KEY=VALUE`, or a ConfigMap config-autoscaler in
// namespace knative-serving (spec::ParseAutoscalerConfig reads its data).
struct AutoscalerConfig {
  bool allow_zero_initial_scale = false;   // allow-zero-initial-scale
  bool enable_scale_to_zero = true;        // enable-scale-to-zero
  int max_scale_limit = 0;                 // max-scale-limit (0: none)
  double activator_capacity = 100;         // activator-capacity (one in-process activator here: no effect)
  std::chrono::nanoseconds scale_to_zero_grace_period = std::chrono::seconds(30);
  std::chrono::nanoseconds scale_to_zero_pod_retention_period{0};
  double container_concurrency_target_default = 100;   // container-concurrency-target-default
  double container_concurrency_target_percentage = 70;  // container-concurrency-target-percentage
  double requests_per_second_target_default = 200;     // requests-per-second-target-default
  double target_burst_capacity = 211;                  // target-burst-capacity (-1: unlimited)
  std::chrono::nanoseconds stable_window = std::chrono::seconds(60);
  double panic_window_percentage = 10;
  double panic_threshold_percentage = 200;
  double max_scale_up_rate = 1000;
  double max_scale_down_rate = 2;
  int initial_scale = 1;
  int min_scale = 0;
  int max_scale = 0;
  std::chrono::nanoseconds scale_down_delay{0};
};

// How one revision scales: the cluster settings with its annotations applied.
struct ScaleSpec {
  Metric metric = Metric::kConcurrency;
  // Knative's "total": what one instance can take at most — containerConcurrency
  // (or the concurrency default) for concurrency, the rps default for rps,
  // or the target annotation (for concurrency at most containerConcurrency).
  double target = 100;
  double target_utilization = 0.7;  // target-utilization-percentage / 100
  std::chrono::nanoseconds stable_window = std::chrono::seconds(60);
  double panic_window_percentage = 10;
  double panic_threshold_percentage = 200;
  double max_scale_up_rate = 1000;
  double max_scale_down_rate = 2;
  double target_burst_capacity = 211;  // -1: unlimited
  int activation_scale = 1;
  int initial_scale = 1;
  int min_scale = 0;
  int max_scale = 0;  // 0: unbounded
  std::chrono::nanoseconds scale_down_delay{0};
  std::chrono::nanoseconds scale_to_zero_grace = std::chrono::seconds(30);
  // The last instance stays at least this long after the revision was last
  // active (scale-to-zero-pod-retention-period).
  std::chrono::nanoseconds scale_to_zero_retention{0};
  bool enable_scale_to_zero = true;
  std::chrono::nanoseconds tick_interval = std::chrono::seconds(2);
  int container_concurrency = 0;  // 0: unlimited
  // Set when the revision scales on events (scaleOptions.keda.triggers of
  // an async Function): the KEDA decider (scale/keda.h) then decides its
  // count from the triggers' readings, and the KPA fields above are unused.
  std::optional<KedaSpec> keda;

  // What the decider divides by: total × utilization (at least 0.01).
  double TargetValue() const;
  // What one instance can take: Knative's total.
  double TotalValue() const { return target; }
  // stable window × panic-window-percentage, rounded to a whole second (at least one).
  std::chrono::nanoseconds PanicWindow() const;
  friend bool operator==(const ScaleSpec&, const ScaleSpec&) = default;
};

}  // namespace ofn::scale

#endif  // LIBOFN_SCALE_OPTIONS_H_
