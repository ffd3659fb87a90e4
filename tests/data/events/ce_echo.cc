// For the CloudEvents SDK tests: an in-process CloudEvent function that
// keeps the last event it received ("ce-echo"), and an HTTP function that
// tells it as JSON ("ce-last"): the attributes as the function saw them,
// the data base64-encoded.
#include <map>
#include <mutex>
#include <string>

#include "libofn/serve/function.h"

namespace {

std::mutex mu;
ofn::CloudEvent last;

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string Base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

}  // namespace

OFN_REGISTER_FUNCTIONS(registrar) {
  registrar->Event("ce-echo", [](const ofn::CloudEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    last = e;
  });
  registrar->Http("ce-last", [](const ofn::HttpRequest&) {
    std::lock_guard<std::mutex> lock(mu);
    std::string ext = "{";
    for (const auto& [k, v] : last.extensions) ext += (ext.size() > 1 ? "," : "") + Quote(k) + ":" + Quote(v);
    std::string body = "{\"id\":" + Quote(last.id) + ",\"source\":" + Quote(last.source) + ",\"type\":" +
                       Quote(last.type) + ",\"subject\":" + Quote(last.subject) + ",\"datacontenttype\":" +
                       Quote(last.datacontenttype) + ",\"data_base64\":" + Quote(Base64(last.data)) +
                       ",\"extensions\":" + ext + "}}";
    return ofn::HttpResponse::Json(200, body);
  });
}
