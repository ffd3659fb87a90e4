#include "libofn/spec/scale_spec.h"

#include <boost/json.hpp>
#include <cmath>
#include <cstdlib>

#include "libofn/common/internal/json_access.h"
#include "libofn/spec/internal/keda_spec.h"
#include "libofn/spec/units.h"

namespace ofn::spec {

namespace json = boost::json;
using scale::Metric;
using scale::ScaleSpec;
using ofn::internal::At;
using ofn::internal::Obj;

namespace {

constexpr std::string_view kPrefix = "autoscaling.knative.dev/";

class Reader {
 public:
  Reader(const json::object* knative, std::vector<ScaleError>* errors) : knative_(knative), errors_(errors) {}

  // The annotation's text, or nullptr when absent.
  const json::value* Find(std::string_view key) const {
    return knative_ ? knative_->if_contains(std::string(kPrefix) + std::string(key)) : nullptr;
  }
  std::string Path(std::string_view key) const {
    return "spec.serving.scaleOptions.knative[\"" + std::string(kPrefix) + std::string(key) + "\"]";
  }
  void Fail(std::string_view key, std::string message) { errors_->push_back({Path(key), std::move(message)}); }

  // Reads a number in [lo, hi]; the annotation is a string ("100") or a number.
  bool Number(std::string_view key, double lo, double hi, double* out) {
    const json::value* v = Find(key);
    if (!v) return false;
    double d = 0;
    if (v->is_number()) {
      d = v->to_number<double>();
    } else if (v->is_string()) {
      std::string text(v->as_string());
      char* end = nullptr;
      d = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0' || !std::isfinite(d)) {
        Fail(key, "must be a number, got \"" + text + "\"");
        return false;
      }
    } else {
      Fail(key, "must be a number");
      return false;
    }
    if (d < lo || d > hi) {
      Fail(key, "must be in " + Format(lo) + ".." + Format(hi) + ", got " + Format(d));
      return false;
    }
    *out = d;
    return true;
  }
  bool Integer(std::string_view key, int lo, int hi, int* out) {
    double d = 0;
    if (!Number(key, lo, hi, &d)) return false;
    if (d != std::floor(d)) {
      Fail(key, "must be a whole number, got " + Format(d));
      return false;
    }
    *out = static_cast<int>(d);
    return true;
  }
  bool Duration(std::string_view key, std::chrono::nanoseconds lo, std::chrono::nanoseconds hi,
                std::chrono::nanoseconds* out) {
    const json::value* v = Find(key);
    if (!v) return false;
    double secs = 0;
    if (!v->is_string() || !ParseGoDuration(v->as_string(), &secs)) {
      Fail(key, "must be a duration such as \"60s\" or \"1m30s\"");
      return false;
    }
    auto d = std::chrono::nanoseconds(static_cast<int64_t>(std::llround(secs * 1e9)));
    if (d < lo || d > hi) {
      Fail(key, "must be in " + FormatSeconds(lo) + ".." + FormatSeconds(hi) + ", got " +
                    std::string(v->as_string()));
      return false;
    }
    *out = d;
    return true;
  }

  static std::string Format(double d) {
    if (d == std::floor(d) && std::fabs(d) < 1e15) return std::to_string(static_cast<int64_t>(d));
    std::string s = std::to_string(d);
    while (!s.empty() && s.back() == '0') s.pop_back();
    return s;
  }
  static std::string FormatSeconds(std::chrono::nanoseconds d) {
    return Format(std::chrono::duration<double>(d).count()) + "s";
  }

 private:
  const json::object* knative_;
  std::vector<ScaleError>* errors_;
};

int64_t IntField(const json::object* obj, std::string_view key, int64_t fallback) {
  const json::value* v = At(obj, key);
  return v && v->is_int64() ? v->as_int64() : fallback;
}

}  // namespace

const std::vector<std::string>& KnownKnativeAnnotations() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out;
    for (const char* k : {"target", "metric", "target-utilization-percentage", "window", "panic-window-percentage",
                          "panic-threshold-percentage", "initial-scale", "scale-down-delay", "min-scale",
                          "max-scale", "target-burst-capacity", "activation-scale", "max-scale-up-rate",
                          "max-scale-down-rate", "scale-to-zero-pod-retention-period", "class"}) {
      out.push_back(std::string(kPrefix) + k);
    }
    return out;
  }();
  return keys;
}

namespace {

// Knative's per-key checks of config-autoscaler.
struct ConfigReader {
  const std::vector<std::pair<std::string, std::string>>& data;
  std::vector<std::string>* errors;

  const std::string* Find(std::string_view key) const {
    const std::string* found = nullptr;
    for (const auto& [k, v] : data) {
      if (k == key) found = &v;
    }
    return found;
  }
  void Fail(std::string_view key, const std::string& message) {
    errors->push_back("data." + std::string(key) + ": " + message);
  }
  void Bool(std::string_view key, bool* out) {
    const std::string* v = Find(key);
    if (!v) return;
    if (*v == "true" || *v == "True" || *v == "TRUE") {
      *out = true;
    } else if (*v == "false" || *v == "False" || *v == "FALSE") {
      *out = false;
    } else {
      Fail(key, "must be true or false, got \"" + *v + "\"");
    }
  }
  void Number(std::string_view key, double lo, double hi, double* out, bool lo_open = false) {
    const std::string* v = Find(key);
    if (!v) return;
    char* end = nullptr;
    double d = std::strtod(v->c_str(), &end);
    if (v->empty() || *end != '\0' || !std::isfinite(d)) {
      Fail(key, "must be a number, got \"" + *v + "\"");
      return;
    }
    if (d < lo || d > hi || (lo_open && d == lo)) {
      Fail(key, "must be in " + std::string(lo_open ? "(" : "[") + Reader::Format(lo) + ", " + Reader::Format(hi) +
                    "], got " + *v);
      return;
    }
    *out = d;
  }
  void Integer(std::string_view key, int lo, int hi, int* out) {
    double d = *out;
    size_t before = errors->size();
    Number(key, lo, hi, &d);
    if (errors->size() != before) return;
    if (d != std::floor(d)) {
      Fail(key, "must be a whole number, got " + Reader::Format(d));
      return;
    }
    *out = static_cast<int>(d);
  }
  void Duration(std::string_view key, std::chrono::nanoseconds lo, std::chrono::nanoseconds hi,
                std::chrono::nanoseconds* out, bool whole_seconds = false) {
    const std::string* v = Find(key);
    if (!v) return;
    double secs = 0;
    if (!ParseGoDuration(*v, &secs)) {
      Fail(key, "must be a duration such as \"60s\" or \"1m30s\", got \"" + *v + "\"");
      return;
    }
    auto d = std::chrono::nanoseconds(static_cast<int64_t>(std::llround(secs * 1e9)));
    if (d < lo || d > hi) {
      Fail(key, "must be in " + Reader::FormatSeconds(lo) + ".." + Reader::FormatSeconds(hi) + ", got " + *v);
      return;
    }
    if (whole_seconds && d.count() % 1000000000 != 0) {
      Fail(key, "must be a whole number of seconds, got " + *v);
      return;
    }
    *out = d;
  }
};

constexpr std::string_view kConfigKeys[] = {
    "allow-zero-initial-scale", "enable-scale-to-zero", "max-scale-limit", "activator-capacity",
    "scale-to-zero-grace-period", "scale-to-zero-pod-retention-period", "container-concurrency-target-default",
    "container-concurrency-target-percentage", "requests-per-second-target-default", "target-burst-capacity",
    "stable-window", "panic-window-percentage", "panic-threshold-percentage", "max-scale-up-rate",
    "max-scale-down-rate", "initial-scale", "min-scale", "max-scale", "scale-down-delay",
    // Knative keys with no meaning here, accepted so a config-autoscaler copied from a cluster applies.
    "pod-autoscaler-class", "enable-graceful-scaledown", "tick-interval"};

}  // namespace

scale::AutoscalerConfig ParseAutoscalerConfig(const std::vector<std::pair<std::string, std::string>>& data,
                                              const scale::AutoscalerConfig& base, std::vector<std::string>* errors) {
  scale::AutoscalerConfig c = base;
  size_t first = errors->size();
  ConfigReader r{data, errors};
  for (const auto& [k, v] : data) {
    bool known = false;
    for (std::string_view key : kConfigKeys) known = known || key == k;
    if (!known) r.Fail(k, "not a config-autoscaler key libofn knows");
  }
  using std::chrono::hours;
  using std::chrono::seconds;
  r.Bool("allow-zero-initial-scale", &c.allow_zero_initial_scale);
  r.Bool("enable-scale-to-zero", &c.enable_scale_to_zero);
  r.Integer("max-scale-limit", 0, 1000000, &c.max_scale_limit);
  r.Number("activator-capacity", 1, 1e9, &c.activator_capacity);
  r.Duration("scale-to-zero-grace-period", seconds(0), hours(1), &c.scale_to_zero_grace_period);
  r.Duration("scale-to-zero-pod-retention-period", seconds(0), hours(1), &c.scale_to_zero_pod_retention_period);
  r.Number("container-concurrency-target-default", 0.01, 1e9, &c.container_concurrency_target_default);
  r.Number("container-concurrency-target-percentage", 0, 100, &c.container_concurrency_target_percentage, true);
  r.Number("requests-per-second-target-default", 0.01, 1e9, &c.requests_per_second_target_default);
  r.Number("target-burst-capacity", -1, 1e9, &c.target_burst_capacity);
  r.Duration("stable-window", seconds(6), hours(1), &c.stable_window, true);
  r.Number("panic-window-percentage", 1, 100, &c.panic_window_percentage);
  r.Number("panic-threshold-percentage", 110, 1000, &c.panic_threshold_percentage);
  r.Number("max-scale-up-rate", 1, 1e9, &c.max_scale_up_rate, true);
  r.Number("max-scale-down-rate", 1, 1e9, &c.max_scale_down_rate, true);
  r.Integer("initial-scale", 0, 1000000, &c.initial_scale);
  r.Integer("min-scale", 0, 1000000, &c.min_scale);
  r.Integer("max-scale", 0, 1000000, &c.max_scale);
  r.Duration("scale-down-delay", seconds(0), hours(1), &c.scale_down_delay);
  if (errors->size() == first) {
    if (c.initial_scale == 0 && !c.allow_zero_initial_scale) {
      r.Fail("initial-scale", "0 needs allow-zero-initial-scale: \"true\"");
    }
    if (c.max_scale > 0 && c.min_scale > c.max_scale) {
      r.Fail("min-scale", "must not be greater than max-scale (" + std::to_string(c.min_scale) + " > " +
                              std::to_string(c.max_scale) + ")");
    }
    if (c.max_scale_limit > 0 && (c.max_scale == 0 || c.max_scale > c.max_scale_limit)) {
      r.Fail("max-scale", "must be in 1.." + std::to_string(c.max_scale_limit) + " when max-scale-limit is set, got " +
                              std::to_string(c.max_scale));
    }
  }
  if (errors->size() > first) return base;
  return c;
}

ScaleSpec ParseScaleSpec(std::string_view function_spec_json, std::vector<ScaleError>* errors,
                         const scale::AutoscalerConfig& config) {
  ScaleSpec s;
  s.target_utilization = config.container_concurrency_target_percentage / 100.0;
  s.stable_window = config.stable_window;
  s.panic_window_percentage = config.panic_window_percentage;
  s.panic_threshold_percentage = config.panic_threshold_percentage;
  s.max_scale_up_rate = config.max_scale_up_rate;
  s.max_scale_down_rate = config.max_scale_down_rate;
  s.target_burst_capacity = config.target_burst_capacity;
  s.initial_scale = config.initial_scale;
  s.min_scale = config.min_scale;
  s.max_scale = config.max_scale;
  s.scale_down_delay = config.scale_down_delay;
  s.scale_to_zero_grace = config.scale_to_zero_grace_period;
  s.scale_to_zero_retention = config.scale_to_zero_pod_retention_period;
  s.enable_scale_to_zero = config.enable_scale_to_zero;

  json::value root = ofn::internal::ParseObjectOrEmpty(function_spec_json);
  const json::object* serving = Obj(At(&root.as_object(), "serving"));
  const json::object* so = Obj(At(serving, "scaleOptions"));
  size_t first_error = errors->size();

  if (const json::value* cc = At(serving, "containerConcurrency")) {
    if (!cc->is_int64() || cc->as_int64() < 0 || cc->as_int64() > 1000) {
      errors->push_back({"spec.serving.containerConcurrency", "must be a whole number in 0..1000 (0: unlimited)"});
    } else {
      s.container_concurrency = static_cast<int>(cc->as_int64());
    }
  }
  if (At(so, "minReplicas")) s.min_scale = static_cast<int>(std::max<int64_t>(0, IntField(so, "minReplicas", 0)));
  if (At(so, "maxReplicas")) s.max_scale = static_cast<int>(std::max<int64_t>(0, IntField(so, "maxReplicas", 0)));

  Reader r(Obj(At(so, "knative")), errors);
  if (const json::value* m = r.Find("metric")) {
    std::string_view name = m->is_string() ? std::string_view(m->as_string()) : std::string_view();
    if (name == "concurrency") {
      s.metric = Metric::kConcurrency;
    } else if (name == "rps") {
      s.metric = Metric::kRps;
    } else {
      r.Fail("metric", "must be \"concurrency\" or \"rps\" (the KPA's metrics), got " +
                           (m->is_string() ? "\"" + std::string(name) + "\"" : json::serialize(*m)));
    }
  }
  // Knative's total: containerConcurrency (or the default) for concurrency,
  // the rps default for rps; a target annotation replaces it (for
  // concurrency, capped by containerConcurrency).
  const double cc = s.container_concurrency;
  if (s.metric == Metric::kRps) {
    s.target = config.requests_per_second_target_default;
  } else {
    s.target = cc > 0 ? cc : config.container_concurrency_target_default;
  }
  double annotated = 0;
  if (r.Number("target", 0.01, 1e9, &annotated)) {
    s.target = (s.metric == Metric::kConcurrency && cc > 0) ? std::min(annotated, cc) : annotated;
  }
  double pct = 0;
  if (r.Number("target-utilization-percentage", 1, 100, &pct)) s.target_utilization = pct / 100.0;
  r.Duration("window", std::chrono::seconds(6), std::chrono::hours(1), &s.stable_window);
  r.Number("panic-window-percentage", 1, 100, &s.panic_window_percentage);
  r.Number("panic-threshold-percentage", 110, 1000, &s.panic_threshold_percentage);
  r.Number("max-scale-up-rate", 1.0 + 1e-9, 1e9, &s.max_scale_up_rate);
  r.Number("max-scale-down-rate", 1.0 + 1e-9, 1e9, &s.max_scale_down_rate);
  r.Number("target-burst-capacity", -1, 1e9, &s.target_burst_capacity);
  int initial = 0;
  // Zero initial scale only where the cluster allows it; otherwise the
  // cluster's initial scale (Knative's GetInitialScale).
  if (r.Integer("initial-scale", 0, 1000000, &initial) && (initial > 0 || config.allow_zero_initial_scale)) {
    s.initial_scale = initial;
  }
  r.Integer("activation-scale", 1, 1000000, &s.activation_scale);
  r.Integer("min-scale", 0, 1000000, &s.min_scale);
  r.Integer("max-scale", 0, 1000000, &s.max_scale);
  r.Duration("scale-down-delay", std::chrono::seconds(0), std::chrono::hours(1), &s.scale_down_delay);
  r.Duration("scale-to-zero-pod-retention-period", std::chrono::seconds(0), std::chrono::hours(1),
             &s.scale_to_zero_retention);
  // (minReplicas > maxReplicas alone is reported by the Function's own rules.)
  if (s.max_scale > 0 && s.min_scale > s.max_scale && (r.Find("min-scale") || r.Find("max-scale"))) {
    errors->push_back({r.Find("min-scale") ? r.Path("min-scale") : "spec.serving.scaleOptions.minReplicas",
                       "must not be greater than the maximum scale (" + std::to_string(s.min_scale) + " > " +
                           std::to_string(s.max_scale) + ")"});
  }
  if (config.max_scale_limit > 0 && (s.max_scale == 0 || s.max_scale > config.max_scale_limit)) {
    std::string path = r.Find("max-scale") ? r.Path("max-scale") : "spec.serving.scaleOptions.maxReplicas";
    errors->push_back({path, "must be in 1.." + std::to_string(config.max_scale_limit) +
                                 " (the cluster's max-scale-limit), got " + std::to_string(s.max_scale)});
  }
  if (s.max_scale > 0 && s.activation_scale > s.max_scale) {
    r.Fail("activation-scale", "must not be greater than the maximum scale");
  }
  if (!s.enable_scale_to_zero) s.min_scale = std::max(s.min_scale, 1);
  s.keda = internal::ParseKedaSpec(serving, errors);
  if (errors->size() > first_error) return ScaleSpec();
  return s;
}

}  // namespace ofn::spec
