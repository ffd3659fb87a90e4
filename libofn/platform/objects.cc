#include <boost/json.hpp>
#include <utility>

#include "libofn/common/internal/json_access.h"
#include "libofn/common/json_text.h"
#include "libofn/platform/internal/objects.h"
#include "libofn/spec/internal/emit.h"
#include "libofn/spec/internal/kinds.h"

namespace ofn::platform::internal {

namespace json = boost::json;
using ofn::internal::Arr;
using ofn::internal::At;
using ofn::internal::Obj;
using ofn::internal::Str;

namespace {

std::string Timestamp(int64_t unix_nanos) {
  return FormatRfc3339(Clock::TimePoint(std::chrono::nanoseconds(unix_nanos)));
}

// The object's JSON written directly, keys in order, its spec and status
// copied as stored: for records whose spec and status are canonical text
// already (IsCanonicalJsonObject), the same bytes as the general path
// below, without parsing them.
std::string EmitStoredCanonically(const store::Record& r) {
  std::string out;
  out.reserve(r.spec.size() + r.status.size() + r.name.size() + 256);
  auto field = [&](std::string_view key, std::string_view value, bool first = false) {
    if (!first) out += ',';
    AppendJsonQuoted(&out, key);
    out += ':';
    AppendJsonQuoted(&out, value);
  };
  auto map = [&](std::string_view key, const std::map<std::string, std::string>& m) {
    out += ',';
    AppendJsonQuoted(&out, key);
    out += ":{";
    bool first = true;
    for (const auto& [k, v] : m) field(k, v, std::exchange(first, false));
    out += '}';
  };
  out += '{';
  field("apiVersion", r.api_version, true);
  field("kind", r.kind);
  out += ",\"metadata\":{";
  bool first = true;
  if (!r.annotations.empty()) {
    out += "\"annotations\":{";
    for (const auto& [k, v] : r.annotations) field(k, v, std::exchange(first, false));
    out += '}';
  }
  first = r.annotations.empty();
  field("creationTimestamp", Timestamp(r.creation_time), first);
  if (r.deletion_time) field("deletionTimestamp", Timestamp(r.deletion_time));
  if (!r.finalizers.empty()) {
    out += ",\"finalizers\":[";
    for (size_t i = 0; i < r.finalizers.size(); ++i) {
      if (i) out += ',';
      AppendJsonQuoted(&out, r.finalizers[i]);
    }
    out += ']';
  }
  out += ",\"generation\":" + std::to_string(r.generation);
  if (!r.labels.empty()) map("labels", r.labels);
  field("name", r.name);
  if (!r.ns.empty()) field("namespace", r.ns);
  field("resourceVersion", std::to_string(r.resource_version));
  field("uid", r.uid);
  out += "},\"spec\":";
  out += r.spec;
  if (r.status != "{}") {
    out += ",\"status\":";
    out += r.status;
  }
  out += '}';
  return out;
}

}  // namespace

ObjectInfo ToObjectInfo(const store::Record& r) {
  ObjectInfo o;
  o.kind = r.kind;
  o.ns = r.ns;
  o.name = r.name;
  o.generation = r.generation;
  o.resource_version = r.resource_version;
  size_t slash = r.api_version.find('/');
  const spec::internal::KindRules* rules = spec::internal::FindKind(
      slash == std::string::npos ? std::string_view() : std::string_view(r.api_version).substr(0, slash), r.kind);
  const bool body_at_root = rules && rules->body_at_root;
  if (!body_at_root && IsCanonicalJsonObject(r.spec) && IsCanonicalJsonObject(r.status)) {
    o.json = EmitStoredCanonically(r);
    return o;
  }
  json::object meta;
  meta["name"] = r.name;
  if (!r.ns.empty()) meta["namespace"] = r.ns;
  meta["uid"] = r.uid;
  meta["generation"] = r.generation;
  meta["resourceVersion"] = std::to_string(r.resource_version);
  meta["creationTimestamp"] = Timestamp(r.creation_time);
  if (r.deletion_time) meta["deletionTimestamp"] = Timestamp(r.deletion_time);
  auto to_obj = [](const std::map<std::string, std::string>& m) {
    json::object out;
    for (const auto& [k, v] : m) out[k] = v;
    return out;
  };
  if (!r.labels.empty()) meta["labels"] = to_obj(r.labels);
  if (!r.annotations.empty()) meta["annotations"] = to_obj(r.annotations);
  if (!r.finalizers.empty()) {
    json::array f;
    for (const std::string& s : r.finalizers) f.push_back(json::value(s));
    meta["finalizers"] = std::move(f);
  }
  json::object root;
  root["apiVersion"] = r.api_version;
  root["kind"] = r.kind;
  root["metadata"] = std::move(meta);
  json::value body = ofn::internal::ParseObjectOrEmpty(r.spec);
  if (body_at_root) {
    for (auto& kv : body.as_object()) root[kv.key()] = std::move(kv.value());
  } else {
    root["spec"] = std::move(body);
  }
  json::value status = ofn::internal::ParseObjectOrEmpty(r.status);
  if (!status.as_object().empty()) root["status"] = std::move(status);
  o.json = spec::internal::EmitJson(root, false);  // keys sorted as it writes them
  return o;
}

namespace {

void FromStatus(const json::object* status, FunctionInfo* f) {
  const json::object* build = Obj(At(status, "build"));
  f->build_state = Str(build, "state");
  f->build_resource = Str(build, "resourceRef");
  const json::object* serving = Obj(At(status, "serving"));
  f->serving_state = Str(serving, "state");
  f->serving_reason = Str(serving, "reason");
  f->serving_message = Str(serving, "message");
  f->state = f->serving_state == "Running"   ? ServingState::kRunning
             : f->serving_state == "Failed"  ? ServingState::kFailed
             : f->serving_state == "Pending" ? ServingState::kPending
                                             : ServingState::kUnknown;
  f->latest_created_revision = Str(serving, "resourceRef");
  f->latest_ready_revision = Str(serving, "lastSuccessfulResourceRef");
  const json::object* route = Obj(At(status, "route"));
  if (const json::value* conds = At(route, "conditions"); conds && conds->is_array()) {
    for (const json::value& c : conds->as_array()) {
      if (Str(Obj(&c), "type") != "Accepted") continue;
      f->route_status = Str(Obj(&c), "status");
      f->route_reason = Str(Obj(&c), "reason");
      f->route_message = Str(Obj(&c), "message");
      f->route = f->route_status == "True"    ? RouteAcceptance::kAccepted
                 : f->route_status == "False" ? RouteAcceptance::kNotAccepted
                                              : RouteAcceptance::kPending;
    }
  }
  if (const json::value* addrs = At(status, "addresses"); addrs && addrs->is_array()) {
    for (const json::value& a : addrs->as_array()) f->addresses.emplace_back(Str(Obj(&a), "type"), Str(Obj(&a), "value"));
  }
}

}  // namespace

FunctionInfo ToFunctionInfo(const ObjectInfo& o) {
  FunctionInfo f;
  f.ns = o.ns;
  f.name = o.name;
  f.generation = o.generation;
  f.json = o.json;
  json::value root = ofn::internal::ParseObjectOrEmpty(o.json);
  const json::object* meta = Obj(At(Obj(&root), "metadata"));
  f.created = Str(meta, "creationTimestamp");
  if (const json::object* labels = Obj(At(meta, "labels"))) {
    for (const auto& kv : *labels) {
      if (kv.value().is_string()) f.labels[std::string(kv.key())] = std::string(kv.value().as_string());
    }
  }
  FromStatus(Obj(At(Obj(&root), "status")), &f);
  return f;
}

FunctionInfo ToFunctionSummary(const store::Record& r) {
  FunctionInfo f;
  f.ns = r.ns;
  f.name = r.name;
  f.generation = r.generation;
  f.created = Timestamp(r.creation_time);
  f.labels = r.labels;
  // The status alone, parsed into a buffer that is reused: no object text.
  unsigned char buffer[8192];
  json::monotonic_resource arena(buffer, sizeof buffer);
  boost::system::error_code ec;
  json::value status = json::parse(r.status, ec, &arena);
  if (!ec) FromStatus(Obj(&status), &f);
  return f;
}

std::string KindFromResource(std::string_view resource) {
  std::string r(resource);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (size_t dot = r.find('.'); dot != std::string::npos) r.resize(dot);
  if (r == "function" || r == "functions" || r == "fn") return "Function";
  if (r == "gateway" || r == "gateways") return "Gateway";
  if (r == "eventsource" || r == "eventsources") return "EventSource";
  if (r == "eventbus" || r == "eventbuses") return "EventBus";
  if (r == "clustereventbus" || r == "clustereventbuses") return "ClusterEventBus";
  if (r == "trigger" || r == "triggers") return "Trigger";
  if (r == "secret" || r == "secrets") return "Secret";
  if (r == "configmap" || r == "configmaps" || r == "cm") return "ConfigMap";
  if (r == "httproute" || r == "httproutes") return "HTTPRoute";
  if (r == "wasmplugin" || r == "wasmplugins") return "WasmPlugin";
  if (r == "component" || r == "components") return "Component";
  return "";
}

}  // namespace ofn::platform::internal

namespace ofn {

std::string FunctionInfo::Address(std::string_view type) const {
  for (const auto& [t, v] : addresses) {
    if (t == type) return v;
  }
  return "";
}

}  // namespace ofn
