#include "libofn/platform/internal/local_backend.h"

#include <algorithm>
#include <boost/json.hpp>
#include <set>
#include <utility>

#include "libofn/common/log.h"
#include "libofn/common/regex.h"
#include "libofn/gateway/server.h"
#include "libofn/platform/internal/status.h"
#include "libofn/platform/internal/traffic.h"
#include "libofn/route/table.h"

namespace ofn::platform::internal {

namespace json = boost::json;

namespace {

std::string TagName(const std::string& tmpl, const std::string& tag, const std::string& name) {
  // Tags and names are DNS labels: nothing in them reads as a \N group.
  static const auto kTag = Regex::MustCompile(R"(\{\{\s*\.Tag\s*\}\})");
  static const auto kName = Regex::MustCompile(R"(\{\{\s*\.Name\s*\}\})");
  return kName->ReplaceAll(kTag->ReplaceAll(tmpl, tag), name);
}

// A Function spec holding just the route, as route::CompileRoute reads it;
// for a tag's route, host-based with the default rules.
std::string RouteSpec(const std::string& route_json, bool for_tag) {
  json::object route;
  if (!route_json.empty()) {
    boost::system::error_code ec;
    json::value v = json::parse(route_json, ec);
    if (!ec && v.is_object()) route = std::move(v.as_object());
  }
  if (for_tag) {
    route.erase("hostnames");
    route.erase("rules");
  }
  json::object spec{{"serving", json::object{{"triggers", json::object{{"http", json::object{{"route", route}}}}}}}};
  return json::serialize(spec);
}

std::vector<TrafficTarget> TargetsOf(const backend::FunctionPlan& plan) {
  std::vector<TrafficTarget> out;
  for (const backend::TrafficPlan& t : plan.traffic) out.push_back({t.revision, t.latest, t.percent, t.tag});
  if (out.empty()) out.push_back(TrafficTarget{"", true, 100, ""});
  return out;
}

}  // namespace

LocalBackend::LocalBackend(const backend::Registry* drivers, gateway::Dispatcher* dispatcher, Autoscaler* autoscaler,
                           LocalBackendOptions options)
    : drivers_(drivers), dispatcher_(dispatcher), autoscaler_(autoscaler), options_(std::move(options)) {}

Status LocalBackend::Apply(const backend::FunctionPlan& plan) {
  return ApplyShared(std::make_shared<const backend::FunctionPlan>(plan));
}

Status LocalBackend::ApplyShared(std::shared_ptr<const backend::FunctionPlan> plan) {
  std::lock_guard<std::mutex> lock(mu_);
  Fn& fn = fns_[plan->ns + "/" + plan->name];
  fn.plan = std::move(plan);
  fn.dirty = true;
  return Status();
}

Status LocalBackend::Delete(std::string_view ns, std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = fns_.find(std::string(ns) + "/" + std::string(name));
  if (it == fns_.end()) return Status();
  for (const std::string& rev : it->second.live) {
    rev_owner_.erase(rev);
    // Its revisions stop (Commit finds them unowned).
    gone_.push_back(rev);
  }
  fns_.erase(it);
  republish_ = true;
  return Status();
}

void LocalBackend::InvalidateAll() {
  std::lock_guard<std::mutex> lock(mu_);
  all_dirty_ = true;
}

void LocalBackend::SetGateways(std::map<std::string, route::GatewayConfig> gateways) {
  std::lock_guard<std::mutex> lock(mu_);
  gateways_ = std::move(gateways);
  all_dirty_ = true;  // every route compiles against them again
}

void LocalBackend::SetHttpRoutes(std::vector<std::shared_ptr<const route::FunctionRoute>> routes) {
  std::lock_guard<std::mutex> lock(mu_);
  http_routes_ = std::move(routes);
  republish_ = true;
}

std::optional<backend::RouteObservation> LocalBackend::ObserveHttpRoute(std::string_view ns, std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = http_seen_.find(std::string(ns) + "/" + std::string(name));
  if (it == http_seen_.end()) return std::nullopt;
  return it->second;
}

void LocalBackend::SetPlugins(std::shared_ptr<const gateway::PluginChain> plugins) {
  std::lock_guard<std::mutex> lock(mu_);
  plugins_ = std::move(plugins);
  republish_ = true;
}

Result<backend::FunctionObservation> LocalBackend::Observe(std::string_view ns, std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = fns_.find(std::string(ns) + "/" + std::string(name));
  if (it == fns_.end()) return Status(StatusCode::kNotFound, "no plan for " + std::string(ns) + "/" + std::string(name));
  return it->second.seen;
}

void LocalBackend::Converge(Fn& fn, std::vector<std::string>* live) {
  const backend::FunctionPlan& plan = *fn.plan;
  backend::FunctionObservation& seen = fn.seen;
  seen = backend::FunctionObservation{};

  // Each revision registered with its driver and the autoscaler; readiness
  // from the autoscaler, or from the platform's record (a revision that was
  // ready stays ready when scaled to zero or after a restart).
  for (const backend::RevisionPlan& rp : plan.revisions) {
    backend::RevisionObservation v;
    v.name = rp.name;
    v.ready = rp.ready_before;
    Result<backend::InstanceDriver*> picked = rp.invalid.empty()
                                                  ? drivers_->Pick(rp.workload)
                                                  : Result<backend::InstanceDriver*>(
                                                        Status(StatusCode::kInvalidArgument, rp.invalid));
    if (!picked.ok()) {
      v.reason = rp.invalid.empty() ? "NoBackend" : "InvalidWorkload";
      v.message = picked.status().message();
    } else {
      backend::InstanceDriver* driver = *picked;
      fn.driver = std::string(driver->name());
      gateway::PoolOptions po;
      po.queue_limit = options_.queue_limit;
      po.queue_timeout = options_.request_timeout;
      po.response_timeout = options_.request_timeout;
      po.container_concurrency = rp.scale.container_concurrency;
      // The revision's workload and scale are the plan's (aliased): not copied.
      autoscaler_->Ensure(plan.ns, rp.name, driver, std::shared_ptr<const backend::Workload>(fn.plan, &rp.workload),
                          std::shared_ptr<const scale::ScaleSpec>(fn.plan, &rp.scale), po);
      live->push_back(plan.ns + "/" + rp.name);
      auto st = autoscaler_->Status(plan.ns, rp.name);
      // Ready without an instance when it starts at zero (initial-scale 0,
      // or a KEDA-scaled revision resting at zero until its triggers wake it).
      const bool starts_at_zero = rp.scale.keda ? scale::KedaInitialReplicas(*rp.scale.keda) == 0
                                                : rp.scale.initial_scale == 0;
      if (st && (st->ever_ready || starts_at_zero)) v.ready = true;
      if (st && !v.ready && !st->failure.empty()) {
        v.reason = "StartFailed";
        v.message = st->failure;
      }
      if (st) {
        v.restarts = st->restarts;
        v.instance_reason = st->instance_reason;
        v.instance_message = st->instance_message;
        v.limits_warning = st->limits_warning;
        v.warning_reason = st->warning_reason;
      }
    }
    seen.revisions.push_back(std::move(v));
  }
  const backend::RevisionObservation* latest = seen.revisions.empty() ? nullptr : &seen.revisions.back();
  for (const backend::RevisionObservation& v : seen.revisions) {
    if (v.ready) seen.latest_ready_revision = v.name;
  }

  // Traffic: only to ready revisions; otherwise the last good split stays.
  std::vector<TrafficTarget> targets = TargetsOf(plan);
  std::vector<RevisionReadiness> readiness;
  for (const backend::RevisionObservation& v : seen.revisions) readiness.push_back({v.name, v.ready, v.message});
  TrafficResolution resolved = ResolveTraffic(plan.name, targets, readiness);
  if (resolved.unresolved.empty()) {
    std::vector<gateway::TrafficSplit::Target> split;
    fn.percents.clear();
    for (const auto& [name, pct] : resolved.percents) {
      split.push_back({autoscaler_->Pool(plan.ns, name), pct});
      fn.percents[name] = pct;
    }
    fn.split = split.empty() ? nullptr
                             : std::make_shared<const gateway::TrafficSplit>(
                                   std::move(split), CounterFor("split/" + plan.ns + "/" + plan.name));
    fn.tags = resolved.tags;
  } else if (fn.split) {
    // The last good split stays, on the revisions' current pools: one
    // registered again (ofn restart) has a new pool, whose activator holds
    // requests until an instance is ready, where the old one refuses them.
    std::vector<gateway::TrafficSplit::Target> split;
    for (const auto& [name, pct] : fn.percents) {
      if (auto pool = autoscaler_->Pool(plan.ns, name)) split.push_back({std::move(pool), pct});
    }
    if (!split.empty()) {
      fn.split = std::make_shared<const gateway::TrafficSplit>(std::move(split),
                                                               CounterFor("split/" + plan.ns + "/" + plan.name));
    }
  }
  // Reachable: routed now, or the latest revision while traffic is to
  // follow it (Knative's "unknown" reachability of a rollout target). A
  // revision that is neither goes to zero whatever its min scale.
  const bool follows_latest = std::any_of(targets.begin(), targets.end(), [](const TrafficTarget& t) { return t.latest; });
  for (backend::RevisionObservation& v : seen.revisions) {
    const bool tagged = std::any_of(fn.tags.begin(), fn.tags.end(), [&](const auto& t) { return t.second == v.name; });
    v.routed = tagged || fn.percents.count(v.name) > 0 || (follows_latest && latest && latest->name == v.name);
    autoscaler_->SetReachable(plan.ns, v.name, v.routed);
    auto pct = fn.percents.find(v.name);
    v.percent = pct == fn.percents.end() ? 0 : pct->second;
    for (const auto& [tag, rev] : fn.tags) {
      if (rev == v.name) v.tags.push_back(tag);
    }
  }

  // Serving state.
  if (fn.split) {
    seen.state = "Running";
    if (latest && !latest->ready && !latest->reason.empty()) {
      seen.reason = "RevisionFailed";
      seen.message = "revision " + latest->name + " failed (" + latest->reason + "): " + latest->message +
                     "; traffic stays on " + seen.latest_ready_revision;
    } else if (!resolved.unresolved.empty()) {
      seen.reason = "TrafficNotReady";
      seen.message = resolved.unresolved + "; traffic stays where it was";
    }
    seen.service = plan.name + "-" + fn.driver;
  } else if (latest && !latest->reason.empty()) {
    seen.state = "Failed";
    seen.reason = latest->reason;
    seen.message = latest->message;
  } else if (seen.latest_ready_revision.empty()) {
    seen.state = "Pending";
    seen.reason = "RevisionStarting";
    seen.message = "waiting for revision " + (latest ? latest->name : std::string()) + " to become ready";
  } else {
    seen.state = "Running";
    seen.reason = "NoTraffic";
    seen.message =
        resolved.unresolved.empty() ? "no traffic target has a percent above 0" : resolved.unresolved;
  }
  // Instances of a routed revision that crash, or limits that could not
  // be applied, show while nothing more pressing does.
  if (seen.state == "Running" && seen.reason.empty()) {
    for (const backend::RevisionObservation& v : seen.revisions) {
      if (!v.routed) continue;
      if (!v.instance_reason.empty()) {
        seen.reason = v.instance_reason;
        seen.message = "revision " + v.name + ": " + v.instance_message;
        break;
      }
      if (!v.limits_warning.empty() && seen.reason.empty()) {
        seen.reason = v.warning_reason.empty() ? "LimitsNotApplied" : v.warning_reason;
        seen.message = "revision " + v.name + ": " + v.limits_warning;
      }
    }
  }
  CompileRoutes(fn);
}

void LocalBackend::CompileRoutes(Fn& fn) {
  const backend::FunctionPlan& plan = *fn.plan;
  fn.route.reset();
  fn.tag_routes.clear();
  fn.tag_revisions.clear();
  if (!plan.http) return;
  const std::string spec = RouteSpec(plan.route_json, false);
  auto [gns, gname] = route::GatewayRefOf(spec);
  auto git = gateways_.find(gns + "/" + gname);
  if (git == gateways_.end()) {
    fn.seen.route = ObserveRoute(nullptr, "False", "GatewayNotFound", "gateway " + gns + "/" + gname + " does not exist");
    fn.seen.route->gateway = gns + "/" + gname;
    return;
  }
  auto compiled = route::CompileRoute(plan.ns, plan.name, spec, git->second, plan.created);
  if (!compiled.ok()) {
    fn.seen.route = ObserveRoute(nullptr, "False", "InvalidRoute", compiled.status().message());
    fn.seen.route->gateway = gns + "/" + gname;
    return;
  }
  fn.route = std::make_shared<const route::FunctionRoute>(std::move(*compiled));
  fn.seen.route = ObserveRoute(fn.route.get());
  const std::string tag_spec = RouteSpec(plan.route_json, true);
  for (const auto& [tag, rev] : fn.tags) {
    auto tr = route::CompileRoute(plan.ns, TagName(options_.tag_template, tag, plan.name), tag_spec, git->second,
                                  plan.created);
    if (tr.ok()) {
      fn.tag_routes.push_back(std::make_shared<const route::FunctionRoute>(std::move(*tr)));
      fn.tag_revisions.push_back(rev);
    }
  }
}

std::vector<std::shared_ptr<const gateway::RuleBackends>> LocalBackend::ResolveBackends(
    const route::FunctionRoute& route, backend::RouteObservation* seen) {
  std::vector<std::shared_ptr<const gateway::RuleBackends>> out;
  std::vector<std::string> missing;
  for (const route::Rule& rule : route.rules) {
    if (rule.backends.empty()) {
      out.emplace_back();
      continue;
    }
    seen->has_backend_refs = true;
    std::vector<gateway::RuleBackends::Backend> backends;
    std::vector<int> weights;
    for (const route::BackendRef& ref : rule.backends) {
      gateway::RuleBackends::Backend b;
      b.ref = ref;
      const std::string key = ref.ns + "/" + ref.name;
      auto target = fns_.find(key);
      if (target == fns_.end()) {
        b.missing = "backendRef " + key + ": no Function of that name is served here";
      } else {
        // The Function's Service listens on 80 and on the function's own port.
        const auto& revs = target->second.plan->revisions;
        const int port = revs.empty() || !revs.back().invalid.empty() ? 8080 : revs.back().workload.port;
        if (ref.port != 0 && ref.port != 80 && ref.port != port) {
          b.missing = "backendRef " + key + ": port " + std::to_string(ref.port) + " is not served (the Function " +
                      "serves 80 and " + std::to_string(port) + ")";
        } else {
          b.split = target->second.split;
        }
      }
      if (!b.missing.empty()) missing.push_back(b.missing);
      weights.push_back(ref.weight);
      backends.push_back(std::move(b));
    }
    out.push_back(std::make_shared<const gateway::RuleBackends>(
        std::move(backends), weights,
        CounterFor(route.kind + "/" + route.ns + "/" + route.name + "#" + std::to_string(out.size()))));
  }
  if (!missing.empty()) {
    backend::RouteObservation& ro = *seen;
    ro.refs_status = "False";
    ro.refs_reason = "BackendNotFound";
    ro.refs_message = missing.front();
    for (size_t i = 1; i < missing.size(); ++i) ro.refs_message += "; " + missing[i];
  }
  return out;
}

gateway::WeightedSlots::Counter LocalBackend::CounterFor(const std::string& key) {
  auto& c = counters_[key];
  if (!c) c = std::make_shared<std::atomic<uint64_t>>(0);
  return c;
}

bool LocalBackend::Serves(const std::string& ns, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = fns_.find(ns + "/" + name);
  return it != fns_.end() && it->second.split != nullptr;
}

std::string LocalBackend::DriverOf(const std::string& ns, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = fns_.find(ns + "/" + name);
  return it == fns_.end() ? std::string() : it->second.driver;
}

bool LocalBackend::Deliver(const std::string& ns, const std::string& name, HttpRequest request,
                           std::function<void(HttpResponse)> done) {
  std::shared_ptr<const gateway::TrafficSplit> split;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = fns_.find(ns + "/" + name);
    if (it != fns_.end()) split = it->second.split;
  }
  gateway::RevisionPool* pool = split ? split->Pick() : nullptr;
  if (!pool || pool->closed()) return false;
  // The split keeps the pool alive while it is in use.
  pool->Submit(std::move(request), [split, done = std::move(done)](HttpResponse r) { done(std::move(r)); });
  return true;
}

void LocalBackend::Commit() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& key : touched_) {
    if (auto it = fns_.find(key); it != fns_.end()) it->second.touched = false;
  }
  touched_.clear();
  auto touch = [&](const std::string& key, Fn& fn) {
    if (!std::exchange(fn.touched, true)) touched_.push_back(key);
  };
  // Revisions whose readiness or health changed: their Function converges.
  for (const std::string& rev : autoscaler_->TakeChanged()) {
    auto owner = rev_owner_.find(rev);
    if (owner == rev_owner_.end()) continue;
    if (auto it = fns_.find(owner->second); it != fns_.end()) it->second.dirty = true;
  }
  const bool all = all_dirty_;
  all_dirty_ = false;
  bool converged = false;
  for (auto& [key, fn] : fns_) {
    if (!all && !fn.dirty) continue;
    std::vector<std::string> before = std::move(fn.live);
    fn.live.clear();
    Converge(fn, &fn.live);
    fn.dirty = false;
    fn.has_refs = false;
    fn.rejected = false;
    // What it registered before and no longer does stops.
    for (const std::string& rev : before) {
      if (std::find(fn.live.begin(), fn.live.end(), rev) == fn.live.end()) {
        rev_owner_.erase(rev);
        gone_.push_back(rev);
      }
    }
    for (const std::string& rev : fn.live) rev_owner_[rev] = key;
    touch(key, fn);
    converged = true;
  }
  if (all) {
    // Every revision the autoscaler runs that no plan has (collected, or
    // its Function deleted, handed to another backend, or restarted).
    for (const std::string& rev : autoscaler_->Keys()) {
      if (!rev_owner_.contains(rev)) gone_.push_back(rev);
    }
  }
  for (const std::string& rev : gone_) {
    if (rev_owner_.contains(rev)) continue;  // registered again meanwhile
    size_t slash = rev.find('/');
    autoscaler_->Remove(rev.substr(0, slash), rev.substr(slash + 1));
  }
  gone_.clear();
  // Every revision that runs here is registered now: what survived the last
  // run and was not adopted has no revision left to serve.
  autoscaler_->DropUnadopted();
  if (!converged && !republish_) return;  // the published table stands
  republish_ = false;

  // The route table, with conflicts resolved. Routes converged above
  // observe as compiled; the others are reset to that when backendRefs or
  // a conflict may have changed what they observe.
  std::vector<std::shared_ptr<const route::FunctionRoute>> routes;
  std::vector<std::shared_ptr<const gateway::TrafficSplit>> splits;
  std::vector<Fn*> owner;
  auto snap = std::make_shared<gateway::Snapshot>();
  for (auto& [key, fn] : fns_) {
    if (!fn.route) continue;
    if (fn.has_refs || fn.rejected) {
      fn.seen.route = ObserveRoute(fn.route.get());  // as CompileRoutes made it
      if (fn.rejected) fn.seen.addresses.clear();
      touch(key, fn);
    }
    routes.push_back(fn.route);
    splits.push_back(fn.split);
    owner.push_back(&fn);
    snap->backends.push_back(ResolveBackends(*fn.route, &*fn.seen.route));
    fn.has_refs = fn.seen.route->has_backend_refs;
    fn.rejected = false;
    for (size_t t = 0; t < fn.tag_routes.size(); ++t) {
      routes.push_back(fn.tag_routes[t]);
      splits.push_back(gateway::TrafficSplit::Single(autoscaler_->Pool(fn.plan->ns, fn.tag_revisions[t])));
      owner.push_back(&fn);
      snap->backends.emplace_back();
    }
  }
  // HTTPRoute objects: every rule goes to its backendRefs.
  http_seen_.clear();
  for (const std::shared_ptr<const route::FunctionRoute>& hrp : http_routes_) {
    const route::FunctionRoute& hr = *hrp;
    backend::RouteObservation& seen = http_seen_[hr.ns + "/" + hr.name];
    seen = backend::RouteObservation{};
    routes.push_back(hrp);
    splits.push_back(nullptr);
    owner.push_back(nullptr);
    snap->backends.push_back(ResolveBackends(hr, &seen));
  }
  std::vector<route::Rejection> rejected;
  snap->table = route::RouteTable::Build(std::move(routes), &rejected);
  for (const route::Rejection& r : rejected) {
    Fn* fn = owner[r.route];
    if (!fn) continue;  // HTTPRoutes are never rejected
    backend::RouteObservation& ro = *fn->seen.route;
    ro.status = "False";
    ro.reason = r.reason;
    ro.message = r.message;
    fn->seen.addresses.clear();
    fn->rejected = true;
    if (!fn->touched) touch(fn->plan->ns + "/" + fn->plan->name, *fn);
  }
  snap->targets = std::move(splits);
  snap->plugins = plugins_;
  dispatcher_->Publish(std::move(snap));
  // Counters nothing holds any more (their split or rule is gone).
  for (auto it = counters_.begin(); it != counters_.end();) {
    it = it->second.use_count() > 1 ? std::next(it) : counters_.erase(it);
  }

  // Addresses of the routes that stayed accepted, for the Functions
  // converged or reset above.
  auto address = [&](Fn& fn) {
    if (!fn.route || fn.seen.route->status != "True") return;
    std::vector<const route::FunctionRoute*> tags;
    for (const auto& tr : fn.tag_routes) tags.push_back(tr.get());
    fn.seen.addresses = RouteAddresses(*fn.route, tags);
  };
  for (const std::string& key : touched_) address(fns_.at(key));
}

}  // namespace ofn::platform::internal
