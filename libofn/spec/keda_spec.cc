#include "libofn/spec/internal/keda_spec.h"

#include <boost/json.hpp>
#include <cmath>
#include <cstdlib>

#include "libofn/common/internal/json_access.h"
#include "libofn/spec/cron.h"

namespace ofn::spec::internal {

namespace json = boost::json;
using ofn::internal::Arr;
using ofn::internal::At;
using ofn::internal::Obj;
using scale::HpaPolicy;
using scale::HpaRules;
using scale::KedaSpec;
using scale::KedaTrigger;

namespace {

constexpr std::string_view kBase = "spec.serving.scaleOptions.keda";

// What libofn knows of a scaler type: where its target and activation
// threshold are, what it cannot do without.
struct ScalerType {
  std::string_view type;
  std::vector<std::string_view> measures;  // target keys, in order of precedence
  double default_target;
  std::string_view activation;             // activation threshold key ("" = none)
  std::vector<std::vector<std::string_view>> required;  // each: one of these keys
};

const std::vector<ScalerType>& Types() {
  static const std::vector<ScalerType> types = {
      {"redis", {"listLength"}, 5, "activationListLength", {{"listName"}, {"address", "host"}}},
      {"redis-streams",
       {"lagCount", "streamLength", "pendingEntriesCount"},
       5,
       "activationLagCount",
       {{"stream"}, {"address", "host"}}},
      {"nats-jetstream",
       {"lagThreshold"},
       10,
       "activationLagThreshold",
       {{"natsServerMonitoringEndpoint"}, {"stream"}, {"consumer"}}},
      {"cron", {"desiredReplicas"}, 1, "", {{"timezone"}, {"start"}, {"end"}, {"desiredReplicas"}}},
  };
  return types;
}

// Time zones that are UTC (the cron scaler's schedules run in UTC only).
bool IsUtc(std::string_view tz) {
  for (std::string_view name : {"UTC", "Etc/UTC", "Etc/GMT", "GMT", "Etc/Universal", "Universal", "Zulu",
                                "Etc/Zulu", "Etc/UCT", "UCT"}) {
    if (tz == name) return true;
  }
  return false;
}

class Parser {
 public:
  explicit Parser(std::vector<ScaleError>* errors) : errors_(errors) {}

  void Fail(std::string path, std::string message) { errors_->push_back({std::move(path), std::move(message)}); }

  // An integer field in [lo, hi]; false when absent or wrong.
  bool Int(const json::object* o, std::string_view key, const std::string& base, int64_t lo, int64_t hi,
           int64_t* out) {
    const json::value* v = At(o, key);
    if (!v) return false;
    std::string path = base + "." + std::string(key);
    if (!v->is_int64()) {
      Fail(path, "must be a whole number, got " + json::serialize(*v));
      return false;
    }
    if (v->as_int64() < lo || v->as_int64() > hi) {
      Fail(path, "must be in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " +
                     std::to_string(v->as_int64()));
      return false;
    }
    *out = v->as_int64();
    return true;
  }

  HpaRules Rules(const json::object* r, HpaRules rules, const std::string& path) {
    if (!r) return rules;
    int64_t n = 0;
    if (Int(r, "stabilizationWindowSeconds", path, 0, 3600, &n)) rules.stabilization = std::chrono::seconds(n);
    if (const json::value* sel = At(r, "selectPolicy")) {
      std::string_view s = sel->is_string() ? std::string_view(sel->as_string()) : "";
      if (s == "Max") {
        rules.select = scale::SelectPolicy::kMax;
      } else if (s == "Min") {
        rules.select = scale::SelectPolicy::kMin;
      } else if (s == "Disabled") {
        rules.select = scale::SelectPolicy::kDisabled;
      } else {
        Fail(path + ".selectPolicy", "must be one of \"Max\", \"Min\", \"Disabled\"; got " + json::serialize(*sel));
      }
    }
    if (const json::value* pv = At(r, "policies")) {
      const json::array* list = Arr(pv);
      if (!list || list->empty()) {
        Fail(path + ".policies", "must list at least one policy");
        return rules;
      }
      rules.policies.clear();
      for (size_t i = 0; i < list->size(); ++i) {
        std::string pp = path + ".policies[" + std::to_string(i) + "]";
        const json::object* p = Obj(&(*list)[i]);
        if (!p) {
          Fail(pp, "must be an object with type, value and periodSeconds");
          continue;
        }
        HpaPolicy policy;
        std::string type = ofn::internal::Str(p, "type");
        if (type == "Pods") {
          policy.type = HpaPolicy::Type::kPods;
        } else if (type == "Percent") {
          policy.type = HpaPolicy::Type::kPercent;
        } else {
          Fail(pp + ".type", "must be \"Pods\" or \"Percent\", got \"" + type + "\"");
        }
        if (!At(p, "value")) Fail(pp + ".value", "required");
        if (!At(p, "periodSeconds")) Fail(pp + ".periodSeconds", "required");
        if (Int(p, "value", pp, 1, 1000000, &n)) policy.value = static_cast<int>(n);
        if (Int(p, "periodSeconds", pp, 1, 1800, &n)) policy.period = std::chrono::seconds(n);
        rules.policies.push_back(policy);
      }
    }
    return rules;
  }

  // A metadata value as a number >= 0.
  bool MetaNumber(const KedaTrigger& t, std::string_view key, const std::string& path, double* out) {
    auto it = t.metadata.find(std::string(key));
    if (it == t.metadata.end()) return false;
    const std::string& text = it->second;
    char* end = nullptr;
    double d = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !std::isfinite(d) || d < 0) {
      Fail(path + ".metadata." + std::string(key), "must be a number not below 0, got \"" + text + "\"");
      return false;
    }
    *out = d;
    return true;
  }

  KedaTrigger Trigger(const json::object& o, size_t index) {
    const std::string path = std::string(kBase) + ".triggers[" + std::to_string(index) + "]";
    KedaTrigger t;
    t.type = ofn::internal::Str(&o, "type");
    if (t.type.empty()) Fail(path + ".type", "required (a KEDA scaler type, e.g. redis-streams)");
    t.name = ofn::internal::Str(&o, "name");
    if (t.name.empty()) t.name = "s" + std::to_string(index) + "-" + t.type;
    if (const json::object* m = Obj(At(&o, "metadata"))) {
      for (const auto& [k, v] : *m) {
        if (v.is_string()) t.metadata[std::string(k)] = std::string(v.as_string());
      }
    }
    std::string metric_type = ofn::internal::Str(&o, "metricType", "AverageValue");
    if (metric_type == "Value") {
      t.metric_type = scale::KedaMetricType::kValue;
    } else if (metric_type != "AverageValue") {
      Fail(path + ".metricType", "must be \"AverageValue\" or \"Value\" (Utilization is for cpu and memory, "
                                 "which libofn does not scale on); got \"" + metric_type + "\"");
    }
    if (At(&o, "authenticationRef")) {
      Fail(path + ".authenticationRef",
           "TriggerAuthentication objects are not read by libofn; give the scaler's values in metadata");
    }
    const ScalerType* known = nullptr;
    for (const ScalerType& st : Types()) {
      if (st.type == t.type) known = &st;
    }
    if (!known) return t;  // no scaler here: the probe says so when it runs
    for (const auto& group : known->required) {
      bool found = false;
      for (std::string_view key : group) found = found || t.metadata.count(std::string(key));
      if (!found) {
        std::string names;
        for (std::string_view key : group) names += (names.empty() ? "" : " or ") + std::string(key);
        Fail(path + ".metadata." + std::string(group.front()), "required by the " + t.type + " scaler (" + names + ")");
      }
    }
    t.target = known->default_target;
    t.measure = std::string(known->measures.back());
    for (std::string_view key : known->measures) {
      if (t.metadata.count(std::string(key))) {
        t.measure = std::string(key);
        break;
      }
    }
    double target = 0;
    if (MetaNumber(t, t.measure, path, &target)) {
      if (target <= 0) {
        Fail(path + ".metadata." + t.measure, "must be above 0");
      } else {
        t.target = target;
      }
    }
    if (!known->activation.empty()) MetaNumber(t, known->activation, path, &t.activation);
    if (t.type == "redis-streams" && t.measure != "streamLength" && !t.metadata.count("consumerGroup")) {
      Fail(path + ".metadata.consumerGroup", "required by the redis-streams scaler to measure " + t.measure);
    }
    if (t.type == "cron") {
      // The metric is desiredReplicas inside the window, over a target of 1.
      t.target = 1;
      auto tz = t.metadata.find("timezone");
      if (tz != t.metadata.end() && !IsUtc(tz->second)) {
        Fail(path + ".metadata.timezone", "\"" + tz->second + "\": libofn's cron scaler runs in UTC only (UTC, Etc/UTC)");
      }
      for (std::string_view key : {"start", "end"}) {
        auto it = t.metadata.find(std::string(key));
        if (it == t.metadata.end()) continue;
        auto parsed = CronSchedule::Parse(it->second);
        if (!parsed.ok()) Fail(path + ".metadata." + std::string(key), parsed.status().message());
      }
      if (auto it = t.metadata.find("start"), end = t.metadata.find("end");
          it != t.metadata.end() && end != t.metadata.end() && it->second == end->second) {
        Fail(path + ".metadata.end", "must differ from start");
      }
    }
    return t;
  }

 private:
  std::vector<ScaleError>* errors_;
};

}  // namespace

const std::vector<std::string>& BuiltinScalerTypes() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const ScalerType& t : Types()) out.emplace_back(t.type);
    return out;
  }();
  return names;
}

std::optional<KedaSpec> ParseKedaSpec(const json::object* serving, std::vector<ScaleError>* errors) {
  const json::object* so = Obj(At(serving, "scaleOptions"));
  const json::object* keda = Obj(At(so, "keda"));
  const json::array* triggers = Arr(At(keda, "triggers"));
  if (!triggers || triggers->empty()) return std::nullopt;
  if (At(Obj(At(serving, "triggers")), "http")) return std::nullopt;
  Parser p(errors);
  KedaSpec k;
  int64_t n = 0;
  if (const json::value* v = At(so, "minReplicas"); v && v->is_int64()) k.min_replicas = static_cast<int>(v->as_int64());
  if (const json::value* v = At(so, "maxReplicas"); v && v->is_int64()) k.max_replicas = static_cast<int>(v->as_int64());
  const std::string obj_path = std::string(kBase) + ".scaledObject";
  if (const json::object* obj = Obj(At(keda, "scaledObject"))) {
    if (p.Int(obj, "pollingInterval", obj_path, 1, 86400, &n)) k.polling_interval = std::chrono::seconds(n);
    if (p.Int(obj, "cooldownPeriod", obj_path, 0, 86400 * 7, &n)) k.cooldown = std::chrono::seconds(n);
    if (const json::object* fb = Obj(At(obj, "fallback"))) {
      if (!At(fb, "failureThreshold")) p.Fail(obj_path + ".fallback.failureThreshold", "required");
      if (!At(fb, "replicas")) p.Fail(obj_path + ".fallback.replicas", "required");
      if (p.Int(fb, "failureThreshold", obj_path + ".fallback", 1, 1000000, &n)) {
        k.fallback_failure_threshold = static_cast<int>(n);
      }
      if (p.Int(fb, "replicas", obj_path + ".fallback", 0, 1000000, &n)) k.fallback_replicas = static_cast<int>(n);
    }
    const std::string bp = obj_path + ".advanced.horizontalPodAutoscalerConfig.behavior";
    const json::object* behavior =
        Obj(At(Obj(At(Obj(At(obj, "advanced")), "horizontalPodAutoscalerConfig")), "behavior"));
    k.scale_up = p.Rules(Obj(At(behavior, "scaleUp")), scale::DefaultScaleUp(), bp + ".scaleUp");
    k.scale_down = p.Rules(Obj(At(behavior, "scaleDown")), scale::DefaultScaleDown(), bp + ".scaleDown");
  }
  if (const json::object* job = Obj(At(keda, "scaledJob"))) {
    const std::string jp = std::string(kBase) + ".scaledJob";
    scale::KedaJobSpec j;
    if (p.Int(job, "pollingInterval", jp, 1, 86400, &n)) k.polling_interval = std::chrono::seconds(n);
    if (p.Int(job, "successfulJobsHistoryLimit", jp, 0, 1000000, &n)) j.successful_history = static_cast<int>(n);
    if (p.Int(job, "failedJobsHistoryLimit", jp, 0, 1000000, &n)) j.failed_history = static_cast<int>(n);
    if (const json::object* st = Obj(At(job, "scalingStrategy"))) {
      const std::string sp = jp + ".scalingStrategy";
      std::string strategy = ofn::internal::Str(st, "strategy", "default");
      if (strategy == "custom") {
        j.strategy = scale::KedaJobSpec::Strategy::kCustom;
      } else if (strategy == "accurate") {
        j.strategy = scale::KedaJobSpec::Strategy::kAccurate;
      } else if (strategy != "default") {
        p.Fail(sp + ".strategy", "must be one of \"default\", \"custom\", \"accurate\"; got \"" + strategy + "\"");
      }
      if (p.Int(st, "customScalingQueueLengthDeduction", sp, 0, 1000000, &n)) j.custom_deduction = static_cast<int>(n);
      if (const json::value* pct = At(st, "customScalingRunningJobPercentage")) {
        std::string text = pct->is_string() ? std::string(pct->as_string()) : json::serialize(*pct);
        char* end = nullptr;
        double d = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0' || !std::isfinite(d) || d < 0) {
          p.Fail(sp + ".customScalingRunningJobPercentage", "must be a number not below 0 (\"0.5\"), got " + text);
        } else {
          j.custom_running_percentage = d;
        }
      }
      std::string calc = ofn::internal::Str(st, "multipleScalersCalculation", "max");
      if (calc == "min") {
        j.calculation = scale::KedaJobSpec::Calculation::kMin;
      } else if (calc == "avg") {
        j.calculation = scale::KedaJobSpec::Calculation::kAvg;
      } else if (calc == "sum") {
        j.calculation = scale::KedaJobSpec::Calculation::kSum;
      } else if (calc != "max") {
        p.Fail(sp + ".multipleScalersCalculation", "must be one of \"max\", \"min\", \"avg\", \"sum\"; got \"" + calc + "\"");
      }
      if (const json::value* conds = At(st, "pendingPodConditions"); conds && Arr(conds) && !Arr(conds)->empty()) {
        p.Fail(sp + ".pendingPodConditions", "pod conditions are Kubernetes'; a job here is pending until its instance is ready");
      }
    }
    k.job = j;
  }
  for (size_t i = 0; i < triggers->size(); ++i) {
    const json::object* t = Obj(&(*triggers)[i]);
    if (!t) {
      p.Fail(std::string(kBase) + ".triggers[" + std::to_string(i) + "]", "must be an object with type and metadata");
      continue;
    }
    k.triggers.push_back(p.Trigger(*t, i));
  }
  if (k.fallback_failure_threshold > 0 && k.fallback_replicas > k.max_replicas) {
    p.Fail(obj_path + ".fallback.replicas", "must not be above maxReplicas (" + std::to_string(k.fallback_replicas) +
                                                " > " + std::to_string(k.max_replicas) + ")");
  }
  return k;
}

}  // namespace ofn::spec::internal
