// Pulling images with the OCI distribution API (registry HTTP API v2):
// manifests (an index or manifest list resolved to linux/amd64), the config
// and layers as blobs, each checked against its digest and written through
// containerd's Content service; bearer-token and basic authentication from
// a docker config file; registry mirrors tried before the registry itself,
// so a manifest naming docker.io runs from a local mirror. Internal to the
// containerd backend.
#ifndef LIBOFN_BACKENDS_CONTAINERD_INTERNAL_REGISTRY_H_
#define LIBOFN_BACKENDS_CONTAINERD_INTERNAL_REGISTRY_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "libofn/backends/containerd/internal/images.h"
#include "libofn/backends/containerd/oci.h"

namespace ofn::containerd::internal {

// One HTTP response, its header names in lower case.
struct Fetched {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
};
// GET `url` (http or https) with `headers`, following up to 5 redirects
// (an Authorization header is not sent to another host). At most
// `max_body` bytes of body.
Result<Fetched> HttpGet(const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
                        size_t max_body);

// One request without redirects (HEAD, POST, PUT, PATCH...); at most 1 MiB
// of response body.
Result<Fetched> HttpSend(std::string_view method, const std::string& url,
                         const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body);

// The same from the JSON text (a Secret's .dockerconfigjson); errors name
// `source`.
Result<std::map<std::string, std::string>> ParseDockerConfig(std::string_view text, std::string_view source);

// "user:password" for a registry host from a docker config.json ("auths":
// {"host": {"auth": base64} or {"username", "password"}}); docker.io is also
// found under https://index.docker.io/v1/.
Result<std::map<std::string, std::string>> ReadDockerConfig(const std::string& path);

// The parameters of a WWW-Authenticate challenge ("Bearer realm=...,
// service=..., scope=..."), the scheme under "".
std::map<std::string, std::string> ParseChallenge(std::string_view header);

class Registry {
 public:
  // mirrors: registry host -> endpoints ("http://127.0.0.1:5000"), tried in
  // order before the registry itself. credentials: host -> "user:password".
  Registry(std::map<std::string, std::vector<std::string>> mirrors, std::map<std::string, std::string> credentials)
      : mirrors_(std::move(mirrors)), credentials_(std::move(credentials)) {}

  // Pulls `ref` into `store` and names it ref.Name(); errors say which
  // endpoints were tried and what each answered.
  // `extra` credentials (a Function's imageCredentials) come before the
  // registry's own.
  Status Pull(const ImageReference& ref, const ImageStore& store,
              const std::map<std::string, std::string>& extra = {}) const;
  // Pushes `image` (its manifest, config and layers from `store`) to
  // `dest`'s registry (its first mirror when it has one), under dest's tag.
  // `extra` credentials come before the registry's own, as for Pull.
  Status Push(const ResolvedImage& image, const ImageReference& dest, const ImageStore& store,
              const std::map<std::string, std::string>& extra = {}) const;

 private:
  struct Session;
  Result<Fetched> Get(Session& s, const std::string& path, const std::string& accept, size_t max_body) const;
  // One call, authenticated as the registry's challenge asks.
  Result<Fetched> Call(Session& s, std::string_view method, const std::string& url,
                       std::vector<std::pair<std::string, std::string>> headers, const std::string& body,
                       size_t max_body) const;
  Status PullFrom(Session& s, const ImageReference& ref, const ImageStore& store) const;

  std::map<std::string, std::vector<std::string>> mirrors_;
  std::map<std::string, std::string> credentials_;
};

}  // namespace ofn::containerd::internal

#endif  // LIBOFN_BACKENDS_CONTAINERD_INTERNAL_REGISTRY_H_
