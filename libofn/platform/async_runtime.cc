#include "libofn/platform/internal/async_runtime.h"

#include <boost/json.hpp>
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <random>

#include "libofn/common/internal/json_access.h"
#include "libofn/common/log.h"
#include "libofn/spec/internal/components.h"

namespace ofn::platform::internal {

namespace json = boost::json;
using ofn::internal::Arr;
using ofn::internal::At;
using ofn::internal::Obj;
using ofn::internal::Str;

namespace {

std::string ScalarText(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  return json::serialize(v);
}

// A Dapr metadata list: name -> value, secretKeyRef read from `secrets`,
// envRef from the platform's environment.
std::map<std::string, std::string> ReadMetadata(const std::string& ns, const json::array* items,
                                                const std::map<std::string, std::map<std::string, std::string>>& secrets,
                                                std::string* error) {
  std::map<std::string, std::string> out;
  if (!items) return out;
  for (const json::value& item : *items) {
    const json::object* o = Obj(&item);
    const std::string name = Str(o, "name");
    if (name.empty()) continue;
    if (const json::value* v = At(o, "value")) {
      out[name] = ScalarText(*v);
    } else if (const json::object* ref = Obj(At(o, "secretKeyRef"))) {
      const std::string secret = Str(ref, "name"), key = Str(ref, "key", Str(ref, "name"));
      auto s = secrets.find(ns + "/" + secret);
      auto k = s == secrets.end() ? std::map<std::string, std::string>::const_iterator() : s->second.find(key);
      if (s == secrets.end() || k == s->second.end()) {
        if (error->empty()) {
          *error = "metadata " + name + ": Secret " + ns + "/" + secret + (s == secrets.end() ? " not found" : " has no key " + key);
        }
        continue;
      }
      out[name] = k->second;
    } else if (const std::string env = Str(o, "envRef"); !env.empty()) {
      const char* value = std::getenv(env.c_str());
      out[name] = value ? value : "";
    }
  }
  return out;
}

events::ComponentSpec ComponentFromObject(const std::string& ns, const std::string& name, const json::object* spec,
                                          const std::map<std::string, std::map<std::string, std::string>>& secrets,
                                          std::string* error) {
  events::ComponentSpec c;
  c.ns = ns;
  c.name = name;
  c.type = Str(spec, "type");
  c.version = Str(spec, "version", "v1");
  std::string why;
  c.metadata = ReadMetadata(ns, Arr(At(spec, "metadata")), secrets, &why);
  if (!why.empty() && error && error->empty()) *error = "component " + ns + "/" + name + ": " + why;
  return c;
}

std::string Hex(uint64_t v, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) s[static_cast<size_t>(i)] = kHex[v & 15];
  return s;
}

// A random (version 4) UUID for CloudEvent ids.
std::string NewId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng(), b = rng();
  a = (a & ~0xf000ULL) | 0x4000ULL;
  b = (b & ~(3ULL << 62)) | (2ULL << 62);
  std::string h = Hex(a, 16) + Hex(b, 16);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

// Dapr's envelope of a published message.
std::string CloudEventEnvelope(const std::string& source, const std::string& pubsub, const std::string& topic,
                               const std::string& data) {
  json::object ce;
  ce["specversion"] = "1.0";
  ce["id"] = NewId();
  ce["source"] = source;
  ce["type"] = "com.dapr.event.sent";
  ce["topic"] = topic;
  ce["pubsubname"] = pubsub;
  boost::system::error_code ec;
  json::value parsed = json::parse(data, ec);
  if (!ec && !data.empty()) {
    ce["datacontenttype"] = "application/json";
    ce["data"] = std::move(parsed);
  } else {
    ce["datacontenttype"] = "text/plain";
    ce["data"] = data;
  }
  return json::serialize(ce);
}

std::string Key(const std::string& ns, const std::string& name) { return ns + "/" + name; }

std::string ComponentKey(const events::ComponentSpec& c) {
  std::string k = c.ns + "/" + c.name + "\n" + c.type + "\n" + c.version;
  for (const auto& [n, v] : c.metadata) k += "\n" + n + "=" + v;
  return k;
}

}  // namespace

events::ComponentSpec ComponentFromSpec(const std::string& ns, const std::string& name, const std::string& spec_json,
                                        const std::map<std::string, std::map<std::string, std::string>>& secrets,
                                        std::string* error) {
  json::value root = ofn::internal::ParseObjectOrEmpty(spec_json);
  return ComponentFromObject(ns, name, &root.as_object(), secrets, error);
}

std::string AsyncFunction::Fingerprint() const {
  std::string f = dead_letter_topic + "\n" + std::to_string(max_attempts) + (app_routes ? " app-routes" : "");
  for (const auto& [name, c] : components) f += "\ncomponent " + ComponentKey(c);
  for (const AsyncInput& i : inputs) f += "\nin " + i.name + " " + i.topic + " " + ComponentKey(i.component);
  for (const AsyncOutput& o : outputs) {
    f += "\nout " + o.name + " " + o.operation + " " + o.topic + " " + ComponentKey(o.component);
    for (const auto& [k, v] : o.metadata) f += " " + k + "=" + v;
  }
  return f;
}

AsyncFunction MakeAsyncFunction(const std::string& ns, const std::string& name, const std::string& spec_json,
                                const std::map<std::string, std::string>& annotations,
                                const std::map<std::string, events::ComponentSpec>& components,
                                const std::map<std::string, std::map<std::string, std::string>>& secrets) {
  AsyncFunction fn;
  fn.ns = ns;
  fn.name = name;
  if (auto it = annotations.find("ofn.io/dead-letter-topic"); it != annotations.end()) fn.dead_letter_topic = it->second;
  if (auto it = annotations.find("ofn.io/max-delivery-attempts"); it != annotations.end()) {
    fn.max_attempts = std::max(1, std::atoi(it->second.c_str()));
  }
  json::value root = ofn::internal::ParseObjectOrEmpty(spec_json);
  const json::object* serving = Obj(At(&root.as_object(), "serving"));
  // What the Dapr API reaches: the namespace's Component objects, then the
  // embedded ones (which win on a name clash, as they are the Function's own).
  for (const auto& [key, c] : components) {
    if (c.ns == ns) fn.components[c.name] = c;
  }
  for (std::string_view section : {"bindings", "pubsub", "states"}) {
    if (const json::object* m = Obj(At(serving, section))) {
      for (const auto& [cname, c] : *m) {
        const json::object* co = Obj(&c);
        if (co && section == "states") co = Obj(At(co, "spec"));
        if (co) fn.components[std::string(cname)] = ComponentFromObject(ns, std::string(cname), co, secrets, &fn.error);
      }
    }
  }
  // The component a trigger or output names: embedded first, then an object.
  auto resolve = [&](const std::string& component, events::ComponentSpec* out) -> bool {
    if (const json::object* c = spec::EmbeddedComponent(serving, component)) {
      *out = ComponentFromObject(ns, component, c, secrets, &fn.error);
      return true;
    }
    auto it = components.find(Key(ns, component));
    if (it == components.end()) {
      if (fn.error.empty()) {
        fn.error = "component " + component + " is neither in serving.bindings/pubsub/states nor a Component in " +
                   "namespace " + ns;
      }
      return false;
    }
    *out = it->second;
    return true;
  };
  if (const json::array* dapr = Arr(At(Obj(At(serving, "triggers")), "dapr"))) {
    for (const json::value& t : *dapr) {
      const json::object* to = Obj(&t);
      AsyncInput in;
      in.name = Str(to, "name");
      in.topic = Str(to, "topic");
      if (in.name.empty() || !resolve(in.name, &in.component)) continue;
      fn.inputs.push_back(std::move(in));
    }
  }
  if (const json::array* outputs = Arr(At(serving, "outputs"))) {
    for (const json::value& o : *outputs) {
      const json::object* d = Obj(At(Obj(&o), "dapr"));
      if (!d) continue;
      AsyncOutput out;
      out.name = Str(d, "name");
      out.operation = Str(d, "operation");
      out.topic = Str(d, "topic");
      if (const json::object* md = Obj(At(d, "metadata"))) {
        for (const auto& [k, v] : *md) out.metadata[std::string(k)] = ScalarText(v);
      }
      if (out.name.empty() || !resolve(out.name, &out.component)) continue;
      fn.outputs.push_back(std::move(out));
    }
  }
  return fn;
}

// --- the runtime --------------------------------------------------------------

struct AsyncRuntime::Input {
  std::string fn_key;  // "ns/name"
  std::string ns, function;
  AsyncInput spec;
  std::string dead_letter_topic;
  int max_attempts = 5;
  std::string counter_key;  // "ns/function/input"
  std::shared_ptr<events::InputBinding> binding;
  std::shared_ptr<events::PubSub> pubsub;
  std::unique_ptr<events::Subscription> subscription;
  std::atomic<bool> open{true};
};

struct AsyncRuntime::Fn {
  AsyncFunction spec;
  std::string fingerprint;
  std::vector<std::shared_ptr<Input>> inputs;
  // The outputs' components, opened with the Function (by output name).
  std::map<std::string, std::shared_ptr<events::PubSub>> out_pubsubs;
  std::map<std::string, std::shared_ptr<events::OutputBinding>> out_bindings;
  std::string problem;
  // The app's subscriptions (spec.app_routes), from GET /dapr/subscribe:
  // route by "pubsubname\ntopic". Deliveries wait while it is asked.
  enum class Routes { kUnknown, kAsking, kKnown };
  Routes routes_state = Routes::kUnknown;
  std::map<std::string, std::string> routes;
  std::vector<std::shared_ptr<Delivery>> awaiting_routes;
};

struct AsyncRuntime::Delivery {
  std::shared_ptr<Input> input;
  events::Message message;
  events::Ack ack;
  int attempt = 0;  // attempts made
  std::string last_error;
  std::string route;     // the path the app declared for this topic ("": /<input name>)
  bool routed = false;   // the app's routes were looked up (or could not be)
};

AsyncRuntime::AsyncRuntime(const events::ComponentRegistry* registry, events::ComponentEnv* env, Clock* clock,
                           Deliver deliver, Options options)
    : registry_(registry), env_(env), clock_(clock), deliver_(std::move(deliver)), options_(options) {}

AsyncRuntime::~AsyncRuntime() { Stop(); }

void AsyncRuntime::Start(bool ticker) {
  if (ticker) thread_ = std::thread([this] { Loop(); });
}

void AsyncRuntime::Stop() {
  std::map<std::string, std::shared_ptr<Fn>> fns;
  std::multimap<Clock::TimePoint, std::shared_ptr<Delivery>> retries;
  std::vector<std::shared_ptr<Delivery>> parked;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_ && fns_.empty() && retries_.empty() && parked_.empty()) return;
    stopped_ = true;
    fns.swap(fns_);
    retries.swap(retries_);
    parked.swap(parked_);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& [key, fn] : fns) Close(*fn);
  for (auto& [when, d] : retries) d->ack(false);
  for (auto& d : parked) d->ack(false);
  std::lock_guard<std::mutex> lock(mu_);
  api_pubsubs_.clear();
  bindings_.clear();
  states_.clear();
}

void AsyncRuntime::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopped_) {
    // Nothing to fire while no Function has inputs: sleep until Set adds one.
    cv_.wait(lock, [this] { return stopped_ || !fns_.empty() || !retries_.empty() || !parked_.empty(); });
    cv_.wait_for(lock, options_.tick, [this] { return stopped_; });
    if (stopped_) break;
    lock.unlock();
    Tick();
    lock.lock();
  }
}

void AsyncRuntime::Tick() {
  std::vector<std::shared_ptr<Input>> inputs;
  std::vector<std::shared_ptr<events::PubSub>> pubsubs;
  std::vector<std::shared_ptr<Delivery>> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    for (const auto& [key, fn] : fns_) {
      for (const auto& in : fn->inputs) inputs.push_back(in);
    }
    for (const auto& [key, weak] : pubsubs_) {
      if (auto p = weak.lock()) pubsubs.push_back(std::move(p));
    }
    const Clock::TimePoint now = clock_->Now();
    due.swap(parked_);
    while (!retries_.empty() && retries_.begin()->first <= now) {
      due.push_back(std::move(retries_.begin()->second));
      retries_.erase(retries_.begin());
    }
  }
  for (const auto& in : inputs) {
    if (in->binding) in->binding->Tick();
  }
  for (const auto& p : pubsubs) p->Tick();
  for (auto& d : due) Attempt(std::move(d));
  ReopenFailed();
}

void AsyncRuntime::ReopenFailed() {
  std::vector<std::shared_ptr<Fn>> failed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (stopped_ || now - last_reopen_ < options_.reopen) return;
    last_reopen_ = now;
    for (const auto& [key, fn] : fns_) {
      if (!fn->problem.empty()) failed.push_back(fn);
    }
  }
  bool changed = false;
  for (const auto& fn : failed) {
    std::string before;
    {
      std::lock_guard<std::mutex> lock(mu_);
      before = fn->problem;
    }
    Close(*fn);
    Open(fn);
    std::lock_guard<std::mutex> lock(mu_);
    changed = changed || fn->problem != before;
  }
  if (changed && options_.on_change) options_.on_change();
}

Result<std::shared_ptr<events::PubSub>> AsyncRuntime::SharedPubSub(const events::ComponentSpec& spec) {
  const std::string key = ComponentKey(spec);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pubsubs_.find(key);
    if (it != pubsubs_.end()) {
      if (auto p = it->second.lock()) return p;
    }
  }
  OFN_ASSIGN_OR_RETURN(std::shared_ptr<events::PubSub> made, registry_->NewPubSub(spec, env_));
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = pubsubs_[key];
  if (auto existing = slot.lock()) return existing;  // another thread made it first
  std::erase_if(pubsubs_, [&key](const auto& kv) { return kv.first != key && kv.second.expired(); });
  slot = made;
  return made;
}

void AsyncRuntime::Set(std::vector<AsyncFunction> functions) {
  std::map<std::string, AsyncFunction> wanted;
  for (AsyncFunction& f : functions) {
    std::string key = Key(f.ns, f.name);
    wanted.emplace(std::move(key), std::move(f));
  }
  std::vector<std::shared_ptr<Fn>> closing, opening;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    for (auto it = fns_.begin(); it != fns_.end();) {
      auto w = wanted.find(it->first);
      if (w == wanted.end() || w->second.Fingerprint() != it->second->fingerprint) {
        closing.push_back(it->second);
        it = fns_.erase(it);
      } else {
        it->second->spec.error = w->second.error;
        ++it;
      }
    }
    for (auto& [key, f] : wanted) {
      if (fns_.contains(key)) continue;
      auto fn = std::make_shared<Fn>();
      fn->fingerprint = f.Fingerprint();
      fn->spec = std::move(f);
      fns_[key] = fn;
      opening.push_back(fn);
    }
  }
  for (const auto& fn : closing) Close(*fn);
  for (const auto& fn : opening) Open(fn);
  if (!opening.empty()) cv_.notify_all();  // the ticker has work again
}

void AsyncRuntime::Open(const std::shared_ptr<Fn>& fn) {
  std::string problem;
  std::vector<std::shared_ptr<Input>> inputs;
  const std::string consumer = Key(fn->spec.ns, fn->spec.name);
  for (const AsyncInput& spec : fn->spec.inputs) {
    auto in = std::make_shared<Input>();
    in->fn_key = consumer;
    in->ns = fn->spec.ns;
    in->function = fn->spec.name;
    in->spec = spec;
    in->dead_letter_topic = fn->spec.dead_letter_topic;
    in->max_attempts = fn->spec.max_attempts;
    in->counter_key = consumer + "/" + spec.name;
    std::weak_ptr<Input> weak = in;
    auto handler = [this, weak](events::Message m, events::Ack ack) {
      auto input = weak.lock();
      if (!input || !input->open) {
        ack(false);
        return;
      }
      OnMessage(input, std::move(m), std::move(ack));
    };
    Status opened;
    if (spec.component.type.starts_with("pubsub.")) {
      auto p = SharedPubSub(spec.component);
      if (p.ok()) {
        in->pubsub = *p;
        auto sub = (*p)->Subscribe(spec.topic, consumer, handler);
        if (sub.ok()) {
          in->subscription = std::move(*sub);
        } else {
          opened = sub.status();
        }
      } else {
        opened = p.status();
      }
    } else {
      auto b = registry_->NewInputBinding(spec.component, env_);
      if (b.ok()) {
        in->binding = *b;
        opened = in->binding->Read(consumer, handler);
      } else {
        opened = b.status();
      }
    }
    if (!opened.ok()) {
      if (problem.empty()) problem = "input " + spec.name + ": " + opened.message();
      continue;
    }
    inputs.push_back(std::move(in));
  }
  std::map<std::string, std::shared_ptr<events::PubSub>> out_pubsubs;
  std::map<std::string, std::shared_ptr<events::OutputBinding>> out_bindings;
  for (const AsyncOutput& o : fn->spec.outputs) {
    Status opened;
    if (o.component.type.starts_with("pubsub.")) {
      auto p = SharedPubSub(o.component);
      if (p.ok()) {
        out_pubsubs[o.name] = *p;
      } else {
        opened = p.status();
      }
    } else if (o.component.type.starts_with("bindings.")) {
      auto b = registry_->NewOutputBinding(o.component, env_);
      if (b.ok()) {
        out_bindings[o.name] = *b;
      } else {
        opened = b.status();
      }
    } else {
      opened = Status(StatusCode::kInvalidArgument, o.component.type + " takes no data: outputs are bindings and pub/sub");
    }
    if (!opened.ok()) {
      if (problem.empty()) problem = "output " + o.name + ": " + opened.message();
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  // Said once per change (a broker that stays down is tried every
  // Options::reopen without a line each time).
  if (problem != fn->problem) {
    if (!problem.empty()) {
      OFN_LOG(kWarning) << "function " << consumer << ": " << problem << " (tried again every "
                        << options_.reopen.count() / 1000 << " s)";
    } else {
      OFN_LOG(kInfo) << "function " << consumer << ": its inputs and outputs are open";
    }
  }
  fn->inputs = std::move(inputs);
  fn->out_pubsubs = std::move(out_pubsubs);
  fn->out_bindings = std::move(out_bindings);
  fn->problem = std::move(problem);
}

void AsyncRuntime::Close(Fn& fn) {
  for (const auto& in : fn.inputs) {
    in->open = false;
    if (in->subscription) in->subscription->Close();
    if (in->binding) in->binding->Close();
  }
  std::vector<std::shared_ptr<Delivery>> waiting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    waiting.swap(fn.awaiting_routes);
    fn.routes_state = Fn::Routes::kUnknown;
  }
  for (auto& d : waiting) d->ack(false);
}

void AsyncRuntime::OnMessage(const std::shared_ptr<Input>& input, events::Message m, events::Ack ack) {
  auto d = std::make_shared<Delivery>();
  d->input = input;
  d->message = std::move(m);
  d->ack = std::move(ack);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counters_[input->counter_key].received;
  }
  Attempt(std::move(d));
}

void AsyncRuntime::Attempt(std::shared_ptr<Delivery> d) {
  const Input& in = *d->input;
  if (!in.open) {
    d->ack(false);
    return;
  }
  if (in.pubsub && !d->routed) {
    std::shared_ptr<Fn> fn;
    bool ask = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = fns_.find(in.fn_key);
      if (it != fns_.end() && it->second->spec.app_routes) {
        fn = it->second;
        if (fn->routes_state == Fn::Routes::kKnown) {
          auto route = fn->routes.find(in.spec.name + "\n" + in.spec.topic);
          if (route != fn->routes.end()) d->route = route->second;
          d->routed = true;
        } else {
          fn->awaiting_routes.push_back(d);
          ask = fn->routes_state == Fn::Routes::kUnknown;
          fn->routes_state = Fn::Routes::kAsking;
        }
      }
    }
    if (ask) AskRoutes(fn);
    if (fn && !d->routed) return;  // goes out when the app answered
  }
  ++d->attempt;
  HttpRequest r;
  r.method = "POST";
  r.target = d->route.empty() ? "/" + in.spec.name : d->route;
  r.event_input = in.spec.name;
  const events::Message& m = d->message;
  if (in.pubsub) {
    // Published through the platform: already a CloudEvent (structured).
    r.headers.Set("Content-Type", m.content_type.empty() ? "application/cloudevents+json" : m.content_type);
  } else {
    // A binding's event, as a binary-mode CloudEvent; its metadata as headers (as Dapr sends them).
    r.headers.Set("ce-specversion", "1.0");
    r.headers.Set("ce-id", m.id.empty() ? NewId() : m.id);
    r.headers.Set("ce-source", in.spec.component.name);
    r.headers.Set("ce-type", in.spec.component.type);
    if (!m.content_type.empty()) r.headers.Set("Content-Type", m.content_type);
    for (const auto& [k, v] : m.metadata) r.headers.Set(k, v);
  }
  r.body = m.data;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counters_[in.counter_key].in_flight;
  }
  if (!deliver_(in.ns, in.function, std::move(r), [this, d](HttpResponse resp) { Answered(d, std::move(resp)); })) {
    --d->attempt;
    std::lock_guard<std::mutex> lock(mu_);
    --counters_[in.counter_key].in_flight;
    if (stopped_) {
      d->ack(false);
      return;
    }
    parked_.push_back(std::move(d));
  }
}

namespace {

// The subscriptions of GET /dapr/subscribe: Dapr's v1 form
// [{"pubsubname", "topic", "route"}] and v2 form (routes.default; rules
// with CEL matches are not evaluated here: their default takes the
// message). By "pubsubname\ntopic".
std::map<std::string, std::string> ParseSubscriptions(const std::string& body, std::string* warning) {
  std::map<std::string, std::string> out;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_array()) {
    *warning = "GET /dapr/subscribe did not answer a JSON array";
    return out;
  }
  for (const json::value& item : v.as_array()) {
    const json::object* o = item.if_object();
    if (!o) continue;
    std::string pubsub = Str(o, "pubsubname"), topic = Str(o, "topic"), route = Str(o, "route");
    if (const json::object* routes = Obj(At(o, "routes"))) {
      if (route.empty()) route = Str(routes, "default");
      if (const json::array* rules = Arr(At(routes, "rules")); rules && !rules->empty()) {
        *warning = "the routing rules of " + pubsub + "/" + topic + " are not evaluated (CEL); their default route takes every message";
        if (route.empty()) {
          if (const json::object* first = Obj(&(*rules)[0])) route = Str(first, "path");
        }
      }
    }
    if (pubsub.empty() || topic.empty() || route.empty()) continue;
    if (route.front() != '/') route = "/" + route;
    out[pubsub + "\n" + topic] = route;
  }
  return out;
}

}  // namespace

void AsyncRuntime::AskRoutes(const std::shared_ptr<Fn>& fn) {
  HttpRequest r;
  r.method = "GET";
  r.target = "/dapr/subscribe";
  auto answered = [this, fn](HttpResponse resp) {
    std::vector<std::shared_ptr<Delivery>> waiting;
    std::string warning;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (resp.status >= 200 && resp.status < 300) {
        fn->routes = ParseSubscriptions(resp.body, &warning);
        fn->routes_state = Fn::Routes::kKnown;
      } else if (resp.status == 404) {
        fn->routes.clear();  // no subscriptions declared: /<input name>, as libofn's frameworks take it
        fn->routes_state = Fn::Routes::kKnown;
      } else {
        // Not answered now (no instance, an error): these go to /<input
        // name>, and the next delivery asks again.
        fn->routes_state = Fn::Routes::kUnknown;
        warning = "GET /dapr/subscribe answered " + std::to_string(resp.status) + "; delivering to /<input name>";
      }
      waiting.swap(fn->awaiting_routes);
      for (const auto& d : waiting) {
        auto route = fn->routes.find(d->input->spec.name + "\n" + d->input->spec.topic);
        d->route = route == fn->routes.end() ? "" : route->second;
        d->routed = true;
      }
    }
    if (!warning.empty()) {
      OFN_LOG(kWarning) << "function " << fn->spec.ns << "/" << fn->spec.name << ": " << warning;
    }
    for (auto& d : waiting) Attempt(std::move(d));
  };
  if (!deliver_(fn->spec.ns, fn->spec.name, std::move(r), answered)) {
    // Not served yet: the deliveries wait for the next tick.
    std::lock_guard<std::mutex> lock(mu_);
    fn->routes_state = Fn::Routes::kUnknown;
    for (auto& d : fn->awaiting_routes) parked_.push_back(std::move(d));
    fn->awaiting_routes.clear();
  }
}

void AsyncRuntime::Answered(std::shared_ptr<Delivery> d, HttpResponse r) {
  // A Dapr app may answer 2xx with {"status": "SUCCESS" | "RETRY" | "DROP"};
  // 404 from a route the app declared drops the message, as Dapr does.
  std::string verdict = r.status >= 200 && r.status < 300 ? "SUCCESS" : "RETRY";
  if (r.status == 404 && !d->route.empty()) verdict = "DROP";
  if (verdict == "SUCCESS" && !r.body.empty() && r.body.front() == '{') {
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    if (!ec && v.is_object()) {
      std::string s = Str(&v.as_object(), "status");
      if (s == "RETRY" || s == "DROP") verdict = s;
    }
  }
  const std::string& key = d->input->counter_key;
  bool stopped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    InputCounters& c = counters_[key];
    --c.in_flight;
    stopped = stopped_;
    if (verdict == "SUCCESS") ++c.delivered;
    if (verdict == "DROP") ++c.dropped;
  }
  if (verdict != "RETRY") {
    d->ack(true);
    return;
  }
  std::string body = r.body.substr(0, 200);
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r' || body.back() == ' ')) body.pop_back();
  d->last_error = "HTTP " + std::to_string(r.status) + (body.empty() ? "" : ": " + body);
  if (stopped || !d->input->open) {
    d->ack(false);
    return;
  }
  if (d->attempt >= d->input->max_attempts) {
    DeadLetter(d, d->last_error);
    return;
  }
  auto backoff = options_.first_backoff * (1LL << std::min(d->attempt - 1, 20));
  if (backoff > options_.max_backoff) backoff = options_.max_backoff;
  std::lock_guard<std::mutex> lock(mu_);
  ++counters_[key].retried;
  retries_.emplace(clock_->Now() + std::chrono::duration_cast<Clock::Duration>(backoff), std::move(d));
}

void AsyncRuntime::DeadLetter(const std::shared_ptr<Delivery>& d, const std::string& why) {
  const Input& in = *d->input;
  OFN_LOG(kWarning) << "function " << in.fn_key << ": input " << in.spec.name << ": message " << d->message.id
                    << " dead-lettered after " << d->attempt << " attempt(s): " << why
                    << (in.dead_letter_topic.empty() ? "" : " (published to " + in.dead_letter_topic + ")");
  if (!in.dead_letter_topic.empty() && in.pubsub) {
    Status s = in.pubsub->Publish(in.dead_letter_topic, d->message.data, d->message.content_type, d->message.metadata);
    if (!s.ok()) {
      OFN_LOG(kWarning) << "function " << in.fn_key << ": dead-letter topic: " << s.ToString();
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counters_[in.counter_key].dead_lettered;
  }
  d->ack(true);
}

Status AsyncRuntime::Send(const std::string& ns, const std::string& name, const std::string& output,
                          const std::string& data) {
  AsyncOutput out;
  std::shared_ptr<events::PubSub> pubsub;
  std::shared_ptr<events::OutputBinding> binding;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = fns_.find(Key(ns, name));
    if (it == fns_.end()) return Status(StatusCode::kNotFound, "function " + Key(ns, name) + " has no outputs");
    const Fn& fn = *it->second;
    const AsyncOutput* found = nullptr;
    for (const AsyncOutput& o : fn.spec.outputs) {
      if (o.name == output) found = &o;
    }
    if (!found) return Status(StatusCode::kNotFound, "function " + Key(ns, name) + " has no output " + output);
    out = *found;
    if (auto p = fn.out_pubsubs.find(output); p != fn.out_pubsubs.end()) pubsub = p->second;
    if (auto b = fn.out_bindings.find(output); b != fn.out_bindings.end()) binding = b->second;
  }
  if (pubsub) {
    return pubsub->Publish(out.topic, CloudEventEnvelope(name, out.component.name, out.topic, data),
                           "application/cloudevents+json", out.metadata);
  }
  if (binding) {
    events::BindingRequest req;
    req.operation = out.operation;
    req.data = data;
    req.metadata = out.metadata;
    auto r = binding->Invoke(req);
    return r.ok() ? Status::Ok() : r.status();
  }
  return Status(StatusCode::kUnavailable, "output " + output + " (" + out.component.type + ") is not open: " +
                                              Problem(ns, name));
}

std::string AsyncRuntime::AppOfToken(const std::string& token) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tokens_.find(token);
  return it == tokens_.end() ? "" : it->second;
}

std::string AsyncRuntime::TokenOf(const std::string& ns, const std::string& name) {
  const std::string app = Key(ns, name);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = app_tokens_.find(app);
  if (it != app_tokens_.end()) return it->second;
  std::string token = NewId();
  token.erase(std::remove(token.begin(), token.end(), '-'), token.end());
  token += NewId().substr(0, 8);
  app_tokens_[app] = token;
  tokens_[token] = app;
  return token;
}

Result<events::ComponentSpec> AsyncRuntime::ComponentOf(const std::string& app, const std::string& component) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = fns_.find(app);
  if (it == fns_.end()) {
    return Status(StatusCode::kNotFound, "function " + app + " has no components (none embedded, no Component "
                                                             "objects in its namespace)");
  }
  auto c = it->second->spec.components.find(component);
  if (c == it->second->spec.components.end()) {
    std::string have;
    for (const auto& [name, spec] : it->second->spec.components) have += (have.empty() ? "" : ", ") + name;
    return Status(StatusCode::kNotFound, "component " + component + " is not known to function " + app +
                                             " (it reaches: " + (have.empty() ? std::string("none") : have) + ")");
  }
  return c->second;
}

Status AsyncRuntime::Publish(const std::string& app, const std::string& pubsub, const std::string& topic,
                             const std::string& data, const std::string& content_type,
                             const std::map<std::string, std::string>& metadata) {
  OFN_ASSIGN_OR_RETURN(events::ComponentSpec spec, ComponentOf(app, pubsub));
  if (!spec.type.starts_with("pubsub.")) {
    return Status(StatusCode::kInvalidArgument, "component " + pubsub + " is a " + spec.type + ", not a pub/sub");
  }
  OFN_ASSIGN_OR_RETURN(std::shared_ptr<events::PubSub> p, SharedPubSub(spec));
  {
    std::lock_guard<std::mutex> lock(mu_);
    api_pubsubs_[ComponentKey(spec)] = p;  // kept open for the next publish
  }
  if (content_type.starts_with("application/cloudevents+json")) return p->Publish(topic, data, content_type, metadata);
  const std::string source = app.substr(app.find('/') + 1);
  return p->Publish(topic, CloudEventEnvelope(source, pubsub, topic, data), "application/cloudevents+json", metadata);
}

Result<events::BindingResponse> AsyncRuntime::InvokeBinding(const std::string& app, const std::string& binding,
                                                            const events::BindingRequest& request) {
  OFN_ASSIGN_OR_RETURN(events::ComponentSpec spec, ComponentOf(app, binding));
  if (!spec.type.starts_with("bindings.")) {
    return Status(StatusCode::kInvalidArgument, "component " + binding + " is a " + spec.type + ", not a binding");
  }
  const std::string key = ComponentKey(spec);
  std::shared_ptr<events::OutputBinding> b;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = bindings_.find(key); it != bindings_.end()) b = it->second;
  }
  if (!b) {
    OFN_ASSIGN_OR_RETURN(b, registry_->NewOutputBinding(spec, env_));
    std::lock_guard<std::mutex> lock(mu_);
    bindings_[key] = b;
  }
  return b->Invoke(request);
}

Result<std::shared_ptr<events::StateStore>> AsyncRuntime::StateStoreOf(const std::string& app,
                                                                       const std::string& store) {
  OFN_ASSIGN_OR_RETURN(events::ComponentSpec spec, ComponentOf(app, store));
  if (!spec.type.starts_with("state.")) {
    return Status(StatusCode::kInvalidArgument, "component " + store + " is a " + spec.type + ", not a state store");
  }
  const std::string key = ComponentKey(spec);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = states_.find(key); it != states_.end()) return it->second;
  }
  OFN_ASSIGN_OR_RETURN(std::shared_ptr<events::StateStore> s, registry_->NewStateStore(spec, env_));
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = states_[key];
  if (!slot) slot = s;
  return slot;
}

std::string AsyncRuntime::Problem(const std::string& ns, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = fns_.find(Key(ns, name));
  if (it == fns_.end()) return "";
  return !it->second->spec.error.empty() ? it->second->spec.error : it->second->problem;
}

std::map<std::string, AsyncRuntime::InputCounters> AsyncRuntime::Counters() {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

std::string AsyncRuntime::Metrics() {
  std::map<std::string, InputCounters> counters = Counters();
  if (counters.empty()) return "";
  std::string out;
  auto family = [&](const char* name, const char* help, auto field) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
    for (const auto& [key, c] : counters) {
      size_t a = key.find('/'), b = key.find('/', a + 1);
      out += std::string(name) + "{namespace=\"" + key.substr(0, a) + "\",function=\"" + key.substr(a + 1, b - a - 1) +
             "\",input=\"" + key.substr(b + 1) + "\"} " + std::to_string(c.*field) + "\n";
    }
  };
  family("ofn_async_received_total", "Messages read from the input.", &InputCounters::received);
  family("ofn_async_delivered_total", "Messages the function processed (acknowledged).", &InputCounters::delivered);
  family("ofn_async_retried_total", "Deliveries retried after a failure.", &InputCounters::retried);
  family("ofn_async_dead_lettered_total", "Messages given up on after the last attempt.", &InputCounters::dead_lettered);
  family("ofn_async_dropped_total", "Messages the function answered DROP.", &InputCounters::dropped);
  out += "# HELP ofn_async_in_flight Messages being delivered to the function now.\n# TYPE ofn_async_in_flight gauge\n";
  for (const auto& [key, c] : counters) {
    size_t a = key.find('/'), b = key.find('/', a + 1);
    out += "ofn_async_in_flight{namespace=\"" + key.substr(0, a) + "\",function=\"" + key.substr(a + 1, b - a - 1) +
           "\",input=\"" + key.substr(b + 1) + "\"} " + std::to_string(c.in_flight) + "\n";
  }
  // The broker's lag of each subscription that can tell (asked now, outside the lock).
  std::vector<std::shared_ptr<Input>> inputs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, fn] : fns_) {
      for (const auto& in : fn->inputs) {
        if (in->subscription && in->open) inputs.push_back(in);
      }
    }
  }
  out += "# HELP ofn_async_lag Messages of the topic not yet handed to the function, as the broker counts them.\n"
         "# TYPE ofn_async_lag gauge\n";
  for (const auto& in : inputs) {
    auto lag = in->subscription->Lag();
    if (!lag.ok()) continue;
    out += "ofn_async_lag{namespace=\"" + in->ns + "\",function=\"" + in->function + "\",input=\"" + in->spec.name +
           "\"} " + std::to_string(*lag) + "\n";
  }
  return out;
}

}  // namespace ofn::platform::internal
