// RouteTable: the compiled, immutable match structure of the gateway.
//
// Matching follows the Gateway API HTTPRoute rules. A request's host selects
// one host bucket: an exact hostname before wildcards, a longer wildcard
// suffix before a shorter one (no fallback to a less specific bucket, as with
// Envoy virtual hosts). Inside it the first matching entry wins, in this order:
//   1. path type: Exact, then RegularExpression, then PathPrefix
//      (regular expressions are implementation-specific in the Gateway API;
//      libofn ranks them as Envoy Gateway does);
//   2. longer path value;
//   3. a method match;
//   4. more header matches;  5. more query parameter matches;
//   6. the older route (creation time), then "<namespace>/<name>";
//   7. rule order, then match order, within one route.
// PathPrefix matches whole segments: "/foo" matches "/foo", "/foo/" and
// "/foo/bar", not "/foobar"; a trailing "/" in the prefix is ignored.
//
// Two Function routes claiming the same host and the same match conflict:
// the older keeps it, the newer is rejected whole (it stays out of the
// table). HTTPRoute objects never conflict; they lose ties by the order
// above. A route host "*" (an HTTPRoute on a listener without a hostname)
// serves every host no more specific bucket takes.
//
// Immutable after Build: thread-safe to share.
#ifndef LIBOFN_ROUTE_TABLE_H_
#define LIBOFN_ROUTE_TABLE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libofn/route/route.h"
#include "libofn/serve/http.h"

namespace ofn::route {

struct Rejection {
  size_t route;  // index into the routes given to Build
  std::string reason;
  std::string message;
};

class RouteTable {
 public:
  struct Hit {
    size_t route;  // index into the routes given to Build
    const Rule* rule;
    const Match* match;
  };

  using RoutePtr = std::shared_ptr<const FunctionRoute>;

  RouteTable() = default;
  // The table shares the routes (a rebuild copies no route); hosts and keys
  // inside it point into them.
  static RouteTable Build(std::vector<RoutePtr> routes, std::vector<Rejection>* rejected);
  static RouteTable Build(std::vector<FunctionRoute> routes, std::vector<Rejection>* rejected);

  std::optional<Hit> Find(const HttpRequest& request) const;
  std::optional<Hit> Find(std::string_view host, std::string_view method, std::string_view target,
                          const Headers& headers) const;

  size_t size() const { return routes_.size(); }
  const FunctionRoute& route(size_t i) const { return *routes_[i]; }

 private:
  struct Entry {
    uint32_t route, rule, match;
    uint64_t order;  // the match-order fields packed; ties are decided on the match itself
  };
  // A host's entries: entries_[begin, end), in match order. `live`: some
  // accepted route has the host (a host of rejected routes only is absent).
  struct Bucket {
    uint32_t begin = 0, end = 0;
    bool live = false;
  };
  // Exact hosts to buckets: open addressing with linear probing, a power of
  // two at most 2/3 full.
  struct HostSlot {
    const char* host = nullptr;  // into routes_; null: a free slot
    uint32_t size = 0;
    uint32_t bucket = 0;  // index into buckets_
  };
  // The bucket of an exact host, added when new.
  uint32_t AddHost(std::string_view host);
  const Bucket* BucketFor(std::string_view host) const;
  bool Matches(const Match& m, std::string_view method, std::string_view path,
               const std::vector<std::pair<std::string, std::string>>& query, const Headers& headers) const;

  std::vector<RoutePtr> routes_;
  std::vector<Entry> entries_;
  std::vector<HostSlot> hosts_;
  size_t host_count_ = 0;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<std::string_view, uint32_t>> wildcard_;  // ".example.com" -> bucket, longest first
};

// The parameters of a query string, percent-decoded ('+' is a space), in order.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query);
// True when `path` matches PathPrefix `prefix` segment-wise.
bool PrefixMatches(std::string_view prefix, std::string_view path);

// Decodes %XX and '+' of a query component.
std::string DecodeQueryComponent(std::string_view s);

}  // namespace ofn::route

#endif  // LIBOFN_ROUTE_TABLE_H_
