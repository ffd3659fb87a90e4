// Redis components over hiredis, with Dapr's metadata names:
//   pubsub.redis   — Redis streams: XADD to the topic's stream; each
//                    consumer is a consumer group (consumerID, else the
//                    Function); entries are XACKed only when consumed, and
//                    entries left pending longer than processingTimeout (a
//                    reader that died) are claimed again (XAUTOCLAIM) every
//                    redeliverInterval. maxLenApprox trims the stream.
//   state.redis    — a hash per key (data, version); the version is the
//                    etag; conditional writes and transactions are Lua
//                    scripts, so they are atomic in Redis.
//   bindings.redis — output: create (SET, ttlInSeconds), get, delete of
//                    the key in the request's metadata.
// Common: redisHost ("host:port"), redisPassword, redisUsername, redisDB.
#include <hiredis/hiredis.h>

#include <atomic>
#include <condition_variable>
#include <set>
#include <thread>

#include "libofn/common/log.h"
#include "libofn/events/component.h"
#include "libofn/events/internal/brokers.h"
#include "libofn/events/internal/in_flight.h"
#include "libofn/spec/units.h"

namespace ofn::events {
namespace {

struct Reply {
  int type = REDIS_REPLY_NIL;
  long long integer = 0;
  std::string str;
  std::vector<Reply> elements;
  bool nil() const { return type == REDIS_REPLY_NIL; }
};

Reply Copy(const redisReply* r) {
  Reply out;
  out.type = r->type;
  out.integer = r->integer;
  if (r->str) out.str.assign(r->str, r->len);
  for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(Copy(r->element[i]));
  return out;
}

struct Address {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string username, password;
  int db = 0;
};

Result<Address> AddressOf(const ComponentSpec& spec) {
  Address a;
  std::string host = spec.Get("redisHost");
  if (host.empty()) return Status(StatusCode::kInvalidArgument, "metadata redisHost is required (host:port)");
  size_t colon = host.rfind(':');
  if (colon != std::string::npos) {
    a.host = host.substr(0, colon);
    a.port = std::atoi(host.c_str() + colon + 1);
  } else {
    a.host = host;
  }
  if (a.port <= 0 || a.port > 65535) return Status(StatusCode::kInvalidArgument, "redisHost \"" + host + "\": bad port");
  if (a.host == "localhost") a.host = "127.0.0.1";
  a.username = spec.Get("redisUsername");
  a.password = spec.Get("redisPassword");
  a.db = std::atoi(spec.Get("redisDB", "0").c_str());
  if (spec.Get("enableTLS") == "true") {
    return Status(StatusCode::kUnimplemented, "enableTLS: TLS to Redis is not supported here");
  }
  return a;
}

// One connection, reconnected when it broke; one command at a time.
class Connection {
 public:
  explicit Connection(Address a, std::chrono::milliseconds timeout = std::chrono::seconds(5))
      : address_(std::move(a)), timeout_(timeout) {}
  ~Connection() {
    if (c_) redisFree(c_);
  }

  Result<Reply> Command(const std::vector<std::string>& args) {
    std::lock_guard<std::mutex> lock(mu_);
    for (int attempt = 0; attempt < 2; ++attempt) {
      OFN_RETURN_IF_ERROR(ConnectLocked());
      std::vector<const char*> argv;
      std::vector<size_t> lens;
      for (const std::string& s : args) {
        argv.push_back(s.data());
        lens.push_back(s.size());
      }
      auto* r = static_cast<redisReply*>(redisCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), lens.data()));
      if (!r) {
        std::string why = c_->errstr;
        redisFree(c_);
        c_ = nullptr;
        if (attempt == 1) return Status(StatusCode::kUnavailable, Where() + ": " + why);
        continue;  // a dropped connection: once more on a new one
      }
      Reply out = Copy(r);
      freeReplyObject(r);
      if (out.type == REDIS_REPLY_ERROR) return Status(StatusCode::kInternal, Where() + ": " + out.str);
      return out;
    }
    return Status(StatusCode::kUnavailable, Where());
  }

  std::string Where() const { return "redis " + address_.host + ":" + std::to_string(address_.port); }

 private:
  Status ConnectLocked() {
    if (c_) return Status::Ok();
    timeval tv{static_cast<time_t>(timeout_.count() / 1000), static_cast<suseconds_t>((timeout_.count() % 1000) * 1000)};
    c_ = redisConnectWithTimeout(address_.host.c_str(), address_.port, tv);
    if (!c_ || c_->err) {
      std::string why = c_ ? c_->errstr : "out of memory";
      if (c_) redisFree(c_);
      c_ = nullptr;
      return Status(StatusCode::kUnavailable, "cannot connect to " + Where() + ": " + why);
    }
    redisSetTimeout(c_, tv);
    auto run = [&](std::vector<std::string> args) -> Status {
      std::vector<const char*> argv;
      std::vector<size_t> lens;
      for (const std::string& s : args) {
        argv.push_back(s.data());
        lens.push_back(s.size());
      }
      auto* r = static_cast<redisReply*>(redisCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), lens.data()));
      if (!r) return Status(StatusCode::kUnavailable, Where() + ": " + c_->errstr);
      Status s = r->type == REDIS_REPLY_ERROR ? Status(StatusCode::kPermissionDenied, Where() + ": " + std::string(r->str, r->len))
                                              : Status::Ok();
      freeReplyObject(r);
      return s;
    };
    Status s;
    if (!address_.password.empty()) {
      s = address_.username.empty() ? run({"AUTH", address_.password})
                                    : run({"AUTH", address_.username, address_.password});
    }
    if (s.ok() && address_.db != 0) s = run({"SELECT", std::to_string(address_.db)});
    if (!s.ok()) {
      redisFree(c_);
      c_ = nullptr;
    }
    return s;
  }

  const Address address_;
  const std::chrono::milliseconds timeout_;
  std::mutex mu_;
  redisContext* c_ = nullptr;
};

std::chrono::milliseconds DurationOr(const ComponentSpec& spec, const std::string& key, std::chrono::milliseconds d) {
  double seconds = 0;
  std::string text = spec.Get(key);
  if (!text.empty() && spec::ParseGoDuration(text, &seconds) && seconds > 0) {
    return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  }
  return d;
}

// A consumer group's lag from XINFO GROUPS (Redis 7); a group not made yet
// lags by the whole stream, a stream not there by nothing.
Result<double> GroupLag(Connection& conn, const std::string& stream, const std::string& group) {
  auto groups = conn.Command({"XINFO", "GROUPS", stream});
  if (!groups.ok() && groups.status().message().find("no such key") != std::string::npos) return 0.0;
  OFN_RETURN_IF_ERROR(groups.status());
  for (const Reply& g : groups->elements) {
    std::string name;
    const Reply* lag = nullptr;
    for (size_t i = 0; i + 1 < g.elements.size(); i += 2) {
      if (g.elements[i].str == "name") name = g.elements[i + 1].str;
      if (g.elements[i].str == "lag") lag = &g.elements[i + 1];
    }
    if (name != group) continue;
    if (!lag) return Status(StatusCode::kUnimplemented, conn.Where() + ": XINFO GROUPS has no lag (Redis 7 or later needed)");
    if (lag->nil()) {
      return Status(StatusCode::kUnavailable, conn.Where() + ": the lag of group " + group + " on " + stream +
                                                  " cannot be known now (entries were deleted)");
    }
    return static_cast<double>(lag->integer);
  }
  OFN_ASSIGN_OR_RETURN(Reply len, conn.Command({"XLEN", stream}));
  return static_cast<double>(len.integer);
}

// --- pubsub.redis --------------------------------------------------------------

class RedisPubSub final : public PubSub, public std::enable_shared_from_this<RedisPubSub> {
 public:
  RedisPubSub(ComponentSpec spec, Address a)
      : spec_(std::move(spec)), address_(std::move(a)), commands_(std::make_shared<Connection>(address_)) {}

  Status Check() { return commands_->Command({"PING"}).status(); }

  Status Publish(const std::string& topic, const std::string& data, const std::string& content_type,
                 const std::map<std::string, std::string>&) override {
    std::vector<std::string> args = {"XADD", topic};
    if (std::string max = spec_.Get("maxLenApprox"); !max.empty()) {
      args.insert(args.end(), {"MAXLEN", "~", max});
    }
    args.insert(args.end(), {"*", "data", data});
    if (!content_type.empty()) args.insert(args.end(), {"contentType", content_type});
    return commands_->Command(args).status();
  }

  Result<std::unique_ptr<Subscription>> Subscribe(const std::string& topic, const std::string& consumer,
                                                  MessageHandler handler) override {
    const std::string group = spec_.Get("consumerID", consumer);
    auto created = commands_->Command({"XGROUP", "CREATE", topic, group, "0", "MKSTREAM"});
    if (!created.ok() && created.status().message().find("BUSYGROUP") == std::string::npos) return created.status();
    static std::atomic<uint64_t> next{0};
    auto sub = std::make_unique<Reader>(shared_from_this(), topic, group,
                                        "ofn-" + std::to_string(::getpid()) + "-" + std::to_string(++next),
                                        std::move(handler));
    sub->Start();
    return std::unique_ptr<Subscription>(std::move(sub));
  }

 private:
  // One consumer of one group: a thread reading new entries and, every
  // redeliverInterval, claiming entries idle longer than processingTimeout.
  class Reader final : public Subscription {
   public:
    Reader(std::shared_ptr<RedisPubSub> owner, std::string topic, std::string group, std::string name,
           MessageHandler handler)
        : owner_(std::move(owner)),
          topic_(std::move(topic)),
          group_(std::move(group)),
          name_(std::move(name)),
          handler_(std::move(handler)),
          out_(std::make_shared<InFlight>(std::atoi(owner_->spec_.Get("concurrency", "16").c_str()))),
          taken_(std::make_shared<Taken>()),
          acks_(std::make_shared<Connection>(owner_->address_)) {
      processing_timeout_ = DurationOr(owner_->spec_, "processingTimeout", std::chrono::seconds(60));
      redeliver_interval_ = DurationOr(owner_->spec_, "redeliverInterval", std::chrono::seconds(60));
    }
    ~Reader() override { Close(); }

    void Start() { thread_ = std::thread([this] { Loop(); }); }

    void Close() override {
      out_->Close();
      if (thread_.joinable()) thread_.join();
    }

    // The group's entries not read yet (on the acks' connection: the
    // reading one blocks in XREADGROUP).
    Result<int64_t> Lag() override {
      OFN_ASSIGN_OR_RETURN(double lag, GroupLag(*acks_, topic_, group_));
      return static_cast<int64_t>(lag);
    }

   private:
    // Entry ids out with the handler (an entry claimed again while still
    // out is not handed out twice).
    struct Taken {
      std::mutex mu;
      std::set<std::string> ids;
    };

    void Loop() {
      // Its own connection: XREADGROUP blocks it.
      Connection reads(owner_->address_, std::chrono::seconds(3));
      auto last_claim = std::chrono::steady_clock::now();
      bool claim_now = true;  // entries a dead reader left: at once, then every interval
      while (true) {
        const int room = out_->WaitForRoom(std::chrono::milliseconds(500));
        if (room < 0) return;
        if (room == 0) continue;
        const auto now = std::chrono::steady_clock::now();
        if (claim_now || now - last_claim >= redeliver_interval_) {
          claim_now = false;
          last_claim = now;
          auto claimed = reads.Command({"XAUTOCLAIM", topic_, group_, name_,
                                        std::to_string(processing_timeout_.count()), "0-0", "COUNT",
                                        std::to_string(room)});
          if (claimed.ok() && claimed->elements.size() >= 2) Hand(claimed->elements[1]);
          continue;
        }
        auto got = reads.Command({"XREADGROUP", "GROUP", group_, name_, "COUNT", std::to_string(room), "BLOCK", "500",
                                  "STREAMS", topic_, ">"});
        if (!got.ok()) {
          OFN_LOG(kWarning) << "pubsub.redis " << owner_->spec_.Ref() << ": reading " << topic_ << ": "
                            << got.status().ToString();
          out_->Pause(std::chrono::seconds(1));
          continue;
        }
        // [[topic, [[id, [field, value, ...]], ...]]]
        for (const Reply& stream : got->elements) {
          if (stream.elements.size() >= 2) Hand(stream.elements[1]);
        }
      }
    }

    // Hands [[id, [field, value, ...]], ...] to the handler.
    void Hand(const Reply& entries) {
      for (const Reply& e : entries.elements) {
        if (e.elements.size() < 2) continue;  // deleted entry
        Message m;
        m.id = e.elements[0].str;
        m.topic = topic_;
        const Reply& fields = e.elements[1];
        for (size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
          if (fields.elements[i].str == "data") m.data = fields.elements[i + 1].str;
          if (fields.elements[i].str == "contentType") m.content_type = fields.elements[i + 1].str;
        }
        {
          std::lock_guard<std::mutex> lock(taken_->mu);
          if (!taken_->ids.insert(m.id).second) continue;  // already out (claimed while in flight)
        }
        out_->Add();
        std::shared_ptr<InFlight> out = out_;
        std::shared_ptr<Taken> taken = taken_;
        std::shared_ptr<Connection> acks = acks_;
        std::string topic = topic_, group = group_, id = m.id;
        handler_(std::move(m), [out, taken, acks, topic, group, id](bool consumed) {
          if (consumed) {
            auto acked = acks->Command({"XACK", topic, group, id});
            if (!acked.ok()) {
              OFN_LOG(kWarning) << "pubsub.redis: XACK " << topic << " " << id << ": " << acked.status().ToString();
            }
          }
          {
            std::lock_guard<std::mutex> lock(taken->mu);
            taken->ids.erase(id);
          }
          out->Done();
        });
      }
    }

    std::shared_ptr<RedisPubSub> owner_;
    const std::string topic_, group_, name_;
    MessageHandler handler_;
    std::shared_ptr<InFlight> out_;
    std::shared_ptr<Taken> taken_;
    std::shared_ptr<Connection> acks_;  // its own: acks do not wait behind publishes
    std::chrono::milliseconds processing_timeout_{60000}, redeliver_interval_{60000};
    std::thread thread_;
  };

  const ComponentSpec spec_;
  const Address address_;
  std::shared_ptr<Connection> commands_;
};

// --- state.redis -----------------------------------------------------------------

constexpr const char* kSetScript = R"(
local v = redis.call('HGET', KEYS[1], 'version')
if ARGV[2] ~= '' and v ~= ARGV[2] then return redis.error_reply('etag mismatch') end
redis.call('HSET', KEYS[1], 'data', ARGV[1])
return redis.call('HINCRBY', KEYS[1], 'version', 1))";

constexpr const char* kDeleteScript = R"(
local v = redis.call('HGET', KEYS[1], 'version')
if ARGV[1] ~= '' and v ~= ARGV[1] then return redis.error_reply('etag mismatch') end
return redis.call('DEL', KEYS[1]))";

// ARGV: kind, value, etag per key.
constexpr const char* kTransactScript = R"(
for i = 1, #KEYS do
  local etag = ARGV[(i - 1) * 3 + 3]
  if etag ~= '' and redis.call('HGET', KEYS[i], 'version') ~= etag then
    return redis.error_reply('etag mismatch for key ' .. KEYS[i])
  end
end
for i = 1, #KEYS do
  if ARGV[(i - 1) * 3 + 1] == 'delete' then
    redis.call('DEL', KEYS[i])
  else
    redis.call('HSET', KEYS[i], 'data', ARGV[(i - 1) * 3 + 2])
    redis.call('HINCRBY', KEYS[i], 'version', 1)
  end
end
return #KEYS)";

Status EtagError(const Status& s) {
  if (s.message().find("etag mismatch") != std::string::npos) return Status(StatusCode::kFailedPrecondition, s.message());
  return s;
}

class RedisStateStore final : public StateStore {
 public:
  RedisStateStore(const ComponentSpec&, Address a) : conn_(std::move(a)) {}
  Status Check() { return conn_.Command({"PING"}).status(); }

  Result<StateItem> Get(const std::string& key) override {
    OFN_ASSIGN_OR_RETURN(Reply r, conn_.Command({"HMGET", key, "data", "version"}));
    if (r.elements.size() != 2 || r.elements[0].nil()) {
      return Status(StatusCode::kNotFound, "no state under key \"" + key + "\"");
    }
    return StateItem{key, r.elements[0].str, r.elements[1].str, {}};
  }
  Status Set(const StateItem& item) override {
    return EtagError(conn_.Command({"EVAL", kSetScript, "1", item.key, item.value, item.etag}).status());
  }
  Status Delete(const std::string& key, const std::string& etag) override {
    return EtagError(conn_.Command({"EVAL", kDeleteScript, "1", key, etag}).status());
  }
  Status Transact(const std::vector<StateOperation>& operations) override {
    if (operations.empty()) return Status::Ok();
    std::vector<std::string> args = {"EVAL", kTransactScript, std::to_string(operations.size())};
    for (const StateOperation& op : operations) args.push_back(op.item.key);
    for (const StateOperation& op : operations) {
      args.push_back(op.kind == StateOperation::Kind::kDelete ? "delete" : "upsert");
      args.push_back(op.item.value);
      args.push_back(op.item.etag);
    }
    return EtagError(conn_.Command(args).status());
  }

 private:
  Connection conn_;
};

// --- bindings.redis (output) --------------------------------------------------------

class RedisBinding final : public OutputBinding {
 public:
  RedisBinding(const ComponentSpec&, Address a) : conn_(std::move(a)) {}
  Status Check() { return conn_.Command({"PING"}).status(); }
  std::vector<std::string> Operations() const override { return {"create", "get", "delete"}; }
  Result<BindingResponse> Invoke(const BindingRequest& request) override {
    auto key = request.metadata.find("key");
    if (key == request.metadata.end() || key->second.empty()) {
      return Status(StatusCode::kInvalidArgument, "bindings.redis: metadata \"key\" is required");
    }
    const std::string op = request.operation.empty() ? "create" : request.operation;
    BindingResponse out;
    if (op == "create") {
      std::vector<std::string> args = {"SET", key->second, request.data};
      if (auto ttl = request.metadata.find("ttlInSeconds"); ttl != request.metadata.end() && !ttl->second.empty()) {
        args.insert(args.end(), {"EX", ttl->second});
      }
      OFN_RETURN_IF_ERROR(conn_.Command(args).status());
    } else if (op == "get") {
      OFN_ASSIGN_OR_RETURN(Reply r, conn_.Command({"GET", key->second}));
      out.data = r.str;
    } else if (op == "delete") {
      OFN_RETURN_IF_ERROR(conn_.Command({"DEL", key->second}).status());
    } else {
      return Status(StatusCode::kInvalidArgument, "bindings.redis: operation \"" + op +
                                                      "\" is not supported (create, get, delete)");
    }
    return out;
  }

 private:
  Connection conn_;
};

// --- KEDA scalers: redis (a list's length), redis-streams -------------------------

// KEDA's address metadata: address ("host:port"), or host and port;
// username, password, databaseIndex, enableTLS.
Result<Address> ScalerAddressOf(const scale::KedaTrigger& t) {
  auto get = [&](const std::string& key) {
    auto it = t.metadata.find(key);
    return it == t.metadata.end() ? std::string() : it->second;
  };
  ComponentSpec spec;
  std::string address = get("address");
  if (address.empty()) address = get("host") + ":" + (get("port").empty() ? "6379" : get("port"));
  spec.metadata = {{"redisHost", address},          {"redisUsername", get("username")},
                   {"redisPassword", get("password")}, {"redisDB", get("databaseIndex")},
                   {"enableTLS", get("enableTLS")}};
  return AddressOf(spec);
}

// Reads one number per poll on its own connection (1 s timeout).
class RedisScaler final : public ScalerProbe {
 public:
  RedisScaler(scale::KedaTrigger t, Address a) : t_(std::move(t)), conn_(std::move(a), std::chrono::seconds(1)) {}

  Result<double> Read(Clock::TimePoint) override {
    auto meta = [&](const char* key) { return t_.metadata.count(key) ? t_.metadata.at(key) : std::string(); };
    if (t_.type == "redis") {
      OFN_ASSIGN_OR_RETURN(Reply r, conn_.Command({"LLEN", meta("listName")}));
      return static_cast<double>(r.integer);
    }
    const std::string stream = meta("stream"), group = meta("consumerGroup");
    if (t_.measure == "streamLength") {
      OFN_ASSIGN_OR_RETURN(Reply r, conn_.Command({"XLEN", stream}));
      return static_cast<double>(r.integer);
    }
    if (t_.measure == "pendingEntriesCount") {
      // XPENDING's summary: [count, first id, last id, consumers].
      auto r = conn_.Command({"XPENDING", stream, group});
      if (!r.ok() && r.status().message().find("NOGROUP") != std::string::npos) return 0.0;
      OFN_RETURN_IF_ERROR(r.status());
      return r->elements.empty() ? 0.0 : static_cast<double>(r->elements[0].integer);
    }
    return GroupLag(conn_, stream, group);  // lagCount
  }

 private:
  const scale::KedaTrigger t_;
  Connection conn_;
};

}  // namespace

// A factory of `T` (made from the spec and its address) that answers only
// once the server does.
template <typename Base, typename T>
ComponentRegistry::Factory<Base> Connected() {
  return [](const ComponentSpec& spec, ComponentEnv*) -> Result<std::shared_ptr<Base>> {
    OFN_ASSIGN_OR_RETURN(Address a, AddressOf(spec));
    auto c = std::make_shared<T>(spec, std::move(a));
    OFN_RETURN_IF_ERROR(c->Check());
    return std::shared_ptr<Base>(std::move(c));
  };
}

void RegisterRedisComponents(ComponentRegistry* registry) {
  registry->AddPubSub("pubsub.redis", Connected<PubSub, RedisPubSub>());
  registry->AddStateStore("state.redis", Connected<StateStore, RedisStateStore>());
  registry->AddOutputBinding("bindings.redis", Connected<OutputBinding, RedisBinding>());
  for (const char* type : {"redis", "redis-streams"}) {
    registry->AddScaler(type, [](const scale::KedaTrigger& t, ComponentEnv*) -> Result<std::shared_ptr<ScalerProbe>> {
      OFN_ASSIGN_OR_RETURN(Address a, ScalerAddressOf(t));
      return std::shared_ptr<ScalerProbe>(std::make_shared<RedisScaler>(t, std::move(a)));
    });
  }
}

}  // namespace ofn::events
