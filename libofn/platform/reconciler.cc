#include "libofn/common/regex.h"
#include "libofn/common/internal/json_access.h"
#include "libofn/platform/internal/reconciler.h"

#include <boost/json.hpp>
#include <algorithm>
#include <cstdio>
#include <set>

#include "libofn/common/log.h"
#include "libofn/gateway/plugins.h"
#include "libofn/spec/plugin_config.h"
#include "libofn/platform/internal/listeners.h"
#include "libofn/platform/internal/plan.h"
#include "libofn/platform/internal/status.h"
#include "libofn/platform/internal/traffic.h"
#include "libofn/route/route.h"
#include "libofn/route/table.h"
#include "libofn/scale/options.h"
#include "libofn/spec/scale_spec.h"
#include "libofn/spec/workload.h"
#include "libofn/backend/registry.h"
#include "libofn/spec/internal/emit.h"

namespace ofn::platform::internal {

namespace json = boost::json;
using ofn::internal::Arr;
using ofn::internal::At;
using ofn::internal::Obj;
using ofn::internal::Str;
using spec::kAutoscalerConfigName;
using spec::kAutoscalerConfigNamespace;

namespace {

struct RouteState {
  bool has_route = false;
  std::string status = "True", reason = "Valid", message = "Valid HTTPRoute";
  std::optional<route::FunctionRoute> route;
};


}  // namespace

Reconciler::Reconciler(store::Store* store, Clock* clock, const backend::Registry* drivers,
                       gateway::Dispatcher* dispatcher, Autoscaler* autoscaler, ReconcilerOptions options)
    : store_(store),
      clock_(clock),
      drivers_(drivers),
      dispatcher_(dispatcher),
      autoscaler_(autoscaler),
      options_(std::move(options)) {}

Reconciler::~Reconciler() { Stop(); }

void Reconciler::Start() { thread_ = std::thread([this] { Loop(); }); }

void Reconciler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Reconciler::Kick() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    dirty_ = true;
  }
  cv_.notify_all();
}

bool Reconciler::Sync(std::chrono::milliseconds timeout) {
  int64_t target = store_->resource_version();
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return stop_ || (!dirty_ && done_rv_ >= target); });
}

void Reconciler::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait(lock, [&] { return stop_ || dirty_; });
    if (stop_) break;
    dirty_ = false;
    lock.unlock();
    // Read without holding mu_: the store's locks come before it (a commit
    // delivers its watch events, which Kick, under the store's watch lock).
    // Any commit after dirty_ was cleared kicks again, so the pass below
    // covers at least `rv`.
    int64_t rv = store_->resource_version();
    Pass();
    lock.lock();
    done_rv_ = rv;
    cv_.notify_all();
  }
}

namespace {


std::vector<TrafficTarget> TrafficOf(const json::object& spec) {
  std::vector<TrafficTarget> out;
  const json::value* traffic = spec.if_contains("traffic");
  if (!traffic || !traffic->is_array() || traffic->as_array().empty()) {
    out.push_back(TrafficTarget{"", true, 100, ""});
    return out;
  }
  for (const json::value& t : traffic->as_array()) {
    const json::object* o = Obj(&t);
    TrafficTarget target;
    target.revision_name = Str(o, "revisionName");
    const json::value* latest = At(o, "latestRevision");
    target.latest = latest && latest->is_bool() && latest->as_bool();
    const json::value* pct = At(o, "percent");
    target.percent = pct && pct->is_int64() ? static_cast<int>(pct->as_int64()) : 0;
    target.tag = Str(o, "tag");
    out.push_back(std::move(target));
  }
  return out;
}

std::string TagName(const std::string& tmpl, const std::string& tag, const std::string& name) {
  // Tags and names are DNS labels: nothing in them reads as a \N group.
  static const auto kTag = Regex::MustCompile(R"(\{\{\s*\.Tag\s*\}\})");
  static const auto kName = Regex::MustCompile(R"(\{\{\s*\.Name\s*\}\})");
  return kName->ReplaceAll(kTag->ReplaceAll(tmpl, tag), name);
}

// The spec a tag's route is compiled from: host-based, default rules.
std::string TagRouteSpec(const json::object& spec) {
  json::value copy = spec;
  json::object* o = &copy.as_object();
  for (const char* key : {"serving", "triggers", "http", "route"}) {
    json::value* next = o ? o->if_contains(key) : nullptr;
    o = next && next->is_object() ? &next->as_object() : nullptr;
  }
  if (o) {
    o->erase("hostnames");
    o->erase("rules");
  }
  return json::serialize(copy);
}

struct RevisionView {
  store::RevisionRecord record;
  bool ready = false;
  std::string reason, message;
  std::string stored_status;
  int restarts = 0;
  std::string instance_reason, instance_message, limits_warning;
};

}  // namespace

backend::Backend* Reconciler::OrchestratorFor(const store::Record& fn) const {
  auto annotation = fn.annotations.find(std::string(spec::kBackendAnnotation));
  if (annotation == fn.annotations.end()) return nullptr;
  for (const auto& b : options_.backends) {
    if (b->name() == annotation->second) return b.get();
  }
  return nullptr;
}

void Reconciler::ReconcileOrchestrated(const store::Record& fn, const std::vector<store::RevisionRecord>& revisions,
                                       const std::map<std::string, route::GatewayConfig>& gateways,
                                       backend::Backend* orchestrator, FunctionState* fs, const std::string& now) {
  fs->orchestrator = orchestrator;
  json::value spec_value = ofn::internal::ParseObjectOrEmpty(fn.spec);
  const json::object& spec = spec_value.as_object();
  PlanInput in;
  in.ns = fn.ns;
  in.name = fn.name;
  in.backend = std::string(orchestrator->name());
  in.autoscaler = autoscaler_config_;
  for (const store::RevisionRecord& r : revisions) in.revisions.emplace_back(r.name, r.spec);
  in.traffic = TrafficOf(spec);
  std::optional<route::FunctionRoute> route;
  if (route::HasHttpTrigger(fn.spec)) {
    auto [gns, gname] = route::GatewayRefOf(fn.spec);
    auto git = gateways.find(gns + "/" + gname);
    if (git != gateways.end()) {
      auto compiled = route::CompileRoute(fn.ns, fn.name, fn.spec, git->second, fn.creation_time);
      if (compiled.ok()) route = std::move(*compiled);
    }
    if (const json::value* r = ofn::internal::At(
            Obj(At(Obj(At(Obj(At(&spec, "serving")), "triggers")), "http")), "route")) {
      in.route_json = json::serialize(*r);
    }
  }
  in.route = route ? &*route : nullptr;

  backend::FunctionObservation obs;
  Result<backend::FunctionPlan> plan = MakePlan(in);
  if (!plan.ok()) {
    obs.state = "Failed";
    obs.reason = "InvalidWorkload";
    obs.message = plan.status().message();
  } else {
    Status applied = Status();
    if (!fs->applied || !(*fs->applied == *plan)) {
      applied = orchestrator->Apply(*plan);
      if (applied.ok()) fs->applied = *plan;
    }
    Result<backend::FunctionObservation> seen =
        applied.ok() ? orchestrator->Observe(fn.ns, fn.name) : Result<backend::FunctionObservation>(applied);
    if (seen.ok()) {
      obs = std::move(*seen);
    } else {
      obs.state = "Failed";
      obs.reason = applied.ok() ? "BackendObserveFailed" : "BackendApplyFailed";
      obs.message = "backend " + std::string(orchestrator->name()) + ": " + seen.status().message();
    }
  }

  json::value old_status = ofn::internal::ParseObjectOrEmpty(fn.status);
  json::object st;
  json::array addrs;
  for (const auto& [type, value] : obs.addresses) addrs.push_back(json::object{{"type", type}, {"value", value}});
  if (!addrs.empty()) st["addresses"] = std::move(addrs);
  st["build"] = json::object{{"state", spec.contains("build") ? "Pending" : "Skipped"}};
  if (route) {
    json::array hosts, paths;
    for (const std::string& h : route->AllHosts()) hosts.push_back(json::value(h));
    for (const auto& [type, value] : route::StatusPaths(*route)) paths.push_back(json::object{{"type", type}, {"value", value}});
    st["route"] = json::object{
        {"conditions", json::array{AcceptedCondition(Obj(&old_status), "True", "Valid", "handed to backend " +
                                                 std::string(orchestrator->name()), fn.generation, now)}},
        {"hosts", std::move(hosts)},
        {"paths", std::move(paths)}};
  }
  json::object serving;
  if (!revisions.empty()) serving["resourceRef"] = revisions.back().name;
  serving["state"] = obs.state;
  if (!obs.reason.empty()) {
    serving["reason"] = obs.reason;
    serving["message"] = obs.message;
  }
  if (!obs.latest_ready_revision.empty()) serving["lastSuccessfulResourceRef"] = obs.latest_ready_revision;
  st["serving"] = std::move(serving);
  json::value next = spec::internal::Canonical(st);
  if (json::serialize(next) == json::serialize(spec::internal::Canonical(old_status))) return;
  auto updated = store_->UpdateStatus("Function", fn.ns, fn.name, json::serialize(next), fn.resource_version);
  if (!updated.ok() && updated.status().code() != StatusCode::kConflict &&
      updated.status().code() != StatusCode::kNotFound) {
    OFN_LOG(kError) << "reconcile: writing status of " << fn.ns << "/" << fn.name << ": " << updated.status().ToString();
  }
}

std::shared_ptr<const gateway::PluginChain> Reconciler::CompilePlugins() {
  auto records = store_->List("WasmPlugin");
  if (!records.ok()) {
    OFN_LOG(kError) << "reconcile: listing WasmPlugins: " << records.status().ToString();
    return nullptr;
  }
  std::vector<spec::PluginConfig> plugins;
  for (const store::Record& r : *records) {
    if (r.deletion_time != 0) continue;
    std::vector<spec::PluginError> errors;
    spec::PluginConfig c = spec::ParsePlugin(r.ns, r.name, r.spec, &errors);
    if (!errors.empty()) {
      // Apply validated it; a stored object that no longer parses is skipped.
      OFN_LOG(kError) << "reconcile: WasmPlugin " << r.ns << "/" << r.name << ": " << errors.front().path << ": "
                      << errors.front().message;
      continue;
    }
    plugins.push_back(std::move(c));
  }
  if (plugins.empty()) return nullptr;
  return std::make_shared<const gateway::PluginChain>(std::move(plugins), clock_, rate_limits_);
}

scale::AutoscalerConfig Reconciler::CurrentAutoscalerConfig() {
  auto cm = store_->Get("ConfigMap", kAutoscalerConfigNamespace, kAutoscalerConfigName);
  if (!cm.ok()) return options_.autoscaler;
  std::vector<std::pair<std::string, std::string>> data;
  json::value body = ofn::internal::ParseObjectOrEmpty(cm->spec);
  if (const json::object* d = Obj(At(Obj(&body), "data"))) {
    for (const auto& kv : *d) {
      if (kv.value().is_string()) data.emplace_back(std::string(kv.key()), std::string(kv.value().as_string()));
    }
  }
  std::vector<std::string> errors;
  scale::AutoscalerConfig c = spec::ParseAutoscalerConfig(data, options_.autoscaler, &errors);
  for (const std::string& e : errors) OFN_LOG(kWarning) << "config-autoscaler: " << e;
  return c;
}

void Reconciler::Pass() {
  autoscaler_config_ = CurrentAutoscalerConfig();
  std::map<std::string, route::GatewayConfig> gateways;
  auto gw_records = store_->List("Gateway");
  if (gw_records.ok()) {
    for (const store::Record& g : *gw_records) {
      auto cfg = route::GatewayConfigFromSpec(g.ns, g.name, g.spec);
      if (cfg.ok()) gateways[g.ns + "/" + g.name] = *cfg;
    }
  }
  auto fn_records = store_->List("Function");
  if (!fn_records.ok()) {
    OFN_LOG(kError) << "reconcile: listing functions: " << fn_records.status().ToString();
    return;
  }
  const std::string now = FormatRfc3339(clock_->Now());

  struct Work {
    const store::Record* record;
    json::value spec;
    json::value old_status;
    RouteState route;
    std::vector<route::FunctionRoute> tag_routes;
    std::vector<std::string> tag_revisions;
    std::string serving_hash, build_hash;
    std::string latest_created, latest_ready;
    std::string serving_state, serving_reason, serving_message;
    std::string traffic_message;
  };
  std::vector<Work> work;
  std::set<std::string> live;        // "ns/name" of live functions
  std::set<std::string> live_revs;   // "ns/revision" that stay registered
  for (const store::Record& fn : *fn_records) {
    if (fn.deletion_time != 0) continue;
    Work w{&fn, ofn::internal::ParseObjectOrEmpty(fn.spec), ofn::internal::ParseObjectOrEmpty(fn.status),
           {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
    const json::object& spec = w.spec.as_object();
    std::string key = fn.ns + "/" + fn.name;
    live.insert(key);
    FunctionState& fs = functions_[key];

    // Revisions: a new one whenever the serving part changed.
    auto listed = store_->ListRevisions(fn.ns, fn.name);
    if (!listed.ok()) {
      // Without the revisions nothing below can be decided; keep what runs.
      OFN_LOG(kError) << "reconcile: listing revisions of " << key << ": " << listed.status().ToString();
      return;
    }
    std::vector<store::RevisionRecord> records = std::move(*listed);
    std::optional<LatestRevision> newest;
    if (!records.empty()) newest = LatestRevision{records.back().number, records.back().spec_hash};
    RevisionStep step = NextRevision(fn.name, fn.spec, newest);
    w.serving_hash = step.serving_hash;
    w.build_hash = step.build_hash;
    if (step.create) {
      store::RevisionRecord r;
      r.ns = fn.ns;
      r.function = fn.name;
      r.number = step.number;
      r.name = step.name;
      r.spec = step.serving_spec;
      r.spec_hash = step.serving_hash;
      r.creation_time = std::chrono::duration_cast<std::chrono::seconds>(clock_->Now().time_since_epoch()).count();
      auto put = store_->Transact([&](store::Transaction& tx) { return tx.PutRevision(r); });
      if (!put.ok()) {
        OFN_LOG(kError) << "reconcile: storing revision " << r.name << ": " << put.ToString();
      } else {
        records.push_back(r);
      }
    }

    if (backend::Backend* orchestrator = OrchestratorFor(fn)) {
      // Served by an orchestrating backend: it gets the plan; nothing runs here.
      ReconcileOrchestrated(fn, records, gateways, orchestrator, &fs, now);
      continue;
    }
    if (fs.orchestrator) {
      // No longer orchestrated: the backend lets it go, libofn serves it.
      Status del = fs.orchestrator->Delete(fn.ns, fn.name);
      if (!del.ok()) {
        OFN_LOG(kWarning) << "reconcile: backend delete of " << key << ": " << del.ToString();
      }
      fs.orchestrator = nullptr;
      fs.applied.reset();
    }

    // Each revision registered with the autoscaler; readiness from it (or
    // from the stored status: a revision that was ready stays ready when
    // scaled to zero or after a restart).
    std::vector<RevisionView> revs;
    for (const store::RevisionRecord& rec : records) {
      RevisionView v;
      v.record = rec;
      v.stored_status = rec.status;
      json::value rspec = ofn::internal::ParseObjectOrEmpty(rec.spec);
      json::value rstatus = ofn::internal::ParseObjectOrEmpty(rec.status);
      const json::value* was_ready = At(Obj(&rstatus), "ready");
      v.ready = was_ready && was_ready->is_bool() && was_ready->as_bool();
      auto annotation = fn.annotations.find(std::string(spec::kBackendAnnotation));
      Result<backend::Workload> workload =
          spec::MakeWorkload(fn.ns, fn.name, rec.name, rec.spec,
                             annotation == fn.annotations.end() ? "" : annotation->second);
      Result<backend::InstanceDriver*> picked =
          workload.ok() ? drivers_->Pick(*workload) : Result<backend::InstanceDriver*>(workload.status());
      backend::InstanceDriver* driver = picked.ok() ? *picked : nullptr;
      if (!driver) {
        v.reason = workload.ok() ? "NoBackend" : "InvalidWorkload";
        v.message = picked.status().message();
      } else {
        fs.driver = std::string(driver->name());
        std::vector<spec::ScaleError> errors;
        scale::ScaleSpec ss = spec::ParseScaleSpec(rec.spec, &errors, autoscaler_config_);
        gateway::PoolOptions po;
        po.queue_limit = options_.queue_limit;
        po.queue_timeout = options_.request_timeout;
        po.response_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(options_.request_timeout);
        po.container_concurrency = ss.container_concurrency;
        autoscaler_->Ensure(fn.ns, rec.name, driver, *workload, ss, po);
        live_revs.insert(fn.ns + "/" + rec.name);
        auto st = autoscaler_->Status(fn.ns, rec.name);
        if (st && (st->ever_ready || ss.initial_scale == 0)) v.ready = true;
        if (st && !v.ready && !st->failure.empty()) {
          v.reason = "StartFailed";
          v.message = st->failure;
        }
        if (st) {
          v.restarts = st->restarts;
          v.instance_reason = st->instance_reason;
          v.instance_message = st->instance_message;
          v.limits_warning = st->limits_warning;
        }
      }
      revs.push_back(std::move(v));
    }
    const RevisionView* latest = revs.empty() ? nullptr : &revs.back();
    const RevisionView* latest_ready = nullptr;
    for (const RevisionView& v : revs) {
      if (v.ready) latest_ready = &v;
    }
    w.latest_created = latest ? latest->record.name : "";
    w.latest_ready = latest_ready ? latest_ready->record.name : "";

    // Traffic: only to ready revisions; otherwise keep the last good split.
    std::vector<TrafficTarget> targets = TrafficOf(spec);
    std::vector<RevisionReadiness> readiness;
    for (const RevisionView& v : revs) readiness.push_back({v.record.name, v.ready, v.message});
    TrafficResolution resolved = ResolveTraffic(fn.name, targets, readiness);
    const std::string& unresolved = resolved.unresolved;
    const std::map<std::string, int>& percents = resolved.percents;
    const std::vector<std::pair<std::string, std::string>>& tags = resolved.tags;
    if (unresolved.empty()) {
      std::vector<gateway::TrafficSplit::Target> split;
      fs.percents.clear();
      for (const auto& [name, pct] : percents) {
        split.push_back({autoscaler_->Pool(fn.ns, name), pct});
        fs.percents[name] = pct;
      }
      fs.split = split.empty() ? nullptr : std::make_shared<const gateway::TrafficSplit>(std::move(split));
      fs.tags = tags;
    } else {
      w.traffic_message = unresolved;
    }
    // Reachable: routed now, or the latest revision while traffic is to
    // follow it (Knative's "unknown" reachability of a rollout target). A
    // revision that is neither goes to zero whatever its min scale.
    const bool follows_latest = std::any_of(targets.begin(), targets.end(), [](const TrafficTarget& t) { return t.latest; });
    auto routed = [&](const std::string& name) {
      bool tagged = std::any_of(fs.tags.begin(), fs.tags.end(), [&](const auto& t) { return t.second == name; });
      return tagged || fs.percents.count(name) > 0 || (follows_latest && latest && latest->record.name == name);
    };
    for (const RevisionView& v : revs) autoscaler_->SetReachable(fn.ns, v.record.name, routed(v.record.name));

    // Revision status (readiness and traffic), written when it changed.
    for (const RevisionView& v : revs) {
      json::object want_status;
      want_status["ready"] = v.ready;
      if (!v.reason.empty()) {
        want_status["reason"] = v.reason;
        want_status["message"] = v.message;
      }
      auto pct = fs.percents.find(v.record.name);
      want_status["percent"] = pct == fs.percents.end() ? 0 : pct->second;
      json::array tag_list;
      for (const auto& [tag, rev] : fs.tags) {
        if (rev == v.record.name) tag_list.push_back(json::value(tag));
      }
      want_status["tags"] = std::move(tag_list);
      if (v.restarts > 0) want_status["restarts"] = v.restarts;
      if (!v.instance_reason.empty()) {
        want_status["instanceReason"] = v.instance_reason;
        want_status["instanceMessage"] = v.instance_message;
      }
      if (!v.limits_warning.empty()) want_status["limitsWarning"] = v.limits_warning;
      std::string want = json::serialize(want_status);
      if (want == json::serialize(ofn::internal::ParseObjectOrEmpty(v.stored_status))) continue;
      store::RevisionRecord updated = v.record;
      updated.status = want;
      auto put = store_->Transact([&](store::Transaction& tx) { return tx.PutRevision(updated); });
      if (!put.ok()) {
        OFN_LOG(kError) << "reconcile: revision status " << v.record.name << ": " << put.ToString();
      }
    }

    // Garbage: revisions without traffic beyond the history limit.
    std::vector<std::string> names;
    for (const RevisionView& v : revs) names.push_back(v.record.name);
    auto keep = [&](const std::string& name) {
      return routed(name) || name == w.latest_created || name == w.latest_ready;
    };
    for (const std::string& name : RevisionsToCollect(names, keep, options_.revision_history)) {
      autoscaler_->Remove(fn.ns, name);
      live_revs.erase(fn.ns + "/" + name);
      Status del = store_->Transact([&](store::Transaction& tx) { return tx.DeleteRevision(fn.ns, name); });
      if (!del.ok()) {
        OFN_LOG(kWarning) << "reconcile: deleting revision " << name << ": " << del.ToString();
      }
    }

    // Serving state.
    if (fs.split) {
      w.serving_state = "Running";
      if (latest && !latest->ready && !latest->reason.empty()) {
        w.serving_reason = "RevisionFailed";
        w.serving_message = "revision " + latest->record.name + " failed (" + latest->reason + "): " +
                            latest->message + "; traffic stays on " + w.latest_ready;
      } else if (!w.traffic_message.empty()) {
        w.serving_reason = "TrafficNotReady";
        w.serving_message = w.traffic_message + "; traffic stays where it was";
      }
    } else if (latest && !latest->reason.empty()) {
      w.serving_state = "Failed";
      w.serving_reason = latest->reason;
      w.serving_message = latest->message;
    } else if (w.latest_ready.empty()) {
      w.serving_state = "Pending";
      w.serving_reason = "RevisionStarting";
      w.serving_message = "waiting for revision " + w.latest_created + " to become ready";
    } else {
      w.serving_state = "Running";
      w.serving_reason = "NoTraffic";
      w.serving_message = w.traffic_message.empty() ? "no traffic target has a percent above 0" : w.traffic_message;
    }
    // Instances of a routed revision that crash, or limits that could not
    // be applied, show while nothing more pressing does.
    if (w.serving_state == "Running" && w.serving_reason.empty()) {
      for (const RevisionView& v : revs) {
        if (!routed(v.record.name)) continue;
        if (!v.instance_reason.empty()) {
          w.serving_reason = v.instance_reason;
          w.serving_message = "revision " + v.record.name + ": " + v.instance_message;
          break;
        }
        if (!v.limits_warning.empty() && w.serving_reason.empty()) {
          w.serving_reason = "LimitsNotApplied";
          w.serving_message = "revision " + v.record.name + ": " + v.limits_warning;
        }
      }
    }

    // Route, and one host-based route per tag.
    std::string spec_json = fn.spec;
    if (route::HasHttpTrigger(spec_json)) {
      w.route.has_route = true;
      auto [gns, gname] = route::GatewayRefOf(spec_json);
      auto git = gateways.find(gns + "/" + gname);
      if (git == gateways.end()) {
        w.route.status = "False";
        w.route.reason = "GatewayNotFound";
        w.route.message = "gateway " + gns + "/" + gname + " does not exist";
      } else {
        auto compiled = route::CompileRoute(fn.ns, fn.name, spec_json, git->second, fn.creation_time);
        if (compiled.ok()) {
          w.route.route = std::move(*compiled);
          std::string tag_spec = TagRouteSpec(spec);
          for (const auto& [tag, rev] : fs.tags) {
            auto tr = route::CompileRoute(fn.ns, TagName(options_.tag_template, tag, fn.name), tag_spec,
                                          git->second, fn.creation_time);
            if (tr.ok()) {
              w.tag_routes.push_back(std::move(*tr));
              w.tag_revisions.push_back(rev);
            }
          }
        } else {
          w.route.status = "False";
          w.route.reason = "InvalidRoute";
          w.route.message = compiled.status().message();
        }
      }
    }
    work.push_back(std::move(w));
  }
  for (auto it = functions_.begin(); it != functions_.end();) {
    if (live.count(it->first)) {
      ++it;
      continue;
    }
    if (it->second.orchestrator) {
      size_t slash = it->first.find('/');
      Status del = it->second.orchestrator->Delete(it->first.substr(0, slash), it->first.substr(slash + 1));
      if (!del.ok()) {
        OFN_LOG(kWarning) << "reconcile: backend delete of " << it->first << ": " << del.ToString();
      }
    }
    it = functions_.erase(it);
  }
  for (const std::string& key : autoscaler_->Keys()) {
    if (live_revs.count(key)) continue;
    size_t slash = key.find('/');
    autoscaler_->Remove(key.substr(0, slash), key.substr(slash + 1));
  }
  // Every revision that runs here is registered now: what survived the last
  // run and was not adopted has no revision left to serve.
  autoscaler_->DropUnadopted();

  // The route table, with conflicts resolved.
  std::vector<route::FunctionRoute> routes;
  std::vector<std::shared_ptr<const gateway::TrafficSplit>> splits;
  std::vector<size_t> route_owner;
  for (size_t i = 0; i < work.size(); ++i) {
    if (!work[i].route.route) continue;
    const store::Record& rec = *work[i].record;
    const FunctionState& fs = functions_[rec.ns + "/" + rec.name];
    routes.push_back(*work[i].route.route);
    splits.push_back(fs.split);
    route_owner.push_back(i);
    for (size_t t = 0; t < work[i].tag_routes.size(); ++t) {
      routes.push_back(work[i].tag_routes[t]);
      splits.push_back(gateway::TrafficSplit::Single(
          autoscaler_->Pool(rec.ns, work[i].tag_revisions[t])));
      route_owner.push_back(i);
    }
  }
  std::vector<route::Rejection> rejected;
  auto snap = std::make_shared<gateway::Snapshot>();
  snap->table = route::RouteTable::Build(std::move(routes), &rejected);
  for (const route::Rejection& r : rejected) {
    RouteState& rs = work[route_owner[r.route]].route;
    rs.status = "False";
    rs.reason = r.reason;
    rs.message = r.message;
  }
  snap->targets = std::move(splits);
  snap->plugins = CompilePlugins();
  dispatcher_->Publish(std::move(snap));

  // Status.
  for (Work& w : work) {
    const store::Record& fn = *w.record;
    const json::object& spec = w.spec.as_object();
    const json::object* old = Obj(&w.old_status);
    const FunctionState& fs = functions_[fn.ns + "/" + fn.name];
    FunctionStatusInput in;
    in.generation = fn.generation;
    in.has_build = spec.contains("build");
    in.build_hash = w.build_hash;
    in.serving_hash = w.serving_hash;
    in.has_route = w.route.has_route;
    in.route_status = w.route.status;
    in.route_reason = w.route.reason;
    in.route_message = w.route.message;
    in.route = w.route.route ? &*w.route.route : nullptr;
    for (const route::FunctionRoute& tr : w.tag_routes) in.tag_routes.push_back(&tr);
    in.latest_created = w.latest_created;
    in.latest_ready = w.latest_ready;
    in.serving_state = w.serving_state;
    in.serving_reason = w.serving_reason;
    in.serving_message = w.serving_message;
    if (fs.split) in.service = fn.name + "-" + fs.driver;
    std::string next = MakeFunctionStatus(in, old, now);
    if (next == json::serialize(spec::internal::Canonical(w.old_status))) continue;
    auto updated = store_->UpdateStatus("Function", fn.ns, fn.name, next, fn.resource_version);
    if (!updated.ok() && updated.status().code() != StatusCode::kConflict &&
        updated.status().code() != StatusCode::kNotFound) {
      OFN_LOG(kError) << "reconcile: writing status of " << fn.ns << "/" << fn.name << ": "
                      << updated.status().ToString();
    }
  }

  std::map<std::string, int> attached;
  for (const Work& w : work) {
    if (!w.route.route || w.route.status != "True") continue;
    auto [gns, gname] = route::GatewayRefOf(w.record->spec);
    ++attached[gns + "/" + gname];
  }
  if (gw_records.ok()) SyncGateways(*gw_records, attached);
}

void Reconciler::SyncGateways(const std::vector<store::Record>& gateways, const std::map<std::string, int>& attached) {
  auto secrets = store_->List("Secret");
  std::map<std::pair<std::string, std::string>, const store::Record*> by_name;
  std::string inputs;
  if (secrets.ok()) {
    for (const store::Record& s : *secrets) {
      by_name[{s.ns, s.name}] = &s;
      inputs += s.ns + "/" + s.name + "@" + std::to_string(s.resource_version) + ";";
    }
  }
  SecretLookup lookup = [&](std::string_view ns, std::string_view name) -> const store::Record* {
    auto it = by_name.find({std::string(ns), std::string(name)});
    return it == by_name.end() ? nullptr : it->second;
  };
  std::vector<GatewayCertificates> per_gateway;
  std::vector<gateway::TlsCertificate> certs;
  for (const store::Record& g : gateways) {
    per_gateway.push_back(ListenerCertificates(g, lookup, options_.tls != nullptr));
    for (const gateway::TlsCertificate& c : per_gateway.back().certs) certs.push_back(c);
    inputs += g.ns + "/" + g.name + "#" + std::to_string(g.generation) + ";";
  }
  if (options_.tls && inputs != tls_inputs_) {
    tls_inputs_ = inputs;
    tls_errors_ = options_.tls->SetObjects(std::move(certs));
    for (const std::string& e : tls_errors_) OFN_LOG(kWarning) << "TLS certificate refused: " << e;
  }
  for (size_t i = 0; i < gateways.size(); ++i) {
    const store::Record& g = gateways[i];
    AddCertificateErrors(g, tls_errors_, &per_gateway[i]);
    auto n = attached.find(g.ns + "/" + g.name);
    std::string next = MakeGatewayStatus(g, per_gateway[i], n == attached.end() ? 0 : n->second);
    std::string old = spec::internal::EmitJson(spec::internal::Canonical(ofn::internal::ParseObjectOrEmpty(g.status)), false);
    if (next == old) continue;
    auto updated = store_->UpdateStatus("Gateway", g.ns, g.name, next, g.resource_version);
    if (!updated.ok() && updated.status().code() != StatusCode::kConflict &&
        updated.status().code() != StatusCode::kNotFound) {
      OFN_LOG(kError) << "reconcile: writing status of gateway " << g.ns << "/" << g.name << ": "
                      << updated.status().ToString();
    }
  }
}

}  // namespace ofn::platform::internal
