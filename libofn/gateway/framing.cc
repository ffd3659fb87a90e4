#include "libofn/gateway/framing.h"

#include <vector>

namespace ofn::gateway {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The codings of every Transfer-Encoding field, in order; parameters dropped.
std::vector<std::string> Codings(const Headers& headers) {
  std::vector<std::string> out;
  for (const auto& [name, value] : headers) {
    if (!EqualsIgnoreCase(name, "Transfer-Encoding")) continue;
    std::string_view v = value;
    for (;;) {
      size_t comma = v.find(',');
      std::string_view tok = Trim(v.substr(0, comma));
      tok = Trim(tok.substr(0, tok.find(';')));
      if (!tok.empty()) out.emplace_back(tok);
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
    if (out.empty()) out.emplace_back();  // an empty field is a coding nobody knows
  }
  return out;
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

}  // namespace

FramingError CheckFraming(HttpRequest& request, unsigned minor_version) {
  int hosts = 0;
  bool content_length = false;
  for (const auto& [name, value] : request.headers) {
    if (EqualsIgnoreCase(name, "Host")) ++hosts;
    if (EqualsIgnoreCase(name, "Content-Length")) content_length = true;
  }
  std::vector<std::string> codings = Codings(request.headers);
  if (!codings.empty()) {
    if (content_length) return {400, "a request must not carry both Transfer-Encoding and Content-Length"};
    if (!EqualsIgnoreCase(codings.back(), "chunked")) {
      return {400, "Transfer-Encoding \"" + codings.back() + "\": chunked must be the final transfer coding of a request"};
    }
    for (size_t i = 0; i + 1 < codings.size(); ++i) {
      if (EqualsIgnoreCase(codings[i], "chunked")) return {400, "Transfer-Encoding: chunked may be applied only once"};
      return {501, "Transfer-Encoding \"" + codings[i] + "\" is not supported (only chunked)"};
    }
  }
  if (hosts > 1) return {400, "more than one Host header field"};

  std::string_view target = request.target;
  if (StartsWithIgnoreCase(target, "http://") || StartsWithIgnoreCase(target, "https://")) {
    std::string_view rest = target.substr(target.find("//") + 2);
    size_t end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, end);
    if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
      return {400, "the request target must not carry user information"};
    }
    if (authority.empty()) return {400, "absolute-form request target without a host"};
    std::string path = end == std::string_view::npos ? "/" : std::string(rest.substr(end));
    if (path.front() == '?') path.insert(path.begin(), '/');
    if (size_t hash = path.find('#'); hash != std::string::npos) path.resize(hash);
    request.headers.Set("Host", std::string(authority));
    request.target = std::move(path);
    return {};
  }
  if (hosts == 0 && minor_version >= 1) return {400, "an HTTP/1.1 request must carry a Host header field"};
  if (target == "*") {
    if (!EqualsIgnoreCase(request.method, "OPTIONS")) return {400, "the request target \"*\" is only for OPTIONS"};
    return {};
  }
  if (target.empty() || target.front() != '/') {
    return {400, "request target \"" + std::string(target.substr(0, 64)) + "\" is not in origin or absolute form"};
  }
  return {};
}

}  // namespace ofn::gateway
