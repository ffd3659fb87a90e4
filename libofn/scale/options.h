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
// spec::ParseScaleSpec (libofn/spec/scale_spec.h) reads it from a Function.
// A plain value.
#ifndef LIBOFN_SCALE_OPTIONS_H_
#define LIBOFN_SCALE_OPTIONS_H_

#include <chrono>
#include <string_view>
#include <string>
#include <utility>
#include <vector>

#include "libofn/common/status.h"

namespace ofn::scale {

enum class Metric { kConcurrency, kRps };

struct ScaleSpec {
  Metric metric = Metric::kConcurrency;
  double target = 100;              // per instance; rps default 200
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
  std::chrono::nanoseconds tick_interval = std::chrono::seconds(2);
  int container_concurrency = 0;  // 0: unlimited

  // What the decider divides by: target × utilization.
  double TargetValue() const { return target * target_utilization; }
  // What one instance can take: container concurrency, else the target.
  double TotalValue() const;
  std::chrono::nanoseconds PanicWindow() const;
};

}  // namespace ofn::scale

#endif  // LIBOFN_SCALE_OPTIONS_H_
