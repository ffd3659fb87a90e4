#include "libofn/route/table.h"

#include <algorithm>
#include <functional>
#include <map>
#include <tuple>

namespace ofn::route {

namespace {

int TypeRank(PathType t) {
  switch (t) {
    case PathType::kExact: return 0;
    case PathType::kRegularExpression: return 1;
    case PathType::kPathPrefix: return 2;
  }
  return 2;
}

std::string_view TrimSlash(std::string_view p) {
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  return p;
}

std::string CanonicalMatch(const Match& m) {
  std::string key(PathTypeName(m.path_type));
  key += " ";
  key += m.path_type == PathType::kPathPrefix ? std::string(TrimSlash(m.path)) : m.path;
  key += " method=" + m.method;
  std::vector<std::string> parts;
  for (const ValueMatch& h : m.headers) parts.push_back("h:" + h.name + (h.regex ? "~" : "=") + h.value);
  for (const ValueMatch& q : m.query) parts.push_back("q:" + q.name + (q.regex ? "~" : "=") + q.value);
  std::sort(parts.begin(), parts.end());
  for (const std::string& p : parts) key += " " + p;
  return key;
}

std::string DescribeMatch(const Match& m) {
  std::string d = std::string(PathTypeName(m.path_type)) + " " + m.path;
  if (!m.method.empty()) d += " method " + m.method;
  if (!m.headers.empty()) d += " with " + std::to_string(m.headers.size()) + " header match(es)";
  if (!m.query.empty()) d += " with " + std::to_string(m.query.size()) + " query match(es)";
  return d;
}


bool ValueMatches(const ValueMatch& vm, std::string_view value) {
  if (vm.regex) return vm.re->FullMatch(value);
  return value == vm.value;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view q) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    if (!part.empty()) {
      size_t eq = part.find('=');
      std::string name = DecodeQueryComponent(part.substr(0, eq));
      std::string value = eq == std::string_view::npos ? "" : DecodeQueryComponent(part.substr(eq + 1));
      out.emplace_back(std::move(name), std::move(value));
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return out;
}

bool PrefixMatches(std::string_view prefix, std::string_view path) {
  prefix = TrimSlash(prefix);
  if (prefix == "/") return true;
  if (path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

std::string DecodeQueryComponent(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

namespace {

// Calls f(host) once for each distinct host of the route.
template <typename F>
void ForEachHost(const FunctionRoute& r, F&& f) {
  for (size_t i = 0; i <= r.hostnames.size(); ++i) {
    std::string_view host = i < r.hostnames.size() ? std::string_view(r.hostnames[i]) : r.internal_host;
    if (i == r.hostnames.size() && host.empty()) break;
    bool seen = false;
    for (size_t j = 0; j < i && !seen; ++j) seen = r.hostnames[j] == host;
    if (!seen) f(host);
  }
}

constexpr uint32_t kNone = UINT32_MAX;

// The first five match-order fields in one integer (smaller goes first);
// values too large to pack saturate, and equal keys fall back to the fields.
uint64_t PackOrder(const Match& m) {
  auto sat = [](size_t v, uint64_t max) { return std::min<uint64_t>(v, max); };
  const uint64_t len = sat(TrimSlash(m.path).size(), (1u << 22) - 1);
  return static_cast<uint64_t>(TypeRank(m.path_type)) << 62 | ((1u << 22) - 1 - len) << 40 |
         static_cast<uint64_t>(m.method.empty() ? 1 : 0) << 39 | (255 - sat(m.headers.size(), 255)) << 31 |
         (255 - sat(m.query.size(), 255)) << 23;
}

}  // namespace

RouteTable RouteTable::Build(std::vector<FunctionRoute> routes, std::vector<Rejection>* rejected) {
  std::vector<RoutePtr> shared;
  shared.reserve(routes.size());
  for (FunctionRoute& r : routes) shared.push_back(std::make_shared<const FunctionRoute>(std::move(r)));
  return Build(std::move(shared), rejected);
}

uint32_t RouteTable::AddHost(std::string_view host) {
  if ((host_count_ + 1) * 3 > hosts_.size() * 2) {
    std::vector<HostSlot> old(std::max<size_t>(64, hosts_.size() * 2));
    old.swap(hosts_);
    const size_t mask = hosts_.size() - 1;
    for (const HostSlot& s : old) {
      if (!s.host) continue;
      size_t i = std::hash<std::string_view>{}(std::string_view(s.host, s.size)) & mask;
      while (hosts_[i].host) i = (i + 1) & mask;
      hosts_[i] = s;
    }
  }
  const size_t mask = hosts_.size() - 1;
  for (size_t i = std::hash<std::string_view>{}(host) & mask;; i = (i + 1) & mask) {
    HostSlot& s = hosts_[i];
    if (!s.host) {
      s = HostSlot{host.data(), static_cast<uint32_t>(host.size()), static_cast<uint32_t>(buckets_.size())};
      ++host_count_;
      buckets_.emplace_back();
      return s.bucket;
    }
    if (s.size == host.size() && std::string_view(s.host, s.size) == host) return s.bucket;
  }
}

RouteTable RouteTable::Build(std::vector<RoutePtr> routes, std::vector<Rejection>* rejected) {
  RouteTable t;
  t.routes_ = std::move(routes);
  const std::vector<RoutePtr>& rs = t.routes_;
  const auto n = static_cast<uint32_t>(rs.size());

  // Every host gets a bucket id ("*.example.com" under its suffix, "*" --
  // every host -- under "", tried last); each route's entries are gathered
  // with their bucket, in route order.
  size_t cap = 64;
  while (cap < n * 3) cap *= 2;  // a route has its host and its internal host
  t.hosts_.resize(cap);
  t.buckets_.reserve(n * 2);
  std::vector<std::pair<std::string_view, uint32_t>> wild_ids;
  std::vector<std::pair<uint32_t, Entry>> tagged;
  tagged.reserve(n * 6);
  std::vector<uint32_t> first_function;  // per bucket: the first Function route in it
  std::vector<bool> contested(n, false);  // shares a host with another Function route
  for (uint32_t ri = 0; ri < n; ++ri) {
    const FunctionRoute& r = *rs[ri];
    const bool function = r.kind == "Function";  // HTTPRoutes only lose ties (see FunctionRoute::kind)
    ForEachHost(r, [&](std::string_view host) {
      uint32_t id = kNone;
      if (host == "*" || host.substr(0, 2) == "*.") {
        std::string_view suffix = host == "*" ? std::string_view() : host.substr(1);
        for (const auto& [s, wid] : wild_ids) {
          if (s == suffix) id = wid;
        }
        if (id == kNone) {
          id = static_cast<uint32_t>(t.buckets_.size());
          t.buckets_.emplace_back();
          wild_ids.emplace_back(suffix, id);
        }
      } else {
        id = t.AddHost(host);
      }
      if (id >= first_function.size()) first_function.resize(id + 1, kNone);
      if (function) {
        uint32_t& first = first_function[id];
        if (first == kNone) {
          first = ri;
        } else if (first != ri) {
          contested[first] = contested[ri] = true;
        }
      }
      for (uint32_t ru = 0; ru < r.rules.size(); ++ru) {
        for (uint32_t mi = 0; mi < r.rules[ru].matches.size(); ++mi) {
          tagged.push_back({id, Entry{ri, ru, mi, PackOrder(r.rules[ru].matches[mi])}});
        }
      }
    });
  }

  // Function routes that share a host claim (host, match) keys, oldest
  // first: the first to claim a key keeps it, a later one is rejected whole.
  // Routes that share no host with another Function route cannot conflict.
  std::vector<bool> accepted(n, true);
  std::vector<uint32_t> order;
  for (uint32_t ri = 0; ri < n; ++ri) {
    if (contested[ri]) order.push_back(ri);
  }
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const FunctionRoute& x = *rs[a];
    const FunctionRoute& y = *rs[b];
    return std::tie(x.created, x.ns, x.name) < std::tie(y.created, y.ns, y.name);
  });
  std::map<std::string, uint32_t> claimed;
  for (uint32_t ri : order) {
    const FunctionRoute& r = *rs[ri];
    std::vector<std::string> keys;
    ForEachHost(r, [&](std::string_view host) {
      if (!accepted[ri]) return;
      for (const Rule& rule : r.rules) {
        for (const Match& m : rule.matches) {
          std::string key = std::string(host) + "|" + CanonicalMatch(m);
          auto it = claimed.find(key);
          if (it != claimed.end() && it->second != ri) {
            accepted[ri] = false;
            if (rejected) {
              const FunctionRoute& other = *rs[it->second];
              rejected->push_back({ri, "Conflicted",
                                   "host " + std::string(host) + " path " + DescribeMatch(m) +
                                       " is already routed to function " + other.ns + "/" + other.name});
            }
            return;
          }
          keys.push_back(std::move(key));
        }
      }
    });
    if (!accepted[ri]) continue;
    for (std::string& k : keys) claimed.emplace(std::move(k), ri);
  }

  // A stable counting sort of the accepted routes' entries by bucket, then
  // each bucket in match order.
  std::vector<Bucket>& spans = t.buckets_;
  for (const auto& [id, e] : tagged) {
    if (!accepted[e.route]) continue;
    ++spans[id].end;
    spans[id].live = true;
  }
  uint32_t at = 0;
  for (Bucket& b : spans) {
    b.begin = at;
    at += b.end;
    b.end = b.begin;
  }
  t.entries_.resize(at);
  for (const auto& [id, e] : tagged) {
    if (accepted[e.route]) t.entries_[spans[id].end++] = e;
  }
  tagged = {};
  auto precedes = [&](const Entry& a, const Entry& b) {
    if (a.order != b.order) return a.order < b.order;
    if (a.route == b.route) return std::tie(a.rule, a.match) < std::tie(b.rule, b.match);
    const FunctionRoute& rx = *rs[a.route];
    const FunctionRoute& ry = *rs[b.route];
    const Match& x = rx.rules[a.rule].matches[a.match];
    const Match& y = ry.rules[b.rule].matches[b.match];
    auto key = [](const Match& m, const FunctionRoute& r, const Entry& e) {
      return std::make_tuple(TypeRank(m.path_type), -static_cast<long>(TrimSlash(m.path).size()),
                             m.method.empty() ? 1 : 0, -static_cast<long>(m.headers.size()),
                             -static_cast<long>(m.query.size()), r.created, std::string_view(r.ns),
                             std::string_view(r.name), e.rule, e.match);
    };
    return key(x, rx, a) < key(y, ry, b);
  };
  for (const Bucket& b : spans) {
    if (b.end - b.begin > 1) std::stable_sort(t.entries_.begin() + b.begin, t.entries_.begin() + b.end, precedes);
  }
  for (const auto& [suffix, id] : wild_ids) {
    if (spans[id].live) t.wildcard_.emplace_back(suffix, id);
  }
  std::stable_sort(t.wildcard_.begin(), t.wildcard_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  return t;
}

const RouteTable::Bucket* RouteTable::BucketFor(std::string_view host) const {
  if (!hosts_.empty()) {
    const size_t mask = hosts_.size() - 1;
    for (size_t i = std::hash<std::string_view>{}(host) & mask; hosts_[i].host; i = (i + 1) & mask) {
      const HostSlot& s = hosts_[i];
      if (s.size == host.size() && std::string_view(s.host, s.size) == host) {
        if (buckets_[s.bucket].live) return &buckets_[s.bucket];
        break;
      }
    }
  }
  for (const auto& [suffix, bucket] : wildcard_) {
    if (host.size() > suffix.size() && host.substr(host.size() - suffix.size()) == suffix) return &buckets_[bucket];
  }
  return nullptr;
}

bool RouteTable::Matches(const Match& m, std::string_view method, std::string_view path,
                         const std::vector<std::pair<std::string, std::string>>& query,
                         const Headers& headers) const {
  switch (m.path_type) {
    case PathType::kExact:
      if (path != m.path) return false;
      break;
    case PathType::kPathPrefix:
      if (!PrefixMatches(m.path, path)) return false;
      break;
    case PathType::kRegularExpression:
      if (!m.path_re->FullMatch(path)) return false;
      break;
  }
  if (!m.method.empty() && m.method != method) return false;
  for (const ValueMatch& h : m.headers) {
    auto v = headers.Get(h.name);
    if (!v || !ValueMatches(h, *v)) return false;
  }
  for (const ValueMatch& q : m.query) {
    auto it = std::find_if(query.begin(), query.end(), [&](const auto& p) { return p.first == q.name; });
    if (it == query.end() || !ValueMatches(q, it->second)) return false;
  }
  return true;
}

std::optional<RouteTable::Hit> RouteTable::Find(std::string_view host, std::string_view method,
                                                std::string_view target, const Headers& headers) const {
  const Bucket* bucket = BucketFor(host);
  if (!bucket) return std::nullopt;
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::vector<std::pair<std::string, std::string>> query;
  if (q != std::string_view::npos) query = ParseQuery(target.substr(q + 1));
  for (uint32_t i = bucket->begin; i < bucket->end; ++i) {
    const Entry& e = entries_[i];
    const Rule& rule = routes_[e.route]->rules[e.rule];
    const Match& m = rule.matches[e.match];
    if (Matches(m, method, path, query, headers)) return Hit{e.route, &rule, &m};
  }
  return std::nullopt;
}

std::optional<RouteTable::Hit> RouteTable::Find(const HttpRequest& request) const {
  return Find(request.host(), request.method, request.target, request.headers);
}

}  // namespace ofn::route
