// The gateway's plugins: key-auth and key-rate-limit as Higress defines them
// (spec/plugin_config.h), enforced natively before routing. A PluginChain is
// immutable and published with the route table; rate-limit buckets live in a
// RateLimits shared across chains, so re-publishing keeps the counts.
#ifndef LIBOFN_GATEWAY_PLUGINS_H_
#define LIBOFN_GATEWAY_PLUGINS_H_

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "libofn/common/clock.h"
#include "libofn/serve/http.h"
#include "libofn/spec/plugin_config.h"

namespace ofn::gateway {

// A token bucket: `capacity` tokens, refilled continuously at capacity per
// `period`; starts full. Time is given, never read. Not thread-safe.
class TokenBucket {
 public:
  TokenBucket(int64_t capacity, std::chrono::nanoseconds period, Clock::Duration now);
  // Takes a token if there is one.
  bool Take(Clock::Duration now);
  // How long until the next token (0 when one is there).
  std::chrono::nanoseconds Wait(Clock::Duration now);

 private:
  void Refill(Clock::Duration now);
  double capacity_;
  double per_ns_;  // tokens per nanosecond
  double tokens_;
  Clock::Duration last_;
};

// Buckets by id (plugin, limit, key). Thread-safe.
class RateLimits {
 public:
  // Takes from the bucket `id` (made on first use); on refusal `*retry_after`
  // says how long until a token.
  bool Take(const std::string& id, int64_t capacity, std::chrono::nanoseconds period, Clock::Duration now,
            std::chrono::nanoseconds* retry_after);
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, TokenBucket> buckets_;
};

// Thread-safe (immutable; RateLimits locks).
class PluginChain {
 public:
  // `clock` and `limits` must outlive the chain.
  PluginChain(std::vector<spec::PluginConfig> plugins, Clock* clock, std::shared_ptr<RateLimits> limits);

  // The answer that ends the request here (401, 403, 429), or nullopt to go
  // on; an authenticated request gets X-Mse-Consumer set to its consumer.
  // key-auth runs before key-rate-limit.
  std::optional<HttpResponse> Check(HttpRequest* request) const;
  bool empty() const { return plugins_.empty(); }

 private:
  std::optional<HttpResponse> KeyAuth(const spec::PluginConfig& p, HttpRequest* request) const;
  std::optional<HttpResponse> KeyRateLimit(const spec::PluginConfig& p, const HttpRequest& request) const;

  std::vector<spec::PluginConfig> plugins_;
  Clock* clock_;
  std::shared_ptr<RateLimits> limits_;
};

// Whether `host` (lower-case, no port) is one of `domains` ("*.a.com"
// matches any subdomain of a.com, "*" anything).
bool DomainMatches(const std::vector<std::string>& domains, std::string_view host);

}  // namespace ofn::gateway

#endif  // LIBOFN_GATEWAY_PLUGINS_H_
