#include "libofn/scale/kpa.h"

#include <gtest/gtest.h>

#include "libofn/scale/metrics.h"
#include "libofn/scale/options.h"
#include "libofn/spec/scale_spec.h"

namespace ofn::scale {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Clock::Duration At(double secs) { return Clock::Duration(static_cast<int64_t>(secs * 1e9)); }

struct DecideCase {
  const char* name;
  double stable, panic;
  int ready;
  bool reachable;
  int want_desired;
  bool want_panic;
  int want_ebc;
};

TEST(KpaDecideTest, SingleTickTable) {
  const DecideCase cases[] = {
      // target 100 × 0.7 = 70 per instance
      {"idle at zero", 0, 0, 0, true, 0, false, -211},
      {"one instance worth", 70, 70, 1, true, 1, false, 100 - 211 - 70},
      {"just over one, 2/1 is the panic threshold", 71, 71, 1, true, 2, true, 100 - 211 - 71},
      {"two instances steady", 140, 100, 2, true, 2, false, 200 - 211 - 100},
      {"ten instances", 700, 700, 10, true, 10, false, 1000 - 211 - 700},
      {"idle: at most halve (max scale-down rate 2)", 0, 0, 10, true, 5, false, 1000 - 211},
      {"idle and unreachable: straight to zero", 0, 0, 10, false, 0, false, 1000 - 211},
      {"idle with 3 ready: floor(3/2)", 0, 0, 3, true, 1, false, 300 - 211},
      {"huge load: capped by max scale-up rate 1000", 1e6, 1e6, 1, true, 1000, true, 100 - 211 - 1000000},
      {"panic window hot, stable cold", 10, 300, 2, true, 5, true, 200 - 211 - 300},
      {"any load over one instance panics at 1 ready", 71, 71, 1, true, 2, true, 100 - 211 - 71},
      {"same load on 2 ready: no panic", 139, 139, 2, true, 2, false, 200 - 211 - 139},
      {"stable above panic, no panic", 400, 100, 6, true, 6, false, 600 - 211 - 100},
      {"fractional load rounds up", 0.5, 0.5, 0, true, 1, false, -212},
  };
  for (const DecideCase& c : cases) {
    ScaleSpec spec;
    DeciderState st;
    Decision d = Decide(spec, c.stable, c.panic, c.ready, c.reachable, At(0), &st);
    EXPECT_EQ(d.desired, c.want_desired) << c.name;
    EXPECT_EQ(d.panicking, c.want_panic) << c.name;
    EXPECT_EQ(d.excess_burst_capacity, c.want_ebc) << c.name;
  }
}

TEST(KpaDecideTest, RpsAndTargetOptions) {
  ScaleSpec rps;
  rps.metric = Metric::kRps;
  rps.target = 200;  // what ParseScaleSpec sets for metric: rps
  DeciderState st;
  EXPECT_EQ(Decide(rps, 280, 280, 2, true, At(0), &st).desired, 2);  // 200 × 0.7 = 140 per instance
  EXPECT_EQ(Decide(rps, 281, 281, 2, true, At(2), &st).desired, 3);

  ScaleSpec act;
  act.activation_scale = 3;
  DeciderState st2;
  EXPECT_EQ(Decide(act, 10, 10, 0, true, At(0), &st2).desired, 3);
  DeciderState st3;
  EXPECT_EQ(Decide(act, 0, 0, 0, true, At(0), &st3).desired, 0);  // activation scale applies only above zero

  ScaleSpec cc;
  cc.container_concurrency = 10;
  cc.target = 10;  // ParseScaleSpec resolves the total to containerConcurrency
  DeciderState st4;
  EXPECT_EQ(Decide(cc, 0, 0, 3, true, At(0), &st4).excess_burst_capacity, 30 - 211);
  cc.target_burst_capacity = 0;
  EXPECT_EQ(Decide(cc, 0, 0, 3, true, At(0), &st4).excess_burst_capacity, 0);
  cc.target_burst_capacity = -1;
  EXPECT_EQ(Decide(cc, 0, 0, 3, true, At(0), &st4).excess_burst_capacity, -1);
}

struct Tick {
  double t, stable, panic;
  int ready;
  int want;
  bool want_panic;
};

void RunTicks(const ScaleSpec& spec, const std::vector<Tick>& ticks) {
  DeciderState st;
  for (const Tick& k : ticks) {
    Decision d = Decide(spec, k.stable, k.panic, k.ready, true, At(k.t), &st);
    EXPECT_EQ(d.desired, k.want) << "at t=" << k.t;
    EXPECT_EQ(d.panicking, k.want_panic) << "at t=" << k.t;
  }
}

TEST(KpaDecideTest, PanicNeverScalesDownAndEndsAfterAStableWindow) {
  RunTicks(ScaleSpec(), {
                            {0, 20, 150, 1, 3, true},    // ceil(150/70)=3, 3/1 >= 2: panic
                            {2, 30, 70, 3, 3, true},     // below threshold but panicking: hold 3
                            {4, 30, 400, 3, 6, true},    // 6/3 >= 2: still panicking, up to 6
                            {6, 30, 70, 6, 6, true},     // hold the maximum
                            {64, 0, 0, 6, 6, true},      // last over-threshold tick was t=4; 4+60 < 64 is false
                            {66, 0, 0, 6, 3, false},     // un-panic; stable: floor(6/2)=3
                            {68, 0, 0, 3, 1, false},
                        });
}

TEST(KpaDecideTest, ScaleDownDelayKeepsTheLargestCountOfTheWindow) {
  ScaleSpec spec;
  spec.scale_down_delay = seconds(10);
  RunTicks(spec, {
                     {0, 350, 350, 5, 5, false},
                     {4, 0, 0, 5, 5, false},   // would be 2
                     {8, 0, 0, 5, 5, false},   // t=0 still in the window
                     {10, 0, 0, 5, 2, false},  // t=0 left it; the window holds only 2s
                 });
}

TEST(KpaBoundTest, InitialScaleMinMaxAndZeroGrace) {
  ScaleSpec spec;
  DeciderState st;
  Decision zero;
  // Not ready yet: the initial scale (1) holds.
  EXPECT_EQ(Bound(spec, zero, 0, 0, At(0), &st), 1);
  EXPECT_FALSE(st.initialized);
  // Ready once: the decider's zero now counts, after 30 s of grace.
  EXPECT_EQ(Bound(spec, zero, 1, 1, At(2), &st), 1);
  EXPECT_TRUE(st.initialized);
  EXPECT_EQ(Bound(spec, zero, 1, 1, At(31.9), &st), 1);
  EXPECT_EQ(Bound(spec, zero, 1, 1, At(32), &st), 0);
  // A non-zero decision in between restarts the grace period.
  DeciderState st2;
  st2.initialized = true;
  Decision one;
  one.desired = 1;
  EXPECT_EQ(Bound(spec, zero, 1, 1, At(0), &st2), 1);
  EXPECT_EQ(Bound(spec, one, 1, 1, At(20), &st2), 1);
  EXPECT_EQ(Bound(spec, zero, 1, 1, At(22), &st2), 1);
  EXPECT_EQ(Bound(spec, zero, 1, 1, At(51), &st2), 1);
  EXPECT_EQ(Bound(spec, zero, 1, 1, At(52), &st2), 0);

  ScaleSpec bounded;
  bounded.min_scale = 2;
  bounded.max_scale = 3;
  DeciderState st3;
  Decision ten;
  ten.desired = 10;
  EXPECT_EQ(Bound(bounded, zero, 0, 0, At(0), &st3), 2);
  EXPECT_EQ(Bound(bounded, ten, 2, 2, At(2), &st3), 3);

  ScaleSpec no_initial;
  no_initial.initial_scale = 0;
  DeciderState st4;
  EXPECT_EQ(Bound(no_initial, zero, 0, 0, At(0), &st4), 0);
}

TEST(KpaBoundTest, MinScaleHoldsOnlyWhileReachable) {
  // A superseded revision (no traffic) with minReplicas 2 goes to zero
  // after the grace, as in Knative; routed again, min scale is back.
  ScaleSpec spec;
  spec.min_scale = 2;
  spec.initial_scale = 3;
  DeciderState st;
  st.initialized = true;
  Decision d = Decide(spec, 0, 0, 2, /*reachable=*/false, At(0), &st);
  EXPECT_FALSE(d.reachable);
  EXPECT_EQ(Bound(spec, d, 2, 2, At(0), &st), 1);  // grace begins
  EXPECT_EQ(Bound(spec, d, 1, 1, At(29), &st), 1);
  EXPECT_EQ(Bound(spec, d, 1, 1, At(30), &st), 0);
  Decision routed = Decide(spec, 0, 0, 0, /*reachable=*/true, At(31), &st);
  EXPECT_EQ(Bound(spec, routed, 0, 0, At(31), &st), 2);
  // Never initialised and unreachable: initial scale does not apply either.
  DeciderState fresh;
  EXPECT_EQ(Bound(spec, Decide(spec, 0, 0, 0, false, At(0), &fresh), 0, 0, At(0), &fresh), 0);
}

TEST(WindowBucketsTest, AveragesFromTheFirstWriteOverCompleteBuckets) {
  WindowBuckets b(seconds(60));
  EXPECT_EQ(b.WindowAverage(At(5), seconds(60)), 0);
  b.Record(At(0.2), 1);
  b.Record(At(1.5), 3);
  EXPECT_DOUBLE_EQ(b.WindowAverage(At(1.5), seconds(60)), 1.0);  // bucket 1 is not complete
  EXPECT_DOUBLE_EQ(b.WindowAverage(At(2), seconds(60)), 2.0);
  EXPECT_DOUBLE_EQ(b.WindowAverage(At(2), seconds(1)), 3.0);
  EXPECT_DOUBLE_EQ(b.WindowAverage(At(10), seconds(60)), 0.4);
  EXPECT_DOUBLE_EQ(b.WindowAverage(At(10), seconds(6)), 0.0);
  EXPECT_DOUBLE_EQ(b.WindowAverage(At(61), seconds(60)), 3.0 / 60);
  EXPECT_DOUBLE_EQ(b.WindowAverage(At(70), seconds(60)), 0.0);
}

TEST(WindowBucketsTest, ZerosAverageTheSameAndHoldNoBuckets) {
  WindowBuckets with_zeros(seconds(60)), without(seconds(60));
  with_zeros.Record(At(0.5), 4);
  without.Record(At(0.5), 4);
  with_zeros.Record(At(30.5), 2);
  without.Record(At(30.5), 2);
  for (int s = 1; s < 3600; ++s) {
    if (s != 30) with_zeros.Record(At(s + 0.5), 0);
    if (s == 45) {
      for (double at : {31.0, 40.0, 46.0, 90.0, 91.0}) {
        EXPECT_DOUBLE_EQ(with_zeros.WindowAverage(At(at), seconds(60)), without.WindowAverage(At(at), seconds(60)));
        EXPECT_DOUBLE_EQ(with_zeros.WindowAverage(At(at), seconds(6)), without.WindowAverage(At(at), seconds(6)));
      }
    }
  }
  // An hour of idle seconds: the values fell out of the window, the zeros
  // were never held; what is left marks where the window started.
  EXPECT_LE(with_zeros.held(), 1u);
  EXPECT_EQ(with_zeros.WindowAverage(At(3600), seconds(60)), 0);
  // A window that began with a zero still averages from that start.
  WindowBuckets late(seconds(60));
  late.Record(At(10.5), 0);
  late.Record(At(11.5), 6);
  EXPECT_DOUBLE_EQ(late.WindowAverage(At(12), seconds(60)), 3.0);  // buckets 10 and 11
  EXPECT_EQ(late.held(), 2u);
}

TEST(RequestStatsTest, TimeWeightedConcurrencyAndRps) {
  RequestStats s;
  s.Start(At(0.5));
  s.End(At(1.5));
  auto c = s.Concurrency(At(2), seconds(60), seconds(6));
  EXPECT_DOUBLE_EQ(c.stable, 0.5);  // 0.5 in bucket 0, 0.5 in bucket 1
  auto r = s.Rps(At(2), seconds(60), seconds(6));
  EXPECT_DOUBLE_EQ(r.stable, 0.5);
  // Ten requests held for two full seconds: concurrency 10 in buckets 2 and 3.
  for (int i = 0; i < 10; ++i) s.Start(At(2));
  for (int i = 0; i < 10; ++i) s.End(At(4));
  c = s.Concurrency(At(4), seconds(60), seconds(2));
  EXPECT_DOUBLE_EQ(c.panic, 10.0);
  EXPECT_DOUBLE_EQ(c.stable, (0.5 + 0.5 + 20) / 4);
  r = s.Rps(At(4), seconds(60), seconds(2));
  EXPECT_DOUBLE_EQ(r.panic, 5.0);  // ten requests in bucket 2, none in 3
  // Idle for longer than the window: nothing left.
  c = s.Concurrency(At(200), seconds(60), seconds(6));
  EXPECT_EQ(c.stable, 0);
  EXPECT_EQ(s.in_flight(), 0);
  EXPECT_EQ(s.total(), 11);
}

TEST(ScaleSpecTest, ReadsKnativeAnnotationsAndReplicas) {
  std::vector<spec::ScaleError> errors;
  ScaleSpec s = spec::ParseScaleSpec(R"({"serving":{"containerConcurrency":4,"scaleOptions":{"minReplicas":1,"maxReplicas":5,
    "knative":{"autoscaling.knative.dev/metric":"rps","autoscaling.knative.dev/window":"30s",
    "autoscaling.knative.dev/panic-window-percentage":"20.0","autoscaling.knative.dev/max-scale":"7",
    "autoscaling.knative.dev/scale-down-delay":"1m","autoscaling.knative.dev/initial-scale":"2"}}}})",
                               &errors);
  ASSERT_TRUE(errors.empty()) << errors[0].path << ": " << errors[0].message;
  EXPECT_EQ(s.metric, Metric::kRps);
  EXPECT_EQ(s.target, 200);
  EXPECT_EQ(s.stable_window, seconds(30));
  EXPECT_EQ(s.PanicWindow(), seconds(6));
  EXPECT_EQ(s.min_scale, 1);
  EXPECT_EQ(s.max_scale, 7);  // the annotation wins over maxReplicas
  EXPECT_EQ(s.scale_down_delay, seconds(60));
  EXPECT_EQ(s.initial_scale, 2);
  EXPECT_EQ(s.container_concurrency, 4);

  ScaleSpec d = spec::ParseScaleSpec("{}", &errors);
  EXPECT_EQ(d.TargetValue(), 70);
  EXPECT_EQ(d.PanicWindow(), seconds(6));
  EXPECT_EQ(d.scale_to_zero_grace, seconds(30));
  EXPECT_EQ(d.target_burst_capacity, 211);
}

TEST(ScaleSpecTest, ErrorsNameTheAnnotation) {
  std::vector<spec::ScaleError> errors;
  spec::ParseScaleSpec(R"({"serving":{"scaleOptions":{"knative":{"autoscaling.knative.dev/metric":"cpu",
    "autoscaling.knative.dev/window":"2s","autoscaling.knative.dev/target":"lots",
    "autoscaling.knative.dev/min-scale":"4","autoscaling.knative.dev/max-scale":"2"}}}})",
                 &errors);
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[0].path, "spec.serving.scaleOptions.knative[\"autoscaling.knative.dev/metric\"]");
  EXPECT_NE(errors[0].message.find("\"cpu\""), std::string::npos);
  EXPECT_EQ(errors[1].path, "spec.serving.scaleOptions.knative[\"autoscaling.knative.dev/target\"]");
  EXPECT_EQ(errors[2].path, "spec.serving.scaleOptions.knative[\"autoscaling.knative.dev/window\"]");
  EXPECT_NE(errors[2].message.find("6s..3600s"), std::string::npos) << errors[2].message;
  EXPECT_EQ(errors[3].path, "spec.serving.scaleOptions.knative[\"autoscaling.knative.dev/min-scale\"]");
}

}  // namespace
}  // namespace ofn::scale
