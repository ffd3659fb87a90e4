#include <map>
#include <set>

#include "libofn/events/component.h"

namespace ofn::events {

void ComponentRegistry::AddInputBinding(std::string type, Factory<InputBinding> f) {
  std::lock_guard<std::mutex> lock(mu_);
  inputs_[std::move(type)] = std::move(f);
}
void ComponentRegistry::AddOutputBinding(std::string type, Factory<OutputBinding> f) {
  std::lock_guard<std::mutex> lock(mu_);
  outputs_[std::move(type)] = std::move(f);
}
void ComponentRegistry::AddPubSub(std::string type, Factory<PubSub> f) {
  std::lock_guard<std::mutex> lock(mu_);
  pubsubs_[std::move(type)] = std::move(f);
}
void ComponentRegistry::AddStateStore(std::string type, Factory<StateStore> f) {
  std::lock_guard<std::mutex> lock(mu_);
  states_[std::move(type)] = std::move(f);
}

void ComponentRegistry::AddScaler(std::string type, ScalerFactory f) {
  std::lock_guard<std::mutex> lock(mu_);
  scalers_[std::move(type)] = std::move(f);
}

namespace {

// The factory registered for `type` (empty when none) and the registered
// types, comma separated ("none" when there are none).
template <typename F>
F Lookup(const std::map<std::string, F>& factories, const std::string& type, std::string* known) {
  F f;
  auto it = factories.find(type);
  if (it != factories.end()) f = it->second;
  for (const auto& [name, unused] : factories) *known += (known->empty() ? "" : ", ") + name;
  if (known->empty()) *known = "none";
  return f;
}

}  // namespace

Result<std::shared_ptr<ScalerProbe>> ComponentRegistry::NewScaler(const scale::KedaTrigger& trigger,
                                                                  ComponentEnv* env) const {
  ScalerFactory f;
  std::string known;
  {
    std::lock_guard<std::mutex> lock(mu_);
    f = Lookup(scalers_, trigger.type, &known);
  }
  if (!f) {
    return Status(StatusCode::kNotFound,
                  "trigger " + trigger.name + ": no scaler of type " + trigger.type + " here (" + known + ")");
  }
  auto made = f(trigger, env);
  if (!made.ok()) return Status(made.status().code(), "trigger " + trigger.name + ": " + made.status().message());
  return made;
}

std::vector<std::string> ComponentRegistry::ScalerTypes() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [t, f] : scalers_) out.push_back(t);
  return out;
}

template <typename T>
Result<std::shared_ptr<T>> ComponentRegistry::New(const std::map<std::string, Factory<T>>& factories,
                                                  std::string_view what, const ComponentSpec& spec,
                                                  ComponentEnv* env) const {
  Factory<T> f;
  std::string known;
  {
    std::lock_guard<std::mutex> lock(mu_);
    f = Lookup(factories, spec.type, &known);
  }
  if (!f) {
    return Status(StatusCode::kNotFound, "component " + spec.ns + "/" + spec.name + ": no " + std::string(what) +
                                             " of type " + spec.type + " here (" + known + ")");
  }
  auto made = f(spec, env);
  if (!made.ok()) {
    return Status(made.status().code(), "component " + spec.Ref() + ": " + made.status().message());
  }
  return made;
}

Result<std::shared_ptr<InputBinding>> ComponentRegistry::NewInputBinding(const ComponentSpec& spec,
                                                                         ComponentEnv* env) const {
  return New(inputs_, "input binding", spec, env);
}
Result<std::shared_ptr<OutputBinding>> ComponentRegistry::NewOutputBinding(const ComponentSpec& spec,
                                                                           ComponentEnv* env) const {
  return New(outputs_, "output binding", spec, env);
}
Result<std::shared_ptr<PubSub>> ComponentRegistry::NewPubSub(const ComponentSpec& spec, ComponentEnv* env) const {
  return New(pubsubs_, "pub/sub", spec, env);
}
Result<std::shared_ptr<StateStore>> ComponentRegistry::NewStateStore(const ComponentSpec& spec,
                                                                     ComponentEnv* env) const {
  return New(states_, "state store", spec, env);
}

std::vector<std::string> ComponentRegistry::Types() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> all;
  for (const auto& [t, f] : inputs_) all.insert(t);
  for (const auto& [t, f] : outputs_) all.insert(t);
  for (const auto& [t, f] : pubsubs_) all.insert(t);
  for (const auto& [t, f] : states_) all.insert(t);
  return {all.begin(), all.end()};
}

}  // namespace ofn::events
