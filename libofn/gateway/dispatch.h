// Dispatcher: the gateway's request path after parsing — plugins, route match, Gateway
// API filters (RequestRedirect, RequestHeaderModifier, URLRewrite), then the
// function instance. Used by the HTTP listener and by Platform::Invoke, so
// both take the same path.
//
// The route table is published as an immutable Snapshot. Readers never lock:
// each thread keeps the snapshot it last used and refreshes it only when the
// published generation moved. Thread-safe.
#ifndef LIBOFN_GATEWAY_DISPATCH_H_
#define LIBOFN_GATEWAY_DISPATCH_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "libofn/gateway/plugins.h"
#include "libofn/gateway/revision_pool.h"
#include "libofn/gateway/weighted.h"
#include "libofn/route/table.h"
#include "libofn/serve/http.h"

namespace ofn::gateway {

// A rule's backendRefs, resolved: the Functions its requests go to, by weight.
struct RuleBackends {
  struct Backend {
    route::BackendRef ref;  // its filters apply to its share only
    std::shared_ptr<const TrafficSplit> split;  // the Function's revisions; null: none ready (503)
    std::string missing;  // why the ref resolves to no Function ("": it does); its share gets 500
  };
  RuleBackends(std::vector<Backend> b, const std::vector<int>& weights, WeightedSlots::Counter counter = nullptr)
      : backends(std::move(b)), slots(weights, std::move(counter)) {}
  std::vector<Backend> backends;
  WeightedSlots slots;
};

struct Snapshot {
  route::RouteTable table;
  // Parallel to the table's routes: where each route's requests go (null: nowhere yet).
  std::vector<std::shared_ptr<const TrafficSplit>> targets;
  // Parallel to the table's routes and then to each route's rules: the rule's
  // backendRefs, null for a rule without them (its route's own target).
  std::vector<std::vector<std::shared_ptr<const RuleBackends>>> backends;
  // Gateway plugins (key-auth, key-rate-limit), run before routing; null: none.
  std::shared_ptr<const PluginChain> plugins;
};

// The ports the gateway's listeners are bound to (0: no such listener or
// unknown). A redirect maps a listener's port to them: a scheme change
// without a port goes to the bound port of that scheme's listener (443 and
// 80 are left out of the Location), as the Gateway API's well-known ports
// do on a cluster.
struct ListenerPorts {
  int http = 0;
  int https = 0;
};

class Dispatcher {
 public:
  Dispatcher();
  void Publish(std::shared_ptr<const Snapshot> snapshot);
  void SetListenerPorts(ListenerPorts ports);
  // When on (and an HTTPS listener is bound), a request that came in over
  // plain HTTP (X-Forwarded-Proto: http, as the listener sets it) is
  // answered 308 to the same URL over HTTPS, before any plugin or route.
  void SetHttpsRedirect(bool on);
  std::shared_ptr<const Snapshot> Current() const;
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  // Routes one request; `respond` is called once, maybe on another thread.
  // Never throws.
  void Dispatch(HttpRequest request, Responder respond) const;
  // Dispatch, waiting for the response; a function whose calls have proved
  // short runs on the calling thread.
  HttpResponse Handle(HttpRequest request) const;

 private:
  const uint64_t id_;
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> http_port_{0}, https_port_{0};
  std::atomic<bool> https_redirect_{false};
};

// Applies a rule's redirect; the response to send. The request's scheme is
// its X-Forwarded-Proto (set by the listener; "http" when absent). Without a
// port in the redirect the Location takes the port of the listener the
// request came in on, or of the new scheme's listener; with `ports` unknown,
// the port of the Host header.
HttpResponse MakeRedirect(const route::Redirect& redirect, const route::Match& match, const HttpRequest& request,
                          ListenerPorts ports = {});
// Applies a header modifier and a URL rewrite (a rule's, or a backendRef's)
// to the request in place.
void ApplyFilters(const std::optional<route::HeaderModifier>& headers, const std::optional<route::UrlRewrite>& rewrite,
                  const route::Match& match, HttpRequest* request);
// The backendRefs of rule `rule` of route `route`; null when it has none.
const RuleBackends* BackendsOf(const Snapshot& snap, size_t route, size_t rule);

}  // namespace ofn::gateway

#endif  // LIBOFN_GATEWAY_DISPATCH_H_
