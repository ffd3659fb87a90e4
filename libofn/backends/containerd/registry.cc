#include "libofn/backends/containerd/internal/registry.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <fstream>
#include <iterator>

#include "libofn/common/base64.h"

namespace ofn::containerd::internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;

namespace {

constexpr size_t kMaxManifest = 8 << 20;
constexpr size_t kMaxBlob = size_t{2} << 30;
constexpr auto kTimeout = std::chrono::seconds(60);

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

template <class Stream>
Result<Fetched> Exchange(Stream& stream, http::verb method, const std::string& host, const std::string& target,
                         const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
                         size_t max_body) {
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "libofn");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  if (method != http::verb::get && method != http::verb::head) req.prepare_payload();
  beast::error_code ec;
  http::write(stream, req, ec);
  if (ec) return Status(StatusCode::kUnavailable, "sending the request: " + ec.message());
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  if (method == http::verb::head) parser.skip(true);
  parser.body_limit(max_body);
  parser.header_limit(64 * 1024);
  http::read(stream, buf, parser, ec);
  if (ec == http::error::body_limit) {
    return Status(StatusCode::kResourceExhausted, "the response is over " + std::to_string(max_body) + " bytes");
  }
  if (ec) return Status(StatusCode::kUnavailable, "reading the response: " + ec.message());
  Fetched f;
  auto res = parser.release();
  f.status = static_cast<int>(res.result_int());
  for (const auto& field : res) f.headers[Lower(std::string(field.name_string()))] = std::string(field.value());
  f.body = std::move(res.body());
  return f;
}

Result<Fetched> SendOnce(http::verb method, const std::string& url,
                         const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
                         size_t max_body) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return Status(StatusCode::kInvalidArgument, "\"" + url + "\" is not a URL");
  const std::string scheme = parsed->scheme();
  if (scheme != "http" && scheme != "https") {
    return Status(StatusCode::kInvalidArgument, "\"" + url + "\": only http and https are supported");
  }
  const std::string host = parsed->host();
  const std::string port = parsed->has_port() ? std::string(parsed->port()) : (scheme == "https" ? "443" : "80");
  std::string target = std::string(parsed->encoded_path());
  if (target.empty()) target = "/";
  if (parsed->has_query()) target += "?" + std::string(parsed->encoded_query());
  const std::string host_header = parsed->has_port() ? host + ":" + port : host;
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  beast::error_code ec;
  auto endpoints = resolver.resolve(host, port, ec);
  if (ec) return Status(StatusCode::kUnavailable, "resolving " + host + ": " + ec.message());
  if (scheme == "http") {
    beast::tcp_stream stream(io);
    stream.expires_after(kTimeout);
    stream.connect(endpoints, ec);
    if (ec) return Status(StatusCode::kUnavailable, "connecting to " + host_header + ": " + ec.message());
    return Exchange(stream, method, host_header, target, headers, body, max_body);
  }
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_default_verify_paths();
  ctx.set_verify_mode(asio::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), host.c_str())) {
    return Status(StatusCode::kInternal, "setting TLS SNI for " + host);
  }
  stream.set_verify_callback(asio::ssl::host_name_verification(host));
  beast::get_lowest_layer(stream).expires_after(kTimeout);
  beast::get_lowest_layer(stream).connect(endpoints, ec);
  if (ec) return Status(StatusCode::kUnavailable, "connecting to " + host_header + ": " + ec.message());
  stream.handshake(asio::ssl::stream_base::client, ec);
  if (ec) return Status(StatusCode::kUnavailable, "TLS with " + host_header + ": " + ec.message());
  return Exchange(stream, method, host_header, target, headers, body, max_body);
}

std::string HostOf(const std::string& url) {
  auto parsed = boost::urls::parse_uri(url);
  return parsed ? std::string(parsed->encoded_host_and_port()) : "";
}

// The registry's own endpoint: Docker Hub's API host for docker.io; plain
// HTTP for loopback registries (as Docker treats them), else HTTPS.
std::string DefaultEndpoint(const std::string& registry) {
  if (registry == "docker.io") return "https://registry-1.docker.io";
  if (registry.rfind("localhost", 0) == 0 || registry.rfind("127.", 0) == 0) return "http://" + registry;
  return "https://" + registry;
}

bool IsIndex(std::string_view media_type) { return media_type == kOciIndex || media_type == kDockerManifestList; }

const char* kAcceptManifests =
    "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

}  // namespace

Result<Fetched> HttpGet(const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
                        size_t max_body) {
  std::string at = url;
  std::vector<std::pair<std::string, std::string>> h = headers;
  for (int hop = 0; hop <= 5; ++hop) {
    OFN_ASSIGN_OR_RETURN(Fetched f, SendOnce(http::verb::get, at, h, "", max_body));
    if (f.status < 300 || f.status >= 400 || f.status == 304 || !f.headers.count("location")) return f;
    std::string next = f.headers["location"];
    if (next.rfind("http://", 0) != 0 && next.rfind("https://", 0) != 0) {
      auto base = boost::urls::parse_uri(at);
      next = std::string(base->scheme()) + "://" + std::string(base->encoded_host_and_port()) +
             (next.empty() || next[0] != '/' ? "/" : "") + next;
    }
    if (HostOf(next) != HostOf(at)) {
      std::erase_if(h, [](const auto& kv) { return Lower(kv.first) == "authorization"; });
    }
    at = next;
  }
  return Status(StatusCode::kUnavailable, "more than 5 redirects from " + url);
}

Result<Fetched> HttpSend(std::string_view method, const std::string& url,
                         const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body) {
  http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) return Status(StatusCode::kInvalidArgument, "unknown method " + std::string(method));
  return SendOnce(verb, url, headers, body, 1 << 20);
}

Result<std::map<std::string, std::string>> ReadDockerConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status(StatusCode::kNotFound, "cannot read registry credentials from " + path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return ParseDockerConfig(text, path);
}

Result<std::map<std::string, std::string>> ParseDockerConfig(std::string_view text, std::string_view source) {
  const std::string path(source);
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return Status(StatusCode::kInvalidArgument, path + ": not a JSON object");
  std::map<std::string, std::string> out;
  auto* auths = v.as_object().if_contains("auths");
  if (!auths) return out;
  if (!auths->is_object()) return Status(StatusCode::kInvalidArgument, path + ": auths is not an object");
  for (const auto& [key, entry] : auths->as_object()) {
    if (!entry.is_object()) continue;
    std::string host(key);
    for (const char* prefix : {"https://", "http://"}) {
      if (host.rfind(prefix, 0) == 0) host = host.substr(std::string_view(prefix).size());
    }
    host = host.substr(0, host.find('/'));
    if (host == "index.docker.io" || host == "registry-1.docker.io") host = "docker.io";
    const json::object& e = entry.as_object();
    if (auto* a = e.if_contains("auth"); a && a->is_string()) {
      auto decoded = Base64Decode(a->as_string());
      if (!decoded.ok() || decoded->find(':') == std::string::npos) {
        return Status(StatusCode::kInvalidArgument, path + ": auths." + std::string(key) +
                                                        ".auth is not base64 of user:password");
      }
      out[host] = *decoded;
    } else if (auto* u = e.if_contains("username"); u && u->is_string()) {
      auto* p = e.if_contains("password");
      out[host] = std::string(u->as_string()) + ":" + (p && p->is_string() ? std::string(p->as_string()) : "");
    }
  }
  return out;
}

std::map<std::string, std::string> ParseChallenge(std::string_view h) {
  std::map<std::string, std::string> out;
  size_t sp = h.find(' ');
  out[""] = Lower(std::string(h.substr(0, sp)));
  if (sp == std::string_view::npos) return out;
  std::string_view rest = h.substr(sp + 1);
  while (!rest.empty()) {
    while (!rest.empty() && (rest[0] == ' ' || rest[0] == ',')) rest.remove_prefix(1);
    size_t eq = rest.find('=');
    if (eq == std::string_view::npos) break;
    std::string key = Lower(std::string(rest.substr(0, eq)));
    rest.remove_prefix(eq + 1);
    std::string value;
    if (!rest.empty() && rest[0] == '"') {
      size_t end = rest.find('"', 1);
      value = std::string(rest.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1));
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    } else {
      size_t end = rest.find(',');
      value = std::string(rest.substr(0, end));
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
    }
    out[key] = value;
  }
  return out;
}

// One endpoint and repository: the authorization that works for it, once
// found.
struct Registry::Session {
  std::string endpoint, repository, registry;
  std::string actions = "pull";  // of the token scope
  std::string authorization;  // "Bearer ..." or "Basic ..."
  std::map<std::string, std::string> credentials;  // host -> user:password
};

Result<Fetched> Registry::Get(Session& s, const std::string& path, const std::string& accept, size_t max_body) const {
  std::vector<std::pair<std::string, std::string>> h;
  if (!accept.empty()) h.emplace_back("Accept", accept);
  return Call(s, "GET", s.endpoint + "/v2/" + s.repository + path, h, "", max_body);
}

Result<Fetched> Registry::Call(Session& s, std::string_view method, const std::string& url,
                               std::vector<std::pair<std::string, std::string>> headers, const std::string& body,
                               size_t max_body) const {
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::vector<std::pair<std::string, std::string>> h = headers;
    if (!s.authorization.empty()) h.emplace_back("Authorization", s.authorization);
    OFN_ASSIGN_OR_RETURN(Fetched f, method == "GET" ? HttpGet(url, h, max_body) : HttpSend(method, url, h, body));
    if (f.status != 401 || attempt == 1) return f;
    auto challenge = ParseChallenge(f.headers["www-authenticate"]);
    auto cred = s.credentials.find(s.registry);
    if (cred == s.credentials.end()) cred = s.credentials.find(HostOf(s.endpoint));
    if (challenge[""] == "basic") {
      if (cred == s.credentials.end()) return f;
      s.authorization = "Basic " + Base64Encode(cred->second);
    } else if (challenge[""] == "bearer" && !challenge["realm"].empty()) {
      std::string token_url = challenge["realm"] + (challenge["realm"].find('?') == std::string::npos ? "?" : "&") +
                              "scope=repository:" + s.repository + ":" + s.actions;
      if (!challenge["service"].empty()) token_url += "&service=" + challenge["service"];
      std::vector<std::pair<std::string, std::string>> th;
      if (cred != s.credentials.end()) th.emplace_back("Authorization", "Basic " + Base64Encode(cred->second));
      OFN_ASSIGN_OR_RETURN(Fetched t, HttpGet(token_url, th, 1 << 20));
      if (t.status != 200) {
        return Status(StatusCode::kPermissionDenied, "token from " + challenge["realm"] + ": HTTP " +
                                                         std::to_string(t.status));
      }
      boost::system::error_code ec;
      json::value tv = json::parse(t.body, ec);
      std::string token;
      if (!ec && tv.is_object()) {
        for (const char* k : {"token", "access_token"}) {
          if (auto* v = tv.as_object().if_contains(k); v && v->is_string() && token.empty()) token = v->as_string();
        }
      }
      if (token.empty()) return Status(StatusCode::kPermissionDenied, "no token in the answer of " + challenge["realm"]);
      s.authorization = "Bearer " + token;
    } else {
      return f;
    }
  }
  return Status(StatusCode::kInternal, "unreachable");
}

Status Registry::PullFrom(Session& s, const ImageReference& ref, const ImageStore& store) const {
  auto fetch_json = [&](const std::string& reference, const std::string& expect_digest) -> Result<Blob> {
    OFN_ASSIGN_OR_RETURN(Fetched f, Get(s, "/manifests/" + reference, kAcceptManifests, kMaxManifest));
    if (f.status == 404) return Status(StatusCode::kNotFound, "no manifest " + reference + " of " + ref.repository);
    if (f.status != 200) {
      return Status(f.status == 401 || f.status == 403 ? StatusCode::kPermissionDenied : StatusCode::kUnavailable,
                    "manifest " + reference + ": HTTP " + std::to_string(f.status) +
                        (f.status == 401 ? " (set credentials: ofn serve --registry-config FILE)" : ""));
    }
    Blob b;
    b.data = std::move(f.body);
    b.digest = Sha256Digest(b.data);
    b.size = static_cast<int64_t>(b.data.size());
    b.media_type = f.headers["content-type"];
    b.media_type = b.media_type.substr(0, b.media_type.find(';'));
    const std::string& want = !expect_digest.empty() ? expect_digest : f.headers["docker-content-digest"];
    if (!want.empty() && want != b.digest) {
      return Status(StatusCode::kInvalidArgument, "manifest " + reference + " has digest " + b.digest + ", expected " + want);
    }
    if (b.media_type.empty() || b.media_type == "application/json") {
      // Some registries answer without the type: the document says it.
      boost::system::error_code ec;
      json::value v = json::parse(b.data, ec);
      const json::value* mt = !ec && v.is_object() ? v.as_object().if_contains("mediaType") : nullptr;
      b.media_type = mt && mt->is_string() ? std::string(mt->as_string())
                     : !ec && v.is_object() && v.as_object().contains("manifests") ? std::string(kOciIndex)
                                                                                    : std::string(kOciManifest);
    }
    return b;
  };
  OFN_ASSIGN_OR_RETURN(Blob top, fetch_json(ref.digest.empty() ? ref.tag : ref.digest, ref.digest));
  Blob manifest = top;
  if (IsIndex(top.media_type)) {
    OFN_ASSIGN_OR_RETURN(Blob chosen, SelectManifest(top.data, "linux", "amd64"));
    OFN_ASSIGN_OR_RETURN(manifest, fetch_json(chosen.digest, chosen.digest));
  }
  OFN_ASSIGN_OR_RETURN(ManifestInfo info, ParseManifest(manifest.data));
  OFN_ASSIGN_OR_RETURN(Lease lease, Lease::Create(store.api(), std::chrono::hours(1)));
  std::vector<Blob> blobs = info.layers;
  blobs.insert(blobs.begin(), info.config);
  for (Blob& b : blobs) {
    if (store.HasBlob(b.digest)) continue;
    OFN_ASSIGN_OR_RETURN(Fetched f, Get(s, "/blobs/" + b.digest, "", kMaxBlob));
    if (f.status != 200) {
      return Status(StatusCode::kUnavailable, "blob " + b.digest + ": HTTP " + std::to_string(f.status));
    }
    if (Sha256Digest(f.body) != b.digest) {
      return Status(StatusCode::kInvalidArgument, "blob " + b.digest + " does not match its digest");
    }
    b.data = std::move(f.body);
    OFN_RETURN_IF_ERROR(store.WriteBlob(b, {}, lease.id()));
    b.data.clear();
  }
  std::map<std::string, std::string> refs{{"containerd.io/gc.ref.content.config", info.config.digest}};
  for (size_t i = 0; i < info.layers.size(); ++i) {
    refs["containerd.io/gc.ref.content.l." + std::to_string(i)] = info.layers[i].digest;
  }
  OFN_RETURN_IF_ERROR(store.WriteBlob(manifest, refs, lease.id()));
  if (IsIndex(top.media_type)) {
    OFN_RETURN_IF_ERROR(store.WriteBlob(top, {{"containerd.io/gc.ref.content.m.0", manifest.digest}}, lease.id()));
  }
  Blob target = top;
  target.data.clear();
  return store.PutImage(ref.Name(), target);
}

Status Registry::Push(const ResolvedImage& image, const ImageReference& dest, const ImageStore& store,
                      const std::map<std::string, std::string>& extra) const {
  std::string endpoint = DefaultEndpoint(dest.registry);
  if (auto it = mirrors_.find(dest.registry); it != mirrors_.end() && !it->second.empty()) endpoint = it->second[0];
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  std::map<std::string, std::string> credentials = extra;
  credentials.insert(credentials_.begin(), credentials_.end());
  Session s{endpoint, dest.repository, dest.registry, "pull,push", "", credentials};
  const std::string base = endpoint + "/v2/" + dest.repository;
  auto fail = [&](const std::string& what, const Fetched& f) {
    return Status(f.status == 401 || f.status == 403 ? StatusCode::kPermissionDenied : StatusCode::kUnavailable,
                  "push " + dest.Name() + " to " + endpoint + ": " + what + ": HTTP " + std::to_string(f.status) + " " +
                      f.body.substr(0, 200));
  };
  std::vector<Blob> blobs = image.image.layers;
  blobs.push_back(image.image.config);
  for (const Blob& b : blobs) {
    OFN_ASSIGN_OR_RETURN(Fetched head, Call(s, "HEAD", base + "/blobs/" + b.digest, {}, "", 0));
    if (head.status == 200) continue;
    OFN_ASSIGN_OR_RETURN(std::string data, store.ReadBlob(b.digest, kMaxBlob));
    OFN_ASSIGN_OR_RETURN(Fetched start, Call(s, "POST", base + "/blobs/uploads/", {}, "", 0));
    if (start.status != 202 || !start.headers.count("location")) return fail("starting the upload of " + b.digest, start);
    std::string location = start.headers["location"];
    if (location.rfind("http", 0) != 0) location = endpoint + location;
    location += (location.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") + b.digest;
    OFN_ASSIGN_OR_RETURN(Fetched put, Call(s, "PUT", location, {{"Content-Type", "application/octet-stream"}}, data, 0));
    if (put.status != 201) return fail("uploading " + b.digest, put);
  }
  OFN_ASSIGN_OR_RETURN(std::string manifest, store.ReadBlob(image.manifest_digest, kMaxManifest));
  const std::string reference = dest.digest.empty() ? dest.tag : dest.digest;
  OFN_ASSIGN_OR_RETURN(Fetched put, Call(s, "PUT", base + "/manifests/" + reference,
                                         {{"Content-Type", image.image.manifest.media_type}}, manifest, 0));
  if (put.status != 201) return fail("the manifest", put);
  return Status::Ok();
}

Status Registry::Pull(const ImageReference& ref, const ImageStore& store,
                      const std::map<std::string, std::string>& extra) const {
  std::map<std::string, std::string> credentials = extra;
  credentials.insert(credentials_.begin(), credentials_.end());  // the Function's first
  std::vector<std::string> endpoints;
  if (auto it = mirrors_.find(ref.registry); it != mirrors_.end()) endpoints = it->second;
  endpoints.push_back(DefaultEndpoint(ref.registry));
  std::string tried;
  for (std::string e : endpoints) {
    while (!e.empty() && e.back() == '/') e.pop_back();
    Session s{e, ref.repository, ref.registry, "pull", "", credentials};
    Status st = PullFrom(s, ref, store);
    if (st.ok()) return st;
    tried += "\n  " + e + ": " + st.message();
  }
  return Status(StatusCode::kUnavailable, "cannot pull " + ref.Name() + "; tried:" + tried);
}

}  // namespace ofn::containerd::internal
