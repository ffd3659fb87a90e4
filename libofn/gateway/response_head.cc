#include "libofn/gateway/internal/response_head.h"

#include "libofn/serve/http.h"

namespace ofn::gateway::internal {
namespace {

// RFC 9110 §5.6.2 tchar.
bool TokenChar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// A field value's byte (RFC 9110 §5.5: VCHAR, obs-text, SP, HTAB).
bool ValueChar(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

std::string_view Trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

}  // namespace

bool ParsePlainResponseHead(std::string_view bytes, PlainResponseHead* out) {
  if (bytes.size() < 16 || bytes.substr(bytes.size() - 4) != "\r\n\r\n") return false;
  out->size = bytes.size();
  out->count = 0;
  out->content_length.reset();
  out->connection = {};
  // Status line: "HTTP/1.x DDD[ reason]\r\n".
  if (bytes.substr(0, 7) != "HTTP/1." || (bytes[7] != '0' && bytes[7] != '1') || bytes[8] != ' ') return false;
  out->version = bytes[7] == '1' ? 11 : 10;
  unsigned status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (bytes[i] < '0' || bytes[i] > '9') return false;
    status = status * 10 + static_cast<unsigned>(bytes[i] - '0');
  }
  if (status < 200 || status > 599) return false;
  out->status = status;
  size_t at = 12;
  if (bytes[at] == ' ') {
    while (bytes[at] != '\r') {
      if (!ValueChar(static_cast<unsigned char>(bytes[at]))) return false;
      ++at;
    }
  }
  if (bytes[at] != '\r' || bytes[at + 1] != '\n') return false;
  at += 2;
  // Fields, up to the blank line.
  bool has_connection = false;
  while (!(bytes[at] == '\r' && bytes[at + 1] == '\n')) {
    const size_t name_start = at;
    while (TokenChar(static_cast<unsigned char>(bytes[at]))) ++at;
    if (at == name_start || bytes[at] != ':') return false;
    const std::string_view name = bytes.substr(name_start, at - name_start);
    const size_t value_start = ++at;
    while (bytes[at] != '\r') {
      if (!ValueChar(static_cast<unsigned char>(bytes[at]))) return false;
      ++at;
    }
    if (bytes[at + 1] != '\n') return false;
    const std::string_view value = Trim(bytes.substr(value_start, at - value_start));
    at += 2;
    if (out->count == PlainResponseHead::kMaxFields) return false;
    if (EqualsIgnoreCase(name, "Transfer-Encoding")) return false;
    if (EqualsIgnoreCase(name, "Content-Length")) {
      if (out->content_length || value.empty() || value.size() > 18) return false;
      uint64_t n = 0;
      for (char c : value) {
        if (c < '0' || c > '9') return false;
        n = n * 10 + static_cast<uint64_t>(c - '0');
      }
      out->content_length = n;
    } else if (EqualsIgnoreCase(name, "Connection")) {
      if (has_connection) return false;
      has_connection = true;
      out->connection = value;
    }
    out->fields[out->count++] = {name, value};
  }
  // Keep-alive: HTTP/1.1 unless "close" is listed, HTTP/1.0 only when
  // "keep-alive" is.
  bool close = false, keep = false;
  std::string_view tokens = out->connection;
  while (!tokens.empty()) {
    const size_t comma = tokens.find(',');
    const std::string_view token = Trim(tokens.substr(0, comma));
    close = close || EqualsIgnoreCase(token, "close");
    keep = keep || EqualsIgnoreCase(token, "keep-alive");
    if (comma == std::string_view::npos) break;
    tokens.remove_prefix(comma + 1);
  }
  out->keep_alive = !close && (out->version == 11 || keep);
  return true;
}

}  // namespace ofn::gateway::internal
