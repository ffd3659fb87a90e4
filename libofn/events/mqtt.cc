// MQTT 3.1.1 components over libmosquitto, with Dapr's metadata names:
//   pubsub.mqtt3    — url ("tcp://host:1883"), qos (1), retain, cleanSession,
//                     consumerID. Each consumer subscribes as the shared
//                     subscription $share/<consumer>/<topic>, so a consumer's
//                     subscribers share the messages and every consumer gets
//                     each one.
//   bindings.mqtt3  — input: the `topic` (shared by the reader's name);
//                     output: publishes to `topic` (or the request's metadata
//                     topic).
// MQTT acknowledges a QoS 1 message to the broker when it arrives, not when
// the function is done: delivery is as reliable as the broker's session
// (cleanSession false keeps a consumer's queue while it is away). A reader
// holds at most `concurrency` (5000) messages in the runtime; beyond, it
// stops reading and the broker holds the rest, up to its own queue limit.
#include <mosquitto.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>

#include "libofn/common/log.h"
#include "libofn/events/component.h"
#include "libofn/events/internal/brokers.h"
#include "libofn/events/internal/in_flight.h"

namespace ofn::events {
namespace {

// How many messages a reader hands out before it stops reading. MQTT has no
// redelivery to a slow reader: a broker drops what overflows a client's
// queue (mosquitto: 1000 messages), so a reader takes many at once and the
// runtime's bounded queues hold them.
constexpr const char* kConcurrency = "5000";

struct Endpoint {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string username, password;
};

Result<Endpoint> EndpointOf(const ComponentSpec& spec) {
  std::string url = spec.Get("url");
  if (url.empty()) return Status(StatusCode::kInvalidArgument, "metadata url is required (tcp://host:1883)");
  Endpoint e;
  std::string rest = url;
  if (rest.starts_with("tcp://") || rest.starts_with("mqtt://")) {
    rest = rest.substr(rest.find("://") + 3);
  } else if (rest.find("://") != std::string::npos) {
    return Status(StatusCode::kUnimplemented, "url \"" + url + "\": only tcp:// (no TLS) is supported here");
  }
  if (size_t at = rest.rfind('@'); at != std::string::npos) {
    std::string user = rest.substr(0, at);
    rest = rest.substr(at + 1);
    size_t colon = user.find(':');
    e.username = user.substr(0, colon);
    if (colon != std::string::npos) e.password = user.substr(colon + 1);
  }
  if (size_t colon = rest.rfind(':'); colon != std::string::npos) {
    e.port = std::atoi(rest.c_str() + colon + 1);
    rest.resize(colon);
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (!rest.empty()) e.host = rest == "localhost" ? "127.0.0.1" : rest;
  if (e.port <= 0 || e.port > 65535) return Status(StatusCode::kInvalidArgument, "url \"" + url + "\": bad port");
  return e;
}

void InitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

std::string ClientId(const std::string& base) {
  static std::atomic<uint64_t> next{0};
  std::string id = base;
  for (char& c : id) {
    if (c == '/' || c == ' ') c = '-';
  }
  return id + "-" + std::to_string(::getpid()) + "-" + std::to_string(++next);
}

// One connected client, its network loop on its own thread.
class Client {
 public:
  Client() = default;
  ~Client() {
    if (m_) {
      mosquitto_disconnect(m_);
      mosquitto_loop_stop(m_, false);
      mosquitto_destroy(m_);
    }
  }

  // `on_message` runs on the client's thread.
  Status Connect(const Endpoint& e, const std::string& id, bool clean,
                 std::function<void(const mosquitto_message*)> on_message,
                 std::vector<std::pair<std::string, int>> subscriptions) {
    InitOnce();
    on_message_ = std::move(on_message);
    subscriptions_ = std::move(subscriptions);
    m_ = mosquitto_new(id.c_str(), clean, this);
    if (!m_) return Status(StatusCode::kInternal, "mosquitto_new failed");
    if (!e.username.empty()) mosquitto_username_pw_set(m_, e.username.c_str(), e.password.c_str());
    mosquitto_reconnect_delay_set(m_, 1, 10, true);
    mosquitto_connect_callback_set(m_, [](mosquitto* m, void* self, int rc) {
      if (rc != 0) return;
      // (Re)subscribe on every connect: a reconnected clean session has none.
      for (const auto& [topic, qos] : static_cast<Client*>(self)->subscriptions_) {
        mosquitto_subscribe(m, nullptr, topic.c_str(), qos);
      }
    });
    mosquitto_message_callback_set(m_, [](mosquitto*, void* self, const mosquitto_message* msg) {
      auto* c = static_cast<Client*>(self);
      if (c->on_message_) c->on_message_(msg);
    });
    int rc = mosquitto_connect(m_, e.host.c_str(), e.port, 30);
    if (rc != MOSQ_ERR_SUCCESS) {
      return Status(StatusCode::kUnavailable, "cannot connect to MQTT broker " + e.host + ":" + std::to_string(e.port) +
                                                  ": " + (rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc)));
    }
    rc = mosquitto_loop_start(m_);
    if (rc != MOSQ_ERR_SUCCESS) return Status(StatusCode::kInternal, std::string("mosquitto loop: ") + mosquitto_strerror(rc));
    return Status::Ok();
  }

  Status Publish(const std::string& topic, const std::string& data, int qos, bool retain) {
    int rc = mosquitto_publish(m_, nullptr, topic.c_str(), static_cast<int>(data.size()), data.data(), qos, retain);
    if (rc != MOSQ_ERR_SUCCESS) {
      return Status(StatusCode::kUnavailable, "publishing to " + topic + ": " + mosquitto_strerror(rc));
    }
    return Status::Ok();
  }

 private:
  mosquitto* m_ = nullptr;
  std::function<void(const mosquitto_message*)> on_message_;
  std::vector<std::pair<std::string, int>> subscriptions_;
};

// A subscription: its own client on `$share/<group>/<topic>`.
class Reader final : public Subscription {
 public:
  // The client's thread waits in its callback (so it stops reading) while
  // `limit` messages are out.
  explicit Reader(int limit) : gate_(std::make_shared<InFlight>(limit)) {}
  ~Reader() override { Close(); }
  Status Open(const Endpoint& e, const ComponentSpec& spec, const std::string& topic, const std::string& group,
              MessageHandler handler) {
    const int qos = std::atoi(spec.Get("qos", "1").c_str());
    const bool clean = spec.Get("cleanSession", "false") == "true";
    std::shared_ptr<InFlight> gate = gate_;
    return client_.Connect(
        e, ClientId(spec.Get("consumerID", group)), clean,
        [gate, handler = std::move(handler)](const mosquitto_message* msg) {
          if (!gate->Enter()) return;
          Message m;
          m.id = std::to_string(msg->mid);
          m.topic = msg->topic ? msg->topic : "";
          if (msg->payload) m.data.assign(static_cast<const char*>(msg->payload), static_cast<size_t>(msg->payloadlen));
          // Published through the platform: a CloudEvent envelope.
          if (!m.data.empty() && m.data.front() == '{' && m.data.find("\"specversion\"") != std::string::npos) {
            m.content_type = "application/cloudevents+json";
          }
          handler(std::move(m), [gate](bool) { gate->Done(); });
        },
        {{"$share/" + SafeGroup(group) + "/" + topic, qos}});
  }
  void Close() override { gate_->Close(); }

  static std::string SafeGroup(std::string g) {
    for (char& c : g) {
      if (c == '/' || c == '+' || c == '#') c = '_';
    }
    return g;
  }

 private:
  std::shared_ptr<InFlight> gate_;
  Client client_;  // destroyed (disconnected, thread joined) before the gate goes
};

class MqttPubSub final : public PubSub {
 public:
  MqttPubSub(ComponentSpec spec, Endpoint e) : spec_(std::move(spec)), endpoint_(std::move(e)) {}
  Status Open() { return publisher_.Connect(endpoint_, ClientId("ofn-pub-" + spec_.name), true, nullptr, {}); }

  Status Publish(const std::string& topic, const std::string& data, const std::string&,
                 const std::map<std::string, std::string>&) override {
    return publisher_.Publish(topic, data, std::atoi(spec_.Get("qos", "1").c_str()), spec_.Get("retain") == "true");
  }
  Result<std::unique_ptr<Subscription>> Subscribe(const std::string& topic, const std::string& consumer,
                                                  MessageHandler handler) override {
    auto r = std::make_unique<Reader>(std::max(1, std::atoi(spec_.Get("concurrency", kConcurrency).c_str())));
    OFN_RETURN_IF_ERROR(r->Open(endpoint_, spec_, topic, consumer, std::move(handler)));
    return std::unique_ptr<Subscription>(std::move(r));
  }

 private:
  const ComponentSpec spec_;
  const Endpoint endpoint_;
  Client publisher_;
};

class MqttInput final : public InputBinding {
 public:
  MqttInput(ComponentSpec spec, Endpoint e) : spec_(std::move(spec)), endpoint_(std::move(e)) {}
  Status Read(const std::string& consumer, MessageHandler handler) override {
    const std::string topic = spec_.Get("topic");
    if (topic.empty()) return Status(StatusCode::kInvalidArgument, "metadata topic is required");
    reader_ = std::make_unique<Reader>(std::max(1, std::atoi(spec_.Get("concurrency", kConcurrency).c_str())));
    return reader_->Open(endpoint_, spec_, topic, consumer, std::move(handler));
  }
  void Close() override {
    if (reader_) reader_->Close();
  }

 private:
  const ComponentSpec spec_;
  const Endpoint endpoint_;
  std::unique_ptr<Reader> reader_;
};

class MqttOutput final : public OutputBinding {
 public:
  MqttOutput(ComponentSpec spec, Endpoint e) : spec_(std::move(spec)), endpoint_(std::move(e)) {}
  Status Open() { return client_.Connect(endpoint_, ClientId("ofn-out-" + spec_.name), true, nullptr, {}); }
  std::vector<std::string> Operations() const override { return {"create"}; }
  Result<BindingResponse> Invoke(const BindingRequest& request) override {
    if (!request.operation.empty() && request.operation != "create") {
      return Status(StatusCode::kInvalidArgument, "bindings.mqtt3: operation \"" + request.operation +
                                                      "\" is not supported (create)");
    }
    auto t = request.metadata.find("topic");
    const std::string topic = t != request.metadata.end() && !t->second.empty() ? t->second : spec_.Get("topic");
    if (topic.empty()) return Status(StatusCode::kInvalidArgument, "bindings.mqtt3: no topic (metadata topic)");
    OFN_RETURN_IF_ERROR(client_.Publish(topic, request.data, std::atoi(spec_.Get("qos", "1").c_str()),
                                        spec_.Get("retain") == "true"));
    return BindingResponse{};
  }

 private:
  const ComponentSpec spec_;
  const Endpoint endpoint_;
  Client client_;
};

}  // namespace

void RegisterMqttComponents(ComponentRegistry* registry) {
  registry->AddPubSub("pubsub.mqtt3", [](const ComponentSpec& spec, ComponentEnv*) -> Result<std::shared_ptr<PubSub>> {
    OFN_ASSIGN_OR_RETURN(Endpoint e, EndpointOf(spec));
    auto p = std::make_shared<MqttPubSub>(spec, std::move(e));
    OFN_RETURN_IF_ERROR(p->Open());
    return std::shared_ptr<PubSub>(std::move(p));
  });
  registry->AddInputBinding("bindings.mqtt3",
                            [](const ComponentSpec& spec, ComponentEnv*) -> Result<std::shared_ptr<InputBinding>> {
                              OFN_ASSIGN_OR_RETURN(Endpoint e, EndpointOf(spec));
                              return std::shared_ptr<InputBinding>(std::make_shared<MqttInput>(spec, std::move(e)));
                            });
  registry->AddOutputBinding("bindings.mqtt3",
                             [](const ComponentSpec& spec, ComponentEnv*) -> Result<std::shared_ptr<OutputBinding>> {
                               OFN_ASSIGN_OR_RETURN(Endpoint e, EndpointOf(spec));
                               auto b = std::make_shared<MqttOutput>(spec, std::move(e));
                               OFN_RETURN_IF_ERROR(b->Open());
                               return std::shared_ptr<OutputBinding>(std::move(b));
                             });
}

}  // namespace ofn::events
