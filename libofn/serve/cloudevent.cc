#include "libofn/serve/cloudevent.h"

#include <boost/json.hpp>
#include <cctype>
#include <cstdint>
#include <limits>
#include <set>

#include "libofn/common/base64.h"

namespace ofn::serve {

namespace json = boost::json;

namespace {

constexpr std::string_view kStructured = "application/cloudevents+json";
constexpr std::string_view kBatch = "application/cloudevents-batch+json";

Status Bad(std::string message) { return Status(StatusCode::kInvalidArgument, std::move(message)); }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The media type of a Content-Type value, lower-cased, without parameters.
std::string MediaType(std::string_view content_type) {
  std::string_view t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  return Lower(t);
}

// JSON data is handed over as JSON text: application/json, text/json and
// any +json type (and no datacontenttype at all, which means JSON).
bool IsJsonType(std::string_view content_type) {
  std::string t = MediaType(content_type);
  if (t.empty() || t == "application/json" || t == "text/json") return true;
  return t.size() > 5 && t.compare(t.size() - 5, 5, "+json") == 0;
}

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n;
  }
  return true;
}

int Digits(std::string_view s, size_t at, size_t n) {
  if (at + n > s.size()) return -1;
  int v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// RFC 3339 date-time: 2018-04-05T17:31:00Z, fractions and offsets allowed.
bool IsTimestamp(std::string_view s) {
  if (Digits(s, 0, 4) < 0 || s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
      s[13] != ':' || s[16] != ':') {
    return false;
  }
  int mon = Digits(s, 5, 2), day = Digits(s, 8, 2), h = Digits(s, 11, 2), m = Digits(s, 14, 2), sec = Digits(s, 17, 2);
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60) {
    return false;
  }
  size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    size_t start = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start) return false;
  }
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) return i + 1 == s.size();
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh = Digits(s, i + 1, 2), om = Digits(s, i + 4, 2);
    return oh >= 0 && oh <= 23 && i + 3 < s.size() && s[i + 3] == ':' && om >= 0 && om <= 59 && i + 6 == s.size();
  }
  return false;
}

// An absolute URI: a scheme (ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )) and ':'.
bool IsAbsoluteUri(std::string_view s) {
  size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  for (size_t i = 1; i < colon; ++i) {
    char c = s[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

// Checks a context attribute's value as the type system says; `where`
// names it in the error.
Status CheckAttribute(const std::string& name, const std::string& value, const std::string& where) {
  if ((name == "id" || name == "source" || name == "type" || name == "specversion") && value.empty()) {
    return Bad(where + ": must be a non-empty string");
  }
  if (name == "specversion" && value != "1.0") {
    return Bad(where + ": specversion \"" + value + "\" is not supported (want 1.0)");
  }
  if (name == "time" && !IsTimestamp(value)) return Bad(where + ": \"" + value + "\" is not an RFC 3339 timestamp");
  if (name == "dataschema" && !IsAbsoluteUri(value)) return Bad(where + ": \"" + value + "\" is not an absolute URI");
  if (name == "datacontenttype" && value.find('/') == std::string::npos) {
    return Bad(where + ": \"" + value + "\" is not a media type");
  }
  return Status::Ok();
}

// Puts a context attribute (or an extension) into the event.
void Set(CloudEvent* e, const std::string& name, std::string value) {
  if (name == "id") {
    e->id = std::move(value);
  } else if (name == "source") {
    e->source = std::move(value);
  } else if (name == "type") {
    e->type = std::move(value);
  } else if (name == "specversion") {
    e->specversion = std::move(value);
  } else if (name == "subject") {
    e->subject = std::move(value);
  } else if (name == "time") {
    e->time = std::move(value);
  } else if (name == "datacontenttype") {
    e->datacontenttype = std::move(value);
  } else if (name == "dataschema") {
    e->dataschema = std::move(value);
  } else {
    e->extensions[name] = std::move(value);
  }
}

bool IsContextAttribute(std::string_view n) {
  return n == "id" || n == "source" || n == "type" || n == "specversion" || n == "subject" || n == "time" ||
         n == "datacontenttype" || n == "dataschema";
}

Status CheckRequired(const CloudEvent& e, std::string_view mode) {
  for (auto [name, value] : {std::pair<const char*, const std::string*>{"specversion", &e.specversion},
                             {"id", &e.id},
                             {"source", &e.source},
                             {"type", &e.type}}) {
    if (value->empty()) {
      return Bad(std::string(mode) + " CloudEvent: required attribute \"" + name + "\" is missing");
    }
  }
  return Status::Ok();
}

Result<CloudEvent> FromStructured(const HttpRequest& request) {
  boost::system::error_code ec;
  json::value v = json::parse(request.body, ec);
  if (ec || !v.is_object()) return Bad("structured CloudEvent: the body is not a JSON object");
  const json::object& o = v.as_object();
  CloudEvent e;
  e.specversion.clear();
  const json::value* data = nullptr;
  const json::value* data_base64 = nullptr;
  for (const auto& [key, val] : o) {
    const std::string k(key);
    const std::string where = "structured CloudEvent: attribute \"" + k + "\"";
    if (val.is_null()) continue;  // null: unset
    if (k == "data") {
      data = &val;
      continue;
    }
    if (k == "data_base64") {
      data_base64 = &val;
      continue;
    }
    if (!IsCloudEventAttributeName(k)) {
      return Bad(where + ": a name is lower-case letters a-z and digits 0-9");
    }
    std::string text;
    if (val.is_string()) {
      text = std::string(val.as_string());
    } else if (IsContextAttribute(k)) {
      return Bad(where + ": must be a string, got " + json::serialize(val));
    } else if (val.is_bool()) {
      text = val.as_bool() ? "true" : "false";
    } else if (val.is_int64() || val.is_uint64()) {
      // The type system's Integer is 32-bit.
      const bool fits = val.is_int64() ? val.as_int64() >= std::numeric_limits<int32_t>::min() &&
                                             val.as_int64() <= std::numeric_limits<int32_t>::max()
                                       : false;
      if (!fits) return Bad(where + ": " + json::serialize(val) + " is outside the 32-bit integers");
      text = json::serialize(val);
    } else {
      return Bad(where + ": must be a string, a boolean or an integer, got " + json::serialize(val));
    }
    OFN_RETURN_IF_ERROR(CheckAttribute(k, text, where));
    Set(&e, k, std::move(text));
  }
  if (data && data_base64) return Bad("structured CloudEvent: \"data\" and \"data_base64\" cannot both be set");
  if (data_base64) {
    if (!data_base64->is_string()) return Bad("structured CloudEvent: \"data_base64\" must be a base64 string");
    Result<std::string> bytes = Base64Decode(data_base64->as_string());
    if (!bytes.ok()) return Bad("structured CloudEvent: \"data_base64\": " + bytes.status().message());
    e.data = std::move(*bytes);
  } else if (data) {
    // JSON data goes to the function as JSON text (a string keeps its
    // quotes); other types get a string's own text.
    e.data = data->is_string() && !IsJsonType(e.datacontenttype) ? std::string(data->as_string())
                                                                  : json::serialize(*data);
    if (e.datacontenttype.empty()) e.datacontenttype = "application/json";
  }
  OFN_RETURN_IF_ERROR(CheckRequired(e, "structured"));
  return e;
}

Result<CloudEvent> FromBinary(const HttpRequest& request) {
  CloudEvent e;
  e.specversion.clear();
  std::string ce_content_type;
  std::set<std::string> seen;
  for (const auto& [name, value] : request.headers) {
    if (name.size() <= 3 || !EqualsIgnoreCase(std::string_view(name).substr(0, 3), "ce-")) continue;
    const std::string attr = Lower(std::string_view(name).substr(3));
    const std::string where = "binary CloudEvent: header \"" + name + "\"";
    if (!IsCloudEventAttributeName(attr)) {
      return Bad(where + ": an attribute name is lower-case letters a-z and digits 0-9");
    }
    Result<std::string> decoded = DecodeCloudEventHeader(value);
    if (!decoded.ok()) return Bad(where + ": " + decoded.status().message());
    if (attr == "datacontenttype") {  // Content-Type carries it in binary mode
      ce_content_type = std::move(*decoded);
      continue;
    }
    OFN_RETURN_IF_ERROR(CheckAttribute(attr, *decoded, where));
    if (!seen.insert(attr).second) return Bad(where + ": the attribute is given twice");
    Set(&e, attr, std::move(*decoded));
  }
  e.datacontenttype = request.headers.GetOr("Content-Type", ce_content_type);
  e.data = request.body;
  OFN_RETURN_IF_ERROR(CheckRequired(e, "binary"));
  return e;
}

}  // namespace

bool IsCloudEventAttributeName(std::string_view n) {
  if (n.empty()) return false;
  for (char c : n) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

Result<std::string> DecodeCloudEventHeader(std::string_view raw) {
  while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t')) raw.remove_prefix(1);
  while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t')) raw.remove_suffix(1);
  std::string unquoted;
  if (raw.size() >= 2 && raw.front() == '"' && raw.back() == '"') {
    // RFC 7230 §3.2.6 quoted-string: quoted-pairs are "\" and one character.
    for (size_t i = 1; i + 1 < raw.size(); ++i) {
      if (raw[i] == '\\') {
        if (i + 2 >= raw.size()) return Bad("a quoted value ends in a lone backslash");
        ++i;
      } else if (raw[i] == '"') {
        return Bad("a quoted value holds an unescaped '\"'");
      }
      unquoted += raw[i];
    }
  } else {
    unquoted = std::string(raw);
  }
  std::string out;
  for (size_t i = 0; i < unquoted.size(); ++i) {
    if (unquoted[i] != '%') {
      out += unquoted[i];
      continue;
    }
    auto hex = [](char c) {
      return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    };
    if (i + 2 >= unquoted.size() || hex(unquoted[i + 1]) < 0 || hex(unquoted[i + 2]) < 0) {
      return Bad("\"" + unquoted.substr(i, 3) + "\" is not a percent-encoded byte");
    }
    out += static_cast<char>(hex(unquoted[i + 1]) * 16 + hex(unquoted[i + 2]));
    i += 2;
  }
  if (!ValidUtf8(out)) return Bad("the percent-decoded value is not valid UTF-8");
  return out;
}

std::string EncodeCloudEventHeader(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : value) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7F || c == '"' || c == '%') {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += ch;
    }
  }
  return out;
}

int CloudEventErrorStatus(const Status& status) {
  return status.code() == StatusCode::kUnimplemented ? 415 : 400;
}

Result<CloudEvent> CloudEventFromHttp(const HttpRequest& request) {
  const std::string media = MediaType(request.headers.GetOr("Content-Type", ""));
  if (media == kStructured) return FromStructured(request);
  if (media == kBatch) {
    return Status(StatusCode::kUnimplemented,
                  "batched CloudEvents (application/cloudevents-batch+json) are not supported; send one event per "
                  "request, in binary or structured mode");
  }
  if (media.rfind("application/cloudevents", 0) == 0) {
    return Status(StatusCode::kUnimplemented, "the CloudEvents format \"" + media +
                                                  "\" is not supported (structured mode takes "
                                                  "application/cloudevents+json)");
  }
  return FromBinary(request);
}

HttpRequest CloudEventToHttp(const CloudEvent& e) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/";
  r.headers.Add("ce-specversion", EncodeCloudEventHeader(e.specversion));
  r.headers.Add("ce-id", EncodeCloudEventHeader(e.id));
  r.headers.Add("ce-source", EncodeCloudEventHeader(e.source));
  r.headers.Add("ce-type", EncodeCloudEventHeader(e.type));
  if (!e.subject.empty()) r.headers.Add("ce-subject", EncodeCloudEventHeader(e.subject));
  if (!e.time.empty()) r.headers.Add("ce-time", EncodeCloudEventHeader(e.time));
  if (!e.dataschema.empty()) r.headers.Add("ce-dataschema", EncodeCloudEventHeader(e.dataschema));
  for (const auto& [k, v] : e.extensions) r.headers.Add("ce-" + k, EncodeCloudEventHeader(v));
  if (!e.datacontenttype.empty()) r.headers.Add("Content-Type", e.datacontenttype);
  r.body = e.data;
  return r;
}

}  // namespace ofn::serve
