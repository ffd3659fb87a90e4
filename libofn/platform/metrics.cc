#include "libofn/platform/internal/metrics.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>

#include "libofn/common/internal/json_access.h"
#include "libofn/common/json_text.h"
#include "libofn/scale/options.h"

namespace ofn::platform::internal {

namespace json = boost::json;
using ofn::internal::At;
using ofn::internal::Obj;
using ofn::internal::Str;

namespace {

std::string RevisionJson(const RevisionInfo& r, const json::object& spec, const RevisionScaleStatus* scale) {
  json::object meta;
  meta["name"] = r.name;
  meta["namespace"] = r.ns;
  meta["creationTimestamp"] = FormatRfc3339(Clock::TimePoint(std::chrono::seconds(r.creation_time)));
  meta["labels"] = json::object{{"serving.knative.dev/configuration", r.function},
                                {"serving.knative.dev/service", r.function},
                                {"serving.knative.dev/configurationGeneration", std::to_string(r.number)}};
  json::object container;
  container["name"] = "function";
  container["image"] = Str(&spec, "image");
  json::object rspec;
  rspec["containers"] = json::array{container};
  rspec["containerConcurrency"] = scale ? scale->spec.container_concurrency : 0;
  json::object cond;
  cond["type"] = "Ready";
  cond["status"] = r.ready ? "True" : (r.reason.empty() ? "Unknown" : "False");
  if (!r.reason.empty()) {
    cond["reason"] = r.reason;
    cond["message"] = r.message;
  }
  json::object status;
  status["conditions"] = json::array{cond};
  status["actualReplicas"] = r.ready_instances;
  status["desiredReplicas"] = r.desired_instances;
  json::object out;
  out["apiVersion"] = "serving.knative.dev/v1";
  out["kind"] = "Revision";
  out["metadata"] = std::move(meta);
  out["spec"] = std::move(rspec);
  out["status"] = std::move(status);
  return json::serialize(out);
}

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

}  // namespace

Result<std::vector<RevisionInfo>> ListRevisions(store::Store& store, const Autoscaler& autoscaler,
                                                std::string_view name, std::string_view ns) {
  std::vector<std::pair<std::string, std::string>> functions;  // (ns, name)
  if (!name.empty()) {
    functions.emplace_back(std::string(ns), std::string(name));
  } else {
    OFN_ASSIGN_OR_RETURN(std::vector<store::Record> fns, store.List("Function", ns));
    for (const store::Record& f : fns) functions.emplace_back(f.ns, f.name);
  }
  std::vector<RevisionInfo> out;
  for (const auto& [fns, fname] : functions) {
    OFN_ASSIGN_OR_RETURN(std::vector<store::RevisionRecord> records, store.ListRevisions(fns, fname));
    for (const store::RevisionRecord& rec : records) {
      RevisionInfo r;
      r.ns = rec.ns;
      r.function = rec.function;
      r.name = rec.name;
      r.number = rec.number;
      r.creation_time = rec.creation_time;
      json::value st = ofn::internal::ParseObjectOrEmpty(rec.status);
      const json::object* so = Obj(&st);
      const json::value* ready = At(so, "ready");
      r.ready = ready && ready->is_bool() && ready->as_bool();
      r.reason = Str(so, "reason");
      r.message = Str(so, "message");
      const json::value* pct = At(so, "percent");
      r.percent = pct && pct->is_int64() ? static_cast<int>(pct->as_int64()) : 0;
      if (const json::value* tags = At(so, "tags"); tags && tags->is_array()) {
        for (const json::value& t : tags->as_array()) {
          if (t.is_string()) r.tags.emplace_back(t.as_string());
        }
      }
      auto scale = autoscaler.Status(rec.ns, rec.name);
      if (scale) {
        r.ready_instances = scale->ready;
        r.desired_instances = scale->desired;
        r.panicking = scale->panicking;
        r.concurrency = scale->concurrency;
        r.rps = scale->rps;
        r.queued = scale->queued;
        r.cold_starts = scale->cold_starts;
        r.recovered = scale->recovered;
        r.restarts = scale->restarts;
        r.keda = scale->spec.keda.has_value();
        r.keda_active = scale->keda_active;
        r.keda_reason = scale->keda_reason;
        for (const RevisionScaleStatus::Trigger& t : scale->triggers) {
          r.keda_triggers.push_back({t.name, t.type, t.reading.value, t.reading.ok ? "" : t.reading.error});
        }
        r.jobs = scale->job;
        r.jobs_running = scale->jobs_running;
        r.jobs_succeeded = scale->jobs_succeeded;
        r.jobs_failed = scale->jobs_failed;
      }
      json::value spec = ofn::internal::ParseObjectOrEmpty(rec.spec);
      r.json = RevisionJson(r, spec.as_object(), scale ? &*scale : nullptr);
      out.push_back(std::move(r));
    }
  }
  return out;
}

std::string PrometheusText(const Autoscaler& autoscaler) {
  std::vector<RevisionScaleStatus> all = autoscaler.StatusAll();
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return std::tie(a.ns, a.revision) < std::tie(b.ns, b.revision);
  });
  std::string out;
  auto labels = [](const RevisionScaleStatus& s) {
    return "{namespace=" + JsonQuote(s.ns) + ",function=" + JsonQuote(s.function) + ",revision=" +
           JsonQuote(s.revision) + "}";
  };
  struct Gauge {
    const char* name;
    const char* type;
    const char* help;
    double (*value)(const RevisionScaleStatus&);
  };
  static const Gauge kGauges[] = {
      {"ofn_revision_concurrency", "gauge", "Average requests in flight over the stable window.",
       [](const RevisionScaleStatus& s) { return s.concurrency; }},
      {"ofn_revision_rps", "gauge", "Requests per second over the stable window.",
       [](const RevisionScaleStatus& s) { return s.rps; }},
      {"ofn_revision_ready_instances", "gauge", "Instances serving.",
       [](const RevisionScaleStatus& s) { return static_cast<double>(s.ready); }},
      {"ofn_revision_desired_instances", "gauge", "Instances the autoscaler asks for.",
       [](const RevisionScaleStatus& s) { return static_cast<double>(s.desired); }},
      {"ofn_revision_panic_mode", "gauge", "1 while the autoscaler is in panic mode.",
       [](const RevisionScaleStatus& s) { return s.panicking ? 1.0 : 0.0; }},
      {"ofn_revision_queue_depth", "gauge", "Requests waiting in the activator for an instance.",
       [](const RevisionScaleStatus& s) { return static_cast<double>(s.queued); }},
      {"ofn_revision_in_flight", "gauge", "Requests being served by instances.",
       [](const RevisionScaleStatus& s) { return static_cast<double>(s.in_flight); }},
      {"ofn_revision_excess_burst_capacity", "gauge", "Spare capacity beyond the target burst capacity.",
       [](const RevisionScaleStatus& s) { return static_cast<double>(s.excess_burst_capacity); }},
      {"ofn_revision_requests_total", "counter", "Requests served by instances.",
       [](const RevisionScaleStatus& s) { return static_cast<double>(s.counters.served); }},
      {"ofn_revision_queued_requests_total", "counter", "Requests that had to wait for an instance.",
       [](const RevisionScaleStatus& s) { return static_cast<double>(s.counters.queued); }},
      {"ofn_revision_overflow_total", "counter", "Requests refused with 503 because the queue was full.",
       [](const RevisionScaleStatus& s) { return static_cast<double>(s.counters.overflowed); }},
      {"ofn_revision_timeouts_total", "counter", "Requests answered 504 after waiting too long.",
       [](const RevisionScaleStatus& s) { return static_cast<double>(s.counters.timed_out); }},
  };
  for (const Gauge& g : kGauges) {
    out += std::string("# HELP ") + g.name + " " + g.help + "\n# TYPE " + g.name + " " + g.type + "\n";
    for (const RevisionScaleStatus& s : all) out += g.name + labels(s) + " " + Num(g.value(s)) + "\n";
  }
  out += "# HELP ofn_revision_cold_start_seconds Time from an instance start to ready.\n";
  out += "# TYPE ofn_revision_cold_start_seconds histogram\n";
  for (const RevisionScaleStatus& s : all) {
    std::string base = labels(s);
    base.pop_back();  // reopen the label set for "le"
    for (size_t i = 0; i < kColdStartBuckets.size(); ++i) {
      out += "ofn_revision_cold_start_seconds_bucket" + base + ",le=\"" + Num(kColdStartBuckets[i]) + "\"} " +
             std::to_string(s.cold_start_buckets[i]) + "\n";
    }
    out += "ofn_revision_cold_start_seconds_bucket" + base + ",le=\"+Inf\"} " + std::to_string(s.cold_starts) + "\n";
    out += "ofn_revision_cold_start_seconds_sum" + labels(s) + " " + Num(s.cold_start_seconds_sum) + "\n";
    out += "ofn_revision_cold_start_seconds_count" + labels(s) + " " + std::to_string(s.cold_starts) + "\n";
  }
  // KEDA-scaled revisions: each trigger's last reading (as KEDA's metrics
  // server exposes them), whether it failed, and whether the revision is active.
  std::string values, errors, active;
  for (const RevisionScaleStatus& s : all) {
    if (!s.spec.keda) continue;
    active += "ofn_keda_active" + labels(s) + " " + (s.keda_active ? "1" : "0") + "\n";
    std::string base = labels(s);
    base.pop_back();
    for (const RevisionScaleStatus::Trigger& t : s.triggers) {
      std::string l = base + ",trigger=" + JsonQuote(t.name) + ",type=" + JsonQuote(t.type) + "}";
      values += "ofn_keda_trigger_value" + l + " " + Num(t.reading.value) + "\n";
      errors += "ofn_keda_trigger_error" + l + " " + (t.reading.ok || t.reading.error.empty() ? "0" : "1") + "\n";
    }
  }
  out += "# HELP ofn_keda_active 1 while a KEDA-scaled revision has an active trigger or work in flight.\n"
         "# TYPE ofn_keda_active gauge\n" + active;
  out += "# HELP ofn_keda_trigger_value What a KEDA trigger read at its last poll.\n"
         "# TYPE ofn_keda_trigger_value gauge\n" + values;
  out += "# HELP ofn_keda_trigger_error 1 when a KEDA trigger's last poll failed.\n"
         "# TYPE ofn_keda_trigger_error gauge\n" + errors;
  return out;
}

}  // namespace ofn::platform::internal
