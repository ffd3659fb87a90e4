// The components built into every platform: bindings.cron (on the platform
// clock, positions kept across restarts), pubsub.in-memory and
// state.in-memory (one per component name: the Functions that name the same
// component share it, as they would share a broker).
#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <deque>

#include "libofn/common/log.h"
#include "libofn/events/component.h"
#include "libofn/events/internal/brokers.h"
#include "libofn/gateway/client.h"
#include "libofn/spec/cron.h"

namespace ofn::events {
namespace {

// --- bindings.cron -----------------------------------------------------------

// Fires on its schedule, one firing at a time: the next is handed out only
// when the last was consumed. The last consumed firing is kept as an offset,
// so firings missed while the platform was down are delivered after a
// restart (up to kMaxCatchUp; older ones are skipped with a warning).
class CronBinding final : public InputBinding, public std::enable_shared_from_this<CronBinding> {
 public:
  static constexpr int kMaxCatchUp = 100;

  CronBinding(ComponentSpec spec, spec::CronSchedule schedule, ComponentEnv* env)
      : spec_(std::move(spec)), schedule_(std::move(schedule)), env_(env) {}

  Status Read(const std::string& consumer, MessageHandler handler) override {
    std::lock_guard<std::mutex> lock(mu_);
    key_ = "cron/" + spec_.ns + "/" + spec_.name + "/" + consumer;
    handler_ = std::move(handler);
    const Clock::TimePoint now = env_->clock()->Now();
    Clock::TimePoint last = now;
    auto saved = env_->GetOffset(key_);
    if (saved.ok() && !saved->empty()) {
      Clock::TimePoint t;
      if (ParseRfc3339(*saved, &t) && t <= now) last = t;
    }
    next_ = After(last);
    int missed = 0;
    for (Clock::TimePoint t = next_; t <= now && missed <= kMaxCatchUp;) {
      ++missed;
      Clock::TimePoint after = schedule_.Next(t);
      if (after <= t) break;  // nothing matches any more (e.g. Feb 30)
      t = after;
    }
    if (missed > kMaxCatchUp) {
      OFN_LOG(kWarning) << "component " << spec_.Ref() << ": more than " << kMaxCatchUp
                        << " firings were missed while the platform was down; delivering from now on";
      next_ = After(now);
    }
    return Status::Ok();
  }

  void Tick() override {
    Message m;
    MessageHandler handler;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!handler_ || busy_ || next_ > env_->clock()->Now()) return;
      busy_ = true;
      firing_ = next_;
      m.id = FormatRfc3339(firing_);
      m.metadata["readTimeUTC"] = m.id;
      m.metadata["schedule"] = schedule_.text();
      handler = handler_;
    }
    auto self = shared_from_this();
    handler(std::move(m), [this, keep = std::move(self)](bool consumed) { Acked(consumed); });
  }

  void Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    handler_ = nullptr;
  }

 private:
  void Acked(bool consumed) {
    std::lock_guard<std::mutex> lock(mu_);
    busy_ = false;
    if (!consumed) return;  // stopping: the firing is delivered again after a restart
    Status saved = env_->SetOffset(key_, FormatRfc3339(firing_));
    if (!saved.ok()) {
      OFN_LOG(kWarning) << "component " << spec_.Ref() << ": " << saved.ToString();
    }
    next_ = After(firing_);
  }

  // The next firing after `t`; never, when the schedule matches no time.
  Clock::TimePoint After(Clock::TimePoint t) const {
    Clock::TimePoint n = schedule_.Next(t);
    return n > t ? n : Clock::TimePoint::max();
  }

  const ComponentSpec spec_;
  const spec::CronSchedule schedule_;
  ComponentEnv* env_;
  std::mutex mu_;
  std::string key_;
  MessageHandler handler_;
  Clock::TimePoint next_{}, firing_{};
  bool busy_ = false;
};

// --- pubsub.in-memory ----------------------------------------------------------

// Every consumer of a topic gets every message published after it
// subscribed; subscribers of one consumer share them. Each consumer's
// undelivered messages are bounded (kQueueLimit: Publish then fails), and
// at most kInFlight are out at once. Nothing survives the platform.
class MemoryPubSub final : public PubSub, public std::enable_shared_from_this<MemoryPubSub> {
 public:
  static constexpr size_t kQueueLimit = 10000;
  static constexpr int kInFlight = 32;

  Status Publish(const std::string& topic, const std::string& data, const std::string& content_type,
                 const std::map<std::string, std::string>& metadata) override {
    std::vector<std::shared_ptr<Group>> groups;
    {
      std::lock_guard<std::mutex> lock(mu_);
      Message m;
      m.id = std::to_string(++sequence_);
      m.topic = topic;
      m.data = data;
      m.content_type = content_type;
      m.metadata = metadata;
      for (auto& [key, g] : groups_) {
        if (g->topic != topic || g->handlers.empty()) continue;
        if (g->queue.size() >= kQueueLimit) {
          return Status(StatusCode::kResourceExhausted, "topic " + topic + ": consumer " + g->consumer + " has " +
                                                            std::to_string(kQueueLimit) + " undelivered messages");
        }
      }
      for (auto& [key, g] : groups_) {
        if (g->topic != topic || g->handlers.empty()) continue;
        g->queue.push_back(m);
        groups.push_back(g);
      }
    }
    for (const auto& g : groups) Pump(g);
    return Status::Ok();
  }

  Result<std::unique_ptr<Subscription>> Subscribe(const std::string& topic, const std::string& consumer,
                                                  MessageHandler handler) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::shared_ptr<Group>& g = groups_[topic + "\n" + consumer];
    if (!g) {
      g = std::make_shared<Group>();
      g->topic = topic;
      g->consumer = consumer;
    }
    const uint64_t id = ++sequence_;
    g->handlers.emplace_back(id, std::move(handler));
    return std::unique_ptr<Subscription>(new Sub(weak_from_this(), g, id));
  }

 private:
  struct Group {
    std::string topic, consumer;
    std::vector<std::pair<uint64_t, MessageHandler>> handlers;
    std::deque<Message> queue;
    size_t next = 0;  // round robin over handlers
    int in_flight = 0;
    bool pumping = false, again = false;
  };

  class Sub final : public Subscription {
   public:
    Sub(std::weak_ptr<MemoryPubSub> owner, std::shared_ptr<Group> g, uint64_t id)
        : owner_(std::move(owner)), group_(std::move(g)), id_(id) {}
    ~Sub() override { Close(); }
    void Close() override {
      auto owner = owner_.lock();
      if (!owner) return;
      std::lock_guard<std::mutex> lock(owner->mu_);
      auto& hs = group_->handlers;
      std::erase_if(hs, [this](const auto& h) { return h.first == id_; });
      if (hs.empty()) group_->queue.clear();  // no reader left: nothing keeps them
    }
    Result<int64_t> Lag() override {
      auto owner = owner_.lock();
      if (!owner) return int64_t{0};
      std::lock_guard<std::mutex> lock(owner->mu_);
      return static_cast<int64_t>(group_->queue.size());
    }

   private:
    std::weak_ptr<MemoryPubSub> owner_;
    std::shared_ptr<Group> group_;
    uint64_t id_;
  };

  // Hands out queued messages; one thread at a time per group, so an ack
  // called from inside a handler never recurses.
  void Pump(const std::shared_ptr<Group>& g) {
    std::unique_lock<std::mutex> lock(mu_);
    if (g->pumping) {
      g->again = true;
      return;
    }
    g->pumping = true;
    do {
      g->again = false;
      while (!g->queue.empty() && !g->handlers.empty() && g->in_flight < kInFlight) {
        Message m = std::move(g->queue.front());
        g->queue.pop_front();
        MessageHandler h = g->handlers[g->next++ % g->handlers.size()].second;
        ++g->in_flight;
        lock.unlock();
        std::weak_ptr<MemoryPubSub> weak = weak_from_this();
        h(std::move(m), [weak, g](bool) {
          auto self = weak.lock();
          if (!self) return;
          {
            std::lock_guard<std::mutex> l(self->mu_);
            --g->in_flight;
          }
          self->Pump(g);
        });
        lock.lock();
      }
    } while (g->again);
    g->pumping = false;
  }

  std::mutex mu_;
  uint64_t sequence_ = 0;
  std::map<std::string, std::shared_ptr<Group>> groups_;  // by topic + "\n" + consumer
};

// --- state.in-memory -------------------------------------------------------------

class MemoryStateStore final : public StateStore {
 public:
  Result<StateItem> Get(const std::string& key) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = items_.find(key);
    if (it == items_.end()) return Status(StatusCode::kNotFound, "no state under key \"" + key + "\"");
    return it->second;
  }
  Status Set(const StateItem& item) override {
    std::lock_guard<std::mutex> lock(mu_);
    OFN_RETURN_IF_ERROR(CheckLocked(item.key, item.etag));
    Put(item);
    return Status::Ok();
  }
  Status Delete(const std::string& key, const std::string& etag) override {
    std::lock_guard<std::mutex> lock(mu_);
    OFN_RETURN_IF_ERROR(CheckLocked(key, etag));
    items_.erase(key);
    return Status::Ok();
  }
  Status Transact(const std::vector<StateOperation>& operations) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const StateOperation& op : operations) OFN_RETURN_IF_ERROR(CheckLocked(op.item.key, op.item.etag));
    for (const StateOperation& op : operations) {
      if (op.kind == StateOperation::Kind::kDelete) {
        items_.erase(op.item.key);
      } else {
        Put(op.item);
      }
    }
    return Status::Ok();
  }

 private:
  Status CheckLocked(const std::string& key, const std::string& etag) const {
    if (etag.empty()) return Status::Ok();
    auto it = items_.find(key);
    if (it == items_.end() || it->second.etag != etag) {
      return Status(StatusCode::kFailedPrecondition, "etag mismatch for key \"" + key + "\"");
    }
    return Status::Ok();
  }
  void Put(const StateItem& item) {
    StateItem stored = item;
    stored.etag = std::to_string(++version_);
    items_[item.key] = std::move(stored);
  }

  std::mutex mu_;
  std::map<std::string, StateItem> items_;
  uint64_t version_ = 0;
};

// --- bindings.http (output) -------------------------------------------------------

// Dapr's HTTP output binding: `url` is the base; the request's metadata
// "path" is appended, its other entries are sent as headers; the operation
// is the method (create = POST). A status of 400 or more is an error (the
// body in its message); the response's status is in its metadata.
class HttpBinding final : public OutputBinding {
 public:
  HttpBinding(std::string address, std::string base_path)
      : address_(std::move(address)), base_path_(std::move(base_path)) {}
  std::vector<std::string> Operations() const override {
    return {"create", "get", "head", "post", "put", "patch", "delete", "options", "trace"};
  }
  Result<BindingResponse> Invoke(const BindingRequest& request) override {
    std::string method = request.operation.empty() || request.operation == "create" ? "POST" : request.operation;
    for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const auto ops = Operations();
    std::string lower = method;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (std::find(ops.begin(), ops.end(), lower) == ops.end()) {
      return Status(StatusCode::kInvalidArgument, "bindings.http: operation \"" + request.operation + "\" is not an HTTP method");
    }
    HttpRequest r;
    r.method = method;
    std::string path = base_path_;
    if (auto p = request.metadata.find("path"); p != request.metadata.end()) {
      if (!path.empty() && path.back() == '/' && !p->second.empty() && p->second.front() == '/') path.pop_back();
      if (!p->second.empty() && p->second.front() != '/' && (path.empty() || path.back() != '/')) path += "/";
      path += p->second;
    }
    r.target = path.empty() ? "/" : path;
    for (const auto& [k, v] : request.metadata) {
      if (k != "path") r.headers.Set(k, v);
    }
    r.body = request.data;
    auto resp = gateway::HttpCall(address_, r, std::chrono::seconds(60));
    if (!resp.ok()) return Status(StatusCode::kUnavailable, "bindings.http: " + method + " " + address_ + r.target + ": " + resp.status().message());
    if (resp->status >= 400) {
      return Status(StatusCode::kUnavailable, "bindings.http: " + method + " " + address_ + r.target + " answered " +
                                                  std::to_string(resp->status) + ": " + resp->body.substr(0, 200));
    }
    BindingResponse out;
    out.data = std::move(resp->body);
    out.metadata["statusCode"] = std::to_string(resp->status);
    return out;
  }

 private:
  const std::string address_, base_path_;
};

// --- KEDA scalers: cron (time windows), nats-jetstream (consumer lag) ----------

// desiredReplicas while inside a window that opens at each `start` firing
// and closes at the next `end` firing (inside when the next end comes
// before the next start), else 0. UTC.
class CronScaler final : public ScalerProbe {
 public:
  CronScaler(spec::CronSchedule start, spec::CronSchedule end, double desired)
      : start_(std::move(start)), end_(std::move(end)), desired_(desired) {}
  Result<double> Read(Clock::TimePoint now) override {
    return end_.Next(now) < start_.Next(now) ? desired_ : 0.0;
  }

 private:
  const spec::CronSchedule start_, end_;
  const double desired_;
};

// A JetStream consumer's lag from the server's monitoring endpoint
// (/jsz?acc=ACCOUNT&consumers=true): messages not yet delivered plus those
// delivered and not acknowledged.
class JetStreamScaler final : public ScalerProbe {
 public:
  JetStreamScaler(std::string address, std::string account, std::string stream, std::string consumer)
      : address_(std::move(address)), account_(std::move(account)), stream_(std::move(stream)),
        consumer_(std::move(consumer)) {}

  Result<double> Read(Clock::TimePoint) override {
    HttpRequest r;
    r.method = "GET";
    r.target = "/jsz?acc=" + account_ + "&consumers=true&config=true";
    auto resp = gateway::HttpCall(address_, r, std::chrono::seconds(1));
    const std::string where = "NATS monitoring endpoint " + address_;
    if (!resp.ok()) return Status(StatusCode::kUnavailable, where + ": " + resp.status().message());
    if (resp->status != 200) {
      return Status(StatusCode::kUnavailable, where + " answered " + std::to_string(resp->status));
    }
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(resp->body, ec);
    if (ec || !v.is_object()) return Status(StatusCode::kUnavailable, where + ": not JSON");
    const auto* accounts = v.as_object().if_contains("account_details");
    if (accounts && accounts->is_array()) {
      for (const auto& acc : accounts->as_array()) {
        const auto* streams = acc.is_object() ? acc.as_object().if_contains("stream_detail") : nullptr;
        if (!streams || !streams->is_array()) continue;
        for (const auto& st : streams->as_array()) {
          if (!st.is_object() || Text(st.as_object(), "name") != stream_) continue;
          const auto* consumers = st.as_object().if_contains("consumer_detail");
          static const boost::json::array kNone;
          for (const auto& c : consumers && consumers->is_array() ? consumers->as_array() : kNone) {
            if (!c.is_object() || Text(c.as_object(), "name") != consumer_) continue;
            return Number(c.as_object(), "num_pending") + Number(c.as_object(), "num_ack_pending");
          }
          // No consumer yet: every message of the stream is still to be read.
          const auto* state = st.as_object().if_contains("state");
          return state && state->is_object() ? Number(state->as_object(), "messages") : 0.0;
        }
      }
    }
    return 0.0;  // no stream yet: nothing to read
  }

 private:
  static std::string Text(const boost::json::object& o, const char* key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  }
  static double Number(const boost::json::object& o, const char* key) {
    const auto* v = o.if_contains(key);
    return v && v->is_number() ? v->to_number<double>() : 0.0;
  }
  const std::string address_, account_, stream_, consumer_;
};

std::string MetadataOr(const scale::KedaTrigger& t, const std::string& key, const std::string& fallback = "") {
  auto it = t.metadata.find(key);
  return it == t.metadata.end() ? fallback : it->second;
}

}  // namespace

void RegisterBuiltinComponents(ComponentRegistry* registry) {
  registry->AddScaler("cron", [](const scale::KedaTrigger& t, ComponentEnv*) -> Result<std::shared_ptr<ScalerProbe>> {
    OFN_ASSIGN_OR_RETURN(spec::CronSchedule start, spec::CronSchedule::Parse(MetadataOr(t, "start")));
    OFN_ASSIGN_OR_RETURN(spec::CronSchedule end, spec::CronSchedule::Parse(MetadataOr(t, "end")));
    double desired = std::atof(MetadataOr(t, "desiredReplicas", "1").c_str());
    return std::shared_ptr<ScalerProbe>(std::make_shared<CronScaler>(std::move(start), std::move(end), desired));
  });
  registry->AddScaler("nats-jetstream",
                      [](const scale::KedaTrigger& t, ComponentEnv*) -> Result<std::shared_ptr<ScalerProbe>> {
                        if (MetadataOr(t, "useHttps") == "true") {
                          return Status(StatusCode::kUnimplemented, "useHttps: the monitoring endpoint over https is not supported here");
                        }
                        std::string address = MetadataOr(t, "natsServerMonitoringEndpoint");
                        if (address.starts_with("http://")) address = address.substr(7);
                        while (!address.empty() && address.back() == '/') address.pop_back();
                        if (address.empty()) return Status(StatusCode::kInvalidArgument, "natsServerMonitoringEndpoint is required");
                        if (address.find(':') == std::string::npos) address += ":8222";
                        return std::shared_ptr<ScalerProbe>(std::make_shared<JetStreamScaler>(
                            address, MetadataOr(t, "account", "$G"), MetadataOr(t, "stream"), MetadataOr(t, "consumer")));
                      });
  registry->AddOutputBinding("bindings.http", [](const ComponentSpec& spec,
                                                  ComponentEnv*) -> Result<std::shared_ptr<OutputBinding>> {
    std::string url = spec.Get("url");
    if (url.starts_with("https://")) {
      return Status(StatusCode::kUnimplemented, "url \"" + url + "\": https is not supported by bindings.http here");
    }
    if (!url.starts_with("http://")) return Status(StatusCode::kInvalidArgument, "metadata url must be http://host[:port][/path]");
    std::string rest = url.substr(7);
    size_t slash = rest.find('/');
    std::string host = rest.substr(0, slash), path = slash == std::string::npos ? "" : rest.substr(slash);
    if (host.empty()) return Status(StatusCode::kInvalidArgument, "url \"" + url + "\" names no host");
    if (host.find(':') == std::string::npos) host += ":80";
    return std::shared_ptr<OutputBinding>(std::make_shared<HttpBinding>(host, path));
  });
  registry->AddInputBinding("bindings.cron", [](const ComponentSpec& spec,
                                                ComponentEnv* env) -> Result<std::shared_ptr<InputBinding>> {
    auto schedule = spec::CronSchedule::Parse(spec.Get("schedule"));
    if (!schedule.ok()) return Status(StatusCode::kInvalidArgument, "schedule: " + schedule.status().message());
    return std::shared_ptr<InputBinding>(std::make_shared<CronBinding>(spec, std::move(*schedule), env));
  });
  registry->AddPubSub("pubsub.in-memory", [](const ComponentSpec&, ComponentEnv*) -> Result<std::shared_ptr<PubSub>> {
    return std::shared_ptr<PubSub>(std::make_shared<MemoryPubSub>());
  });
  registry->AddStateStore("state.in-memory",
                          [](const ComponentSpec&, ComponentEnv*) -> Result<std::shared_ptr<StateStore>> {
                            return std::shared_ptr<StateStore>(std::make_shared<MemoryStateStore>());
                          });
  RegisterRedisComponents(registry);
  RegisterNatsComponents(registry);
  RegisterMqttComponents(registry);
  RegisterSqliteComponents(registry);
}

}  // namespace ofn::events
