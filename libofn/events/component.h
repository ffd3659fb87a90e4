// Components: libofn's native implementations of Dapr's building blocks —
// input and output bindings, pub/sub and state stores — created by type
// name ("bindings.cron", "pubsub.redis", ...) from a component's metadata.
//
//   events::ComponentRegistry registry;
//   events::RegisterBuiltinComponents(&registry);
//   auto pubsub = registry.NewPubSub(spec, env);
//   (*pubsub)->Publish("orders", data, {});
//
// Delivery is at least once: an input hands each message to a handler with
// an Ack; the message counts as consumed only when the Ack is called with
// true. Components are thread-safe; handlers may be called from any thread
// and must not block.
#ifndef LIBOFN_EVENTS_COMPONENT_H_
#define LIBOFN_EVENTS_COMPONENT_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "libofn/common/clock.h"
#include "libofn/common/status.h"
#include "libofn/scale/keda.h"

namespace ofn::events {

// One component as Dapr describes it, with every metadata value resolved
// (secretKeyRef and envRef already read).
struct ComponentSpec {
  std::string ns;
  std::string name;
  std::string type;  // "bindings.cron"
  std::string version = "v1";
  std::map<std::string, std::string> metadata;

  std::string Get(const std::string& key, const std::string& fallback = "") const {
    auto it = metadata.find(key);
    return it == metadata.end() ? fallback : it->second;
  }
  std::string Ref() const { return ns + "/" + name + " (" + type + ")"; }
};

// A message from an input binding or a pub/sub subscription.
struct Message {
  std::string id;                             // unique per component (cron: the firing time)
  std::string topic;                          // pub/sub only
  std::string data;                           // the payload as sent
  std::string content_type;                   // "" = unknown
  std::map<std::string, std::string> metadata;  // binding metadata, broker headers
};

// Acknowledges a message: true = consumed (processed, or given up on and
// dead-lettered); false = not taken (the platform is stopping), to be
// delivered again by the broker where it can.
using Ack = std::function<void(bool consumed)>;
using MessageHandler = std::function<void(Message, Ack)>;

// What components may use from the platform. Borrowed; outlives them.
class ComponentEnv {
 public:
  virtual ~ComponentEnv() = default;
  virtual Clock* clock() = 0;
  // Durable positions (the store's event offsets), by a key the component
  // makes unique (e.g. "cron/<ns>/<name>/<consumer>").
  virtual Result<std::string> GetOffset(const std::string& key) = 0;
  virtual Status SetOffset(const std::string& key, const std::string& value) = 0;
};

class InputBinding {
 public:
  virtual ~InputBinding() = default;
  // Starts delivering to `handler`; `consumer` names the reader (the
  // Function), so that positions are kept per reader.
  virtual Status Read(const std::string& consumer, MessageHandler handler) = 0;
  // Called often (every few ms on the platform's ticker, and at once on
  // Platform::RunEvents()): time-driven inputs fire here.
  virtual void Tick() {}
  // Stops delivering; messages not acked are left to the broker. Idempotent.
  virtual void Close() = 0;
};

struct BindingRequest {
  std::string operation;  // "create", "get", "delete", ... ("" = the binding's default)
  std::string data;
  std::map<std::string, std::string> metadata;
};
struct BindingResponse {
  std::string data;
  std::map<std::string, std::string> metadata;
};

class OutputBinding {
 public:
  virtual ~OutputBinding() = default;
  virtual std::vector<std::string> Operations() const = 0;
  virtual Result<BindingResponse> Invoke(const BindingRequest& request) = 0;
};

class Subscription {
 public:
  virtual ~Subscription() = default;  // Close()
  virtual void Close() = 0;
  // Messages of the topic its consumer has not been handed yet, as the
  // broker counts them; Unimplemented where the broker cannot tell.
  virtual Result<int64_t> Lag() { return Status(StatusCode::kUnimplemented, "no lag from this pub/sub"); }
};

class PubSub {
 public:
  virtual ~PubSub() = default;
  // `data` is what subscribers get as the message data (the platform wraps
  // it in a CloudEvent first, as Dapr does).
  virtual Status Publish(const std::string& topic, const std::string& data, const std::string& content_type,
                         const std::map<std::string, std::string>& metadata) = 0;
  // Subscribers with the same `consumer` share the messages (a consumer
  // group); each consumer gets every message.
  virtual Result<std::unique_ptr<Subscription>> Subscribe(const std::string& topic, const std::string& consumer,
                                                          MessageHandler handler) = 0;
  virtual void Tick() {}
};

struct StateItem {
  std::string key;
  std::string value;
  std::string etag;  // "" = none (absent, or not asked for)
  std::map<std::string, std::string> metadata;
};
struct StateOperation {
  enum class Kind { kUpsert, kDelete } kind = Kind::kUpsert;
  StateItem item;
};

class StateStore {
 public:
  virtual ~StateStore() = default;
  // NotFound when absent.
  virtual Result<StateItem> Get(const std::string& key) = 0;
  // With `etag` set: FailedPrecondition ("etag mismatch") unless it matches
  // the stored one (first-write-wins concurrency).
  virtual Status Set(const StateItem& item) = 0;
  virtual Status Delete(const std::string& key, const std::string& etag) = 0;
  // All or nothing.
  virtual Status Transact(const std::vector<StateOperation>& operations) = 0;
};

// What one trigger of a KEDA-scaled Function measures (a list's length, a
// consumer group's lag, a time window), read every polling interval.
// Reads block at most about a second (a broker that does not answer is an
// error, not a wait).
class ScalerProbe {
 public:
  virtual ~ScalerProbe() = default;
  // `now`: the platform clock's wall time (time-driven scalers use it).
  virtual Result<double> Read(Clock::TimePoint now) = 0;
};

// Creates components by type. Thread-safe.
class ComponentRegistry {
 public:
  template <typename T>
  using Factory = std::function<Result<std::shared_ptr<T>>(const ComponentSpec&, ComponentEnv*)>;

  void AddInputBinding(std::string type, Factory<InputBinding> f);
  void AddOutputBinding(std::string type, Factory<OutputBinding> f);
  void AddPubSub(std::string type, Factory<PubSub> f);
  void AddStateStore(std::string type, Factory<StateStore> f);
  // KEDA scalers, by trigger type ("redis-streams").
  using ScalerFactory = std::function<Result<std::shared_ptr<ScalerProbe>>(const scale::KedaTrigger&, ComponentEnv*)>;
  void AddScaler(std::string type, ScalerFactory f);

  // NotFound naming the type and what is registered.
  Result<std::shared_ptr<InputBinding>> NewInputBinding(const ComponentSpec& spec, ComponentEnv* env) const;
  Result<std::shared_ptr<OutputBinding>> NewOutputBinding(const ComponentSpec& spec, ComponentEnv* env) const;
  Result<std::shared_ptr<PubSub>> NewPubSub(const ComponentSpec& spec, ComponentEnv* env) const;
  Result<std::shared_ptr<StateStore>> NewStateStore(const ComponentSpec& spec, ComponentEnv* env) const;

  // NotFound naming the type and the scalers registered.
  Result<std::shared_ptr<ScalerProbe>> NewScaler(const scale::KedaTrigger& trigger, ComponentEnv* env) const;

  // Every registered component type, sorted; the scaler types.
  std::vector<std::string> Types() const;
  std::vector<std::string> ScalerTypes() const;

 private:
  template <typename T>
  Result<std::shared_ptr<T>> New(const std::map<std::string, Factory<T>>& factories, std::string_view what,
                                 const ComponentSpec& spec, ComponentEnv* env) const;
  mutable std::mutex mu_;
  std::map<std::string, Factory<InputBinding>> inputs_;
  std::map<std::string, Factory<OutputBinding>> outputs_;
  std::map<std::string, Factory<PubSub>> pubsubs_;
  std::map<std::string, Factory<StateStore>> states_;
  std::map<std::string, ScalerFactory> scalers_;
};

// bindings.cron, pubsub.in-memory, state.in-memory, the Redis ones —
// bindings.redis, pubsub.redis, state.redis — pubsub.jetstream (NATS), and
// pubsub.mqtt3 and bindings.mqtt3, state.sqlite (spec::BuiltinComponentTypes()); the
// scalers cron, redis, redis-streams and nats-jetstream.
void RegisterBuiltinComponents(ComponentRegistry* registry);

}  // namespace ofn::events

#endif  // LIBOFN_EVENTS_COMPONENT_H_
