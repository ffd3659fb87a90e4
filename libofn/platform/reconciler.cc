#include "libofn/common/regex.h"
#include "libofn/common/internal/json_access.h"
#include "libofn/platform/internal/reconciler.h"

#include <boost/json.hpp>
#include <algorithm>
#include <cstdio>
#include <deque>
#include <set>

#include "libofn/common/base64.h"
#include "libofn/common/log.h"
#include "libofn/gateway/plugins.h"
#include "libofn/spec/plugin_config.h"
#include "libofn/platform/internal/listeners.h"
#include "libofn/platform/internal/local_backend.h"
#include "libofn/platform/internal/plan.h"
#include "libofn/platform/internal/status.h"
#include "libofn/platform/internal/traffic.h"
#include "libofn/route/route.h"
#include "libofn/route/table.h"
#include "libofn/scale/options.h"
#include "libofn/spec/scale_spec.h"
#include "libofn/spec/workload.h"
#include "libofn/spec/units.h"
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

Reconciler::Reconciler(store::Store* store, Clock* clock, const backend::Registry* drivers,
                       gateway::Dispatcher* dispatcher, Autoscaler* autoscaler, ReconcilerOptions options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      local_(drivers, dispatcher, autoscaler,
             LocalBackendOptions{options_.tag_template, options_.queue_limit,
                                 std::chrono::duration_cast<std::chrono::milliseconds>(options_.request_timeout)}) {}

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
    ++kicks_;
  }
  cv_.notify_all();
}

void Reconciler::Resync() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++world_;
    dirty_ = true;
    ++kicks_;
  }
  cv_.notify_all();
}

void Reconciler::Changed(const store::Record& record, bool deleted) {
  if (record.kind == "Function") {
    Kick();
    return;
  }
  std::string text = record.spec;
  for (const auto* m : {&record.labels, &record.annotations}) {
    text += '\n';
    for (const auto& [k, v] : *m) text += k + "=" + v + ";";
  }
  text += "\n" + std::to_string(record.deletion_time);
  const uint64_t digest = Hash64(text);
  const std::string key = record.kind + "/" + record.ns + "/" + record.name;
  bool resync = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (deleted) {
      input_digests_.erase(key);
    } else {
      auto [it, added] = input_digests_.try_emplace(key, digest);
      resync = added || it->second != digest;
      it->second = digest;
    }
  }
  if (resync) {
    Resync();
  } else {
    Kick();
  }
}

bool Reconciler::Sync(std::chrono::milliseconds timeout) {
  int64_t target = store_->resource_version();
  std::unique_lock<std::mutex> lock(mu_);
  // Also every pass asked for before the call (a pass may be running with
  // dirty_ already cleared: it must end first).
  const uint64_t kicked = kicks_;
  return cv_.wait_for(lock, timeout,
                      [&] { return stop_ || (!dirty_ && done_rv_ >= target && done_kicks_ >= kicked); });
}

void Reconciler::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait(lock, [&] { return stop_ || dirty_; });
    if (stop_) break;
    dirty_ = false;
    const uint64_t covered = kicks_;  // the kicks this pass answers
    lock.unlock();
    // Read without holding mu_: the store's locks come before it (a commit
    // delivers its watch events, which Kick, under the store's watch lock).
    // Any commit after dirty_ was cleared kicks again, so the pass below
    // covers at least `rv`.
    int64_t rv = store_->resource_version();
    Pass();
    lock.lock();
    done_rv_ = rv;
    done_kicks_ = covered;
    cv_.notify_all();
  }
}

namespace {


backend::FunctionObservation FailedObservation(std::string reason, std::string message) {
  backend::FunctionObservation o;
  o.state = "Failed";
  o.reason = std::move(reason);
  o.message = std::move(message);
  return o;
}

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

}  // namespace

backend::Backend* Reconciler::OrchestratorFor(const store::Record& fn) const {
  auto annotation = fn.annotations.find(std::string(spec::kBackendAnnotation));
  if (annotation == fn.annotations.end()) return nullptr;
  for (const auto& b : options_.backends) {
    if (b->name() == annotation->second) return b.get();
  }
  return nullptr;
}

void Reconciler::ReportOrchestrated(const Work& w, const backend::FunctionObservation& obs, const std::string& now) {
  const store::Record& fn = *w.record;
  json::value old_status = ofn::internal::ParseObjectOrEmpty(fn.status);
  json::object st;
  json::array addrs;
  for (const auto& [type, value] : obs.addresses) addrs.push_back(json::object{{"type", type}, {"value", value}});
  if (!addrs.empty()) st["addresses"] = std::move(addrs);
  st["build"] = json::object{{"state", w.has_build ? "Pending" : "Skipped"}};
  if (w.route) {
    json::array hosts, paths;
    for (const std::string& h : w.route->AllHosts()) hosts.push_back(json::value(h));
    for (const auto& [type, value] : route::StatusPaths(*w.route)) paths.push_back(json::object{{"type", type}, {"value", value}});
    st["route"] = json::object{
        {"conditions", json::array{AcceptedCondition(Obj(&old_status), "True", "Valid", "handed to backend " +
                                                 std::string(w.backend->name()), fn.generation, now)}},
        {"hosts", std::move(hosts)},
        {"paths", std::move(paths)}};
  }
  json::object serving;
  if (!w.revisions.empty()) serving["resourceRef"] = w.revisions.back().name;
  serving["state"] = obs.state;
  if (!obs.reason.empty()) {
    serving["reason"] = obs.reason;
    serving["message"] = obs.message;
  }
  if (!obs.latest_ready_revision.empty()) serving["lastSuccessfulResourceRef"] = obs.latest_ready_revision;
  st["serving"] = std::move(serving);
  json::value next = spec::internal::Canonical(st);
  if (json::serialize(next) == json::serialize(spec::internal::Canonical(old_status))) return;
  WriteFunctionStatus(fn, json::serialize(next));
}

void Reconciler::WriteFunctionStatus(const store::Record& fn, const std::string& status) {
  status_keys_.push_back(fn.ns + "/" + fn.name);
  QueueWrite("writing status of " + fn.ns + "/" + fn.name,
             [this, ns = fn.ns, name = fn.name, status, rv = fn.resource_version](store::Transaction& tx) {
               auto updated = tx.UpdateStatus("Function", ns, name, status, rv);
               if (updated.ok()) written_rvs_.emplace_back(ns + "/" + name, updated->resource_version);
               return updated.status();
             });
}

bool Reconciler::LoadRevisions(Work& w) {
  if (w.revisions_loaded) return true;
  auto listed = store_->ListRevisions(w.record->ns, w.record->name);
  if (!listed.ok()) {
    OFN_LOG(kError) << "reconcile: listing revisions of " << w.record->ns << "/" << w.record->name << ": "
                    << listed.status().ToString();
    return false;
  }
  w.revisions = std::move(*listed);
  w.revisions_loaded = true;
  return true;
}

void Reconciler::QueueWrite(std::string what, std::function<Status(store::Transaction&)> op) {
  writes_.emplace_back(std::move(what), std::move(op));
}

void Reconciler::FlushWrites() {
  if (writes_.empty()) return;
  auto status_keys = std::move(status_keys_);
  status_keys_.clear();
  auto writes = std::move(writes_);
  writes_.clear();
  Status st = store_->Transact([&](store::Transaction& tx) {
    written_rvs_.clear();  // a retried transaction counts again
    for (auto& [what, op] : writes) {
      Status one = op(tx);
      if (!one.ok() && one.code() != StatusCode::kConflict && one.code() != StatusCode::kNotFound) {
        OFN_LOG(kError) << "reconcile: " << what << ": " << one.ToString();
      }
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    OFN_LOG(kError) << "reconcile: committing " << writes.size() << " writes: " << st.ToString();
    written_rvs_.clear();
  }
  // A Function whose status this loop wrote is, at the version the write
  // made, what it last planned from: the next pass keeps its plan. One
  // whose write did not land is planned and reported again.
  std::map<std::string_view, int64_t> written(written_rvs_.begin(), written_rvs_.end());
  for (const std::string& key : status_keys) {
    auto it = functions_.find(key);
    if (it == functions_.end()) continue;
    auto w = written.find(key);
    if (w == written.end()) {
      it->second.rv = -1;
      it->second.reported = false;
    } else {
      it->second.rv = w->second;
    }
  }
  written_rvs_.clear();
}

void Reconciler::ReportLocal(const Work& w, const backend::FunctionObservation& obs, const std::string& now) {
  const store::Record& fn = *w.record;
  // Revision status (readiness and traffic), written when it changed.
  for (const store::RevisionRecord& rec : w.revisions) {
    auto v = std::find_if(obs.revisions.begin(), obs.revisions.end(),
                          [&](const backend::RevisionObservation& o) { return o.name == rec.name; });
    if (v == obs.revisions.end()) continue;
    json::object want_status;
    want_status["ready"] = v->ready;
    if (!v->reason.empty()) {
      want_status["reason"] = v->reason;
      want_status["message"] = v->message;
    }
    want_status["percent"] = v->percent;
    json::array tag_list;
    for (const std::string& tag : v->tags) tag_list.push_back(json::value(tag));
    want_status["tags"] = std::move(tag_list);
    if (v->restarts > 0) want_status["restarts"] = v->restarts;
    if (!v->instance_reason.empty()) {
      want_status["instanceReason"] = v->instance_reason;
      want_status["instanceMessage"] = v->instance_message;
    }
    if (!v->limits_warning.empty()) want_status["limitsWarning"] = v->limits_warning;
    std::string want = json::serialize(want_status);
    if (want == json::serialize(ofn::internal::ParseObjectOrEmpty(rec.status))) continue;
    store::RevisionRecord updated = rec;
    updated.status = want;
    w.state->replan = true;  // its plan reads revision readiness
    QueueWrite("revision status " + rec.name,
               [updated = std::move(updated)](store::Transaction& tx) { return tx.PutRevision(updated); });
  }

  // Garbage: revisions without traffic beyond the history limit. The next
  // pass's plan leaves them out, which stops them.
  const std::string latest_created = w.revisions.empty() ? "" : w.revisions.back().name;
  std::vector<std::string> names;
  for (const store::RevisionRecord& rec : w.revisions) names.push_back(rec.name);
  auto keep = [&](const std::string& name) {
    if (name == latest_created || name == obs.latest_ready_revision) return true;
    return std::any_of(obs.revisions.begin(), obs.revisions.end(),
                       [&](const backend::RevisionObservation& o) { return o.name == name && o.routed; });
  };
  bool collected = false;
  for (const std::string& name : RevisionsToCollect(names, keep, options_.revision_history)) {
    Status del = store_->Transact([&](store::Transaction& tx) { return tx.DeleteRevision(fn.ns, name); });
    if (!del.ok()) {
      OFN_LOG(kWarning) << "reconcile: deleting revision " << name << ": " << del.ToString();
    }
    collected = true;
  }
  if (collected) {
    w.state->replan = true;
    Kick();
  }

  FunctionStatusInput in;
  in.generation = fn.generation;
  in.has_build = w.has_build;
  in.has_serving = w.has_serving;
  if (w.build) in.build = &*w.build;
  in.image_digest = w.image_digest;
  in.build_hash = w.build_hash;
  in.serving_hash = w.serving_hash;
  if (w.http) in.route = obs.route;
  in.addresses = obs.addresses;
  in.latest_created = latest_created;
  in.latest_ready = obs.latest_ready_revision;
  in.serving_state = obs.state;
  in.serving_reason = obs.reason;
  in.serving_message = obs.message;
  if (w.build && w.revisions.empty()) {
    // Nothing to serve before the first build succeeds.
    const bool failed = w.build->state == "Failed";
    in.serving_state = failed ? "Failed" : "Pending";
    in.serving_reason = failed ? "BuildFailed" : "WaitingForBuild";
    in.serving_message = failed ? "build " + w.build->name + " failed: " + w.build->message
                                : "serving starts when the first build succeeds";
  }
  in.service = obs.service;
  json::value old_status = ofn::internal::ParseObjectOrEmpty(fn.status);
  std::string next = MakeFunctionStatus(in, Obj(&old_status), now);
  if (next == json::serialize(spec::internal::Canonical(old_status))) return;
  WriteFunctionStatus(fn, next);
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

namespace {

// The docker config JSON of the Secret a Function's spec.imageCredentials
// names ("" when it names none, or the Secret or its data is missing).
std::string ImageCredentialsOf(store::Store& store, const std::string& ns, const json::value& spec) {
  const std::string name = Str(Obj(At(Obj(&spec), "imageCredentials")), "name");
  if (name.empty()) return "";
  auto secret = store.Get("Secret", ns, name);
  if (!secret.ok()) return "";  // as Kubernetes does: the pull goes without, and says so if it is refused
  json::value body = ofn::internal::ParseObjectOrEmpty(secret->spec);
  const json::object* data = Obj(At(Obj(&body), "data"));
  for (const char* key : {".dockerconfigjson", ".dockercfg"}) {
    Result<std::string> decoded = Base64Decode(Str(data, key));
    if (decoded.ok() && !decoded->empty()) return *decoded;
  }
  return "";
}

constexpr std::string_view kRevisionParams = "annotation openfunction.io/revision-controller-params: ";

// The revision controller's annotations (seed 001): enable/disable, and
// params as YAML lines (type: source | source-image | image,
// polling-interval: a duration; libofn's default 5m).
struct RevisionControllerParams {
  bool enabled = false;
  std::string type = "source";
  std::chrono::milliseconds interval{std::chrono::minutes(5)};
  std::string error;
};

RevisionControllerParams ParseRevisionController(const std::map<std::string, std::string>& annotations) {
  RevisionControllerParams out;
  auto enabled = annotations.find("openfunction.io/revision-controller");
  out.enabled = enabled != annotations.end() && (enabled->second == "enable" || enabled->second == "enabled");
  if (!out.enabled) return out;
  std::string interval = "5m";
  auto params = annotations.find("openfunction.io/revision-controller-params");
  if (params != annotations.end()) {
    for (size_t start = 0; start < params->second.size();) {
      size_t nl = params->second.find('\n', start);
      std::string line = params->second.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
      start = nl == std::string::npos ? params->second.size() : nl + 1;
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      auto trim = [](std::string v) {
        v.erase(0, v.find_first_not_of(" \t\"'"));
        while (!v.empty() && std::string(" \t\r\"'").find(v.back()) != std::string::npos) v.pop_back();
        return v;
      };
      std::string key = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
      if (key == "type") out.type = value;
      if (key == "polling-interval") interval = value;
    }
  }
  double secs = 0;
  if (out.type != "source" && out.type != "source-image" && out.type != "image") {
    out.error = std::string(kRevisionParams) + "type \"" + out.type + "\" is not one of source, source-image, image";
  } else if (!spec::ParseGoDuration(interval, &secs) || secs < 1) {
    out.error = std::string(kRevisionParams) + "polling-interval \"" + interval +
                "\" is not a duration of at least 1s (e.g. 1m)";
  } else {
    out.interval = std::chrono::milliseconds(static_cast<int64_t>(secs * 1000));
  }
  return out;
}

// What a Function with spec.build asks the builder for: the source (with
// the credentials its srcRepo.credentials Secret holds: username/password,
// or ssh-privatekey), the build's env and strategy hints, and the function
// container's command (a bundle runs it).
build::BuildRequest BuildRequestOf(store::Store& store, const store::Record& fn, const json::object& spec) {
  build::BuildRequest r;
  r.ns = fn.ns;
  r.function = fn.name;
  const json::object* b = Obj(At(&spec, "build"));
  const json::object* src = Obj(At(b, "srcRepo"));
  r.source.url = Str(src, "url");
  r.source.revision = Str(src, "revision");
  r.source.sub_path = Str(src, "sourceSubPath");
  r.bundle_image = Str(Obj(At(src, "bundleContainer")), "image");
  if (!r.bundle_image.empty()) r.image_credentials = ImageCredentialsOf(store, fn.ns, json::value(spec));
  std::string key_text = b ? json::serialize(spec::internal::Canonical(*b)) : "{}";
  if (const std::string secret = Str(Obj(At(src, "credentials")), "name"); !secret.empty()) {
    if (auto rec = store.Get("Secret", fn.ns, secret); rec.ok()) {
      json::value body = ofn::internal::ParseObjectOrEmpty(rec->spec);
      const json::object* data = Obj(At(Obj(&body), "data"));
      auto field = [&](const char* k) {
        Result<std::string> v = Base64Decode(Str(data, k));
        return v.ok() ? *v : std::string();
      };
      r.source.username = field("username");
      r.source.password = field("password");
      r.source.ssh_private_key = field("ssh-privatekey");
      r.source.known_hosts = field("known_hosts");  // as Tekton's and Shipwright's ssh-auth Secrets hold it
      key_text += "|secret@" + std::to_string(rec->resource_version);
    }
  }
  if (const json::object* env = Obj(At(b, "env"))) {
    for (const auto& [k, v] : *env) r.env[std::string(k)] = v.is_string() ? std::string(v.as_string()) : json::serialize(v);
  }
  r.builder = Str(b, "builder");
  r.dockerfile = Str(b, "dockerfile");
  r.shipwright_strategy = Str(Obj(At(Obj(At(b, "shipwright")), "strategy")), "name");
  if (const json::array* containers = Arr(At(Obj(At(Obj(At(&spec, "serving")), "template")), "containers"))) {
    for (const json::value& c : *containers) {
      if (Str(Obj(&c), "name") != "function") continue;
      if (const json::array* cmd = Arr(At(Obj(&c), "command"))) {
        for (const json::value& v : *cmd) r.serving_command.push_back(v.is_string() ? std::string(v.as_string()) : "");
      }
    }
  }
  for (const std::string& c : r.serving_command) key_text += "|" + c;
  // On containerd a bundle becomes an image on the RUN_IMAGE parameter.
  auto backend = fn.annotations.find(std::string(spec::kBackendAnnotation));
  r.image = backend != fn.annotations.end() && backend->second == "containerd";
  if (const json::array* params = Arr(At(Obj(At(b, "shipwright")), "params"))) {
    for (const json::value& p : *params) {
      if (Str(Obj(&p), "name") == "RUN_IMAGE") r.run_image = Str(Obj(&p), "value");
    }
  }
  if (r.image) key_text += "|image:" + r.run_image;
  if (r.image && !Str(Obj(At(&spec, "imageCredentials")), "name").empty()) {
    r.push_to = Str(&spec, "image");
    r.push_credentials = ImageCredentialsOf(store, fn.ns, json::value(spec));
    key_text += "|push:" + r.push_to;
  }
  if (std::string timeout = Str(b, "timeout"); !timeout.empty()) {
    double secs = 0;
    if (spec::ParseGoDuration(timeout, &secs) && secs > 0) {
      r.timeout = std::chrono::milliseconds(static_cast<int64_t>(secs * 1000));
    }
  }
  if (const json::value* v = At(b, "successfulBuildsHistoryLimit"); v && v->is_int64()) {
    r.successful_history = static_cast<int>(v->as_int64());
  }
  if (const json::value* v = At(b, "failedBuildsHistoryLimit"); v && v->is_int64()) {
    r.failed_history = static_cast<int>(v->as_int64());
  }
  r.key = std::to_string(Hash64(key_text));
  // The revision controller (seed 001): sources (git, or a bundle image)
  // of built Functions.
  RevisionControllerParams rc = ParseRevisionController(fn.annotations);
  if (rc.enabled) {
    if (!rc.error.empty()) {
      r.watch_error = rc.error;
    } else if (rc.type == "image") {
      r.watch_error = std::string(kRevisionParams) +
                      "type image watches spec.image of a Function without spec.build; this one builds its image "
                      "(type source or source-image)";
    } else if (rc.type == "source-image" && r.bundle_image.empty()) {
      r.watch_error = std::string(kRevisionParams) + "type source-image watches spec.build.srcRepo.bundleContainer, "
                      "which this Function does not have";
    } else {
      r.poll_interval = rc.interval;
    }
  }
  return r;
}

// The Function's spec with what its build produced, as the revision runs it.
std::string WithBuildOutput(const json::object& spec, const build::BuildOutput& out) {
  json::object copy = spec;
  copy["buildOutput"] = json::parse(build::OutputJson(out));
  return json::serialize(copy);
}

}  // namespace

scale::AutoscalerConfig Reconciler::CurrentAutoscalerConfig() {
  auto cm = store_->Get("ConfigMap", kAutoscalerConfigNamespace, kAutoscalerConfigName);
  if (!cm.ok()) {
    autoscaler_config_version_ = -1;
    return options_.autoscaler;
  }
  // Read again only when the ConfigMap changed.
  if (cm->resource_version == autoscaler_config_version_) return autoscaler_config_;
  autoscaler_config_version_ = cm->resource_version;
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
  ++passes_;
  uint64_t world;
  {
    std::lock_guard<std::mutex> lock(mu_);
    world = world_;
  }
  const bool world_changed = world != pass_world_;
  pass_world_ = world;
  autoscaler_config_ = CurrentAutoscalerConfig();
  auto gw_records = store_->List("Gateway");
  if (world_changed) {
    // What every plan and route is made against.
    gateways_.clear();
    if (gw_records.ok()) {
      for (const store::Record& g : *gw_records) {
        auto cfg = route::GatewayConfigFromSpec(g.ns, g.name, g.spec);
        if (cfg.ok()) gateways_[g.ns + "/" + g.name] = *cfg;
      }
    }
    local_.SetGateways(gateways_);  // every Function converges again
    local_.SetPlugins(CompilePlugins());
  }
  const std::map<std::string, route::GatewayConfig>& gateways = gateways_;
  auto versions = store_->ListVersions("Function");
  if (!versions.ok()) {
    OFN_LOG(kError) << "reconcile: listing functions: " << versions.status().ToString();
    pass_world_ = 0;  // planned in full next time
    return;
  }
  const std::string now = FormatRfc3339(clock_->Now());
  // The records this pass reads: those it plans, reports or hands to the
  // async runtime, not every Function (they outlive the Work pointing at them).
  std::deque<store::Record> fetched;
  auto fetch = [&](Work& w) -> const store::Record* {
    if (w.record) return w.record;
    auto got = store_->Get("Function", w.ns, w.name);
    if (!got.ok()) {
      if (got.status().code() != StatusCode::kNotFound) {
        OFN_LOG(kError) << "reconcile: reading function " << w.ns << "/" << w.name << ": " << got.status().ToString();
      }
      return nullptr;
    }
    fetched.push_back(std::move(*got));
    w.record = &fetched.back();
    return w.record;
  };

  // Each Function's plan, handed to its backend when it changed. A
  // Function whose record and world are as the last pass planned them keeps
  // that plan, and its record is not read.
  std::vector<Work> work;
  work.reserve(versions->size());
  for (const store::ObjectVersion& v : *versions) {
    if (v.deletion_time != 0) continue;
    auto [it, added] = functions_.try_emplace(v.ns + "/" + v.name);
    const std::string& key = it->first;
    FunctionState& fs = it->second;
    const std::string_view ns = std::string_view(key).substr(0, v.ns.size());
    const std::string_view name = std::string_view(key).substr(v.ns.size() + 1);
    if (fs.last && fs.rv == v.resource_version && fs.world == world && !fs.replan && !fs.last->volatile_plan) {
      fs.pass = passes_;
      Work w = std::move(*fs.last);
      fs.last.reset();
      w.record = nullptr;
      w.version = v.resource_version;
      w.state = &fs;
      w.fresh = false;
      work.push_back(std::move(w));
      continue;
    }
    Work probe;
    probe.ns = ns;
    probe.name = name;
    if (!fetch(probe)) {
      // Gone since it was listed (the next pass lets it go), or unreadable:
      // what runs stays as it is.
      if (!added) fs.pass = passes_;
      continue;
    }
    fs.pass = passes_;
    const store::Record& fn = *probe.record;
    Work w;
    w.record = &fn;
    w.ns = ns;
    w.name = name;
    w.version = fn.resource_version;
    w.state = &fs;
    json::value spec_value = ofn::internal::ParseObjectOrEmpty(fn.spec);
    const json::object& spec = spec_value.as_object();
    w.has_build = spec.contains("build");
    w.has_serving = spec.contains("serving");
    // With a builder, a revision runs what the newest successful build
    // made; none is made before the first one succeeded.
    std::string revision_spec = fn.spec;
    bool may_create_revision = true;
    if (w.has_build && options_.builder && OrchestratorFor(fn) == nullptr) {
      w.build = std::make_unique<build::BuildView>(options_.builder->Ensure(BuildRequestOf(*store_, fn, spec)));
      if (w.build->serving) {
        revision_spec = WithBuildOutput(spec, *w.build->serving);
      } else {
        may_create_revision = false;
      }
      if (!w.has_serving) may_create_revision = false;
    }
    // The revision controller's type image: the digest spec.image resolves
    // to pins the revision; a new digest makes a new one.
    if (options_.builder && fn.annotations.count("openfunction.io/revision-controller") &&
        OrchestratorFor(fn) == nullptr && !w.has_build) {
      RevisionControllerParams rc = ParseRevisionController(fn.annotations);
      const bool watch = rc.enabled && rc.type == "image" && rc.error.empty();
      options_.builder->WatchImage(fn.ns, fn.name, Str(&spec, "image"),
                                   watch ? ImageCredentialsOf(*store_, fn.ns, spec_value) : "",
                                   watch ? rc.interval : std::chrono::milliseconds(0),
                                   rc.enabled && rc.type != "image" && rc.error.empty()
                                       ? std::string(kRevisionParams) + "type " + rc.type +
                                             " watches a build's source, and this Function has no spec.build"
                                       : rc.error);
      if (watch) {
        build::SourceWatch seen = options_.builder->WatchOf(fn.ns, fn.name);
        if (!seen.last_commit.empty()) {
          json::object pinned = spec;
          pinned["imageDigest"] = seen.last_commit;
          revision_spec = json::serialize(pinned);
          w.image_digest = seen.last_commit;
        } else if (seen.polls == 0) {
          may_create_revision = false;  // the first poll pins the first revision
        }
      }
    }
    if (const json::object* serving = Obj(At(&spec, "serving"));
        serving && (serving->contains("outputs") || serving->contains("bindings") || serving->contains("pubsub") ||
                    serving->contains("states") || At(Obj(At(serving, "triggers")), "dapr"))) {
      w.uses_components = true;
    }

    // Revisions: a new one whenever the serving part changed.
    if (!LoadRevisions(w)) {
      // Without the revisions nothing below can be decided; keep what runs.
      FlushWrites();
      pass_world_ = 0;
      return;
    }
    std::optional<LatestRevision> newest;
    if (!w.revisions.empty()) newest = LatestRevision{w.revisions.back().number, w.revisions.back().spec_hash};
    RevisionStep step = NextRevision(fn.name, revision_spec, newest);
    w.serving_hash = step.serving_hash;
    w.build_hash = step.build_hash;
    if (step.create && may_create_revision) {
      store::RevisionRecord r;
      r.ns = fn.ns;
      r.function = fn.name;
      r.number = step.number;
      r.name = step.name;
      r.spec = step.serving_spec;
      r.spec_hash = step.serving_hash;
      r.creation_time = std::chrono::duration_cast<std::chrono::seconds>(clock_->Now().time_since_epoch()).count();
      // Stored with the pass's other new revisions, before any backend sees
      // the plans (FlushWrites below).
      QueueWrite("storing revision " + r.name, [r](store::Transaction& tx) { return tx.PutRevision(r); });
      w.revisions.push_back(r);
    }

    // Its backend: the orchestrator ofn.io/backend names, else the local one.
    backend::Backend* orchestrator = OrchestratorFor(fn);
    w.local = orchestrator == nullptr;
    w.backend = w.local ? static_cast<backend::Backend*>(&local_) : orchestrator;
    if (fs.backend && fs.backend != w.backend) {
      // Moved to another backend: the old one lets it go.
      Status del = fs.backend->Delete(fn.ns, fn.name);
      if (!del.ok()) {
        OFN_LOG(kWarning) << "reconcile: backend delete of " << key << ": " << del.ToString();
      }
      fs.applied.reset();
    }
    fs.backend = w.backend;

    PlanInput in;
    in.ns = fn.ns;
    in.name = fn.name;
    if (w.local) {
      // For the local backend the annotation may name an instance driver.
      auto annotation = fn.annotations.find(std::string(spec::kBackendAnnotation));
      if (annotation != fn.annotations.end()) in.backend = annotation->second;
    } else {
      in.backend = std::string(orchestrator->name());
    }
    if (auto base = fn.annotations.find(std::string(spec::kBaseDirAnnotation)); base != fn.annotations.end()) {
      in.base_dir = base->second;
    }
    if (auto idle = fn.annotations.find(std::string(spec::kIdleReplicaCountAnnotation)); idle != fn.annotations.end()) {
      char* end = nullptr;
      long n = std::strtol(idle->second.c_str(), &end, 10);
      if (!idle->second.empty() && *end == '\0' && n >= 0) in.idle_replicas = static_cast<int>(n);
    }
    in.autoscaler = autoscaler_config_;
    in.image_credentials = ImageCredentialsOf(*store_, fn.ns, spec);
    for (const store::RevisionRecord& r : w.revisions) in.revisions.emplace_back(r.name, r.spec);
    in.traffic = TrafficOf(spec);
    in.created = fn.creation_time;
    in.http = route::HasHttpTrigger(fn.spec);
    if (in.http) {
      if (const json::value* r = At(Obj(At(Obj(At(Obj(At(&spec, "serving")), "triggers")), "http")), "route")) {
        in.route_json = json::serialize(*r);
      }
      if (!w.local) {
        // The orchestrator gets the route's hosts and paths in the plan.
        auto [gns, gname] = route::GatewayRefOf(fn.spec);
        auto git = gateways.find(gns + "/" + gname);
        if (git != gateways.end()) {
          auto compiled = route::CompileRoute(fn.ns, fn.name, fn.spec, git->second, fn.creation_time);
          if (compiled.ok()) w.route = std::make_unique<route::FunctionRoute>(std::move(*compiled));
        }
      }
    }
    in.route = w.route ? &*w.route : nullptr;
    backend::FunctionPlan plan = MakePlan(in);
    for (size_t i = 0; i < plan.revisions.size() && i < w.revisions.size(); ++i) {
      json::value rstatus = ofn::internal::ParseObjectOrEmpty(w.revisions[i].status);
      const json::value* was_ready = At(Obj(&rstatus), "ready");
      plan.revisions[i].ready_before = was_ready && was_ready->is_bool() && was_ready->as_bool();
    }
    if (!w.local) {
      // An orchestrator takes whole plans only.
      if (Status invalid = PlanError(plan); !invalid.ok()) {
        w.failed = std::make_unique<backend::FunctionObservation>(FailedObservation("InvalidWorkload", invalid.message()));
      }
    }
    if (!w.failed && (!fs.applied || !(*fs.applied == plan))) {
      auto shared = std::make_shared<const backend::FunctionPlan>(std::move(plan));
      Status applied = w.local ? local_.ApplyShared(shared) : w.backend->Apply(*shared);
      if (applied.ok()) {
        fs.applied = std::move(shared);
      } else {
        w.failed = std::make_unique<backend::FunctionObservation>(FailedObservation(
            "BackendApplyFailed", "backend " + std::string(w.backend->name()) + ": " + applied.message()));
        w.volatile_plan = true;  // tried again next pass
      }
    }
    w.http = in.http;
    // Builds and watched images move on their own: planned every pass.
    if (w.build || !w.image_digest.empty() ||
        (options_.builder && fn.annotations.count("openfunction.io/revision-controller"))) {
      w.volatile_plan = true;
    }
    fs.rv = fn.resource_version;
    fs.world = world;
    fs.replan = false;
    work.push_back(std::move(w));
  }
  // Functions gone: their backend lets them go.
  for (auto it = functions_.begin(); it != functions_.end();) {
    if (it->second.pass == passes_) {
      ++it;
      continue;
    }
    if (options_.builder) {
      size_t slash = it->first.find('/');
      options_.builder->Forget(it->first.substr(0, slash), it->first.substr(slash + 1));
    }
    if (it->second.backend) {
      size_t slash = it->first.find('/');
      Status del = it->second.backend->Delete(it->first.substr(0, slash), it->first.substr(slash + 1));
      if (!del.ok()) {
        OFN_LOG(kWarning) << "reconcile: backend delete of " << it->first << ": " << del.ToString();
      }
    }
    it = functions_.erase(it);
  }

  // HTTPRoute objects, routed by the local backend beside the Functions;
  // compiled again when the world changed (their specs are part of it).
  std::vector<store::Record> http_route_records;  // outlives the pointers below
  std::vector<std::pair<const store::Record*, const route::CompiledHttpRoute*>> http_routes;
  {
    auto hr_records = store_->List("HTTPRoute");
    if (hr_records.ok()) {
      http_route_records = std::move(*hr_records);
    } else {
      OFN_LOG(kError) << "reconcile: listing HTTPRoutes: " << hr_records.status().ToString();
    }
    if (world_changed) {
      compiled_http_routes_.clear();
      std::vector<std::shared_ptr<const route::FunctionRoute>> compiled;
      for (const store::Record& r : http_route_records) {
        if (r.deletion_time != 0) continue;
        auto& c = compiled_http_routes_[r.ns + "/" + r.name] =
            route::CompileHttpRoute(r.ns, r.name, r.spec, gateways, r.creation_time);
        if (c.route) compiled.push_back(std::make_shared<const route::FunctionRoute>(*c.route));
      }
      local_.SetHttpRoutes(std::move(compiled));
    }
    for (const store::Record& r : http_route_records) {
      if (r.deletion_time != 0) continue;
      auto c = compiled_http_routes_.find(r.ns + "/" + r.name);
      if (c != compiled_http_routes_.end()) http_routes.emplace_back(&r, &c->second);
    }
  }

  FlushWrites();  // the new revisions

  // Each backend converges once, then reports.
  local_.Commit();
  std::set<std::string_view> touched(local_.Touched().begin(), local_.Touched().end());
  // Inputs are read for the Functions the local backend serves (it can
  // take their deliveries: a traffic split, possibly at zero); the others'
  // messages wait in their brokers.
  if (options_.async) SyncAsync(work, fetch);
  for (const auto& b : options_.backends) b->Commit();
  std::map<std::string, int> attached;
  for (Work& w : work) {
    FunctionState& fs = *w.state;
    const std::string key = std::string(w.ns) + "/" + std::string(w.name);
    std::string problem;
    if (options_.async) problem = options_.async->Problem(std::string(w.ns), std::string(w.name));
    // Planned as before, not touched by the local backend's commit, with
    // the same problem: it observes as it did, and its status stands.
    if (!w.fresh && w.local && !w.failed && fs.reported && !touched.contains(key) && problem == fs.problem) {
      if (!fs.attached.empty()) ++attached[fs.attached];
      fs.last = std::move(w);
      continue;
    }
    // Its record, as of the version it was planned at: one that moved on
    // since it was listed is planned again next pass (its change kicks).
    if (!fetch(w) || w.record->resource_version != w.version) {
      if (w.record) fs.replan = true;
      if (!fs.attached.empty()) ++attached[fs.attached];
      w.record = nullptr;
      fs.last = std::move(w);
      continue;
    }
    const store::Record& fn = *w.record;
    backend::FunctionObservation obs;
    if (w.failed) {
      obs = *w.failed;
    } else if (auto seen = w.backend->Observe(fn.ns, fn.name); seen.ok()) {
      obs = std::move(*seen);
    } else {
      obs = FailedObservation("BackendObserveFailed",
                              "backend " + std::string(w.backend->name()) + ": " + seen.status().message());
    }
    fs.problem = problem;
    if (!problem.empty() && obs.reason.empty()) {
      // Inputs or outputs that do not run are said where serving is.
      obs.reason = "ComponentUnavailable";
      obs.message = problem;
    }
    // Made again, its status is written only when it changed.
    if (LoadRevisions(w)) {
      if (w.local) {
        ReportLocal(w, obs, now);
      } else {
        ReportOrchestrated(w, obs, now);
      }
      fs.reported = true;
    } else {
      fs.reported = false;
      fs.rv = -1;
    }
    fs.attached.clear();
    if (obs.route && obs.route->status == "True" && !obs.route->gateway.empty()) fs.attached = obs.route->gateway;
    if (!fs.attached.empty()) ++attached[fs.attached];
    w.revisions = {};
    w.revisions_loaded = false;
    w.record = nullptr;
    fs.last = std::move(w);
  }
  for (const auto& [record, compiled] : http_routes) {
    ReportHttpRoute(*record, *compiled, now);
    for (const route::ParentStatus& p : compiled->parents) {
      if (p.status == "True") ++attached[p.ref.ns + "/" + p.ref.name];
    }
  }
  if (gw_records.ok()) SyncGateways(*gw_records, attached);
  FlushWrites();  // revision and Function statuses
}

void Reconciler::SyncAsync(std::vector<Work>& work, const std::function<const store::Record*(Work&)>& fetch) {
  std::map<std::string, std::map<std::string, std::string>> secrets;  // "ns/name" -> key -> value
  std::map<std::string, events::ComponentSpec> components;             // "ns/name"
  std::vector<store::Record> component_records;
  std::set<std::string, std::less<>> namespaces;  // that have Component objects
  if (auto listed = store_->List("Component"); listed.ok()) {
    for (store::Record& c : *listed) {
      if (c.deletion_time != 0) continue;
      namespaces.insert(c.ns);
      component_records.push_back(std::move(c));
    }
  }
  // A Function reaches components when it names some, or when its
  // namespace has Component objects (through the Dapr API).
  std::vector<const store::Record*> functions;
  for (Work& w : work) {
    if (!w.uses_components && !namespaces.contains(w.ns)) continue;
    if (const store::Record* r = fetch(w)) functions.push_back(r);
  }
  if (!functions.empty()) {
    if (auto listed = store_->List("Secret"); listed.ok()) {
      for (const store::Record& s : *listed) {
        json::value body = ofn::internal::ParseObjectOrEmpty(s.spec);
        auto& data = secrets[s.ns + "/" + s.name];
        if (const json::object* d = Obj(At(Obj(&body), "data"))) {
          for (const auto& kv : *d) {
            Result<std::string> decoded = Base64Decode(kv.value().is_string() ? std::string(kv.value().as_string()) : "");
            if (decoded.ok()) data[std::string(kv.key())] = *decoded;
          }
        }
      }
    }
    for (const store::Record& c : component_records) {
      std::string error;
      components[c.ns + "/" + c.name] = ComponentFromSpec(c.ns, c.name, c.spec, secrets, &error);
    }
  }
  std::vector<AsyncFunction> wanted;
  for (const store::Record* fn : functions) {
    if (!local_.Serves(fn->ns, fn->name)) continue;
    wanted.push_back(MakeAsyncFunction(fn->ns, fn->name, fn->spec, fn->annotations, components, secrets));
    // Instances that are HTTP servers are asked for their subscriptions
    // (GET /dapr/subscribe) as Dapr asks an app; an in-process function is
    // no HTTP server.
    std::string driver = local_.DriverOf(fn->ns, fn->name);
    wanted.back().app_routes = !driver.empty() && driver != "inprocess";
  }
  options_.async->Set(std::move(wanted));
}

bool Reconciler::Deliver(const std::string& ns, const std::string& name, HttpRequest request,
                         std::function<void(HttpResponse)> done) {
  return local_.Deliver(ns, name, std::move(request), std::move(done));
}

void Reconciler::ReportHttpRoute(const store::Record& r, const route::CompiledHttpRoute& compiled,
                                 const std::string& now) {
  json::value old_status = ofn::internal::ParseObjectOrEmpty(r.status);
  // A condition keeps its lastTransitionTime while its status and reason stay.
  auto condition = [&](const std::string& type, const std::string& status, const std::string& reason,
                       const std::string& message) {
    std::string time = now;
    if (const json::array* parents = Arr(At(Obj(&old_status), "parents"))) {
      for (const json::value& p : *parents) {
        if (const json::array* conds = Arr(At(Obj(&p), "conditions"))) {
          for (const json::value& c : *conds) {
            const json::object* co = Obj(&c);
            if (Str(co, "type") == type && Str(co, "status") == status && Str(co, "reason") == reason) {
              time = Str(co, "lastTransitionTime");
            }
          }
        }
      }
    }
    return json::object{{"type", type},       {"status", status},
                        {"reason", reason},   {"message", message},
                        {"lastTransitionTime", time}, {"observedGeneration", r.generation}};
  };
  std::optional<backend::RouteObservation> refs = local_.ObserveHttpRoute(r.ns, r.name);
  json::array parents;
  for (const route::ParentStatus& p : compiled.parents) {
    json::object ref{{"group", p.ref.group}, {"kind", p.ref.kind}, {"namespace", p.ref.ns}, {"name", p.ref.name}};
    if (!p.ref.section.empty()) ref["sectionName"] = p.ref.section;
    json::array conditions{condition("Accepted", p.status, p.reason, p.message)};
    if (refs) {
      conditions.push_back(condition("ResolvedRefs", refs->refs_status, refs->refs_reason, refs->refs_message));
    }
    parents.push_back(json::object{
        {"parentRef", std::move(ref)}, {"controllerName", "ofn.io/gateway"}, {"conditions", std::move(conditions)}});
  }
  json::value next = spec::internal::Canonical(json::object{{"parents", std::move(parents)}});
  if (json::serialize(next) == json::serialize(spec::internal::Canonical(old_status))) return;
  auto updated = store_->UpdateStatus("HTTPRoute", r.ns, r.name, json::serialize(next), r.resource_version);
  if (!updated.ok() && updated.status().code() != StatusCode::kConflict &&
      updated.status().code() != StatusCode::kNotFound) {
    OFN_LOG(kError) << "reconcile: writing status of HTTPRoute " << r.ns << "/" << r.name << ": "
                    << updated.status().ToString();
  }
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
  // Nothing to do when no Gateway, Secret or count of attached routes
  // changed since the last pass (a status this pass wrote changes the
  // Gateway's resource version, so the pass after it checks once more).
  std::string status_inputs = inputs;
  for (const store::Record& g : gateways) {
    status_inputs += g.ns + "/" + g.name + "@" + std::to_string(g.resource_version) + ";";
  }
  for (const auto& [key, n] : attached) status_inputs += key + "=" + std::to_string(n) + ";";
  if (status_inputs == gateway_inputs_) return;
  gateway_inputs_ = std::move(status_inputs);
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
    for (const auto& e : tls_errors_) OFN_LOG(kWarning) << "TLS certificate refused: " << e.message;
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
