// Component (dapr.io/v1alpha1), and the component specs a Function embeds in
// serving.bindings / serving.pubsub / serving.states: the checks Dapr makes
// when it loads a component, done at apply so that a bad one is refused
// before anything runs.
#include <boost/json.hpp>
#include <algorithm>
#include <set>

#include "libofn/common/internal/json_access.h"
#include "libofn/spec/components.h"
#include "libofn/spec/internal/components.h"
#include "libofn/spec/cron.h"
#include "libofn/spec/internal/kinds.h"

namespace ofn::spec {

const std::vector<std::string_view>& BuiltinComponentTypes() {
  static const std::vector<std::string_view> types = {
      "bindings.cron",    "bindings.http", "bindings.mqtt3", "bindings.redis",  "pubsub.in-memory",
      "pubsub.jetstream", "pubsub.mqtt3",  "pubsub.redis",   "state.in-memory", "state.redis",
      "state.sqlite",
  };
  return types;
}

const boost::json::object* EmbeddedComponent(const boost::json::object* serving, std::string_view name) {
  using ofn::internal::At;
  using ofn::internal::Obj;
  for (std::string_view section : {"bindings", "pubsub"}) {
    if (const boost::json::object* c = Obj(At(Obj(At(serving, section)), name))) return c;
  }
  return Obj(At(Obj(At(Obj(At(serving, "states")), name)), "spec"));
}

std::string_view ComponentBlock(std::string_view type) {
  for (std::string_view block : {"bindings", "pubsub", "state"}) {
    if (type.size() > block.size() && type.starts_with(block) && type[block.size()] == '.') return block;
  }
  return "";
}

std::string ComponentTypeHint(std::string_view type) {
  const auto& builtin = BuiltinComponentTypes();
  if (std::find(builtin.begin(), builtin.end(), type) != builtin.end()) return "";
  std::string have;
  for (std::string_view t : builtin) have += (have.empty() ? "" : ", ") + std::string(t);
  std::string why;
  if (type.ends_with(".kafka")) {
    why = "Kafka needs a Kafka client library (librdkafka) and a reachable broker; this build has neither, so "
          "use a pub/sub or binding this machine can run";
  } else if (ComponentBlock(type).empty()) {
    why = "libofn serves the bindings, pubsub and state building blocks only";
  } else {
    why = "it is not built in; a host program can register it (events::ComponentRegistry)";
  }
  return std::string(type) + ": " + why + " (built in: " + have + ")";
}

namespace internal {

void ValidateComponentSpec(const json::object& spec, const std::string& path, std::string_view expected_block,
                           Reporter* rep) {
  static const std::set<std::string_view> kDaprBlocks = {
      "bindings", "pubsub", "state", "secretstores", "configuration", "lock", "middleware", "workflow",
      "cryptography", "nameresolution"};
  std::string_view type = StringOr(&spec, "type", "");
  const std::string type_path = path + ".type";
  size_t dot = type.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == type.size()) {
    rep->Error(type_path, "\"" + std::string(type) + "\" is not <building block>.<name> (e.g. bindings.cron, "
                          "pubsub.redis, state.redis)");
    return;
  }
  std::string_view block = type.substr(0, dot);
  if (!kDaprBlocks.contains(block)) {
    rep->Error(type_path, "unknown building block \"" + std::string(block) +
                              "\" (Dapr's: bindings, pubsub, state, secretstores, configuration, lock, middleware, "
                              "workflow, cryptography, nameresolution)");
    return;
  }
  if (!expected_block.empty() && block != expected_block) {
    rep->Error(type_path, "a component here must be a " + std::string(expected_block) + ".* type, got \"" +
                              std::string(type) + "\"");
    return;
  }
  if (std::string hint = ComponentTypeHint(type); !hint.empty()) rep->Warning(type_path, "not run here: " + hint);

  std::set<std::string> names;
  const json::value* items = spec.if_contains("metadata");
  if (!items || !items->is_array()) return;  // the schema reports it
  size_t i = 0;
  for (const json::value& item : items->as_array()) {
    const std::string ip = path + ".metadata[" + std::to_string(i++) + "]";
    const json::object* o = item.if_object();
    if (!o) continue;
    std::string name(StringOr(o, "name", ""));
    if (name.empty()) {
      rep->Error(ip + ".name", "must not be empty");
      continue;
    }
    if (!names.insert(name).second) rep->Error(ip + ".name", "\"" + name + "\" is set twice");
    int sources = 0;
    for (std::string_view k : {"value", "secretKeyRef", "envRef"}) sources += o->contains(k) ? 1 : 0;
    if (sources > 1) rep->Error(ip, "\"" + name + "\": set one of value, secretKeyRef and envRef");
    if (const json::value* v = o->if_contains("value"); v && (v->is_object() || v->is_array())) {
      rep->Error(ip + ".value", "\"" + name + "\": must be a string, number or boolean");
    }
    if (const json::object* ref = ObjectAt(*o, {"secretKeyRef"}); ref && StringOr(ref, "key", "").empty()) {
      rep->Error(ip + ".secretKeyRef.key", "\"" + name + "\": name the key of the Secret's data");
    }
    if (type == "bindings.cron" && name == "schedule") {
      const json::value* v = o->if_contains("value");
      if (v && v->is_string()) {
        auto schedule = CronSchedule::Parse(v->as_string());
        if (!schedule.ok()) rep->Error(ip + ".value", "schedule: " + schedule.status().message());
      }
    }
  }
  if (type == "bindings.http" && !names.contains("url")) {
    rep->Error(path + ".metadata", "bindings.http needs \"url\" (e.g. http://localhost:8080/api)");
  }
  if (type.ends_with(".mqtt3") && !names.contains("url")) {
    rep->Error(path + ".metadata", std::string(type) + " needs \"url\" (e.g. tcp://localhost:1883)");
  }
  if (type.ends_with(".redis") && !names.contains("redisHost")) {
    rep->Error(path + ".metadata", std::string(type) + " needs \"redisHost\" (host:port, e.g. localhost:6379)");
  }
  if (type == "state.sqlite" && !names.contains("connectionString")) {
    rep->Error(path + ".metadata", "state.sqlite needs \"connectionString\" (a file path, e.g. data.db)");
  }
  if (type == "bindings.cron" && !names.contains("schedule")) {
    rep->Error(path + ".metadata", "bindings.cron needs a \"schedule\" (e.g. \"@every 2s\" or \"0 */5 * * * *\")");
  }
}

namespace {

void Validate(const json::object& root, Reporter* rep) {
  const json::object* spec = ObjectAt(root, {"spec"});
  if (spec) ValidateComponentSpec(*spec, "spec", "", rep);
  if (root.contains("auth")) {
    rep->Warning("auth.secretStore", "secrets come from Secret objects in the component's namespace here");
  }
}

}  // namespace

KindRules ComponentRules() {
  KindRules r;
  r.group = "dapr.io";
  r.kind = "Component";
  r.versions = {"v1alpha1"};
  r.validate = Validate;
  return r;
}

}  // namespace internal
}  // namespace ofn::spec
