// AsyncRuntime: OpenFunction's async runtime, natively — what Dapr's sidecar
// does for a Function with serving.triggers.dapr and serving.outputs.
//
// Each input (a binding or a pub/sub topic) is read on behalf of its
// Function; every message becomes a request delivered through the
// Function's own data path (its traffic split, activator, container
// concurrency and autoscaler — so an idle Function scales from zero on its
// first event). A message is acknowledged to its component only when the
// function answered 2xx (a Dapr-style {"status":"RETRY"} asks again,
// {"status":"DROP"} drops it); a failure is retried with exponential
// back-off on the platform clock, then dead-lettered (logged, counted, and
// published to the dead-letter topic when one is set). Outputs
// (context.send) go to bindings and topics; pub/sub data is wrapped in a
// CloudEvent 1.0 envelope as Dapr does.
//
// Thread-safe. Never calls a component or the delivery path under its lock.
#ifndef LIBOFN_PLATFORM_INTERNAL_ASYNC_RUNTIME_H_
#define LIBOFN_PLATFORM_INTERNAL_ASYNC_RUNTIME_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "libofn/common/clock.h"
#include "libofn/common/status.h"
#include "libofn/events/component.h"
#include "libofn/serve/http.h"

namespace ofn::platform::internal {

struct AsyncInput {
  std::string name;  // the component's name (the trigger's name)
  events::ComponentSpec component;
  std::string topic;  // pub/sub
};
struct AsyncOutput {
  std::string name;
  events::ComponentSpec component;
  std::string operation;  // bindings
  std::string topic;      // pub/sub
  std::map<std::string, std::string> metadata;
};
// What a Function asks of the async runtime.
struct AsyncFunction {
  std::string ns, name;
  std::vector<AsyncInput> inputs;
  std::vector<AsyncOutput> outputs;
  // Every component the Function may reach through the Dapr API: the ones
  // it embeds and the Component objects of its namespace, by name.
  std::map<std::string, events::ComponentSpec> components;
  std::string dead_letter_topic;  // annotation ofn.io/dead-letter-topic (on the input's pub/sub)
  int max_attempts = 5;           // annotation ofn.io/max-delivery-attempts
  // A component that could not be resolved (a missing Component or Secret).
  std::string error;
  // Its instances are HTTP apps: before the first pub/sub delivery the
  // runtime asks GET /dapr/subscribe, as Dapr does, and POSTs each topic's
  // messages to the route the app names there (else to /<input name>).
  bool app_routes = false;
  // Inputs and outputs as one comparable text.
  std::string Fingerprint() const;
};

// Reads the async part of a Function's spec: its dapr triggers and outputs,
// each resolved to the component it names — one embedded in
// serving.bindings/pubsub/states, else a Component object in `components`
// (same namespace) — with secretKeyRef values read from `secrets`
// (namespace/name -> data key -> decoded value). Unresolvable references
// are named in `error`; the rest still runs. Pure.
AsyncFunction MakeAsyncFunction(
    const std::string& ns, const std::string& name, const std::string& spec_json,
    const std::map<std::string, std::string>& annotations,
    const std::map<std::string, events::ComponentSpec>& components,  // by "ns/name"
    const std::map<std::string, std::map<std::string, std::string>>& secrets);

// Reads a Component object's spec JSON; `error` says what is wrong with it.
events::ComponentSpec ComponentFromSpec(const std::string& ns, const std::string& name, const std::string& spec_json,
                                        const std::map<std::string, std::map<std::string, std::string>>& secrets,
                                        std::string* error);

class AsyncRuntime {
 public:
  // Hands a request to the Function's data path; `done` gets the response
  // (from any thread). False when the Function cannot take one now (not
  // served yet, pool being replaced): the delivery waits for the next tick
  // without counting as an attempt.
  using Deliver = std::function<bool(const std::string& ns, const std::string& function, HttpRequest request,
                                     std::function<void(HttpResponse)> done)>;
  struct Options {
    std::chrono::milliseconds first_backoff{1000};
    std::chrono::milliseconds max_backoff{std::chrono::seconds(60)};
    // How often the ticker fires due cron inputs and retries (on the
    // monotonic wall time; the platform clock decides what is due).
    std::chrono::milliseconds tick{20};
    // How often (wall time) inputs and outputs that failed to open (a broker
    // that was down) are tried again.
    std::chrono::milliseconds reopen{std::chrono::seconds(5)};
    // Called (without locks) when what Problem() says of a Function changed.
    std::function<void()> on_change;
  };

  // Borrowed pointers must outlive it.
  AsyncRuntime(const events::ComponentRegistry* registry, events::ComponentEnv* env, Clock* clock, Deliver deliver,
               Options options);
  ~AsyncRuntime();  // Stop()

  // `ticker`: a thread ticks every Options::tick; without it, Tick() does.
  void Start(bool ticker);
  // Closes every input; messages not acknowledged are left to their
  // components (a broker delivers them again). Idempotent.
  void Stop();

  // The async Functions now (one reconcile pass): a Function whose inputs
  // and outputs are unchanged keeps its subscriptions.
  void Set(std::vector<AsyncFunction> functions);
  // Why a Function's inputs or outputs do not all run; "" when they do.
  std::string Problem(const std::string& ns, const std::string& name);

  // context.send(data, output) of the Function ns/name.
  Status Send(const std::string& ns, const std::string& name, const std::string& output, const std::string& data);

  // The Dapr API's side (dapr_api.cc): who an API token belongs to
  // ("ns/name"; "" when nobody), a Function's token (made on first use,
  // random, for this run of the platform), and the components it reaches.
  std::string AppOfToken(const std::string& token);
  std::string TokenOf(const std::string& ns, const std::string& name);
  Result<events::ComponentSpec> ComponentOf(const std::string& app, const std::string& component);
  // Publishes `data` (wrapped in a CloudEvent unless it is one) to a topic
  // of the app's pub/sub component.
  Status Publish(const std::string& app, const std::string& pubsub, const std::string& topic, const std::string& data,
                 const std::string& content_type, const std::map<std::string, std::string>& metadata);
  Result<events::BindingResponse> InvokeBinding(const std::string& app, const std::string& binding,
                                                const events::BindingRequest& request);
  Result<std::shared_ptr<events::StateStore>> StateStoreOf(const std::string& app, const std::string& store);

  // Fires due time-driven inputs and due retries now.
  void Tick();

  struct InputCounters {
    uint64_t received = 0, delivered = 0, retried = 0, dead_lettered = 0, dropped = 0;
    uint64_t in_flight = 0;
  };
  // By "ns/function/input".
  std::map<std::string, InputCounters> Counters();
  // The counters in the Prometheus text format.
  std::string Metrics();

 private:
  struct Fn;
  struct Input;
  struct Delivery;
  void Open(const std::shared_ptr<Fn>& fn);
  void Close(Fn& fn);
  void OnMessage(const std::shared_ptr<Input>& input, events::Message m, events::Ack ack);
  void Attempt(std::shared_ptr<Delivery> d);
  // The app's subscriptions (GET /dapr/subscribe through the Function's data
  // path); the deliveries that waited for them go out when it answered.
  void AskRoutes(const std::shared_ptr<Fn>& fn);
  void Answered(std::shared_ptr<Delivery> d, HttpResponse r);
  void DeadLetter(const std::shared_ptr<Delivery>& d, const std::string& why);
  Result<std::shared_ptr<events::PubSub>> SharedPubSub(const events::ComponentSpec& spec);
  void Loop();
  // Closes and opens again the Functions whose components failed to open.
  void ReopenFailed();

  const events::ComponentRegistry* registry_;
  events::ComponentEnv* env_;
  Clock* clock_;
  Deliver deliver_;
  const Options options_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::thread thread_;
  std::map<std::string, std::shared_ptr<Fn>> fns_;  // by "ns/name"
  // Pub/sub components are shared by every Function that names the same
  // one (same namespace, name, type and metadata), as a broker is.
  std::map<std::string, std::weak_ptr<events::PubSub>> pubsubs_;
  // Output bindings and state stores the Dapr API opened, by component.
  std::map<std::string, std::shared_ptr<events::PubSub>> api_pubsubs_;
  std::map<std::string, std::shared_ptr<events::OutputBinding>> bindings_;
  std::map<std::string, std::shared_ptr<events::StateStore>> states_;
  std::map<std::string, std::string> tokens_;  // token -> "ns/name"
  std::map<std::string, std::string> app_tokens_;  // "ns/name" -> token
  std::multimap<Clock::TimePoint, std::shared_ptr<Delivery>> retries_;
  std::vector<std::shared_ptr<Delivery>> parked_;  // the Function could not take them: next tick
  std::chrono::steady_clock::time_point last_reopen_ = std::chrono::steady_clock::now();
  std::map<std::string, InputCounters> counters_;
};

}  // namespace ofn::platform::internal

#endif  // LIBOFN_PLATFORM_INTERNAL_ASYNC_RUNTIME_H_
