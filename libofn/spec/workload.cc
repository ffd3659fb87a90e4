#include "libofn/spec/workload.h"

#include <boost/json.hpp>

#include "libofn/common/internal/json_access.h"
#include "libofn/spec/internal/components.h"
#include "libofn/spec/units.h"

namespace ofn::spec {
namespace {

namespace json = boost::json;
using ofn::internal::Arr;
using ofn::internal::At;
using ofn::internal::Obj;
using ofn::internal::Str;
using Millis = std::chrono::milliseconds;

std::string ScalarText(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  return json::serialize(v);
}

int IntField(const json::object* o, std::string_view key, int fallback) {
  const json::value* v = At(o, key);
  return v && v->is_int64() ? static_cast<int>(v->as_int64()) : fallback;
}

backend::Probe ParseProbe(const json::object* p) {
  backend::Probe probe;
  if (!p) return probe;
  probe.type = backend::Probe::Type::kTcp;
  if (const json::object* http = Obj(At(p, "httpGet"))) {
    probe.type = backend::Probe::Type::kHttp;
    probe.path = Str(http, "path", "/");
    if (probe.path.empty() || probe.path[0] != '/') probe.path = "/" + probe.path;
    if (const json::array* hs = Arr(At(http, "httpHeaders"))) {
      for (const json::value& h : *hs) probe.headers.emplace_back(Str(Obj(&h), "name"), Str(Obj(&h), "value"));
    }
  }
  probe.initial_delay = std::chrono::seconds(IntField(p, "initialDelaySeconds", 0));
  probe.period = std::chrono::seconds(IntField(p, "periodSeconds", 0));
  probe.timeout = std::chrono::seconds(std::max(1, IntField(p, "timeoutSeconds", 1)));
  probe.failure_threshold = std::max(1, IntField(p, "failureThreshold", 3));
  return probe;
}

const json::object* FunctionContainer(const json::object* serving) {
  const json::array* containers = Arr(At(Obj(At(serving, "template")), "containers"));
  if (!containers) return nullptr;
  for (const json::value& c : *containers) {
    if (Str(Obj(&c), "name") == "function") return Obj(&c);
  }
  return nullptr;
}

// OpenFunction's function context, as its functions frameworks read it:
// the Async runtime when dapr triggers (and no HTTP trigger) start it, its
// inputs and outputs by component name, with the topic (pub/sub) or the
// component's name as the uri.
std::string FuncContext(std::string_view function, std::string_view version, const json::object* serving) {
  json::object ctx;
  ctx["name"] = function;
  ctx["version"] = version;
  const json::object* triggers = Obj(At(serving, "triggers"));
  const json::array* dapr = Arr(At(triggers, "dapr"));
  const bool async = dapr && !dapr->empty() && !At(triggers, "http");
  ctx["runtime"] = async ? "Async" : "Knative";
  auto component = [&](const json::object* ref) {
    json::object c;
    const std::string name = Str(ref, "name");
    std::string type = Str(ref, "type");
    if (type.empty()) type = Str(EmbeddedComponent(serving, name), "type");
    c["componentName"] = name;
    c["componentType"] = type;
    c["uri"] = Str(ref, "topic", name);
    return c;
  };
  json::object inputs;
  if (dapr) {
    for (const json::value& t : *dapr) {
      if (const json::object* to = Obj(&t)) inputs[Str(to, "name")] = component(to);
    }
  }
  json::object outputs;
  if (const json::array* outs = Arr(At(serving, "outputs"))) {
    for (const json::value& o : *outs) {
      const json::object* d = Obj(At(Obj(&o), "dapr"));
      if (!d) continue;
      json::object out = component(d);
      if (!Str(d, "operation").empty()) out["operation"] = Str(d, "operation");
      if (const json::object* md = Obj(At(d, "metadata"))) out["metadata"] = *md;
      outputs[Str(d, "name")] = std::move(out);
    }
  }
  // State stores: the ones the Function embeds (serving.states) and those
  // its triggers.inputs name (OpenFunction's function inputs), by name.
  json::object states;
  if (const json::object* embedded = Obj(At(serving, "states"))) {
    for (const auto& [name, entry] : *embedded) {
      json::object c;
      c["componentName"] = name;
      c["componentType"] = Str(Obj(At(Obj(&entry), "spec")), "type");
      states[name] = std::move(c);
    }
  }
  if (const json::array* extra = Arr(At(triggers, "inputs"))) {
    for (const json::value& in : *extra) {
      const json::object* d = Obj(At(Obj(&in), "dapr"));
      if (!d || Str(d, "name").empty() || states.contains(Str(d, "name"))) continue;
      json::object c = component(d);
      c.erase("uri");
      states[Str(d, "name")] = std::move(c);
    }
  }
  ctx["inputs"] = std::move(inputs);
  ctx["outputs"] = std::move(outputs);
  if (!states.empty()) ctx["states"] = std::move(states);
  json::object trig;
  if (triggers) trig = *triggers;
  ctx["triggers"] = std::move(trig);
  return json::serialize(ctx);
}

constexpr std::string_view kContainer = "spec.serving.template.containers[function]";

}  // namespace

Result<backend::Workload> MakeWorkload(std::string_view ns, std::string_view function, std::string_view revision,
                                       std::string_view spec_json, std::string_view backend_name) {
  json::value root = ofn::internal::ParseObjectOrEmpty(spec_json);
  const json::object& spec = root.as_object();
  const json::object* serving = Obj(At(&spec, "serving"));
  backend::Workload w;
  w.ns = ns;
  w.function = function;
  w.revision = revision;
  w.version = Str(&spec, "version");
  w.image = Str(&spec, "image");
  if (std::string digest = Str(&spec, "imageDigest"); !digest.empty()) {
    // Pinned by the revision controller (type image): this digest of it.
    w.image = w.image.substr(0, w.image.find('@')) + "@" + digest;
  }
  w.backend = backend_name;
  if (const json::object* params = Obj(At(serving, "params"))) {
    for (const auto& [k, v] : *params) w.env.emplace_back(std::string(k), ScalarText(v));
  }
  if (const json::value* port = At(Obj(At(Obj(At(serving, "triggers")), "http")), "port"); port && port->is_int64()) {
    w.port = static_cast<int>(port->as_int64());
  }
  if (const json::array* outputs = Arr(At(serving, "outputs"))) {
    for (const json::value& o : *outputs) w.outputs.push_back(Str(Obj(At(Obj(&o), "dapr")), "name"));
  }
  w.func_context = FuncContext(function, w.version, serving);
  w.kind = Str(&spec, "workloadRuntime") == "WasmEdge" ? backend::WorkloadKind::kWasm : backend::WorkloadKind::kImage;

  if (std::string timeout = Str(serving, "timeout"); !timeout.empty()) {
    double secs = 0;
    if (!ParseGoDuration(timeout, &secs) || secs <= 0) {
      return Status(StatusCode::kInvalidArgument, "spec.serving.timeout \"" + timeout + "\" is not a positive duration");
    }
    w.start_timeout = Millis(static_cast<int64_t>(secs * 1000));
  }
  const json::object* tmpl = Obj(At(serving, "template"));
  if (const json::value* g = At(tmpl, "terminationGracePeriodSeconds"); g && g->is_int64()) {
    w.grace = std::chrono::seconds(std::max<int64_t>(0, g->as_int64()));
  }

  // A build's product (the reconciler adds it to the revision's spec).
  const json::object* built = Obj(At(&spec, "buildOutput"));
  std::vector<std::string> built_command;
  if (built) {
    w.build = Str(built, "build");
    std::vector<std::pair<std::string, std::string>> env;
    if (const json::array* e = Arr(At(built, "env"))) {
      for (const json::value& v : *e) env.emplace_back(Str(Obj(&v), "name"), Str(Obj(&v), "value"));
    }
    // What it makes runs here, not the image the build would push.
    w.image.clear();
    if (!Str(built, "image").empty()) {
      // An image of the bundle (containerd): its config holds the command,
      // env and working directory.
      w.image = Str(built, "image");
    } else if (Str(built, "kind") == "library") {
      w.env.insert(w.env.begin(), env.begin(), env.end());  // the Function's own env wins
      w.library = Str(built, "path");
    } else {
      w.env.insert(w.env.begin(), env.begin(), env.end());
      w.bundle = Str(built, "path");
      w.working_dir = Str(built, "workingDir", w.bundle);
      w.base_dir = w.working_dir;
      if (const json::array* cmd = Arr(At(built, "command"))) {
        for (const json::value& v : *cmd) built_command.push_back(v.is_string() ? std::string(v.as_string()) : "");
      }
      if (!built_command.empty()) {
        w.kind = backend::WorkloadKind::kCommand;
        w.command = built_command[0];
        w.args.assign(built_command.begin() + 1, built_command.end());
      }
    }
  }

  const json::object* c = FunctionContainer(serving);
  if (!c) {
    if (!w.bundle.empty() && built_command.empty()) {
      return Status(StatusCode::kInvalidArgument, "build " + w.build + " made a bundle without a start command, and " +
                                                      std::string(kContainer) + " sets none");
    }
    return w;
  }
  if (const json::array* env = Arr(At(c, "env"))) {
    for (const json::value& e : *env) {
      const json::object* eo = Obj(&e);
      if (At(eo, "value")) w.env.emplace_back(Str(eo, "name"), Str(eo, "value"));
    }
  }
  const json::array* command = Arr(At(c, "command"));
  if (command) {
    std::vector<std::string> argv;
    for (const json::value& v : *command) argv.push_back(v.is_string() ? std::string(v.as_string()) : "");
    if (argv.empty() || argv[0].empty()) {
      return Status(StatusCode::kInvalidArgument, std::string(kContainer) + ".command is empty");
    }
    w.kind = backend::WorkloadKind::kCommand;
    w.command = argv[0];
    w.args.assign(argv.begin() + 1, argv.end());
  } else if (!w.bundle.empty() && built_command.empty()) {
    return Status(StatusCode::kInvalidArgument, "build " + w.build + " made a bundle without a start command, and " +
                                                    std::string(kContainer) + ".command is not set");
  }
  if (const json::array* args = Arr(At(c, "args"))) {
    for (const json::value& v : *args) w.args.push_back(v.is_string() ? std::string(v.as_string()) : "");
  }
  if (std::string wd = Str(c, "workingDir"); !wd.empty() || w.bundle.empty()) w.working_dir = wd;
  w.image_pull_policy = Str(c, "imagePullPolicy");
  const json::value* ro = At(Obj(At(c, "securityContext")), "readOnlyRootFilesystem");
  w.read_only_root_filesystem = ro && ro->is_bool() && ro->as_bool();
  w.readiness = ParseProbe(Obj(At(c, "readinessProbe")));
  w.liveness = ParseProbe(Obj(At(c, "livenessProbe")));
  const json::object* limits = Obj(At(Obj(At(c, "resources")), "limits"));
  auto quantity = [&](std::string_view key) -> std::string {
    const json::value* v = At(limits, key);
    return v ? ScalarText(*v) : "";
  };
  w.limits.memory_text = quantity("memory");
  w.limits.cpu_text = quantity("cpu");
  if (!w.limits.memory_text.empty()) {
    w.limits.memory_bytes = QuantityBytes(w.limits.memory_text);
    if (w.limits.memory_bytes <= 0) {
      return Status(StatusCode::kInvalidArgument,
                    std::string(kContainer) + ".resources.limits.memory \"" + w.limits.memory_text + "\" is not a quantity");
    }
  }
  if (!w.limits.cpu_text.empty()) {
    w.limits.cpu_millis = QuantityMillis(w.limits.cpu_text);
    if (w.limits.cpu_millis <= 0) {
      return Status(StatusCode::kInvalidArgument,
                    std::string(kContainer) + ".resources.limits.cpu \"" + w.limits.cpu_text + "\" is not a quantity");
    }
  }
  return w;
}

}  // namespace ofn::spec
