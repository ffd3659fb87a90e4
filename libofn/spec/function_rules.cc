// Function (core.openfunction.io): seed-form normalization, v1beta1 ->
// v1beta2 conversion, and the defaulting and validation of OpenFunction's
// function webhook.
#include <boost/json.hpp>
#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "libofn/common/regex.h"
#include "libofn/spec/internal/keda_spec.h"
#include "libofn/spec/scale_spec.h"
#include "libofn/spec/internal/kinds.h"
#include "libofn/spec/workload.h"

namespace ofn::spec::internal {
namespace {

constexpr std::string_view kWasmVariantAnnotation = "module.wasm.image/variant";
constexpr std::string_view kWasmCompatSmart = "compat-smart";

// --- normalization of forms the docs use but the CRD does not ---------------

void NormalizeShipwrightParams(json::object& root, Reporter* rep) {
  json::object* sw = ObjectAt(root, {"spec", "build", "shipwright"});
  if (!sw) return;
  json::value* params = sw->if_contains("params");
  if (!params || !params->is_object()) return;
  json::array list;
  for (const auto& [name, val] : params->as_object()) {
    json::object item;
    item["name"] = name;
    if (val.is_string()) {
      item["value"] = val;
    } else if (val.is_null()) {
      item["value"] = "";
    } else if (val.is_bool() || val.is_number()) {
      item["value"] = json::serialize(val);
    } else {
      rep->Error(JoinPath("spec.build.shipwright.params", name),
                 "must be a string, got " + Describe(val));
      continue;
    }
    list.push_back(std::move(item));
  }
  rep->Warning("spec.build.shipwright.params",
               "written as a map; read as the list of {name, value} the CRD defines");
  *params = std::move(list);
}

void NormalizeReplicaCounts(json::object& root, Reporter* rep) {
  json::object* so = ObjectAt(root, {"spec", "serving", "scaleOptions"});
  json::object* kso = so ? ObjectAt(*so, {"keda", "scaledObject"}) : nullptr;
  if (!kso) return;
  const std::pair<std::string_view, std::string_view> moves[] = {
      {"minReplicaCount", "minReplicas"}, {"maxReplicaCount", "maxReplicas"}};
  for (const auto& [from, to] : moves) {
    json::value* v = kso->if_contains(from);
    if (!v) continue;
    std::string from_path = JoinPath("spec.serving.scaleOptions.keda.scaledObject", from);
    std::string to_path = JoinPath("spec.serving.scaleOptions", to);
    if (const json::value* existing = so->if_contains(to); existing && *existing != *v) {
      rep->Error(from_path, "conflicts with " + to_path + " (" + json::serialize(*existing) +
                                " vs " + json::serialize(*v) + ")");
    } else {
      rep->Warning(from_path, "not in the CRD; read as " + to_path);
      (*so)[to] = *v;
    }
    kso->erase(from);
  }
}

// spec.serving.runtime is v1beta1's (knative | async); OpenFunction's own
// v1beta2 samples still carry it. In v1beta2 the triggers say the same:
// serving.triggers.http is Knative's sync serving, triggers.dapr/inputs the
// async runtime. Accepted with a warning and dropped.
void NormalizeServingRuntime(json::object& root, Reporter* rep) {
  json::object* serving = ObjectAt(root, {"spec", "serving"});
  const json::value* runtime = serving ? serving->if_contains("runtime") : nullptr;
  if (!runtime) return;
  std::string value = runtime->is_string() ? std::string(runtime->as_string()) : json::serialize(*runtime);
  rep->Warning("spec.serving.runtime",
               "\"" + value + "\" is a v1beta1 field; in v1beta2 the triggers decide (serving.triggers.http: "
               "the Knative runtime; dapr triggers: the async runtime); ignored");
  serving->erase("runtime");
}

void Normalize(json::object& root, std::string_view version, Reporter* rep) {
  if (version == "v1beta2") {
    NormalizeShipwrightParams(root, rep);
    NormalizeReplicaCounts(root, rep);
    NormalizeServingRuntime(root, rep);
  }
}

// --- v1beta1 -> v1beta2 ------------------------------------------------------

void MoveIfPresent(json::object& from, std::string_view key, json::object& to,
                   std::string_view to_key) {
  if (json::value* v = from.if_contains(key)) to[to_key] = std::move(*v);
}

const json::object* FindComponent(const json::object& serving, std::string_view name) {
  for (std::string_view kind : {"bindings", "pubsub"}) {
    if (const json::object* m = ObjectAt(serving, {kind})) {
      if (const json::value* c = m->if_contains(name); c && c->is_object()) return &c->as_object();
    }
  }
  return nullptr;
}

void ConvertBuild(json::object& src, json::object& dst) {
  for (std::string_view key : {"builder", "builderCredentials", "env", "dockerfile", "builderMaxAge",
                               "failedBuildsHistoryLimit", "successfulBuildsHistoryLimit", "timeout",
                               "srcRepo"}) {
    MoveIfPresent(src, key, dst, key);
  }
  json::object* sw = ObjectAt(src, {"shipwright"});
  json::object* params = ObjectAt(src, {"params"});
  if (sw || (params && !params->empty())) {
    json::object out;
    if (sw) {
      MoveIfPresent(*sw, "strategy", out, "strategy");
      MoveIfPresent(*sw, "timeout", out, "timeout");
    }
    if (params && !params->empty()) {
      json::array list;
      for (const auto& [name, val] : *params) {
        list.push_back(json::object{{"name", name}, {"value", val}});
      }
      out["params"] = std::move(list);
    }
    dst["shipwright"] = std::move(out);
  }
}

void ConvertScaleOptions(json::object& serving, json::object& dst) {
  json::object* so = ObjectAt(serving, {"scaleOptions"});
  json::value* keda_triggers = serving.if_contains("triggers");
  if (!so && !keda_triggers) return;
  json::object out;
  if (so) {
    MoveIfPresent(*so, "maxReplicas", out, "maxReplicas");
    MoveIfPresent(*so, "minReplicas", out, "minReplicas");
    MoveIfPresent(*so, "knative", out, "knative");
  }
  json::object* keda = so ? ObjectAt(*so, {"keda"}) : nullptr;
  if (keda || keda_triggers) {
    json::object kout;
    if (json::object* obj = keda ? ObjectAt(*keda, {"scaledObject"}) : nullptr) {
      json::object o;
      MoveIfPresent(*obj, "pollingInterval", o, "pollingInterval");
      MoveIfPresent(*obj, "cooldownPeriod", o, "cooldownPeriod");
      MoveIfPresent(*obj, "advanced", o, "advanced");
      MoveIfPresent(*obj, "maxReplicaCount", out, "maxReplicas");
      MoveIfPresent(*obj, "minReplicaCount", out, "minReplicas");
      std::string_view wt = StringOr(obj, "workloadType", "");
      dst["workloadType"] = wt.empty() ? "Deployment" : wt;
      kout["scaledObject"] = std::move(o);
    }
    if (json::object* job = keda ? ObjectAt(*keda, {"scaledJob"}) : nullptr) {
      json::object j;
      for (std::string_view key : {"restartPolicy", "pollingInterval", "successfulJobsHistoryLimit",
                                   "failedJobsHistoryLimit", "scalingStrategy"}) {
        MoveIfPresent(*job, key, j, key);
      }
      MoveIfPresent(*job, "maxReplicaCount", out, "maxReplicas");
      dst["workloadType"] = "Job";
      kout["scaledJob"] = std::move(j);
    }
    if (keda_triggers && keda_triggers->is_array()) {
      json::array triggers;
      for (json::value& t : keda_triggers->as_array()) {
        if (t.is_object()) t.as_object().erase("targetKind");  // not in v1beta2
        triggers.push_back(std::move(t));
      }
      kout["triggers"] = std::move(triggers);
    }
    out["keda"] = std::move(kout);
  }
  dst["scaleOptions"] = std::move(out);
}

// v1beta1 kept tracing and hook settings as YAML in annotations.
void ConvertPlugins(const json::object& root, json::object& dst, Reporter* rep) {
  const json::object* ann = ObjectAt(root, {"metadata", "annotations"});
  if (!ann) return;
  auto load = [&](std::string_view key) -> json::object {
    std::string_view text = StringOr(ann, key, "");
    if (text.empty()) return {};
    std::vector<Diagnostic> diags;
    std::vector<Document> docs = ParseYaml(text, rep->file(), &diags);
    if (docs.empty() || !docs[0].root.is_object()) {
      rep->Error(JoinPath("metadata.annotations", key), "must hold a YAML mapping");
      return {};
    }
    return std::move(docs[0].root.as_object());
  };
  if (json::object tracing = load("plugins.tracing"); !tracing.empty()) {
    dst["tracing"] = std::move(tracing);
  }
  json::object plugins = load("plugins");
  if (plugins.empty()) return;
  json::object hooks{{"policy", "Override"}};
  auto list = [&](std::string_view key) {
    const json::value* v = plugins.if_contains(key);
    return v && v->is_array() ? v->as_array() : json::array();
  };
  json::array order = list("order");
  if (!order.empty()) {
    hooks["pre"] = order;
    hooks["post"] = json::array(order.rbegin(), order.rend());
  }
  if (json::array pre = list("pre"); !pre.empty()) hooks["pre"] = std::move(pre);
  if (json::array post = list("post"); !post.empty()) hooks["post"] = std::move(post);
  dst["hooks"] = std::move(hooks);
}

// Returns the v1beta2 serving for v1beta1 `src`; takes port and route from `spec`.
json::object ConvertServing(const json::object& root, json::object& spec, json::object& src,
                            Reporter* rep) {
  json::object dst;
  for (std::string_view key : {"pubsub", "bindings", "params", "labels", "annotations", "template",
                               "timeout"}) {
    if (const json::value* v = src.if_contains(key)) dst[key] = *v;
  }
  json::object triggers;
  std::string_view runtime = StringOr(&src, "runtime", "");
  if (runtime == "knative") {
    json::object http;
    MoveIfPresent(spec, "port", http, "port");
    if (json::value* route = spec.if_contains("route")) http["route"] = std::move(*route);
    triggers["http"] = std::move(http);
  } else if (runtime == "async") {
    json::array dapr;
    if (json::value* inputs = src.if_contains("inputs"); inputs && inputs->is_array()) {
      for (const json::value& in : inputs->as_array()) {
        const json::object& item = in.as_object();
        std::string_view component = StringOr(&item, "component", "");
        json::object t{{"name", component}, {"inputName", StringOr(&item, "name", "")}};
        if (const json::value* topic = item.if_contains("topic")) t["topic"] = *topic;
        if (const json::object* c = FindComponent(src, component)) {
          if (const json::value* type = c->if_contains("type")) t["type"] = *type;
        }
        dapr.push_back(std::move(t));
      }
    }
    if (!dapr.empty()) triggers["dapr"] = std::move(dapr);
  }
  dst["triggers"] = std::move(triggers);
  ConvertScaleOptions(src, dst);
  if (json::value* outputs = src.if_contains("outputs"); outputs && outputs->is_array()) {
    json::array out;
    size_t i = 0;
    for (const json::value& o : outputs->as_array()) {
      const json::object& item = o.as_object();
      std::string_view component = StringOr(&item, "component", "");
      const json::object* c = FindComponent(src, component);
      if (!c) {
        rep->Warning(IndexPath("spec.serving.outputs", i) + ".component",
                     "no binding or pubsub named \"" + std::string(component) +
                         "\"; the output is dropped, as OpenFunction's conversion does");
        ++i;
        continue;
      }
      json::object d{{"name", component}, {"outputName", StringOr(&item, "name", "")}};
      if (const json::value* type = c->if_contains("type")) d["type"] = *type;
      if (const json::value* topic = item.if_contains("topic")) d["topic"] = *topic;
      if (const json::value* params = item.if_contains("params")) d["metadata"] = *params;
      if (const json::value* op = item.if_contains("operation")) d["operation"] = *op;
      out.push_back(json::object{{"dapr", std::move(d)}});
      ++i;
    }
    dst["outputs"] = std::move(out);
  }
  if (json::object* states = ObjectAt(src, {"states"})) {
    json::object out;
    for (const auto& [k, v] : *states) out[k] = json::object{{"spec", v}};
    dst["states"] = std::move(out);
  }
  ConvertPlugins(root, dst, rep);
  return dst;
}

void Convert(json::object& root, std::string_view version, Reporter* rep) {
  if (version != "v1beta1") return;
  json::object* spec = ObjectAt(root, {"spec"});
  if (!spec) return;
  json::object out;
  for (std::string_view key : {"version", "image", "imageCredentials", "workloadRuntime"}) {
    MoveIfPresent(*spec, key, out, key);
  }
  if (json::object* build = ObjectAt(*spec, {"build"})) {
    json::object b;
    ConvertBuild(*build, b);
    out["build"] = std::move(b);
  }
  if (json::object* serving = ObjectAt(*spec, {"serving"})) {
    out["serving"] = ConvertServing(root, *spec, *serving, rep);
  }
  *spec = std::move(out);
}

// --- defaulting (the function webhook's Default()) ---------------------------

void Defaults(json::object& root) {
  json::object& spec = EnsureObject(root, "spec");
  if (StringOr(&spec, "version", "").empty()) spec["version"] = "latest";
  if (json::object* serving = ObjectAt(spec, {"serving"})) {
    json::object& triggers = EnsureObject(*serving, "triggers");
    const json::value* dapr = triggers.if_contains("dapr");
    bool has_dapr = dapr && dapr->is_array() && !dapr->as_array().empty();
    if (!has_dapr || triggers.contains("http")) {
      json::object& http = EnsureObject(triggers, "http");
      const json::value* port = http.if_contains("port");
      if (!port || (port->is_int64() && port->as_int64() == 0)) http["port"] = 8080;
      json::object& route = EnsureObject(http, "route");
      if (!route.contains("gatewayRef")) {
        route["gatewayRef"] = json::object{{"name", "openfunction"}, {"namespace", "openfunction"}};
      }
    }
  }
  // WasmEdge workloads (seed 001 §8).
  json::object& meta = EnsureObject(root, "metadata");
  const json::object* ann = ObjectAt(meta, {"annotations"});
  bool wasm = ann && ann->contains(kWasmVariantAnnotation);
  std::string_view runtime = StringOr(&spec, "workloadRuntime", "");
  if (!wasm && runtime.size() == 8) {
    std::string lower;
    for (char c : runtime) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "wasmedge") {
      EnsureObject(meta, "annotations")[kWasmVariantAnnotation] = kWasmCompatSmart;
      wasm = true;
    }
  }
  if (!wasm) return;
  if (json::object* build = ObjectAt(spec, {"build"})) {
    json::object& sw = EnsureObject(*build, "shipwright");
    if (!sw.contains("strategy")) {
      sw["strategy"] = json::object{{"name", "wasmedge"}, {"kind", "ClusterBuildStrategy"}};
    }
  }
  if (json::object* serving = ObjectAt(spec, {"serving"})) {
    json::object& sann = EnsureObject(*serving, "annotations");
    if (!sann.contains(kWasmVariantAnnotation)) sann[kWasmVariantAnnotation] = kWasmCompatSmart;
    if (json::object* tmpl = ObjectAt(*serving, {"template"}); tmpl && !tmpl->contains("runtimeClassName")) {
      (*tmpl)["runtimeClassName"] = "openfunction-crun";
    }
  }
}

// --- validation (the function webhook's Validate()) --------------------------

int64_t IntOr(const json::object* obj, std::string_view key, int64_t fallback) {
  if (!obj) return fallback;
  const json::value* v = obj->if_contains(key);
  return v && v->is_int64() ? v->as_int64() : fallback;
}

void CheckNonNegative(const json::object* obj, std::string_view key, const std::string& path,
                      Reporter* rep) {
  if (!obj || !obj->contains(key)) return;
  int64_t v = IntOr(obj, key, 0);
  if (v < 0) rep->Error(JoinPath(path, key), "must not be less than 0, got " + std::to_string(v));
}

void CheckDuration(const json::object* obj, std::string_view key, const std::string& path,
                   Reporter* rep) {
  if (!obj) return;
  const json::value* v = obj->if_contains(key);
  if (!v || !v->is_string()) return;
  double secs = 0;
  std::string p = JoinPath(path, key);
  if (!ParseGoDuration(v->as_string(), &secs)) {
    rep->Error(p, "invalid duration \"" + std::string(v->as_string()) +
                      "\" (use a number with a unit: ns, us, ms, s, m, h; e.g. 5m0s)");
  } else if (secs < 0) {
    rep->Error(p, "must not be less than 0, got " + std::string(v->as_string()));
  }
}

void ValidateBuild(const json::object& spec, const json::object& build, Reporter* rep) {
  if (const json::object* cred = ObjectAt(spec, {"imageCredentials"});
      cred && StringOr(cred, "name", "").empty()) {
    rep->Error("spec.imageCredentials.name", "must be set when spec.build is set");
  }
  if (!build.contains("builder") && !build.contains("dockerfile")) {
    rep->Error("spec.build.builder", "one of spec.build.builder or spec.build.dockerfile is required");
  }
  const json::object* src = ObjectAt(build, {"srcRepo"});
  if (src && StringOr(src, "url", "").empty() && !src->contains("bundleContainer")) {
    rep->Error("spec.build.srcRepo", "one of url or bundleContainer is required");
  }
  CheckDuration(&build, "timeout", "spec.build", rep);
  CheckDuration(&build, "builderMaxAge", "spec.build", rep);
  CheckNonNegative(&build, "successfulBuildsHistoryLimit", "spec.build", rep);
  CheckNonNegative(&build, "failedBuildsHistoryLimit", "spec.build", rep);
  if (const json::object* sw = ObjectAt(build, {"shipwright"})) {
    if (const json::object* st = ObjectAt(*sw, {"strategy"})) {
      std::string_view kind = StringOr(st, "kind", "ClusterBuildStrategy");
      if (kind != "ClusterBuildStrategy" && kind != "BuildStrategy") {
        rep->Error("spec.build.shipwright.strategy.kind",
                   "must be one of \"BuildStrategy\", \"ClusterBuildStrategy\"; got \"" +
                       std::string(kind) + "\"");
      }
    }
    CheckDuration(sw, "timeout", "spec.build.shipwright", rep);
  }
}

// resources.limits/requests of every container must be quantities, as the
// Kubernetes API server requires (the CRD schema only says int-or-string).
void CheckResources(const json::object& serving, const std::string& base, Reporter* rep) {
  const json::value* containers = ValueAt(serving, {"template", "containers"});
  if (!containers || !containers->is_array()) return;
  for (size_t i = 0; i < containers->as_array().size(); ++i) {
    const json::value& c = containers->as_array()[i];
    for (const char* group : {"limits", "requests"}) {
      const json::object* res = c.is_object() ? ObjectAt(c.as_object(), {"resources", group}) : nullptr;
      if (!res) continue;
      for (const auto& [name, v] : *res) {
        std::string text = v.is_string() ? std::string(v.as_string()) : json::serialize(v);
        double value = 0;
        if (!ParseQuantity(text, &value)) {
          rep->Error(base + ".template.containers[" + std::to_string(i) + "].resources." + group + "." + std::string(name),
                     "\"" + text + "\" is not a quantity (e.g. 128Mi, 500m, 2)");
        }
      }
    }
  }
}

void ValidateServing(const json::object& serving, Reporter* rep) {
  const std::string base = "spec.serving";
  CheckDuration(&serving, "timeout", base, rep);
  CheckResources(serving, base, rep);
  if (const json::object* so = ObjectAt(serving, {"scaleOptions"})) {
    const std::string sp = base + ".scaleOptions";
    int64_t min = IntOr(so, "minReplicas", 0), max = IntOr(so, "maxReplicas", 10);
    if (min < 0) rep->Error(sp + ".minReplicas", "must not be less than 0, got " + std::to_string(min));
    if (max < 0) rep->Error(sp + ".maxReplicas", "must not be less than 0, got " + std::to_string(max));
    if (min >= 0 && max >= 0 && min > max) {
      rep->Error(sp + ".minReplicas", "must not be greater than maxReplicas (" + std::to_string(min) +
                                          " > " + std::to_string(max) + ")");
    }
    if (const json::object* keda = ObjectAt(*so, {"keda"})) {
      int n = keda->contains("scaledJob") + keda->contains("scaledObject") +
              keda->contains("httpScaledObject");
      if (n > 1) {
        rep->Error(sp + ".keda", "at most one of scaledJob, scaledObject and httpScaledObject may be set");
      }
      const std::string kp = sp + ".keda";
      if (const json::object* o = ObjectAt(*keda, {"scaledObject"})) {
        CheckNonNegative(o, "pollingInterval", kp + ".scaledObject", rep);
        CheckNonNegative(o, "cooldownPeriod", kp + ".scaledObject", rep);
      }
      if (const json::object* h = ObjectAt(*keda, {"httpScaledObject"})) {
        CheckNonNegative(h, "targetPendingRequests", kp + ".httpScaledObject", rep);
        CheckNonNegative(h, "cooldownPeriod", kp + ".httpScaledObject", rep);
      }
      if (const json::object* j = ObjectAt(*keda, {"scaledJob"})) {
        std::string_view rp = StringOr(j, "restartPolicy", "Never");
        if (rp != "Always" && rp != "OnFailure" && rp != "Never") {
          rep->Error(kp + ".scaledJob.restartPolicy",
                     "must be one of \"Always\", \"OnFailure\", \"Never\"; got \"" + std::string(rp) + "\"");
        }
        for (std::string_view k : {"pollingInterval", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"}) {
          CheckNonNegative(j, k, kp + ".scaledJob", rep);
        }
      }
    }
  }
  const json::object* http = ObjectAt(serving, {"triggers", "http"});
  if (!http) return;
  const std::string hp = base + ".triggers.http";
  if (const json::value* port = http->if_contains("port"); port && port->is_int64()) {
    int64_t p = port->as_int64();
    if (p < 1 || p > 65535) rep->Error(hp + ".port", "must be in 1..65535, got " + std::to_string(p));
  }
  std::string_view engine = StringOr(http, "engine", "knative");
  if (engine != "knative" && engine != "keda") {
    rep->Error(hp + ".engine", "must be one of \"knative\", \"keda\"; got \"" + std::string(engine) + "\"");
  }
}

// The async runtime's fields: the components a Function embeds (each
// checked as Dapr checks a component), its dapr triggers and its outputs,
// which name a component embedded here or a Component object in the
// namespace (found when the Function runs). A pub/sub trigger or output
// needs a topic. What is not acted on yet is said once at apply.
void ValidateAsyncFields(const json::object& serving, Reporter* rep) {
  std::map<std::string, std::string> embedded;  // component name -> type
  const std::pair<std::string_view, std::string_view> sections[] = {
      {"bindings", "bindings"}, {"pubsub", "pubsub"}, {"states", "state"}};
  for (const auto& [section, block] : sections) {
    const json::object* m = ObjectAt(serving, {section});
    if (!m) continue;
    for (const auto& [name, c] : *m) {
      if (!c.is_object()) continue;
      std::string path = JoinPath("spec.serving." + std::string(section), name);
      // A state store's entry holds its component spec under "spec".
      const json::object* spec = &c.as_object();
      if (section == "states") {
        spec = ObjectAt(c.as_object(), {"spec"});
        path += ".spec";
        if (!spec) continue;
      }
      ValidateComponentSpec(*spec, path, block, rep);
      embedded[std::string(name)] = std::string(StringOr(spec, "type", ""));
    }
  }
  // A reference's type, when given, must agree with the embedded component.
  auto check_ref = [&](const json::object& ref, const std::string& path, bool output) {
    std::string name(StringOr(&ref, "name", ""));
    std::string_view type = StringOr(&ref, "type", "");
    auto it = embedded.find(name);
    if (it != embedded.end() && !type.empty() && type != it->second) {
      rep->Error(path + ".type", "\"" + std::string(type) + "\" but component " + name + " is " + it->second);
    }
    std::string_view effective = it != embedded.end() ? std::string_view(it->second) : type;
    if (effective.starts_with("pubsub.") && StringOr(&ref, "topic", "").empty()) {
      rep->Error(path + ".topic", std::string("a pub/sub ") + (output ? "output" : "trigger") + " needs a topic");
    }
    if (!output && effective.starts_with("state.")) {
      rep->Error(path + ".type", "a state store cannot trigger a function (it is an input: triggers.inputs)");
    }
  };
  if (const json::object* triggers = ObjectAt(serving, {"triggers"})) {
    if (const json::value* dapr = triggers->if_contains("dapr"); dapr && dapr->is_array()) {
      size_t i = 0;
      for (const json::value& t : dapr->as_array()) {
        const std::string path = "spec.serving.triggers.dapr[" + std::to_string(i++) + "]";
        if (t.is_object()) check_ref(t.as_object(), path, false);
      }
    }
    // Function inputs (OpenFunction): state stores the function reads
    // from, reachable through its context and the Dapr state API.
    if (const json::value* inputs = triggers->if_contains("inputs"); inputs && inputs->is_array()) {
      size_t i = 0;
      for (const json::value& in : inputs->as_array()) {
        const std::string path = "spec.serving.triggers.inputs[" + std::to_string(i++) + "].dapr";
        const json::object* d = nullptr;
        if (const json::object* io = in.if_object()) d = ObjectAt(*io, {"dapr"});
        if (!d) {
          rep->Error(path, "required: the state store to read from ({name, type})");
          continue;
        }
        std::string name(StringOr(d, "name", ""));
        std::string_view type = StringOr(d, "type", "");
        auto it = embedded.find(name);
        std::string_view effective = it != embedded.end() ? std::string_view(it->second) : type;
        if (it != embedded.end() && !type.empty() && type != it->second) {
          rep->Error(path + ".type", "\"" + std::string(type) + "\" but component " + name + " is " + it->second);
        } else if (!effective.empty() && !effective.starts_with("state.")) {
          rep->Error(path + ".type", "an input is a state store (state.*); \"" + std::string(effective) +
                                         "\" is a trigger: list it under triggers.dapr");
        }
      }
    }
  }
  if (const json::value* outputs = serving.if_contains("outputs"); outputs && outputs->is_array()) {
    size_t i = 0;
    for (const json::value& o : outputs->as_array()) {
      const std::string path = "spec.serving.outputs[" + std::to_string(i++) + "].dapr";
      const json::object* oo = o.if_object();
      if (const json::object* dapr = oo ? ObjectAt(*oo, {"dapr"}) : nullptr) check_ref(*dapr, path, true);
    }
  }
}

// spec.traffic: Knative TrafficTarget rules.
void ValidateTraffic(const json::object& spec, Reporter* rep) {
  const json::value* traffic = spec.if_contains("traffic");
  if (!traffic || !traffic->is_array() || traffic->as_array().empty()) return;
  int64_t sum = 0;
  std::set<std::string> tags;
  size_t i = 0;
  for (const json::value& t : traffic->as_array()) {
    const std::string p = "spec.traffic[" + std::to_string(i++) + "]";
    if (!t.is_object()) continue;
    const json::object& o = t.as_object();
    const json::value* latest = o.if_contains("latestRevision");
    bool is_latest = latest && latest->is_bool() && latest->as_bool();
    std::string_view rev = StringOr(&o, "revisionName", "");
    if (is_latest && !rev.empty()) {
      rep->Error(p + ".revisionName", "must not be set together with latestRevision: true");
    } else if (!is_latest && rev.empty()) {
      rep->Error(p, "one of revisionName or latestRevision: true is required");
    }
    if (const json::value* pct = o.if_contains("percent"); pct && pct->is_int64()) sum += pct->as_int64();
    std::string_view tag = StringOr(&o, "tag", "");
    if (!tag.empty()) {
      static const auto kLabel = Regex::MustCompile("[a-z]([-a-z0-9]*[a-z0-9])?");
      if (!kLabel->FullMatch(tag) || tag.size() > 63) {
        rep->Error(p + ".tag", "must be a DNS label (lower case letters, digits, '-'; starts with a letter), got \"" +
                                   std::string(tag) + "\"");
      } else if (!tags.insert(std::string(tag)).second) {
        rep->Error(p + ".tag", "duplicate tag \"" + std::string(tag) + "\"");
      }
    }
  }
  if (sum != 100) rep->Error("spec.traffic", "percents must sum to 100, got " + std::to_string(sum));
}

// What of scaleOptions.keda cannot act: triggers of a sync Function, types
// with no scaler here; and the idle replica count annotation.
void ValidateKeda(const json::object& root, const json::object& serving, const scale::ScaleSpec& scale,
                  Reporter* rep) {
  const json::value* triggers = ValueAt(serving, {"scaleOptions", "keda", "triggers"});
  if (triggers && triggers->is_array() && !triggers->as_array().empty() && !scale.keda) {
    rep->Warning("spec.serving.scaleOptions.keda.triggers",
                 "not run here: a Function with triggers.http is served and scaled as Knative does (KEDA triggers "
                 "scale async Functions)");
  }
  if (scale.keda) {
    const auto& builtin = internal::BuiltinScalerTypes();
    for (size_t i = 0; i < scale.keda->triggers.size(); ++i) {
      const std::string& type = scale.keda->triggers[i].type;
      if (std::find(builtin.begin(), builtin.end(), type) != builtin.end()) continue;
      std::string known;
      for (const std::string& b : builtin) known += (known.empty() ? "" : ", ") + b;
      rep->Warning("spec.serving.scaleOptions.keda.triggers[" + std::to_string(i) + "].type",
                   "not run here: libofn has no " + type + " scaler (" + known +
                       "; a host may add one); the trigger reads as failing, which holds the replica count");
    }
  }
  const json::object* ann = ObjectAt(root, {"metadata", "annotations"});
  const json::value* idle = ann ? ann->if_contains(kIdleReplicaCountAnnotation) : nullptr;
  if (!idle) return;
  const std::string path = "metadata.annotations." + std::string(kIdleReplicaCountAnnotation);
  std::string text = idle->is_string() ? std::string(idle->as_string()) : json::serialize(*idle);
  char* end = nullptr;
  long n = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || n < 0) {
    rep->Error(path, "must be a whole number not below 0, got \"" + text + "\"");
  } else if (!scale.keda) {
    rep->Error(path, "applies to a KEDA-scaled Function (scaleOptions.keda.triggers, no HTTP trigger)");
  } else if (n >= scale.keda->min_replicas) {
    rep->Error(path, "must be below minReplicas (" + std::to_string(n) + " >= " +
                         std::to_string(scale.keda->min_replicas) + "), as KEDA requires of idleReplicaCount");
  }
}

void Validate(const json::object& root, Reporter* rep) {
  const json::object* spec = ObjectAt(root, {"spec"});
  if (!spec) {
    rep->Error("spec", "required field is missing");
    return;
  }
  if (StringOr(spec, "image", "").empty() && spec->contains("image")) {
    rep->Error("spec.image", "must not be empty");
  }
  const json::object* build = ObjectAt(*spec, {"build"});
  const json::object* serving = ObjectAt(*spec, {"serving"});
  if (build) ValidateBuild(*spec, *build, rep);
  if (serving) ValidateServing(*serving, rep);
  if (serving) ValidateAsyncFields(*serving, rep);
  ValidateTraffic(*spec, rep);
  if (serving) {
    std::vector<ScaleError> errors;
    scale::ScaleSpec scale = ParseScaleSpec(json::serialize(*spec), &errors);
    for (const ScaleError& e : errors) rep->Error(e.path, e.message);
    if (errors.empty()) ValidateKeda(root, *serving, scale, rep);
  }
  if (!spec->contains("build") && !spec->contains("serving")) {
    rep->Error("spec.serving", "required when spec.build is not set");
  }
}

}  // namespace

KindRules FunctionRules() {
  KindRules r;
  r.group = "core.openfunction.io";
  r.kind = "Function";
  r.namespaced = true;
  r.name_is_label = true;
  r.versions = {"v1beta1", "v1beta2"};
  r.normalize = Normalize;
  r.convert = Convert;
  r.defaults = Defaults;
  r.validate = Validate;
  return r;
}

}  // namespace ofn::spec::internal
