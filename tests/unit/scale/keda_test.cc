// The KEDA decider (scale/keda.h): activation, the HPA formula and
// behaviour, cooldown, fallback and idle replicas, table by table on
// explicit times; then a simulated backlog run up, drained and scaled to
// zero with every event consumed.
#include "libofn/scale/keda.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "libofn/spec/scale_spec.h"

namespace ofn::scale {
namespace {

using std::chrono::seconds;

KedaSpec LagSpec(double target = 10, double activation = 0) {
  KedaSpec s;
  s.polling_interval = seconds(5);
  s.cooldown = seconds(30);
  s.max_replicas = 20;
  KedaTrigger t;
  t.type = "redis-streams";
  t.name = "lag";
  t.measure = "lagCount";
  t.target = target;
  t.activation = activation;
  s.triggers.push_back(t);
  return s;
}

std::vector<TriggerReading> Read(double v) { return {TriggerReading{true, v, ""}}; }
std::vector<TriggerReading> Failed() { return {TriggerReading{false, 0, "connection refused"}}; }

Clock::Duration At(int s) { return seconds(s); }

TEST(KedaDecideTest, ActivatesFromZeroWhenAReadingIsAboveTheActivationThreshold) {
  struct Case {
    double value, activation;
    int min;
    int want;
    const char* reason;
  } cases[] = {
      {1, 0, 0, 1, "activate"},  // anything above 0
      {0, 0, 0, 0, "idle"},      // nothing waiting
      {5, 5, 0, 0, "idle"},      // at the threshold is not above it
      {6, 5, 0, 1, "activate"},
      {1, 0, 3, 3, "activate"},  // to minReplicaCount when it is above 1
  };
  for (const Case& c : cases) {
    KedaSpec spec = LagSpec(10, c.activation);
    spec.min_replicas = c.min;
    KedaState state;
    KedaDecision d = KedaDecide(spec, Read(c.value), false, 0, At(0), &state);
    EXPECT_EQ(d.desired, c.want) << "value " << c.value << " activation " << c.activation;
    EXPECT_EQ(d.reason, c.reason) << "value " << c.value;
  }
}

TEST(KedaDecideTest, WorkInFlightCountsAsActivity) {
  KedaSpec spec = LagSpec();
  KedaState state;
  EXPECT_EQ(KedaDecide(spec, Read(0), /*busy=*/true, 0, At(0), &state).desired, 1);
  // And holds the count past the cooldown while it lasts.
  EXPECT_EQ(KedaDecide(spec, Read(0), true, 1, At(100), &state).desired, 1);
  EXPECT_EQ(KedaDecide(spec, Read(0), false, 1, At(129), &state).reason, "hpa");
  EXPECT_EQ(KedaDecide(spec, Read(0), false, 1, At(130), &state).desired, 0);
}

TEST(KedaDecideTest, TheHpaFormulaTakesValueOverTargetWithinItsTolerance) {
  struct Case {
    double value;
    int current;
    KedaMetricType type;
    int want;
  } cases[] = {
      {40, 4, KedaMetricType::kAverageValue, 4},   // exactly on target
      {43, 4, KedaMetricType::kAverageValue, 4},   // ratio 1.075: within 10 %
      {45, 4, KedaMetricType::kAverageValue, 5},   // ratio 1.125: ceil(45 / 10)
      {36, 4, KedaMetricType::kAverageValue, 4},   // ratio 0.9: within
      {30, 4, KedaMetricType::kAverageValue, 3},   // ceil(30 / 10): no earlier recommendation holds it
      {30, 2, KedaMetricType::kValue, 6},          // Value: ceil(current × 30 / 10)
      {10.5, 2, KedaMetricType::kValue, 2},        // within
      {1000, 4, KedaMetricType::kAverageValue, 8}, // up by at most 100 % or 4 pods per 15 s
      {1000, 19, KedaMetricType::kAverageValue, 20},  // maxReplicaCount
  };
  for (const Case& c : cases) {
    KedaSpec spec = LagSpec(10);
    spec.triggers[0].metric_type = c.type;
    KedaState state;
    KedaDecision d = KedaDecide(spec, Read(c.value), false, c.current, At(0), &state);
    EXPECT_EQ(d.desired, c.want) << "value " << c.value << " current " << c.current;
    EXPECT_EQ(d.reason, "hpa");
  }
}

TEST(KedaDecideTest, TheLargestTriggerRecommendationWins) {
  KedaSpec spec = LagSpec(10);
  KedaTrigger list = spec.triggers[0];
  list.type = "redis";
  list.name = "list";
  list.target = 5;
  spec.triggers.push_back(list);
  KedaState state;
  KedaDecision d = KedaDecide(spec, {TriggerReading{true, 20, ""}, TriggerReading{true, 15, ""}}, false, 2, At(0),
                              &state);
  EXPECT_EQ(d.recommendation, 3);  // max(ceil(20/10), ceil(15/5))
  EXPECT_EQ(d.desired, 3);
}

TEST(KedaDecideTest, ScaleUpIsLimitedPerPeriodByTheDefaultPolicies) {
  KedaSpec spec = LagSpec(10);
  spec.max_replicas = 100;
  KedaState state;
  int current = 1;
  std::vector<int> seen;
  for (int t = 0; t <= 45; t += 5) {
    current = KedaDecide(spec, Read(10000), false, current, At(t), &state).desired;
    seen.push_back(current);
  }
  // +4 pods or ×2 per 15 s, the larger: 1 → 5, held in that period; then
  // from 5: max(9, 10) = 10; then 20; then 40.
  EXPECT_EQ(seen, (std::vector<int>{5, 5, 5, 10, 10, 10, 20, 20, 20, 40}));
}

TEST(KedaDecideTest, ScaleDownWaitsForTheStabilizationWindowAndFollowsItsPolicy) {
  KedaSpec spec = LagSpec(10);
  spec.scale_down.stabilization = seconds(60);
  spec.scale_down.policies = {HpaPolicy{HpaPolicy::Type::kPods, 2, seconds(30)}};
  KedaState state;
  EXPECT_EQ(KedaDecide(spec, Read(100), false, 10, At(0), &state).desired, 10);
  // The backlog is gone (lag 1 still active); 10 was recommended 60 s ago at most.
  EXPECT_EQ(KedaDecide(spec, Read(1), false, 10, At(30), &state).desired, 10);
  EXPECT_EQ(KedaDecide(spec, Read(1), false, 10, At(59), &state).desired, 10);
  // The window has passed: down by 2 per 30 s.
  EXPECT_EQ(KedaDecide(spec, Read(1), false, 10, At(61), &state).desired, 8);
  EXPECT_EQ(KedaDecide(spec, Read(1), false, 8, At(70), &state).desired, 8);
  EXPECT_EQ(KedaDecide(spec, Read(1), false, 8, At(92), &state).desired, 6);
}

TEST(KedaDecideTest, SelectPolicyMinAndDisabled) {
  KedaSpec spec = LagSpec(10);
  spec.max_replicas = 100;
  spec.scale_up.select = SelectPolicy::kMin;  // the smaller of +100 % and +4
  KedaState state;
  EXPECT_EQ(KedaDecide(spec, Read(10000), false, 10, At(0), &state).desired, 14);
  spec.scale_up.select = SelectPolicy::kDisabled;
  KedaState fresh;
  EXPECT_EQ(KedaDecide(spec, Read(10000), false, 10, At(0), &fresh).desired, 10);
}

TEST(KedaDecideTest, DeactivatesOneCooldownAfterTheLastActivity) {
  KedaSpec spec = LagSpec(10);
  spec.scale_down.stabilization = seconds(0);
  KedaState state;
  EXPECT_EQ(KedaDecide(spec, Read(30), false, 0, At(0), &state).desired, 1);
  EXPECT_EQ(KedaDecide(spec, Read(30), false, 1, At(10), &state).desired, 3);
  // Drained at 20 s: the HPA's floor is 1 until the cooldown (30 s) has passed.
  EXPECT_EQ(KedaDecide(spec, Read(0), false, 3, At(20), &state).desired, 1);
  EXPECT_EQ(KedaDecide(spec, Read(0), false, 1, At(39), &state).desired, 1);
  KedaDecision d = KedaDecide(spec, Read(0), false, 1, At(40), &state);
  EXPECT_EQ(d.desired, 0);
  EXPECT_EQ(d.reason, "deactivate");
  // minReplicaCount above 0: never below it.
  KedaSpec kept = spec;
  kept.min_replicas = 2;
  KedaState s2;
  EXPECT_EQ(KedaDecide(kept, Read(0), false, 2, At(1000), &s2).desired, 2);
}

TEST(KedaDecideTest, AFailingTriggerHoldsTheCountAndNeverScalesToZero) {
  KedaSpec spec = LagSpec(10);
  KedaState state;
  EXPECT_EQ(KedaDecide(spec, Read(50), false, 0, At(0), &state).desired, 1);
  KedaDecision d = KedaDecide(spec, Failed(), false, 1, At(1000), &state);
  EXPECT_EQ(d.desired, 1);
  EXPECT_EQ(d.reason, "hold");
  // At zero, a failing trigger activates nothing.
  KedaState idle;
  EXPECT_EQ(KedaDecide(spec, Failed(), false, 0, At(0), &idle).desired, 0);
}

TEST(KedaDecideTest, FallbackReplicasAfterTheFailureThreshold) {
  KedaSpec spec = LagSpec(10);
  spec.fallback_failure_threshold = 3;
  spec.fallback_replicas = 4;
  KedaState state;
  int current = 1;
  std::vector<int> seen;
  for (int t = 0; t < 4; ++t) {
    KedaDecision d = KedaDecide(spec, Failed(), false, current, At(t * 5), &state);
    current = d.desired;
    seen.push_back(current);
  }
  EXPECT_EQ(seen, (std::vector<int>{1, 1, 4, 4}));
  // The trigger answers again: the HPA takes over from the fallback count.
  KedaDecision d = KedaDecide(spec, Read(20), false, current, At(20), &state);
  EXPECT_FALSE(d.fallback);
  EXPECT_EQ(d.reason, "hpa");
}

TEST(KedaDecideTest, IdleReplicaCountIsTheRestingCount) {
  KedaSpec spec = LagSpec(10);
  spec.min_replicas = 2;
  spec.idle_replicas = 0;
  spec.scale_down.stabilization = seconds(0);
  EXPECT_EQ(KedaInitialReplicas(spec), 0);
  KedaState state;
  EXPECT_EQ(KedaDecide(spec, Read(1), false, 0, At(0), &state).desired, 2);  // idle -> min
  EXPECT_EQ(KedaDecide(spec, Read(0), false, 2, At(10), &state).desired, 2);
  EXPECT_EQ(KedaDecide(spec, Read(0), false, 2, At(30), &state).desired, 0);  // cooldown after 0 s activity
}

// scaledJob: how many jobs a poll starts, for each of KEDA's strategies.
TEST(KedaJobsTest, JobsToStartFollowTheScalingStrategy) {
  using Strategy = KedaJobSpec::Strategy;
  struct Case {
    Strategy strategy;
    double queue;
    int running, pending;
    int want;
  } cases[] = {
      {Strategy::kDefault, 0, 0, 0, 0},    // nothing waiting: nothing starts
      {Strategy::kDefault, 23, 0, 0, 5},   // ceil(23 / 5)
      {Strategy::kDefault, 23, 2, 0, 3},   // less those running
      {Strategy::kDefault, 23, 6, 0, 0},
      {Strategy::kDefault, 500, 3, 0, 7},  // at most maxReplicaCount (10) jobs
      {Strategy::kCustom, 50, 4, 0, 3},    // 10 - deduction 1 - 4 × 1.5
      {Strategy::kAccurate, 50, 4, 1, 6},  // 10 + 4 > 10: max - running
      {Strategy::kAccurate, 20, 4, 1, 3},  // 4 - pending
  };
  for (const Case& c : cases) {
    KedaSpec spec = LagSpec(/*target=*/5);
    spec.max_replicas = 10;
    spec.job = KedaJobSpec{};
    spec.job->strategy = c.strategy;
    spec.job->custom_deduction = 1;
    spec.job->custom_running_percentage = 1.5;
    EXPECT_EQ(KedaJobsToStart(spec, Read(c.queue), c.running, c.pending), c.want)
        << "strategy " << static_cast<int>(c.strategy) << " queue " << c.queue << " running " << c.running;
  }
  KedaSpec spec = LagSpec(5);
  spec.job = KedaJobSpec{};
  EXPECT_EQ(KedaJobBatch(spec), 5);
  EXPECT_EQ(KedaInitialReplicas(spec), 0);
  EXPECT_EQ(KedaJobsToStart(spec, Failed(), 0, 0), 0);  // a failing trigger starts nothing
  // Two triggers: the larger queue-to-target ratio by default, their sum when asked.
  KedaTrigger list = spec.triggers[0];
  list.target = 2;
  spec.triggers.push_back(list);
  std::vector<TriggerReading> two = {TriggerReading{true, 10, ""}, TriggerReading{true, 8, ""}};
  EXPECT_EQ(KedaJobsToStart(spec, two, 0, 0), 4);  // ceil(8 / 2)
  spec.job->calculation = KedaJobSpec::Calculation::kSum;
  EXPECT_EQ(KedaJobsToStart(spec, two, 0, 0), 6);  // ceil(18 / 3.5)
}

// A backlog produced faster than one replica consumes: each replica takes
// 10 events a second; 3,000 events arrive in the first 60 s. The decider
// polls every 5 s and a new replica is ready at the next second.
TEST(KedaSimTest, ABacklogScalesUpDrainsAndScalesToZeroWithNoEventLost) {
  KedaSpec spec = LagSpec(/*target=*/20);
  spec.max_replicas = 8;
  spec.cooldown = seconds(60);
  spec.scale_down.stabilization = seconds(30);
  KedaState state;
  int replicas = 0, desired = 0, max_seen = 0;
  long produced = 0, consumed = 0, backlog = 0;
  int last_backlog_poll = -1, zero_at = -1;
  for (int t = 0; t < 600; ++t) {
    if (t < 60) {
      produced += 50;
      backlog += 50;
    }
    long take = std::min<long>(backlog, replicas * 10L);
    backlog -= take;
    consumed += take;
    if (t % 5 == 0) {
      if (backlog > 0) last_backlog_poll = t;
      desired = KedaDecide(spec, Read(static_cast<double>(backlog)), false, desired, At(t), &state).desired;
    }
    replicas = desired;  // ready by the next second
    max_seen = std::max(max_seen, replicas);
    if (t >= 60 && replicas == 0 && zero_at < 0) zero_at = t;
  }
  EXPECT_EQ(consumed, produced);
  EXPECT_EQ(backlog, 0);
  EXPECT_EQ(max_seen, 8);  // the backlog needed more than the maximum
  EXPECT_EQ(replicas, 0);
  ASSERT_GE(zero_at, 0);
  // To zero at the first poll one cooldown after the last that saw a backlog.
  EXPECT_EQ(zero_at, last_backlog_poll + 60);
}

}  // namespace
}  // namespace ofn::scale

// --- reading scaleOptions.keda (spec::ParseScaleSpec) ----------------------------

namespace ofn::spec {
namespace {

scale::ScaleSpec ParseServing(const std::string& serving, std::vector<ScaleError>* errors) {
  return ParseScaleSpec(R"({"serving":)" + serving + "}", errors);
}

TEST(KedaSpecTest, ReadsTheScaledObjectAndTriggersAsOpenFunctionWritesThem) {
  std::vector<ScaleError> errors;
  scale::ScaleSpec s = ParseServing(R"({
    "triggers": {"dapr": [{"name": "q", "topic": "jobs"}]},
    "scaleOptions": {"minReplicas": 0, "maxReplicas": 10, "keda": {
      "scaledObject": {"pollingInterval": 15, "cooldownPeriod": 60,
        "fallback": {"failureThreshold": 3, "replicas": 2},
        "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {
          "scaleDown": {"stabilizationWindowSeconds": 45, "policies": [{"type": "Percent", "value": 50, "periodSeconds": 15}]},
          "scaleUp": {"stabilizationWindowSeconds": 0}}}}},
      "triggers": [
        {"type": "redis-streams", "metadata": {"address": "127.0.0.1:6379", "stream": "jobs", "consumerGroup": "g",
                                              "lagCount": "20", "activationLagCount": "3"}},
        {"type": "nats-jetstream", "name": "js", "metricType": "Value",
         "metadata": {"natsServerMonitoringEndpoint": "127.0.0.1:8222", "stream": "s", "consumer": "c"}},
        {"type": "kafka", "metadata": {"topic": "logs", "lagThreshold": "20"}}]}}})",
                                    &errors);
  ASSERT_TRUE(errors.empty()) << errors[0].path << ": " << errors[0].message;
  ASSERT_TRUE(s.keda.has_value());
  const scale::KedaSpec& k = *s.keda;
  EXPECT_EQ(k.polling_interval, std::chrono::seconds(15));
  EXPECT_EQ(k.cooldown, std::chrono::seconds(60));
  EXPECT_EQ(k.min_replicas, 0);
  EXPECT_EQ(k.max_replicas, 10);
  EXPECT_EQ(k.fallback_failure_threshold, 3);
  EXPECT_EQ(k.fallback_replicas, 2);
  EXPECT_EQ(k.scale_down.stabilization, std::chrono::seconds(45));
  ASSERT_EQ(k.scale_down.policies.size(), 1u);
  EXPECT_EQ(k.scale_down.policies[0].type, scale::HpaPolicy::Type::kPercent);
  EXPECT_EQ(k.scale_down.policies[0].value, 50);
  EXPECT_EQ(k.scale_up, scale::DefaultScaleUp());  // only the window given: the default policies stay
  ASSERT_EQ(k.triggers.size(), 3u);
  EXPECT_EQ(k.triggers[0].name, "s0-redis-streams");
  EXPECT_EQ(k.triggers[0].measure, "lagCount");
  EXPECT_EQ(k.triggers[0].target, 20);
  EXPECT_EQ(k.triggers[0].activation, 3);
  EXPECT_EQ(k.triggers[1].name, "js");
  EXPECT_EQ(k.triggers[1].target, 10);  // lagThreshold's default
  EXPECT_EQ(k.triggers[1].metric_type, scale::KedaMetricType::kValue);
  EXPECT_EQ(k.triggers[2].type, "kafka");  // no scaler here: accepted, and its probe says so
}

TEST(KedaSpecTest, DefaultsAndWhoIsNotKedaScaled) {
  std::vector<ScaleError> errors;
  scale::ScaleSpec s = ParseServing(
      R"({"scaleOptions": {"keda": {"triggers": [{"type": "redis-streams", "metadata": {"host": "h", "stream": "s", "consumerGroup": "g"}}]}}})",
      &errors);
  ASSERT_TRUE(errors.empty());
  ASSERT_TRUE(s.keda.has_value());
  EXPECT_EQ(s.keda->polling_interval, std::chrono::seconds(30));
  EXPECT_EQ(s.keda->cooldown, std::chrono::seconds(300));
  EXPECT_EQ(s.keda->max_replicas, 100);
  EXPECT_EQ(s.keda->triggers[0].measure, "pendingEntriesCount");  // KEDA's default measure
  EXPECT_EQ(s.keda->triggers[0].target, 5);
  // A sync Function (HTTP trigger) is Knative's; no triggers: nothing to poll.
  EXPECT_FALSE(ParseServing(R"({"triggers": {"http": {"port": 8080}}, "scaleOptions": {"keda": {"triggers": [{"type": "cron", "metadata": {}}]}}})",
                            &errors).keda);
  EXPECT_FALSE(ParseServing(R"({"scaleOptions": {"keda": {"scaledObject": {"pollingInterval": 5}}}})", &errors).keda);
  EXPECT_TRUE(errors.empty());
}

TEST(KedaSpecTest, ReadsAScaledJob) {
  std::vector<ScaleError> errors;
  scale::ScaleSpec s = ParseServing(R"({"scaleOptions": {"maxReplicas": 6, "keda": {
      "scaledJob": {"pollingInterval": 10, "successfulJobsHistoryLimit": 2, "failedJobsHistoryLimit": 3,
                    "scalingStrategy": {"strategy": "custom", "customScalingQueueLengthDeduction": 1,
                                        "customScalingRunningJobPercentage": "0.5", "multipleScalersCalculation": "sum"}},
      "triggers": [{"type": "redis", "metadata": {"host": "h", "listName": "jobs", "listLength": "4"}}]}}})",
                                    &errors);
  ASSERT_TRUE(errors.empty()) << errors[0].path << ": " << errors[0].message;
  ASSERT_TRUE(s.keda && s.keda->job);
  EXPECT_EQ(s.keda->polling_interval, std::chrono::seconds(10));
  EXPECT_EQ(s.keda->max_replicas, 6);
  EXPECT_EQ(s.keda->job->strategy, scale::KedaJobSpec::Strategy::kCustom);
  EXPECT_EQ(s.keda->job->custom_deduction, 1);
  EXPECT_EQ(s.keda->job->custom_running_percentage, 0.5);
  EXPECT_EQ(s.keda->job->calculation, scale::KedaJobSpec::Calculation::kSum);
  EXPECT_EQ(s.keda->job->successful_history, 2);
  EXPECT_EQ(s.keda->job->failed_history, 3);
  EXPECT_EQ(scale::KedaJobBatch(*s.keda), 4);
  ParseServing(R"({"scaleOptions": {"keda": {"scaledJob": {"scalingStrategy": {"strategy": "eager"}},
      "triggers": [{"type": "kafka"}]}}})", &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "spec.serving.scaleOptions.keda.scaledJob.scalingStrategy.strategy");
}

TEST(KedaSpecTest, WrongFieldsAreNamed) {
  struct Case {
    std::string keda;
    std::string path;
    std::string message_part;
  } cases[] = {
      {R"("triggers": [{"type": "redis-streams", "metadata": {"address": "a:1", "stream": "s", "consumerGroup": "g", "lagCount": "many"}}])",
       "spec.serving.scaleOptions.keda.triggers[0].metadata.lagCount", "must be a number"},
      {R"("triggers": [{"type": "redis-streams", "metadata": {"address": "a:1", "lagCount": "5"}}])",
       "spec.serving.scaleOptions.keda.triggers[0].metadata.stream", "required by the redis-streams scaler"},
      {R"("triggers": [{"type": "redis-streams", "metadata": {"address": "a:1", "stream": "s", "lagCount": "5"}}])",
       "spec.serving.scaleOptions.keda.triggers[0].metadata.consumerGroup", "to measure lagCount"},
      {R"("triggers": [{"type": "redis", "metadata": {"listName": "l"}}])",
       "spec.serving.scaleOptions.keda.triggers[0].metadata.address", "(address or host)"},
      {R"("triggers": [{"type": "cron", "metadata": {"timezone": "Asia/Shanghai", "start": "0 8 * * *", "end": "0 20 * * *", "desiredReplicas": "3"}}])",
       "spec.serving.scaleOptions.keda.triggers[0].metadata.timezone", "UTC only"},
      {R"("triggers": [{"type": "cron", "metadata": {"timezone": "UTC", "start": "0 25 * * *", "end": "0 20 * * *", "desiredReplicas": "3"}}])",
       "spec.serving.scaleOptions.keda.triggers[0].metadata.start", "hour"},
      {R"("triggers": [{"type": "redis", "metricType": "Utilization", "metadata": {"listName": "l", "host": "h"}}])",
       "spec.serving.scaleOptions.keda.triggers[0].metricType", "Utilization is for cpu and memory"},
      {R"("triggers": [{"type": "redis", "authenticationRef": {"name": "a"}, "metadata": {"listName": "l", "host": "h"}}])",
       "spec.serving.scaleOptions.keda.triggers[0].authenticationRef", "not read by libofn"},
      {R"("triggers": [{"metadata": {}}])", "spec.serving.scaleOptions.keda.triggers[0].type", "required"},
      {R"("scaledObject": {"pollingInterval": 0}, "triggers": [{"type": "kafka"}])",
       "spec.serving.scaleOptions.keda.scaledObject.pollingInterval", "must be in 1..86400, got 0"},
      {R"("scaledObject": {"advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleUp": {"policies": [{"type": "Pod", "value": 1, "periodSeconds": 15}]}}}}}, "triggers": [{"type": "kafka"}])",
       "spec.serving.scaleOptions.keda.scaledObject.advanced.horizontalPodAutoscalerConfig.behavior.scaleUp.policies[0].type",
       "must be \"Pods\" or \"Percent\""},
      {R"("scaledObject": {"advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {"selectPolicy": "Most"}}}}}, "triggers": [{"type": "kafka"}])",
       "spec.serving.scaleOptions.keda.scaledObject.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.selectPolicy",
       "must be one of"},
      {R"("scaledObject": {"fallback": {"failureThreshold": 3, "replicas": 200}}, "triggers": [{"type": "kafka"}])",
       "spec.serving.scaleOptions.keda.scaledObject.fallback.replicas", "must not be above maxReplicas (200 > 100)"},
  };
  for (const Case& c : cases) {
    std::vector<ScaleError> errors;
    scale::ScaleSpec s = ParseServing(R"({"scaleOptions": {"keda": {)" + c.keda + "}}}", &errors);
    ASSERT_FALSE(errors.empty()) << c.keda;
    EXPECT_EQ(errors[0].path, c.path) << c.keda;
    EXPECT_NE(errors[0].message.find(c.message_part), std::string::npos) << errors[0].message;
    EXPECT_FALSE(s.keda.has_value());  // on error: the defaults
  }
}

}  // namespace
}  // namespace ofn::spec
