// Cases from Knative Serving's autoscaler and config tables, with their
// expected numbers (facts of Knative's behaviour), run through libofn's
// decider, ParseScaleSpec and ParseAutoscalerConfig. Each of these failed
// before the deviations were fixed.
#include <gtest/gtest.h>

#include "libofn/scale/kpa.h"
#include "libofn/scale/options.h"
#include "libofn/spec/scale_spec.h"

namespace ofn::scale {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

Clock::Duration At(double secs) { return Clock::Duration(static_cast<int64_t>(secs * 1e9)); }

ScaleSpec Parse(const std::string& serving, const AutoscalerConfig& config = {}) {
  std::vector<spec::ScaleError> errors;
  ScaleSpec s = spec::ParseScaleSpec(R"({"serving":)" + serving + "}", &errors, config);
  EXPECT_TRUE(errors.empty()) << serving << ": " << (errors.empty() ? "" : errors[0].path + ": " + errors[0].message);
  return s;
}

std::string Knative(const std::string& annotations, const std::string& extra = "") {
  return R"({"scaleOptions":{"knative":{)" + annotations + "}}" + extra + "}";
}

// Knative's ResolveMetricTarget: (target, total) per metric, containerConcurrency,
// the target annotation and the cluster defaults.
TEST(KnativeTargetTest, TargetAndTotalTable) {
  struct Case {
    const char* name;
    std::string serving;
    AutoscalerConfig config;
    double target, total;
  } cases[] = {
      {"defaults: concurrency 100 × 70 %", "{}", {}, 70, 100},
      {"containerConcurrency sets the total", R"({"containerConcurrency":10})", {}, 7, 10},
      {"target annotation below containerConcurrency", Knative(R"("autoscaling.knative.dev/target":"5")",
                                                               R"(,"containerConcurrency":10)"),
       {}, 3.5, 5},
      {"target annotation above containerConcurrency is capped", Knative(R"("autoscaling.knative.dev/target":"50")",
                                                                         R"(,"containerConcurrency":10)"),
       {}, 7, 10},
      {"rps ignores containerConcurrency", Knative(R"("autoscaling.knative.dev/metric":"rps")", R"(,"containerConcurrency":1)"),
       {}, 140, 200},
      {"rps with a target", Knative(R"("autoscaling.knative.dev/metric":"rps","autoscaling.knative.dev/target":"50")",
                                    R"(,"containerConcurrency":1)"),
       {}, 35, 50},
      {"utilization annotation", Knative(R"("autoscaling.knative.dev/target-utilization-percentage":"50")",
                                         R"(,"containerConcurrency":10)"),
       {}, 5, 10},
      {"tiny target floors at 0.01", Knative(R"("autoscaling.knative.dev/target":"0.01")"), {}, 0.01, 0.01},
  };
  AutoscalerConfig cluster;
  cluster.container_concurrency_target_default = 40;
  cluster.container_concurrency_target_percentage = 50;
  cluster.requests_per_second_target_default = 300;
  for (Case& c : cases) {
    ScaleSpec s = Parse(c.serving, c.config);
    EXPECT_DOUBLE_EQ(s.TargetValue(), c.target) << c.name;
    EXPECT_DOUBLE_EQ(s.TotalValue(), c.total) << c.name;
  }
  // The cluster's defaults.
  EXPECT_DOUBLE_EQ(Parse("{}", cluster).TargetValue(), 20);
  EXPECT_DOUBLE_EQ(Parse("{}", cluster).TotalValue(), 40);
  ScaleSpec rps = Parse(Knative(R"("autoscaling.knative.dev/metric":"rps")"), cluster);
  EXPECT_DOUBLE_EQ(rps.TargetValue(), 150);
  EXPECT_DOUBLE_EQ(rps.TotalValue(), 300);
}

TEST(KnativeDeciderTest, ContainerConcurrencyScalesLikeKnative) {
  // containerConcurrency 10, 70 in flight, one ready instance: 10 instances.
  ScaleSpec s = Parse(R"({"containerConcurrency":10})");
  DeciderState st;
  Decision d = Decide(s, 70, 70, 1, true, At(0), &st);
  EXPECT_EQ(d.desired, 10);
  // Excess burst capacity uses the total: 1 × 10 - 211 - 70.
  EXPECT_EQ(d.excess_burst_capacity, 10 - 211 - 70);
}

TEST(KnativeDeciderTest, ScaleDownDelayIsNotAppliedWhileUnreachable) {
  ScaleSpec s = Parse(Knative(R"("autoscaling.knative.dev/scale-down-delay":"5m")"));
  DeciderState st;
  EXPECT_EQ(Decide(s, 700, 700, 10, true, At(0), &st).desired, 10);
  // No load, unreachable: straight to zero, not held by the delay window.
  EXPECT_EQ(Decide(s, 0, 0, 10, false, At(2), &st).desired, 0);
  // Reachable, the same: held at 10 for the delay.
  DeciderState held;
  EXPECT_EQ(Decide(s, 700, 700, 10, true, At(0), &held).desired, 10);
  EXPECT_EQ(Decide(s, 0, 0, 10, true, At(2), &held).desired, 10);
  EXPECT_EQ(Decide(s, 0, 0, 10, true, At(299), &held).desired, 10);
  EXPECT_EQ(Decide(s, 0, 0, 10, true, At(301), &held).desired, 5);
}

TEST(KnativeDeciderTest, ActivationScaleLooksAtTheRawDesiredCount) {
  ScaleSpec s = Parse(Knative(R"("autoscaling.knative.dev/activation-scale":"3")"));
  DeciderState st;
  // No load, 3 ready: the scale-down rate gives 1; activation scale does not
  // lift it back to 3 since nothing asks for any instance.
  EXPECT_EQ(Decide(s, 0, 0, 3, true, At(0), &st).desired, 1);
  EXPECT_EQ(Decide(s, 0, 0, 1, true, At(2), &st).desired, 0);
  // Some load: at least the activation scale.
  DeciderState loaded;
  EXPECT_EQ(Decide(s, 1, 1, 0, true, At(0), &loaded).desired, 3);
}

TEST(KnativeDeciderTest, StartsInPanicModeWithReadyInstances) {
  ScaleSpec s = Parse("{}");
  // Started with 5 ready and no history: panicking, holding 5.
  DeciderState st = StartState(5, At(100));
  Decision d = Decide(s, 0, 0, 5, true, At(102), &st);
  EXPECT_TRUE(d.panicking);
  EXPECT_EQ(d.desired, 5);
  // A stable window after the start without a surge: normal mode, scaling down.
  d = Decide(s, 0, 0, 5, true, At(161), &st);
  EXPECT_FALSE(d.panicking);
  EXPECT_EQ(d.desired, 2);
  // Zero or one ready: no panic.
  DeciderState one = StartState(1, At(0));
  EXPECT_FALSE(Decide(s, 0, 0, 1, true, At(2), &one).panicking);
}

TEST(KnativeSpecTest, PanicWindowIsAWholeNumberOfSeconds) {
  ScaleSpec s = Parse(Knative(R"("autoscaling.knative.dev/panic-window-percentage":"51")"));
  EXPECT_EQ(s.PanicWindow(), seconds(31));
  ScaleSpec small = Parse(Knative(R"("autoscaling.knative.dev/window":"6s","autoscaling.knative.dev/panic-window-percentage":"1")"));
  EXPECT_EQ(small.PanicWindow(), seconds(1));  // one metric bucket at least
}

TEST(KnativeSpecTest, ZeroInitialScaleOnlyWhereTheClusterAllowsIt) {
  const std::string zero = Knative(R"("autoscaling.knative.dev/initial-scale":"0")");
  EXPECT_EQ(Parse(zero).initial_scale, 1);
  AutoscalerConfig allow;
  allow.allow_zero_initial_scale = true;
  EXPECT_EQ(Parse(zero, allow).initial_scale, 0);
  AutoscalerConfig three;
  three.initial_scale = 3;
  EXPECT_EQ(Parse("{}", three).initial_scale, 3);
  EXPECT_EQ(Parse(zero, three).initial_scale, 3);
}

TEST(KnativeSpecTest, RetentionPeriodKeepsTheLastInstance) {
  ScaleSpec s = Parse(Knative(R"("autoscaling.knative.dev/scale-to-zero-pod-retention-period":"2m")"));
  EXPECT_EQ(s.scale_to_zero_retention, minutes(2));
  DeciderState st;
  Decision idle = Decide(s, 0, 0, 1, true, At(0), &st);
  ASSERT_EQ(idle.desired, 0);
  EXPECT_EQ(Bound(s, idle, 1, 1, At(0), &st), 1);
  EXPECT_EQ(Bound(s, idle, 1, 1, At(60), &st), 1);   // past the 30 s grace, within the retention
  EXPECT_EQ(Bound(s, idle, 1, 1, At(120), &st), 0);
}

TEST(KnativeSpecTest, DisabledScaleToZeroKeepsOneInstanceEvenWithoutTraffic) {
  AutoscalerConfig c;
  c.enable_scale_to_zero = false;
  ScaleSpec s = Parse("{}", c);
  DeciderState st;
  for (bool reachable : {true, false}) {
    Decision idle = Decide(s, 0, 0, 1, reachable, At(0), &st);
    EXPECT_EQ(Bound(s, idle, 1, 1, At(0), &st), 1);
    EXPECT_EQ(Bound(s, idle, 1, 1, At(3600), &st), 1);
  }
}

TEST(KnativeSpecTest, MaxScaleLimitBoundsEveryRevision) {
  AutoscalerConfig c;
  c.max_scale_limit = 10;
  c.max_scale = 5;
  EXPECT_EQ(Parse("{}", c).max_scale, 5);
  std::vector<spec::ScaleError> errors;
  spec::ParseScaleSpec(R"({"serving":{"scaleOptions":{"knative":{"autoscaling.knative.dev/max-scale":"11"}}}})", &errors, c);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "spec.serving.scaleOptions.knative[\"autoscaling.knative.dev/max-scale\"]");
  EXPECT_NE(errors[0].message.find("max-scale-limit"), std::string::npos);
  errors.clear();
  spec::ParseScaleSpec(R"({"serving":{"scaleOptions":{"maxReplicas":0}}})", &errors, c);
  EXPECT_EQ(errors.size(), 1u);  // 0 (unbounded) is over any limit
}

// Knative's config-autoscaler: defaults, each key read, and the values its
// validation refuses.
TEST(KnativeConfigTest, ParsesConfigAutoscalerAsKnativeDoes) {
  std::vector<std::string> errors;
  AutoscalerConfig d = spec::ParseAutoscalerConfig({}, AutoscalerConfig{}, &errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_FALSE(d.allow_zero_initial_scale);
  EXPECT_TRUE(d.enable_scale_to_zero);
  EXPECT_EQ(d.scale_to_zero_grace_period, seconds(30));
  EXPECT_EQ(d.stable_window, seconds(60));
  EXPECT_EQ(d.container_concurrency_target_percentage, 70);
  EXPECT_EQ(d.container_concurrency_target_default, 100);
  EXPECT_EQ(d.requests_per_second_target_default, 200);
  EXPECT_EQ(d.target_burst_capacity, 211);
  EXPECT_EQ(d.panic_window_percentage, 10);
  EXPECT_EQ(d.panic_threshold_percentage, 200);
  EXPECT_EQ(d.max_scale_up_rate, 1000);
  EXPECT_EQ(d.max_scale_down_rate, 2);
  EXPECT_EQ(d.initial_scale, 1);

  AutoscalerConfig c = spec::ParseAutoscalerConfig(
      {{"allow-zero-initial-scale", "true"}, {"initial-scale", "0"}, {"enable-scale-to-zero", "false"},
       {"max-scale-limit", "20"}, {"max-scale", "10"}, {"min-scale", "1"}, {"activator-capacity", "50"},
       {"scale-to-zero-grace-period", "40s"}, {"scale-to-zero-pod-retention-period", "1m5s"},
       {"container-concurrency-target-default", "10"}, {"container-concurrency-target-percentage", "80"},
       {"requests-per-second-target-default", "150"}, {"target-burst-capacity", "-1"}, {"stable-window", "5m"},
       {"panic-window-percentage", "20"}, {"panic-threshold-percentage", "300"}, {"max-scale-up-rate", "3"},
       {"max-scale-down-rate", "1.5"}, {"scale-down-delay", "10s"}},
      AutoscalerConfig{}, &errors);
  ASSERT_TRUE(errors.empty()) << errors[0];
  EXPECT_TRUE(c.allow_zero_initial_scale);
  EXPECT_EQ(c.initial_scale, 0);
  EXPECT_FALSE(c.enable_scale_to_zero);
  EXPECT_EQ(c.max_scale_limit, 20);
  EXPECT_EQ(c.max_scale, 10);
  EXPECT_EQ(c.min_scale, 1);
  EXPECT_EQ(c.activator_capacity, 50);
  EXPECT_EQ(c.scale_to_zero_grace_period, seconds(40));
  EXPECT_EQ(c.scale_to_zero_pod_retention_period, seconds(65));
  EXPECT_EQ(c.container_concurrency_target_default, 10);
  EXPECT_EQ(c.container_concurrency_target_percentage, 80);
  EXPECT_EQ(c.requests_per_second_target_default, 150);
  EXPECT_EQ(c.target_burst_capacity, -1);
  EXPECT_EQ(c.stable_window, minutes(5));
  EXPECT_EQ(c.panic_window_percentage, 20);
  EXPECT_EQ(c.panic_threshold_percentage, 300);
  EXPECT_EQ(c.max_scale_up_rate, 3);
  EXPECT_EQ(c.max_scale_down_rate, 1.5);
  EXPECT_EQ(c.scale_down_delay, seconds(10));

  struct Bad {
    std::vector<std::pair<std::string, std::string>> data;
    const char* error;
  } bad[] = {
      {{{"container-concurrency-target-percentage", "0"}}, "data.container-concurrency-target-percentage: must be in (0"},
      {{{"container-concurrency-target-percentage", "101"}}, "data.container-concurrency-target-percentage"},
      {{{"panic-threshold-percentage", "105"}}, "data.panic-threshold-percentage: must be in [110"},
      {{{"stable-window", "5s"}}, "data.stable-window: must be in 6s"},
      {{{"stable-window", "6500ms"}}, "data.stable-window: must be a whole number of seconds"},
      {{{"max-scale-up-rate", "1"}}, "data.max-scale-up-rate"},
      {{{"max-scale-down-rate", "1.0"}}, "data.max-scale-down-rate"},
      {{{"target-burst-capacity", "-2"}}, "data.target-burst-capacity"},
      {{{"initial-scale", "0"}}, "data.initial-scale: 0 needs allow-zero-initial-scale"},
      {{{"max-scale-limit", "10"}}, "data.max-scale: must be in 1..10"},
      {{{"max-scale-limit", "10"}, {"max-scale", "11"}}, "data.max-scale: must be in 1..10"},
      {{{"min-scale", "3"}, {"max-scale", "2"}}, "data.min-scale: must not be greater than max-scale"},
      {{{"enable-scale-to-zero", "yes"}}, "data.enable-scale-to-zero: must be true or false"},
      {{{"scale-to-zero-grace-period", "soon"}}, "data.scale-to-zero-grace-period: must be a duration"},
      {{{"no-such-key", "1"}}, "data.no-such-key: not a config-autoscaler key"},
  };
  for (const Bad& b : bad) {
    errors.clear();
    AutoscalerConfig base;
    base.initial_scale = 7;
    AutoscalerConfig got = spec::ParseAutoscalerConfig(b.data, base, &errors);
    ASSERT_FALSE(errors.empty()) << b.error;
    EXPECT_EQ(errors[0].rfind(b.error, 0), 0u) << errors[0];
    EXPECT_EQ(got.initial_scale, 7) << "an invalid config changes nothing: " << b.error;
  }
}

}  // namespace
}  // namespace ofn::scale
