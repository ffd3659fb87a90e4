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

#include <map>
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

  RouteTable() = default;
  static RouteTable Build(std::vector<FunctionRoute> routes, std::vector<Rejection>* rejected);

  std::optional<Hit> Find(const HttpRequest& request) const;
  std::optional<Hit> Find(std::string_view host, std::string_view method, std::string_view target,
                          const Headers& headers) const;

  const std::vector<FunctionRoute>& routes() const { return routes_; }

 private:
  struct Entry {
    size_t route, rule, match;
  };
  using Bucket = std::vector<Entry>;
  const Bucket* BucketFor(std::string_view host) const;
  bool Matches(const Match& m, std::string_view method, std::string_view path,
               const std::vector<std::pair<std::string, std::string>>& query, const Headers& headers) const;

  std::vector<FunctionRoute> routes_;
  std::map<std::string, Bucket, std::less<>> exact_;
  std::vector<std::pair<std::string, Bucket>> wildcard_;  // ".example.com", longest first
};

// The parameters of a query string, percent-decoded ('+' is a space), in order.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query);
// True when `path` matches PathPrefix `prefix` segment-wise.
bool PrefixMatches(std::string_view prefix, std::string_view path);

// Decodes %XX and '+' of a query component.
std::string DecodeQueryComponent(std::string_view s);

}  // namespace ofn::route

#endif  // LIBOFN_ROUTE_TABLE_H_
