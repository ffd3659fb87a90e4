// The reconciler's pure steps as tables: traffic resolution (Knative's
// traffic.go cases as libofn has them), revision names, garbage collection.
#include <gtest/gtest.h>

#include <optional>

#include "libofn/platform/internal/plan.h"
#include "libofn/platform/internal/traffic.h"

namespace ofn::platform::internal {
namespace {

using Percents = std::map<std::string, int>;
using Tags = std::vector<std::pair<std::string, std::string>>;

TEST(TrafficTest, ResolutionTable) {
  const std::vector<RevisionReadiness> three = {{"f-00001", true, ""}, {"f-00002", true, ""}, {"f-00003", false, "starting"}};
  struct Case {
    const char* name;
    std::vector<TrafficTarget> targets;
    std::vector<RevisionReadiness> revisions;
    Percents percents;
    Tags tags;
    const char* unresolved;
  } cases[] = {
      {"default: all to the latest ready", {{"", true, 100, ""}}, three, {{"f-00002", 100}}, {}, ""},
      {"nothing ready yet", {{"", true, 100, ""}}, {{"f-00001", false, ""}}, {}, {}, "no revision of f is ready yet"},
      {"no revisions", {{"", true, 100, ""}}, {}, {}, {}, "no revision of f is ready yet"},
      {"split by name and latest", {{"f-00001", false, 90, "old"}, {"", true, 10, "new"}}, three,
       {{"f-00001", 90}, {"f-00002", 10}}, {{"old", "f-00001"}, {"new", "f-00002"}}, ""},
      {"two targets on one revision add up", {{"f-00002", false, 40, ""}, {"", true, 60, ""}}, three, {{"f-00002", 100}},
       {}, ""},
      {"a tag with 0 percent routes only by tag", {{"", true, 100, ""}, {"f-00001", false, 0, "canary"}}, three,
       {{"f-00002", 100}}, {{"canary", "f-00001"}}, ""},
      {"a missing revision", {{"f-00009", false, 100, ""}}, three, {}, {}, "revision f-00009 does not exist"},
      {"an unready revision keeps the old split", {{"f-00003", false, 50, ""}, {"", true, 50, ""}}, three, {}, {},
       "revision f-00003 is not ready: starting"},
  };
  for (const Case& c : cases) {
    TrafficResolution r = ResolveTraffic("f", c.targets, c.revisions);
    EXPECT_EQ(r.unresolved, c.unresolved) << c.name;
    EXPECT_EQ(r.percents, c.percents) << c.name;
    EXPECT_EQ(r.tags, c.tags) << c.name;
  }
}

TEST(RevisionsTest, NamesAreFiveDigitsAndGrow) {
  EXPECT_EQ(RevisionName("hello", 1), "hello-00001");
  EXPECT_EQ(RevisionName("hello", 42), "hello-00042");
  EXPECT_EQ(RevisionName("hello", 123456), "hello-123456");
}

TEST(RevisionsTest, CollectionKeepsRoutedLatestAndTheHistory) {
  std::vector<std::string> revs;
  for (int i = 1; i <= 8; ++i) revs.push_back(RevisionName("f", i));
  auto keep = [](const std::string& n) { return n == "f-00008" || n == "f-00002"; };  // latest, routed
  struct Case {
    int history;
    std::vector<std::string> collected;  // newest first
  } cases[] = {
      {10, {}},
      {6, {}},
      {3, {"f-00004", "f-00003", "f-00001"}},
      {0, {"f-00007", "f-00006", "f-00005", "f-00004", "f-00003", "f-00001"}},
  };
  for (const Case& c : cases) EXPECT_EQ(RevisionsToCollect(revs, keep, c.history), c.collected) << c.history;
}

TEST(PlanTest, RevisionsTrafficAndScaleBoundsMakeThePlan) {
  PlanInput in;
  in.ns = "default";
  in.name = "f";
  in.backend = "k8s";
  in.revisions = {
      {"f-00001", R"({"image":"r/f:v1","serving":{"scaleOptions":{"minReplicas":1,"maxReplicas":3}}})"},
      {"f-00002", R"({"image":"r/f:v2","serving":{"containerConcurrency":5,"scaleOptions":{"knative":{"autoscaling.knative.dev/min-scale":"2"}}}})"},
  };
  in.traffic = {{"f-00001", false, 50, "old"}, {"", true, 50, ""}};
  auto plan = std::optional<backend::FunctionPlan>(MakePlan(in));
  ASSERT_TRUE(PlanError(*plan).ok());
  ASSERT_EQ(plan->revisions.size(), 2u);
  EXPECT_EQ(plan->revisions[0].workload.image, "r/f:v1");
  EXPECT_EQ(plan->revisions[0].workload.revision, "f-00001");
  EXPECT_EQ(plan->revisions[0].min_scale, 1);
  EXPECT_EQ(plan->revisions[0].max_scale, 3);
  EXPECT_EQ(plan->revisions[1].min_scale, 2);  // the annotation wins
  EXPECT_EQ(plan->revisions[1].container_concurrency, 5);
  EXPECT_EQ(plan->traffic, (std::vector<backend::TrafficPlan>{{"f-00001", false, 50, "old"}, {"", true, 50, ""}}));
  EXPECT_TRUE(plan->hosts.empty());
  // The same input makes an equal plan (the platform applies only changes).
  EXPECT_TRUE(*plan == MakePlan(in));
  EXPECT_EQ(plan->revisions[1].scale.container_concurrency, 5);
  EXPECT_EQ(plan->revisions[1].scale.min_scale, 2);
  // A changed cluster setting changes the plan (the local backend rescales).
  PlanInput tuned = in;
  tuned.autoscaler.max_scale_up_rate = 10;
  EXPECT_FALSE(*plan == MakePlan(tuned));
  // A revision that makes no workload is in the plan, saying why.
  in.revisions.push_back({"f-00003", R"({"serving":{"timeout":"never"}})"});
  backend::FunctionPlan bad = MakePlan(in);
  ASSERT_EQ(bad.revisions.size(), 3u);
  EXPECT_NE(bad.revisions[2].invalid.find("spec.serving.timeout"), std::string::npos) << bad.revisions[2].invalid;
  EXPECT_TRUE(bad.revisions[1].invalid.empty());
  Status err = PlanError(bad);
  EXPECT_NE(err.message().find("revision f-00003: spec.serving.timeout"), std::string::npos) << err.message();
}

// Which changes of a Function's spec make a new revision (Knative: a new
// revision for each change of the template; traffic and build alone do not).
TEST(NextRevisionTest, WhatMakesARevision) {
  const std::string base =
      R"({"version":"v1","image":"img:1","serving":{"template":{"containers":[{"name":"function"}]},"scaleOptions":{"maxReplicas":3}},"build":{"builder":"b1"},"traffic":[{"latestRevision":true,"percent":100}]})";
  RevisionStep first = NextRevision("f", base, std::nullopt);
  EXPECT_TRUE(first.create);
  EXPECT_EQ(first.number, 1);
  EXPECT_EQ(first.name, "f-00001");
  EXPECT_EQ(first.serving_spec.find("traffic"), std::string::npos);
  EXPECT_EQ(first.serving_spec.find("build"), std::string::npos);
  const LatestRevision latest{1, first.serving_hash};
  struct Case {
    const char* name;
    std::string from, to;
    bool create;
    bool build_changes;
  } cases[] = {
      {"the same spec", "", "", false, false},
      {"keys in another order", R"("version":"v1","image":"img:1")", R"("image":"img:1","version":"v1")", false, false},
      {"a new image", "img:1", "img:2", true, false},
      {"a new version", R"("version":"v1")", R"("version":"v2")", true, false},
      {"a scale option", R"("maxReplicas":3)", R"("maxReplicas":4)", true, false},
      {"the traffic split", R"("percent":100)", R"("percent":100,"tag":"t")", false, false},
      {"the build", R"("builder":"b1")", R"("builder":"b2")", false, true},
  };
  for (const Case& c : cases) {
    std::string spec = base;
    if (!c.from.empty()) spec.replace(spec.find(c.from), c.from.size(), c.to);
    RevisionStep s = NextRevision("f", spec, latest);
    EXPECT_EQ(s.create, c.create) << c.name;
    EXPECT_EQ(s.build_hash != first.build_hash, c.build_changes) << c.name;
    if (c.create) {
      EXPECT_EQ(s.number, 2) << c.name;
      EXPECT_EQ(s.name, "f-00002") << c.name;
    }
  }
}

}  // namespace
}  // namespace ofn::platform::internal
