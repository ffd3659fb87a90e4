// pubsub.jetstream over the NATS C client, with Dapr's metadata names:
// natsURL, durableName, ackWait, maxDeliver, memoryStorage, streamName.
// A topic is a subject; a stream holding it is created when none does
// (named streamName, else OFN_<subject>). Each consumer is a durable pull
// consumer (durableName, else the Function): its subscribers share the
// messages. A message is acked when consumed, nak'ed when not taken, and
// redelivered by the server after ackWait when its reader died.
#include <nats/nats.h>

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

std::string Why(natsStatus s, jsErrCode code = static_cast<jsErrCode>(0)) {
  std::string text = natsStatus_GetText(s);
  if (const char* last = nats_GetLastError(nullptr); last && *last) text = last;
  if (code != 0) text += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
  return text;
}

// Durable and stream names: no '.', '*', '>', spaces or slashes.
std::string Token(std::string s) {
  for (char& c : s) {
    if (c == '.' || c == '*' || c == '>' || c == ' ' || c == '/' || c == '\\') c = '_';
  }
  return s;
}

int64_t Nanos(const ComponentSpec& spec, const std::string& key, int64_t fallback) {
  double seconds = 0;
  std::string text = spec.Get(key);
  if (!text.empty() && spec::ParseGoDuration(text, &seconds) && seconds > 0) return static_cast<int64_t>(seconds * 1e9);
  return fallback;
}

class JetStream final : public PubSub, public std::enable_shared_from_this<JetStream> {
 public:
  explicit JetStream(ComponentSpec spec) : spec_(std::move(spec)) {}
  ~JetStream() override {
    if (js_) jsCtx_Destroy(js_);
    if (nc_) natsConnection_Destroy(nc_);
  }

  Status Connect() {
    const std::string url = spec_.Get("natsURL", "nats://127.0.0.1:4222");
    natsStatus s = natsConnection_ConnectTo(&nc_, url.c_str());
    if (s != NATS_OK) return Status(StatusCode::kUnavailable, "cannot connect to NATS at " + url + ": " + Why(s));
    s = natsConnection_JetStream(&js_, nc_, nullptr);
    if (s != NATS_OK) return Status(StatusCode::kUnavailable, "JetStream at " + url + ": " + Why(s));
    return Status::Ok();
  }

  Status Publish(const std::string& topic, const std::string& data, const std::string& content_type,
                 const std::map<std::string, std::string>&) override {
    OFN_RETURN_IF_ERROR(EnsureStream(topic));
    natsMsg* msg = nullptr;
    natsStatus s = natsMsg_Create(&msg, topic.c_str(), nullptr, data.data(), static_cast<int>(data.size()));
    if (s == NATS_OK && !content_type.empty()) s = natsMsgHeader_Set(msg, "Content-Type", content_type.c_str());
    jsPubAck* ack = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    if (s == NATS_OK) s = js_PublishMsg(&ack, js_, msg, nullptr, &code);
    if (ack) jsPubAck_Destroy(ack);
    natsMsg_Destroy(msg);
    if (s != NATS_OK) return Status(StatusCode::kUnavailable, "publishing to " + topic + ": " + Why(s, code));
    return Status::Ok();
  }

  Result<std::unique_ptr<Subscription>> Subscribe(const std::string& topic, const std::string& consumer,
                                                  MessageHandler handler) override {
    OFN_RETURN_IF_ERROR(EnsureStream(topic));
    const std::string durable = Token(spec_.Get("durableName", consumer));
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Config.AckWait = Nanos(spec_, "ackWait", 30'000'000'000LL);
    if (std::string md = spec_.Get("maxDeliver"); !md.empty()) so.Config.MaxDeliver = std::atoll(md.c_str());
    natsSubscription* sub = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_PullSubscribe(&sub, js_, topic.c_str(), durable.c_str(), nullptr, &so, &code);
    if (s != NATS_OK) return Status(StatusCode::kUnavailable, "subscribing to " + topic + ": " + Why(s, code));
    auto reader = std::make_unique<Reader>(shared_from_this(), sub, topic, std::move(handler));
    reader->Start();
    return std::unique_ptr<Subscription>(std::move(reader));
  }

 private:
  // Pulls batches as room frees up (at most `concurrency` out at once).
  class Reader final : public Subscription {
   public:
    Reader(std::shared_ptr<JetStream> owner, natsSubscription* sub, std::string topic, MessageHandler handler)
        : owner_(std::move(owner)), sub_(sub), topic_(std::move(topic)), handler_(std::move(handler)),
          out_(std::make_shared<InFlight>(std::atoi(owner_->spec_.Get("concurrency", "16").c_str()))) {}
    ~Reader() override {
      Close();
      natsSubscription_Destroy(sub_);
    }
    void Start() { thread_ = std::thread([this] { Loop(); }); }
    void Close() override {
      out_->Close();
      if (thread_.joinable()) thread_.join();
    }
    // The durable consumer's messages not yet delivered.
    Result<int64_t> Lag() override {
      jsConsumerInfo* info = nullptr;
      jsErrCode code = static_cast<jsErrCode>(0);
      natsStatus s = natsSubscription_GetConsumerInfo(&info, sub_, nullptr, &code);
      if (s != NATS_OK) return Status(StatusCode::kUnavailable, "consumer info of " + topic_ + ": " + Why(s, code));
      const int64_t pending = static_cast<int64_t>(info->NumPending);
      jsConsumerInfo_Destroy(info);
      return pending;
    }

   private:
    void Loop() {
      while (true) {
        const int room = out_->WaitForRoom(std::chrono::milliseconds(500));
        if (room < 0) return;
        if (room == 0) continue;
        natsMsgList list{nullptr, 0};
        jsErrCode code = static_cast<jsErrCode>(0);
        natsStatus s = natsSubscription_Fetch(&list, sub_, room, 500, &code);
        if (s == NATS_TIMEOUT) continue;
        if (s != NATS_OK) {
          OFN_LOG(kWarning) << "pubsub.jetstream " << owner_->spec_.Ref() << ": fetching " << topic_ << ": "
                            << Why(s, code);
          out_->Pause(std::chrono::seconds(1));
          continue;
        }
        for (int i = 0; i < list.Count; ++i) {
          std::shared_ptr<natsMsg> msg(list.Msgs[i], [](natsMsg* m) { natsMsg_Destroy(m); });
          list.Msgs[i] = nullptr;
          Message m;
          m.topic = topic_;
          m.data.assign(natsMsg_GetData(msg.get()), static_cast<size_t>(natsMsg_GetDataLength(msg.get())));
          const char* ct = nullptr;
          if (natsMsgHeader_Get(msg.get(), "Content-Type", &ct) == NATS_OK && ct) m.content_type = ct;
          jsMsgMetaData* meta = nullptr;
          if (natsMsg_GetMetaData(&meta, msg.get()) == NATS_OK && meta) {
            m.id = std::to_string(meta->Sequence.Stream);
            jsMsgMetaData_Destroy(meta);
          }
          out_->Add();
          std::shared_ptr<InFlight> out = out_;
          handler_(std::move(m), [msg, out](bool consumed) {
            natsStatus a = consumed ? natsMsg_Ack(msg.get(), nullptr) : natsMsg_Nak(msg.get(), nullptr);
            if (a != NATS_OK) {
              OFN_LOG(kWarning) << "pubsub.jetstream: acknowledging: " << Why(a);
            }
            out->Done();
          });
        }
        natsMsgList_Destroy(&list);
      }
    }

    std::shared_ptr<JetStream> owner_;
    natsSubscription* sub_;
    const std::string topic_;
    MessageHandler handler_;
    std::shared_ptr<InFlight> out_;
    std::thread thread_;
  };

  // A stream that captures the subject: found, or made.
  Status EnsureStream(const std::string& subject) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (streams_.contains(subject)) return Status::Ok();
    }
    const std::string name = Token(spec_.Get("streamName", "OFN_" + subject));
    jsStreamInfo* info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&info, js_, name.c_str(), nullptr, &code);
    if (s == NATS_OK) {
      jsStreamInfo_Destroy(info);
    } else {
      jsStreamConfig cfg;
      jsStreamConfig_Init(&cfg);
      cfg.Name = name.c_str();
      const char* subjects[] = {subject.c_str()};
      cfg.Subjects = subjects;
      cfg.SubjectsLen = 1;
      cfg.Storage = spec_.Get("memoryStorage") == "true" ? js_MemoryStorage : js_FileStorage;
      code = static_cast<jsErrCode>(0);
      s = js_AddStream(&info, js_, &cfg, nullptr, &code);
      if (info) jsStreamInfo_Destroy(info);
      // Another stream already holds the subject: it captures the messages.
      if (s != NATS_OK && code != JSStreamSubjectOverlapErr && code != JSStreamNameExistErr) {
        return Status(StatusCode::kUnavailable, "creating stream " + name + " for " + subject + ": " + Why(s, code));
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    streams_.insert(subject);
    return Status::Ok();
  }

  const ComponentSpec spec_;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  std::mutex mu_;
  std::set<std::string> streams_;  // subjects known to be captured
};

}  // namespace

void RegisterNatsComponents(ComponentRegistry* registry) {
  registry->AddPubSub("pubsub.jetstream",
                      [](const ComponentSpec& spec, ComponentEnv*) -> Result<std::shared_ptr<PubSub>> {
                        auto p = std::make_shared<JetStream>(spec);
                        OFN_RETURN_IF_ERROR(p->Connect());
                        return std::shared_ptr<PubSub>(std::move(p));
                      });
}

}  // namespace ofn::events
