#include "libofn/gateway/dispatch.h"

#include <future>

#include "libofn/common/json_text.h"
#include "libofn/gateway/internal/inline_turn.h"
#include "libofn/gateway/server.h"

namespace ofn::gateway {

namespace {

std::atomic<uint64_t> next_dispatcher_id{1};

// The path after replacing the matched prefix, per the Gateway API:
// prefix "/foo" + replacement "/bar": "/foo/x" -> "/bar/x", "/foo" -> "/bar".
std::string ReplacePrefix(std::string_view path, std::string_view prefix, std::string_view replacement) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.remove_suffix(1);
  std::string_view rest = prefix == "/" ? path : path.substr(std::min(prefix.size(), path.size()));
  std::string out(replacement);
  if (out.empty()) out = "/";
  if (rest.empty() || rest == "/") {
    if (rest == "/" && out.back() != '/') out += "/";
    return out;
  }
  if (rest.front() == '/' && out.back() == '/') rest.remove_prefix(1);
  if (rest.front() != '/' && out.back() != '/') out += "/";
  out += rest;
  return out;
}

std::string NewPath(route::UrlRewrite::Kind kind, const std::string& value, const route::Match& match,
                    std::string_view path) {
  switch (kind) {
    case route::UrlRewrite::Kind::kReplaceFullPath:
      return value;
    case route::UrlRewrite::Kind::kReplacePrefixMatch:
      if (match.path_type == route::PathType::kPathPrefix) return ReplacePrefix(path, match.path, value);
      return std::string(path);
    case route::UrlRewrite::Kind::kNone:
      break;
  }
  return std::string(path);
}

std::string WithQuery(std::string path, std::string_view query) {
  if (!query.empty()) path += "?" + std::string(query);
  return path;
}

}  // namespace

Dispatcher::Dispatcher() : id_(next_dispatcher_id.fetch_add(1)) {
  snapshot_ = std::make_shared<const Snapshot>();
}

void Dispatcher::Publish(std::shared_ptr<const Snapshot> snapshot) {
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_ = std::move(snapshot);
  generation_.fetch_add(1, std::memory_order_release);
}

std::shared_ptr<const Snapshot> Dispatcher::Current() const {
  struct Cache {
    uint64_t owner = 0;
    uint64_t generation = 0;
    std::shared_ptr<const Snapshot> snapshot;
  };
  thread_local Cache cache;
  uint64_t g = generation_.load(std::memory_order_acquire);
  if (cache.owner == id_ && cache.generation == g && cache.snapshot) return cache.snapshot;
  std::lock_guard<std::mutex> lock(mu_);
  cache.owner = id_;
  cache.generation = generation_.load(std::memory_order_acquire);
  cache.snapshot = snapshot_;
  return cache.snapshot;
}

HttpResponse MakeRedirect(const route::Redirect& redirect, const route::Match& match, const HttpRequest& request,
                          ListenerPorts ports) {
  const std::string in_scheme = EqualsIgnoreCase(request.headers.GetOr("X-Forwarded-Proto", "http"), "https") ? "https" : "http";
  const std::string scheme = redirect.scheme.value_or(in_scheme);
  std::string location = scheme + "://" + redirect.hostname.value_or(request.host());
  auto listener_port = [&](const std::string& s) { return s == "https" ? ports.https : ports.http; };
  int port = 0;
  if (redirect.port) {
    port = *redirect.port;
  } else if (redirect.scheme && *redirect.scheme != in_scheme) {
    port = listener_port(scheme);  // 0: the scheme's well-known port
  } else if (int p = listener_port(in_scheme); p != 0) {
    port = p;  // the listener the request came in on
  } else {
    // Listener unknown (Platform::Invoke): the port the client used.
    std::string h = request.headers.GetOr("Host", "");
    size_t colon = h.rfind(':');
    if (colon != std::string::npos && h.find(']', colon) == std::string::npos) {
      location += h.substr(colon);
    }
  }
  const bool default_port = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  if (port != 0 && !default_port) location += ":" + std::to_string(port);
  location += WithQuery(NewPath(redirect.path_kind, redirect.path, match, request.path()), request.query());
  HttpResponse r;
  r.status = redirect.status;
  r.headers.Set("Location", location);
  return r;
}

void ApplyFilters(const std::optional<route::HeaderModifier>& headers, const std::optional<route::UrlRewrite>& rewrite,
                  const route::Match& match, HttpRequest* request) {
  if (headers) {
    const route::HeaderModifier& m = *headers;
    for (const auto& [name, value] : m.set) request->headers.Set(name, value);
    for (const auto& [name, value] : m.add) request->headers.Add(name, value);
    for (const std::string& name : m.remove) request->headers.Remove(name);
  }
  if (rewrite) {
    const route::UrlRewrite& rw = *rewrite;
    if (rw.hostname) {
      request->headers.Set("X-Forwarded-Host", request->headers.GetOr("Host", ""));
      request->headers.Set("Host", *rw.hostname);
    }
    if (rw.kind != route::UrlRewrite::Kind::kNone) {
      std::string query(request->query());
      request->target = WithQuery(NewPath(rw.kind, rw.path, match, request->path()), query);
    }
  }
}

const RuleBackends* BackendsOf(const Snapshot& snap, size_t route, size_t rule) {
  if (route >= snap.backends.size() || rule >= snap.backends[route].size()) return nullptr;
  return snap.backends[route][rule].get();
}

void Dispatcher::Dispatch(HttpRequest request, Responder respond) const {
  if (https_redirect_.load(std::memory_order_relaxed)) {
    int https = https_port_.load(std::memory_order_relaxed);
    if (https != 0 && request.headers.GetOr("X-Forwarded-Proto", "") == "http") {
      route::Redirect to_https;
      to_https.scheme = "https";
      to_https.status = 308;  // keeps the method and body
      respond(MakeRedirect(to_https, route::Match{}, request, ListenerPorts{0, https}));
      return;
    }
  }
  std::shared_ptr<const Snapshot> snap = Current();
  if (snap->plugins) {
    if (std::optional<HttpResponse> stop = snap->plugins->Check(&request)) {
      respond(std::move(*stop));
      return;
    }
  }
  auto hit = snap->table.Find(request);
  if (!hit) {
    std::string host = request.host();
    std::string path(request.path());
    respond(HttpResponse::Json(404, "{\"error\":{\"code\":404,\"message\":\"no function is routed for this host and path\","
                                    "\"host\":" + JsonQuote(host) + ",\"path\":" + JsonQuote(path) + "}}\n"));
    return;
  }
  if (hit->rule->redirect) {
    respond(MakeRedirect(*hit->rule->redirect, *hit->match, request,
                         ListenerPorts{http_port_.load(std::memory_order_relaxed),
                                       https_port_.load(std::memory_order_relaxed)}));
    return;
  }
  ApplyFilters(hit->rule->request_headers, hit->rule->rewrite, *hit->match, &request);
  const route::FunctionRoute& route = snap->table.route(hit->route);
  const TrafficSplit* split = snap->targets[hit->route].get();
  // The target's name, for error messages only.
  const std::string* target_ns = &route.ns;
  const std::string* target = &route.name;
  auto target_name = [&] { return *target_ns + "/" + *target; };
  if (const RuleBackends* rb = BackendsOf(*snap, hit->route, static_cast<size_t>(hit->rule - route.rules.data()))) {
    // The rule's backendRefs: one of them by weight, with its own filters.
    int i = rb->slots.Pick();
    if (i < 0) {
      respond(ErrorResponse(500, "every backendRef of the matched rule has weight 0"));
      return;
    }
    const RuleBackends::Backend& b = rb->backends[static_cast<size_t>(i)];
    if (!b.missing.empty()) {
      respond(ErrorResponse(500, b.missing));
      return;
    }
    ApplyFilters(b.ref.request_headers, b.ref.rewrite, *hit->match, &request);
    split = b.split.get();
    target_ns = &b.ref.ns;
    target = &b.ref.name;
  } else if (route.kind != "Function") {
    // An HTTPRoute rule without backendRefs has nowhere to send it (Gateway API: 500).
    respond(ErrorResponse(500, "the matched rule of " + route.kind + " " + target_name() + " has no backendRefs"));
    return;
  }
  RevisionPool* pool = split ? split->Pick() : nullptr;
  if (!pool) {
    HttpResponse res = ErrorResponse(503, "function " + target_name() + " has no ready revision");
    res.headers.Set("Retry-After", "1");
    respond(std::move(res));
    return;
  }
  // The snapshot keeps the pool alive until Submit has taken its own reference.
  pool->Submit(std::move(request), std::move(respond));
}

void Dispatcher::SetHttpsRedirect(bool on) { https_redirect_.store(on, std::memory_order_relaxed); }

void Dispatcher::SetListenerPorts(ListenerPorts ports) {
  http_port_.store(ports.http, std::memory_order_relaxed);
  https_port_.store(ports.https, std::memory_order_relaxed);
}

HttpResponse Dispatcher::Handle(HttpRequest request) const {
  // The caller waits for the answer anyway: a function whose calls have
  // proved short runs on its thread, as on an I/O thread (no worker woken,
  // none to wake the caller back).
  internal::InlineTurn turn;
  auto promise = std::make_shared<std::promise<HttpResponse>>();
  std::future<HttpResponse> future = promise->get_future();
  Dispatch(std::move(request), [promise](HttpResponse r) { promise->set_value(std::move(r)); });
  return future.get();
}

}  // namespace ofn::gateway
