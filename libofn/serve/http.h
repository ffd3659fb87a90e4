// HttpRequest / HttpResponse: what a function and the gateway exchange.
//
// Plain values, header-only (a function built as a shared library needs no
// symbol from libofn). Header names compare case-insensitively.
// Thread-compatible: a value may be read from many threads, written from one.
#ifndef LIBOFN_SERVE_HTTP_H_
#define LIBOFN_SERVE_HTTP_H_

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ofn {

class PendingBody;  // libofn/gateway/server.h

inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

// An ordered list of header fields; a name may repeat.
class Headers {
 public:
  using Field = std::pair<std::string, std::string>;

  void Add(std::string name, std::string value) { fields_.emplace_back(std::move(name), std::move(value)); }
  // Replaces every field of that name with one.
  void Set(std::string_view name, std::string value) {
    Remove(name);
    fields_.emplace_back(std::string(name), std::move(value));
  }
  void Remove(std::string_view name) {
    fields_.erase(std::remove_if(fields_.begin(), fields_.end(),
                                 [&](const Field& f) { return EqualsIgnoreCase(f.first, name); }),
                  fields_.end());
  }
  // The first field of that name.
  std::optional<std::string_view> Get(std::string_view name) const {
    for (const Field& f : fields_) {
      if (EqualsIgnoreCase(f.first, name)) return std::string_view(f.second);
    }
    return std::nullopt;
  }
  std::string GetOr(std::string_view name, std::string_view fallback) const {
    auto v = Get(name);
    return std::string(v ? *v : fallback);
  }
  bool Has(std::string_view name) const { return Get(name).has_value(); }
  size_t size() const { return fields_.size(); }
  bool empty() const { return fields_.empty(); }
  std::vector<Field>::const_iterator begin() const { return fields_.begin(); }
  std::vector<Field>::const_iterator end() const { return fields_.end(); }

 private:
  std::vector<Field> fields_;
};

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";  // origin form: path and query, as sent
  Headers headers;
  std::string body;
  // Set by the gateway while the body is still on the client connection;
  // a function never sees it set (the body is read first).
  std::shared_ptr<PendingBody> pending_body;
  // Set when the platform's async runtime delivers an event from this input
  // (a binding or pub/sub component named in serving.triggers.dapr) rather
  // than a client sending a request; never sent on the wire.
  std::string event_input;

  std::string_view path() const {
    std::string_view t = target;
    return t.substr(0, t.find('?'));
  }
  std::string_view query() const {
    std::string_view t = target;
    size_t q = t.find('?');
    return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
  }
  // The Host header without a port, lower-case.
  std::string host() const {
    std::string h(headers.GetOr("Host", ""));
    if (!h.empty() && h[0] == '[') {
      h = h.substr(0, h.find(']') + 1);
    } else if (size_t colon = h.rfind(':'); colon != std::string::npos) {
      h.resize(colon);
    }
    for (char& c : h) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    }
    return h;
  }
};

struct HttpResponse {
  int status = 200;
  Headers headers;
  std::string body;

  static HttpResponse Text(int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.headers.Set("Content-Type", "text/plain; charset=utf-8");
    r.body = std::move(body);
    return r;
  }
  static HttpResponse Json(int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.headers.Set("Content-Type", "application/json");
    r.body = std::move(body);
    return r;
  }
};

}  // namespace ofn

#endif  // LIBOFN_SERVE_HTTP_H_
