#include "libofn/common/internal/json_access.h"
#include "libofn/platform/internal/reconciler.h"

#include <boost/json.hpp>
#include <set>

#include "libofn/common/log.h"
#include "libofn/route/route.h"
#include "libofn/route/table.h"
#include "libofn/spec/internal/emit.h"

namespace ofn::platform::internal {

namespace json = boost::json;
using ofn::internal::Arr;
using ofn::internal::At;
using ofn::internal::Obj;
using ofn::internal::Str;

uint64_t Hash64(std::string_view data) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string ResourceName(std::string_view prefix, uint64_t hash) {
  static const char kChars[] = "bcdfghjklmnpqrstvwxz2456789";  // as Kubernetes generateName
  std::string out(prefix);
  out += "-";
  for (int i = 0; i < 5; ++i) {
    out += kChars[hash % (sizeof(kChars) - 1)];
    hash /= (sizeof(kChars) - 1);
  }
  return out;
}

namespace {


std::string ScalarText(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  return json::serialize(v);
}

backend::InstanceSpec MakeInstanceSpec(const store::Record& fn, const json::object& spec) {
  backend::InstanceSpec s;
  s.ns = fn.ns;
  s.function = fn.name;
  s.version = Str(&spec, "version");
  s.image = Str(&spec, "image");
  s.spec_json = spec::internal::EmitJson(spec::internal::Canonical(spec), false);
  const json::object* serving = Obj(At(&spec, "serving"));
  if (const json::object* params = Obj(At(serving, "params"))) {
    for (const auto& [k, v] : *params) s.env[std::string(k)] = ScalarText(v);
  }
  const json::value* containers = At(Obj(At(serving, "template")), "containers");
  if (containers && containers->is_array()) {
    for (const json::value& c : containers->as_array()) {
      const json::object* co = Obj(&c);
      if (Str(co, "name") != "function") continue;
      s.has_command = At(co, "command") != nullptr;
      const json::value* env = At(co, "env");
      if (env && env->is_array()) {
        for (const json::value& e : env->as_array()) {
          const json::object* eo = Obj(&e);
          if (At(eo, "value")) s.env[Str(eo, "name")] = Str(eo, "value");
        }
      }
    }
  }
  const json::value* outputs = At(serving, "outputs");
  if (outputs && outputs->is_array()) {
    for (const json::value& o : outputs->as_array()) s.outputs.push_back(Str(Obj(&o), "name"));
  }
  return s;
}

// The parts of the spec that make a new serving (and later a new revision).
std::string ServingHashInput(const json::object& spec) {
  json::object part;
  for (const char* key : {"image", "version", "serving", "workloadRuntime", "imageCredentials"}) {
    if (const json::value* v = spec.if_contains(key)) part[key] = *v;
  }
  return spec::internal::EmitJson(spec::internal::Canonical(part), false);
}

struct RouteState {
  bool has_route = false;
  std::string status = "True", reason = "Valid", message = "Valid HTTPRoute";
  std::optional<route::FunctionRoute> route;
};

json::object Condition(const json::object* old_status, const std::string& status, const std::string& reason,
                       const std::string& message, int64_t generation, const std::string& now) {
  std::string time = now;
  if (const json::value* conds = At(Obj(At(old_status, "route")), "conditions"); conds && conds->is_array()) {
    for (const json::value& c : conds->as_array()) {
      const json::object* co = Obj(&c);
      if (Str(co, "type") == "Accepted" && Str(co, "status") == status && Str(co, "reason") == reason) {
        time = Str(co, "lastTransitionTime");
      }
    }
  }
  json::object c;
  c["type"] = "Accepted";
  c["status"] = status;
  c["reason"] = reason;
  c["message"] = message;
  c["lastTransitionTime"] = time;
  c["observedGeneration"] = generation;
  return c;
}

}  // namespace

Reconciler::Reconciler(store::Store* store, Clock* clock, std::vector<backend::InstanceDriver*> drivers,
                       gateway::Dispatcher* dispatcher)
    : store_(store), clock_(clock), drivers_(std::move(drivers)), dispatcher_(dispatcher) {}

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
    int64_t rv = store_->resource_version();
    lock.unlock();
    Pass();
    lock.lock();
    done_rv_ = rv;
    cv_.notify_all();
  }
}

void Reconciler::Pass() {
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
    std::string serving_hash, build_hash;
  };
  std::vector<Work> work;
  std::set<std::string> live;
  for (const store::Record& fn : *fn_records) {
    if (fn.deletion_time != 0) continue;
    Work w{&fn, ofn::internal::ParseObjectOrEmpty(fn.spec), ofn::internal::ParseObjectOrEmpty(fn.status), {}, {}, {}};
    const json::object& spec = w.spec.as_object();
    std::string key = fn.ns + "/" + fn.name;
    live.insert(key);

    // Serving: start an instance when the serving part changed.
    std::string hash_input = ServingHashInput(spec);
    uint64_t h = Hash64(hash_input);
    w.serving_hash = std::to_string(h);
    const json::value* build = spec.if_contains("build");
    w.build_hash = std::to_string(Hash64(build ? json::serialize(spec::internal::Canonical(*build)) : "{}"));
    Running& run = running_[key];
    if (run.hash != w.serving_hash) {
      Running next;
      next.hash = w.serving_hash;
      next.resource_ref = ResourceName("serving", h);
      backend::InstanceSpec is = MakeInstanceSpec(fn, spec);
      is.revision = next.resource_ref;
      backend::InstanceDriver* driver = nullptr;
      for (backend::InstanceDriver* d : drivers_) {
        if (d->Accepts(is)) {
          driver = d;
          break;
        }
      }
      if (!driver) {
        next.reason = "NoBackend";
        next.message = "no enabled backend can run this function";
      } else {
        next.driver = std::string(driver->name());
        auto inst = driver->Start(is);
        if (inst.ok()) {
          next.instance = *inst;
        } else {
          next.reason = "StartFailed";
          next.message = inst.status().message();
        }
      }
      run = std::move(next);
    }

    // Route.
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
        } else {
          w.route.status = "False";
          w.route.reason = "InvalidRoute";
          w.route.message = compiled.status().message();
        }
      }
    }
    work.push_back(std::move(w));
  }
  for (auto it = running_.begin(); it != running_.end();) {
    it = live.count(it->first) ? std::next(it) : running_.erase(it);
  }

  // The route table, with conflicts resolved.
  std::vector<route::FunctionRoute> routes;
  std::vector<size_t> route_owner;
  for (size_t i = 0; i < work.size(); ++i) {
    if (work[i].route.route) {
      routes.push_back(*work[i].route.route);
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
  for (size_t i = 0; i < route_owner.size(); ++i) {
    const store::Record& rec = *work[route_owner[i]].record;
    snap->targets.push_back(running_[rec.ns + "/" + rec.name].instance);
  }
  dispatcher_->Publish(std::move(snap));

  // Status.
  for (Work& w : work) {
    const store::Record& fn = *w.record;
    const json::object& spec = w.spec.as_object();
    const json::object* old = Obj(&w.old_status);
    const Running& run = running_[fn.ns + "/" + fn.name];
    json::object st;
    if (w.route.route && w.route.status == "True") {
      json::array addrs;
      for (const route::Address& a : route::Addresses(*w.route.route)) {
        addrs.push_back(json::object{{"type", a.type}, {"value", a.value}});
      }
      st["addresses"] = std::move(addrs);
    }
    json::object build;
    build["resourceHash"] = w.build_hash;
    if (spec.contains("build")) {
      build["state"] = "Pending";
      build["reason"] = "NoBuilder";
      build["message"] = "no image builder is enabled; serving spec.image as it is";
    } else {
      build["state"] = "Skipped";
    }
    st["build"] = std::move(build);
    if (w.route.has_route) {
      json::object r;
      r["conditions"] = json::array{Condition(old, w.route.status, w.route.reason, w.route.message, fn.generation, now)};
      if (w.route.route) {
        json::array hosts, paths;
        for (const std::string& h : w.route.route->AllHosts()) hosts.push_back(json::value(h));
        for (const auto& [type, value] : route::StatusPaths(*w.route.route)) {
          paths.push_back(json::object{{"type", type}, {"value", value}});
        }
        r["hosts"] = std::move(hosts);
        r["paths"] = std::move(paths);
      }
      st["route"] = std::move(r);
    }
    json::object serving;
    serving["resourceHash"] = run.hash;
    serving["resourceRef"] = run.resource_ref;
    if (run.instance) {
      serving["state"] = "Running";
      serving["lastSuccessfulResourceRef"] = run.resource_ref;
      serving["service"] = run.resource_ref + "-" + run.driver;
    } else {
      serving["state"] = "Failed";
      serving["reason"] = run.reason;
      serving["message"] = run.message;
      std::string last = Str(Obj(At(old, "serving")), "lastSuccessfulResourceRef");
      if (!last.empty()) serving["lastSuccessfulResourceRef"] = last;
    }
    st["serving"] = std::move(serving);

    json::value next = spec::internal::Canonical(st);
    if (json::serialize(next) == json::serialize(spec::internal::Canonical(w.old_status))) continue;
    auto updated = store_->UpdateStatus("Function", fn.ns, fn.name, json::serialize(next), fn.resource_version);
    if (!updated.ok() && updated.status().code() != StatusCode::kConflict &&
        updated.status().code() != StatusCode::kNotFound) {
      OFN_LOG(kError) << "reconcile: writing status of " << fn.ns << "/" << fn.name << ": "
                      << updated.status().ToString();
    }
  }
}

}  // namespace ofn::platform::internal
