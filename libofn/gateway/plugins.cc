#include "libofn/gateway/plugins.h"

#include <algorithm>
#include <cmath>

#include "libofn/gateway/server.h"
#include "libofn/route/table.h"

namespace ofn::gateway {

TokenBucket::TokenBucket(int64_t capacity, std::chrono::nanoseconds period, Clock::Duration now)
    : capacity_(static_cast<double>(capacity)),
      per_ns_(static_cast<double>(capacity) / static_cast<double>(std::max<int64_t>(1, period.count()))),
      tokens_(static_cast<double>(capacity)),
      last_(now) {}

void TokenBucket::Refill(Clock::Duration now) {
  if (now > last_) {
    tokens_ = std::min(capacity_, tokens_ + static_cast<double>((now - last_).count()) * per_ns_);
    last_ = now;
  }
}

bool TokenBucket::Take(Clock::Duration now) {
  Refill(now);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

std::chrono::nanoseconds TokenBucket::Wait(Clock::Duration now) {
  Refill(now);
  if (tokens_ >= 1.0) return std::chrono::nanoseconds(0);
  return std::chrono::nanoseconds(static_cast<int64_t>(std::ceil((1.0 - tokens_) / per_ns_)));
}

bool RateLimits::Take(const std::string& id, int64_t capacity, std::chrono::nanoseconds period, Clock::Duration now,
                      std::chrono::nanoseconds* retry_after) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = buckets_.find(id);
  if (it == buckets_.end()) it = buckets_.emplace(id, TokenBucket(capacity, period, now)).first;
  if (it->second.Take(now)) return true;
  if (retry_after) *retry_after = it->second.Wait(now);
  return false;
}

size_t RateLimits::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return buckets_.size();
}

bool DomainMatches(const std::vector<std::string>& domains, std::string_view host) {
  for (const std::string& d : domains) {
    if (d == "*" || d == host) return true;
    if (d.size() > 2 && d[0] == '*' && d[1] == '.') {
      std::string_view suffix = std::string_view(d).substr(1);  // ".a.com"
      if (host.size() > suffix.size() && host.substr(host.size() - suffix.size()) == suffix) return true;
    }
  }
  return false;
}

namespace {

// The scope of `p` that applies to `host`: the first matching rule, else the
// instance level when global; null when the plugin does not apply.
const spec::PluginScope* ScopeFor(const spec::PluginConfig& p, std::string_view host) {
  for (const spec::PluginScope& r : p.rules) {
    if (DomainMatches(r.domains, host)) return &r;
  }
  return p.global ? &p.defaults : nullptr;
}

std::optional<std::string> QueryValue(const HttpRequest& request, const std::string& name) {
  for (auto& [k, v] : route::ParseQuery(request.query())) {
    if (k == name) return v;
  }
  return std::nullopt;
}

HttpResponse Denied(int status, std::string message) {
  HttpResponse r = ErrorResponse(status, message);
  if (status == 401) r.headers.Set("WWW-Authenticate", "Key realm=\"libofn\"");
  return r;
}

}  // namespace

PluginChain::PluginChain(std::vector<spec::PluginConfig> plugins, Clock* clock, std::shared_ptr<RateLimits> limits)
    : plugins_(std::move(plugins)), clock_(clock), limits_(std::move(limits)) {
  // key-auth (Higress priority 310) before key-rate-limit.
  std::stable_sort(plugins_.begin(), plugins_.end(), [](const spec::PluginConfig& a, const spec::PluginConfig& b) {
    return a.type == spec::PluginConfig::Type::kKeyAuth && b.type != spec::PluginConfig::Type::kKeyAuth;
  });
}

std::optional<HttpResponse> PluginChain::Check(HttpRequest* request) const {
  for (const spec::PluginConfig& p : plugins_) {
    std::optional<HttpResponse> r = p.type == spec::PluginConfig::Type::kKeyAuth ? KeyAuth(p, request)
                                                                                 : KeyRateLimit(p, *request);
    if (r) return r;
  }
  return std::nullopt;
}

std::optional<HttpResponse> PluginChain::KeyAuth(const spec::PluginConfig& p, HttpRequest* request) const {
  const spec::PluginScope* scope = ScopeFor(p, request->host());
  if (!scope) return std::nullopt;
  const spec::KeyAuthConfig& instance = p.defaults.auth;
  std::optional<std::string> key;
  for (const std::string& name : instance.keys) {
    if (instance.in_header) {
      if (auto v = request->headers.Get(name)) key = std::string(*v);
    }
    if (!key && instance.in_query) key = QueryValue(*request, name);
    if (key) break;
  }
  if (!key || key->empty()) return Denied(401, "Request denied by Key Auth check. No API key found in request");
  const spec::KeyAuthConsumer* who = nullptr;
  for (const spec::KeyAuthConsumer& c : instance.consumers) {
    if (c.credential == *key) who = &c;
  }
  if (!who) return Denied(401, "Request denied by Key Auth check. Invalid API key");
  if (scope->auth.has_allow &&
      std::find(scope->auth.allow.begin(), scope->auth.allow.end(), who->name) == scope->auth.allow.end()) {
    return Denied(403, "Request denied by Key Auth check. Unauthorized consumer");
  }
  request->headers.Set("X-Mse-Consumer", who->name);
  return std::nullopt;
}

std::optional<HttpResponse> PluginChain::KeyRateLimit(const spec::PluginConfig& p, const HttpRequest& request) const {
  const spec::PluginScope* scope = ScopeFor(p, request.host());
  if (!scope) return std::nullopt;
  const spec::KeyRateLimitConfig& c = scope->limit;
  std::optional<std::string> value;
  if (!c.limit_by_header.empty()) {
    if (auto v = request.headers.Get(c.limit_by_header)) value = std::string(*v);
  } else if (!c.limit_by_param.empty()) {
    value = QueryValue(request, c.limit_by_param);
  }
  if (!value) return std::nullopt;
  for (const spec::RateLimitKey& k : c.keys) {
    if (k.key != *value) continue;
    std::string id = p.ns + "/" + p.name + "|" + (c.limit_by_header.empty() ? "p:" + c.limit_by_param : "h:" + c.limit_by_header) +
                     "|" + k.key + "|" + std::to_string(k.requests) + "/" + std::to_string(k.per.count());
    std::chrono::nanoseconds wait{0};
    if (limits_->Take(id, k.requests, k.per, clock_->Monotonic(), &wait)) return std::nullopt;
    HttpResponse r;
    r.status = 429;
    r.headers.Set("Content-Type", "text/plain; charset=utf-8");
    r.headers.Set("Retry-After",
                  std::to_string(std::max<int64_t>(1, std::chrono::ceil<std::chrono::seconds>(wait).count())));
    r.body = "rate_limited";
    return r;
  }
  return std::nullopt;
}

}  // namespace ofn::gateway
