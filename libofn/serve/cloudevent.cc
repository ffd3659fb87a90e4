#include "libofn/serve/cloudevent.h"

#include <boost/json.hpp>

namespace ofn::serve {

namespace json = boost::json;

namespace {

bool IsExtensionName(std::string_view n) {
  if (n.empty() || n.size() > 20) return false;
  for (char c : n) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

Status CheckRequired(const CloudEvent& e, std::string_view mode) {
  for (auto [name, value] : {std::pair<const char*, const std::string*>{"id", &e.id},
                             {"source", &e.source},
                             {"type", &e.type},
                             {"specversion", &e.specversion}}) {
    if (value->empty()) {
      return Status(StatusCode::kInvalidArgument,
                    std::string(mode) + " CloudEvent: required attribute \"" + name + "\" is missing");
    }
  }
  if (e.specversion != "1.0") {
    return Status(StatusCode::kInvalidArgument, std::string(mode) + " CloudEvent: specversion \"" +
                                                    e.specversion + "\" is not supported (want 1.0)");
  }
  return Status::Ok();
}

std::string ScalarText(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  return json::serialize(v);
}

}  // namespace

Result<CloudEvent> CloudEventFromHttp(const HttpRequest& request) {
  std::string content_type = request.headers.GetOr("Content-Type", "");
  CloudEvent e;
  if (content_type.rfind("application/cloudevents+json", 0) == 0) {
    boost::system::error_code ec;
    json::value v = json::parse(request.body, ec);
    if (ec || !v.is_object()) {
      return Status(StatusCode::kInvalidArgument, "structured CloudEvent: body is not a JSON object");
    }
    e.specversion.clear();
    for (const auto& [key, val] : v.as_object()) {
      std::string k(key);
      if (k == "data") {
        e.data = val.is_string() ? std::string(val.as_string()) : json::serialize(val);
      } else if (k == "data_base64") {
        return Status(StatusCode::kInvalidArgument, "structured CloudEvent: data_base64 is not supported");
      } else if (k == "id") {
        e.id = ScalarText(val);
      } else if (k == "source") {
        e.source = ScalarText(val);
      } else if (k == "type") {
        e.type = ScalarText(val);
      } else if (k == "specversion") {
        e.specversion = ScalarText(val);
      } else if (k == "subject") {
        e.subject = ScalarText(val);
      } else if (k == "time") {
        e.time = ScalarText(val);
      } else if (k == "datacontenttype") {
        e.datacontenttype = ScalarText(val);
      } else if (k == "dataschema") {
        e.dataschema = ScalarText(val);
      } else if (IsExtensionName(k)) {
        e.extensions[k] = ScalarText(val);
      } else {
        return Status(StatusCode::kInvalidArgument,
                      "structured CloudEvent: attribute name \"" + k + "\" is not valid (a-z, 0-9, up to 20)");
      }
    }
    if (e.datacontenttype.empty() && v.as_object().contains("data") && !v.as_object().at("data").is_string()) {
      e.datacontenttype = "application/json";
    }
    OFN_RETURN_IF_ERROR(CheckRequired(e, "structured"));
    return e;
  }
  e.specversion.clear();
  for (const auto& [name, value] : request.headers) {
    if (name.size() <= 3 || !EqualsIgnoreCase(std::string_view(name).substr(0, 3), "ce-")) continue;
    std::string attr = name.substr(3);
    for (char& c : attr) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (attr == "id") {
      e.id = value;
    } else if (attr == "source") {
      e.source = value;
    } else if (attr == "type") {
      e.type = value;
    } else if (attr == "specversion") {
      e.specversion = value;
    } else if (attr == "subject") {
      e.subject = value;
    } else if (attr == "time") {
      e.time = value;
    } else if (attr == "dataschema") {
      e.dataschema = value;
    } else if (IsExtensionName(attr)) {
      e.extensions[attr] = value;
    } else {
      return Status(StatusCode::kInvalidArgument, "binary CloudEvent: header \"" + name + "\" is not a valid attribute");
    }
  }
  e.datacontenttype = content_type;
  e.data = request.body;
  OFN_RETURN_IF_ERROR(CheckRequired(e, "binary"));
  return e;
}

HttpRequest CloudEventToHttp(const CloudEvent& e) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/";
  r.headers.Add("ce-specversion", e.specversion);
  r.headers.Add("ce-id", e.id);
  r.headers.Add("ce-source", e.source);
  r.headers.Add("ce-type", e.type);
  if (!e.subject.empty()) r.headers.Add("ce-subject", e.subject);
  if (!e.time.empty()) r.headers.Add("ce-time", e.time);
  if (!e.dataschema.empty()) r.headers.Add("ce-dataschema", e.dataschema);
  for (const auto& [k, v] : e.extensions) r.headers.Add("ce-" + k, v);
  if (!e.datacontenttype.empty()) r.headers.Add("Content-Type", e.datacontenttype);
  r.body = e.data;
  return r;
}

}  // namespace ofn::serve
