#include "libofn/spec/scale_spec.h"

#include <boost/json.hpp>
#include <cmath>
#include <cstdlib>

#include "libofn/common/internal/json_access.h"
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

ScaleSpec ParseScaleSpec(std::string_view function_spec_json, std::vector<ScaleError>* errors) {
  ScaleSpec s;
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
  s.min_scale = static_cast<int>(std::max<int64_t>(0, IntField(so, "minReplicas", 0)));
  s.max_scale = static_cast<int>(std::max<int64_t>(0, IntField(so, "maxReplicas", 0)));

  Reader r(Obj(At(so, "knative")), errors);
  if (const json::value* m = r.Find("metric")) {
    std::string_view name = m->is_string() ? std::string_view(m->as_string()) : std::string_view();
    if (name == "concurrency") {
      s.metric = Metric::kConcurrency;
    } else if (name == "rps") {
      s.metric = Metric::kRps;
      s.target = 200;
    } else {
      r.Fail("metric", "must be \"concurrency\" or \"rps\" (the KPA's metrics), got " +
                           (m->is_string() ? "\"" + std::string(name) + "\"" : json::serialize(*m)));
    }
  }
  r.Number("target", 0.01, 1e9, &s.target);
  double pct = 0;
  if (r.Number("target-utilization-percentage", 1, 100, &pct)) s.target_utilization = pct / 100.0;
  r.Duration("window", std::chrono::seconds(6), std::chrono::hours(1), &s.stable_window);
  r.Number("panic-window-percentage", 1, 100, &s.panic_window_percentage);
  r.Number("panic-threshold-percentage", 110, 1000, &s.panic_threshold_percentage);
  r.Number("max-scale-up-rate", 1.0 + 1e-9, 1e9, &s.max_scale_up_rate);
  r.Number("max-scale-down-rate", 1.0 + 1e-9, 1e9, &s.max_scale_down_rate);
  r.Number("target-burst-capacity", -1, 1e9, &s.target_burst_capacity);
  r.Integer("initial-scale", 0, 1000000, &s.initial_scale);
  r.Integer("activation-scale", 1, 1000000, &s.activation_scale);
  r.Integer("min-scale", 0, 1000000, &s.min_scale);
  r.Integer("max-scale", 0, 1000000, &s.max_scale);
  r.Duration("scale-down-delay", std::chrono::seconds(0), std::chrono::hours(1), &s.scale_down_delay);
  // (minReplicas > maxReplicas alone is reported by the Function's own rules.)
  if (s.max_scale > 0 && s.min_scale > s.max_scale && (r.Find("min-scale") || r.Find("max-scale"))) {
    errors->push_back({r.Find("min-scale") ? r.Path("min-scale") : "spec.serving.scaleOptions.minReplicas",
                       "must not be greater than the maximum scale (" + std::to_string(s.min_scale) + " > " +
                           std::to_string(s.max_scale) + ")"});
  }
  if (s.max_scale > 0 && s.activation_scale > s.max_scale) {
    r.Fail("activation-scale", "must not be greater than the maximum scale");
  }
  if (errors->size() > first_error) return ScaleSpec();
  return s;
}

}  // namespace ofn::spec
