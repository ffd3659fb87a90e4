#include "libofn/route/table.h"

#include <algorithm>
#include <set>
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

RouteTable RouteTable::Build(std::vector<FunctionRoute> routes, std::vector<Rejection>* rejected) {
  RouteTable t;
  t.routes_ = std::move(routes);
  std::vector<size_t> order(t.routes_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto older = [&](size_t a, size_t b) {
    const FunctionRoute& x = t.routes_[a];
    const FunctionRoute& y = t.routes_[b];
    return std::tie(x.created, x.ns, x.name) < std::tie(y.created, y.ns, y.name);
  };
  std::sort(order.begin(), order.end(), older);

  // Claim (host, match) keys, oldest route first.
  std::map<std::string, size_t> claimed;
  std::vector<bool> accepted(t.routes_.size(), true);
  for (size_t ri : order) {
    const FunctionRoute& r = t.routes_[ri];
    if (r.kind != "Function") continue;  // HTTPRoutes only lose ties (see FunctionRoute::kind)
    std::vector<std::string> keys;
    for (const std::string& host : r.AllHosts()) {
      for (const Rule& rule : r.rules) {
        for (const Match& m : rule.matches) {
          std::string key = host + "|" + CanonicalMatch(m);
          auto it = claimed.find(key);
          if (it != claimed.end() && it->second != ri) {
            accepted[ri] = false;
            if (rejected) {
              const FunctionRoute& other = t.routes_[it->second];
              rejected->push_back({ri, "Conflicted",
                                   "host " + host + " path " + DescribeMatch(m) + " is already routed to function " +
                                       other.ns + "/" + other.name});
            }
            break;
          }
          keys.push_back(std::move(key));
        }
        if (!accepted[ri]) break;
      }
      if (!accepted[ri]) break;
    }
    if (!accepted[ri]) continue;
    for (std::string& k : keys) claimed.emplace(std::move(k), ri);
  }

  std::map<std::string, Bucket, std::less<>> wild;
  for (size_t ri = 0; ri < t.routes_.size(); ++ri) {
    if (!accepted[ri]) continue;
    const FunctionRoute& r = t.routes_[ri];
    std::set<std::string> hosts;
    for (const std::string& host : r.AllHosts()) {
      if (!hosts.insert(host).second) continue;
      // "*.example.com" under its suffix; "*" (every host) under "", tried last.
      Bucket& b = host == "*" ? wild[""] : host.rfind("*.", 0) == 0 ? wild[host.substr(1)] : t.exact_[host];
      for (size_t ru = 0; ru < r.rules.size(); ++ru) {
        for (size_t mi = 0; mi < r.rules[ru].matches.size(); ++mi) b.push_back({ri, ru, mi});
      }
    }
  }
  auto precedes = [&](const Entry& a, const Entry& b) {
    const Match& x = t.routes_[a.route].rules[a.rule].matches[a.match];
    const Match& y = t.routes_[b.route].rules[b.rule].matches[b.match];
    const FunctionRoute& rx = t.routes_[a.route];
    const FunctionRoute& ry = t.routes_[b.route];
    auto key = [](const Match& m, const FunctionRoute& r, const Entry& e) {
      return std::make_tuple(TypeRank(m.path_type), -static_cast<long>(TrimSlash(m.path).size()),
                             m.method.empty() ? 1 : 0, -static_cast<long>(m.headers.size()),
                             -static_cast<long>(m.query.size()), r.created, r.ns, r.name, e.rule, e.match);
    };
    return key(x, rx, a) < key(y, ry, b);
  };
  for (auto& [host, bucket] : t.exact_) std::stable_sort(bucket.begin(), bucket.end(), precedes);
  for (auto& [suffix, bucket] : wild) {
    std::stable_sort(bucket.begin(), bucket.end(), precedes);
    t.wildcard_.emplace_back(suffix, std::move(bucket));
  }
  std::stable_sort(t.wildcard_.begin(), t.wildcard_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  return t;
}

const RouteTable::Bucket* RouteTable::BucketFor(std::string_view host) const {
  auto it = exact_.find(host);
  if (it != exact_.end()) return &it->second;
  for (const auto& [suffix, bucket] : wildcard_) {
    if (host.size() > suffix.size() && host.substr(host.size() - suffix.size()) == suffix) return &bucket;
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
  for (const Entry& e : *bucket) {
    const Rule& rule = routes_[e.route].rules[e.rule];
    const Match& m = rule.matches[e.match];
    if (Matches(m, method, path, query, headers)) return Hit{e.route, &rule, &m};
  }
  return std::nullopt;
}

std::optional<RouteTable::Hit> RouteTable::Find(const HttpRequest& request) const {
  return Find(request.host(), request.method, request.target, request.headers);
}

}  // namespace ofn::route
