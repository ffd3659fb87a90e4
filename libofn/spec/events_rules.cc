// EventSource, EventBus, ClusterEventBus and Trigger (events.openfunction.io).
#include <boost/json.hpp>
#include <cctype>
#include <set>

#include "libofn/spec/internal/kinds.h"

namespace ofn::spec::internal {
namespace {

constexpr std::string_view kSourceKinds[] = {"kafka", "cron", "redis", "mqtt"};

void ValidateEventSource(const json::object& root, Reporter* rep) {
  const json::object* spec = ObjectAt(root, {"spec"});
  if (!spec) {
    rep->Error("spec", "required field is missing");
    return;
  }
  size_t sources = 0;
  for (std::string_view kind : kSourceKinds) {
    if (const json::object* m = ObjectAt(*spec, {kind})) sources += m->size();
  }
  if (sources == 0) rep->Error("spec", "at least one source (kafka, cron, redis or mqtt) is required");
  if (const json::object* cron = ObjectAt(*spec, {"cron"})) {
    for (const auto& [name, v] : *cron) {
      if (StringOr(v.if_object(), "schedule", "").empty()) {
        rep->Error(JoinPath(JoinPath("spec.cron", name), "schedule"), "required field is missing");
      }
    }
  }
  const json::object* sink = ObjectAt(*spec, {"sink"});
  if (sink && !sink->contains("uri") && !sink->contains("ref")) {
    rep->Error("spec.sink", "one of uri or ref is required");
  }
  if (!sink && StringOr(spec, "eventBus", "").empty()) {
    rep->Error("spec", "one of sink or eventBus is required: events need somewhere to go");
  }
}

void ValidateEventBus(const json::object& root, Reporter* rep) {
  const json::object* spec = ObjectAt(root, {"spec"});
  if (!spec || !spec->contains("natsStreaming")) {
    rep->Error("spec.natsStreaming", "required: the bus needs a broker");
  }
}

// Checks a subscriber condition: input names joined by &&, ||, ! and parentheses.
class ConditionChecker {
 public:
  ConditionChecker(std::string_view text, const std::set<std::string, std::less<>>& inputs)
      : s_(text), inputs_(inputs) {}

  // Empty on success, else what is wrong.
  std::string Check() {
    Skip();
    if (pos_ >= s_.size()) return "is empty";
    Or();
    Skip();
    if (error_.empty() && pos_ < s_.size()) Fail("unexpected '" + std::string(1, s_[pos_]) + "'");
    return error_;
  }

 private:
  void Skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  void Fail(std::string m) {
    if (error_.empty()) error_ = m + " at offset " + std::to_string(pos_);
  }
  bool Eat(std::string_view tok) {
    Skip();
    if (s_.substr(pos_, tok.size()) == tok) {
      pos_ += tok.size();
      return true;
    }
    return false;
  }
  void Or() {
    And();
    while (error_.empty() && Eat("||")) And();
  }
  void And() {
    Unary();
    while (error_.empty() && Eat("&&")) Unary();
  }
  void Unary() {
    if (Eat("!")) return Unary();
    if (Eat("(")) {
      Or();
      if (error_.empty() && !Eat(")")) Fail("missing ')'");
      return;
    }
    Skip();
    size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_' ||
                                s_[pos_] == '-')) {
      ++pos_;
    }
    if (start == pos_) return Fail("expected an input name");
    std::string_view name = s_.substr(start, pos_ - start);
    if (!inputs_.contains(name)) {
      pos_ = start;
      Fail("unknown input \"" + std::string(name) + "\"");
    }
  }

  std::string_view s_;
  const std::set<std::string, std::less<>>& inputs_;
  size_t pos_ = 0;
  std::string error_;
};

void ValidateTrigger(const json::object& root, Reporter* rep) {
  const json::object* spec = ObjectAt(root, {"spec"});
  if (!spec) return;
  std::set<std::string, std::less<>> inputs;
  if (const json::object* in = ObjectAt(*spec, {"inputs"})) {
    for (const auto& [name, v] : *in) inputs.insert(std::string(name));
  }
  const json::value* subs = spec->if_contains("subscribers");
  if (!subs || !subs->is_array()) return;
  size_t i = 0;
  for (const json::value& sv : subs->as_array()) {
    std::string path = IndexPath("spec.subscribers", i++);
    const json::object* sub = sv.if_object();
    if (!sub) continue;
    bool has_sink = sub->contains("sink") || sub->contains("deadLetterSink");
    bool has_topic = sub->contains("topic") || sub->contains("deadLetterTopic");
    if (!has_sink && !has_topic) rep->Error(path, "one of sink or topic is required");
    std::string_view cond = StringOr(sub, "condition", "");
    if (cond.empty()) {
      rep->Error(path + ".condition", "required field is missing");
      continue;
    }
    std::string err = ConditionChecker(cond, inputs).Check();
    if (!err.empty()) rep->Error(path + ".condition", "\"" + std::string(cond) + "\" " + err);
  }
}

KindRules Events(std::string_view kind, bool namespaced,
                 void (*validate)(const json::object&, Reporter*)) {
  KindRules r;
  r.group = "events.openfunction.io";
  r.kind = kind;
  r.namespaced = namespaced;
  r.versions = {"v1alpha1"};
  r.validate = validate;
  return r;
}

}  // namespace

std::vector<KindRules> EventsRules() {
  return {Events("EventSource", true, ValidateEventSource),
          Events("EventBus", true, ValidateEventBus),
          Events("ClusterEventBus", false, ValidateEventBus),
          Events("Trigger", true, ValidateTrigger)};
}

}  // namespace ofn::spec::internal
