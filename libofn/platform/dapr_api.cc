// The Dapr HTTP API (v1.0) that libofn serves to its process instances in
// place of a Dapr sidecar: publish, output bindings, state (get, save,
// delete, bulk, transaction), health and metadata. Each instance gets
// DAPR_HTTP_PORT and DAPR_API_TOKEN; Dapr's client libraries send the token
// as the dapr-api-token header, which says which Function (the Dapr app)
// calls. Errors answer as Dapr does: {"errorCode": "ERR_...", "message": ...}.
#include "libofn/platform/internal/dapr_api.h"

#include <boost/json.hpp>

#include "libofn/common/internal/json_access.h"

namespace ofn::platform::internal {
namespace {

namespace json = boost::json;

HttpResponse DaprError(int status, const std::string& code, const std::string& message) {
  json::object o{{"errorCode", code}, {"message", message}};
  return HttpResponse::Json(status, json::serialize(o));
}

HttpResponse NoContent() {
  HttpResponse r;
  r.status = 204;
  return r;
}

std::vector<std::string> Segments(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.emplace_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// ?metadata.KEY=VALUE parameters, as Dapr reads request metadata.
std::map<std::string, std::string> QueryMetadata(std::string_view query) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  while (i < query.size()) {
    size_t amp = query.find('&', i);
    std::string_view part = query.substr(i, amp == std::string_view::npos ? std::string_view::npos : amp - i);
    size_t eq = part.find('=');
    std::string_view key = part.substr(0, eq);
    if (key.starts_with("metadata.") && eq != std::string_view::npos) {
      out[std::string(key.substr(9))] = std::string(part.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    i = amp + 1;
  }
  return out;
}

// Dapr's key prefix for a state store: "<app id>||key" unless the
// component's keyPrefix says "none", "name" (the component's name) or a
// prefix of its own.
std::string StateKey(const events::ComponentSpec& store, const std::string& app, const std::string& key) {
  std::string prefix = store.Get("keyPrefix", "appid");
  if (prefix == "none") return key;
  if (prefix == "appid") prefix = app.substr(app.find('/') + 1);
  if (prefix == "name") prefix = store.name;
  return prefix + "||" + key;
}

HttpResponse StatusToDapr(const Status& s, const std::string& code) {
  int http = 500;
  if (s.code() == StatusCode::kNotFound) http = 400;
  if (s.code() == StatusCode::kInvalidArgument) http = 400;
  if (s.code() == StatusCode::kFailedPrecondition) http = 409;
  if (s.code() == StatusCode::kResourceExhausted || s.code() == StatusCode::kUnavailable) http = 503;
  return DaprError(http, code, s.message());
}

Result<json::value> ParseBody(const HttpRequest& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (ec) return Status(StatusCode::kInvalidArgument, "the body is not JSON: " + ec.message());
  return v;
}

HttpResponse HandleState(AsyncRuntime& rt, const std::string& app, HttpRequest& r,
                         const std::vector<std::string>& seg) {
  const std::string& name = seg[2];
  auto store = rt.StateStoreOf(app, name);
  auto spec = rt.ComponentOf(app, name);
  if (!store.ok() || !spec.ok()) {
    const Status& s = store.ok() ? spec.status() : store.status();
    return DaprError(s.code() == StatusCode::kNotFound || s.code() == StatusCode::kInvalidArgument ? 400 : 500,
                     s.code() == StatusCode::kNotFound ? "ERR_STATE_STORE_NOT_FOUND" : "ERR_STATE_STORE_NOT_CONFIGURED",
                     s.message());
  }
  events::StateStore& st = **store;
  const std::string& m = r.method;
  if (seg.size() == 3 && (m == "POST" || m == "PUT")) {
    auto body = ParseBody(r);
    if (!body.ok() || !body->is_array()) {
      return DaprError(400, "ERR_MALFORMED_REQUEST", "the body must be a JSON array of {key, value[, etag]}");
    }
    std::vector<events::StateOperation> ops;
    for (const json::value& item : body->as_array()) {
      const json::object* o = item.if_object();
      std::string key = ofn::internal::Str(o, "key");
      if (key.empty()) return DaprError(400, "ERR_MALFORMED_REQUEST", "each item needs a key");
      const json::value* value = ofn::internal::At(o, "value");
      events::StateOperation op;
      op.item.key = StateKey(*spec, app, key);
      op.item.value = value ? json::serialize(*value) : "null";
      op.item.etag = ofn::internal::Str(o, "etag");
      ops.push_back(std::move(op));
    }
    Status s = ops.size() == 1 ? st.Set(ops[0].item) : st.Transact(ops);
    return s.ok() ? NoContent() : StatusToDapr(s, "ERR_STATE_SAVE");
  }
  if (seg.size() == 4 && seg[3] == "bulk" && m == "POST") {
    auto body = ParseBody(r);
    const json::array* keys = body.ok() ? ofn::internal::Arr(ofn::internal::At(body->if_object(), "keys")) : nullptr;
    if (!keys) return DaprError(400, "ERR_MALFORMED_REQUEST", "the body must be {\"keys\": [...]}");
    json::array out;
    for (const json::value& k : *keys) {
      if (!k.is_string()) continue;
      std::string key(k.as_string());
      json::object item{{"key", key}};
      auto got = st.Get(StateKey(*spec, app, key));
      if (got.ok()) {
        boost::system::error_code ec;
        json::value data = json::parse(got->value, ec);
        item["data"] = ec ? json::value(got->value) : std::move(data);
        item["etag"] = got->etag;
      } else if (got.status().code() != StatusCode::kNotFound) {
        item["error"] = got.status().message();
      }
      out.push_back(std::move(item));
    }
    return HttpResponse::Json(200, json::serialize(out));
  }
  if (seg.size() == 4 && seg[3] == "transaction" && m == "POST") {
    auto body = ParseBody(r);
    const json::array* list =
        body.ok() ? ofn::internal::Arr(ofn::internal::At(body->if_object(), "operations")) : nullptr;
    if (!list) return DaprError(400, "ERR_MALFORMED_REQUEST", "the body must be {\"operations\": [...]}");
    std::vector<events::StateOperation> ops;
    for (const json::value& item : *list) {
      const json::object* o = item.if_object();
      const std::string kind = ofn::internal::Str(o, "operation");
      const json::object* req = ofn::internal::Obj(ofn::internal::At(o, "request"));
      std::string key = ofn::internal::Str(req, "key");
      if ((kind != "upsert" && kind != "delete") || key.empty()) {
        return DaprError(400, "ERR_MALFORMED_REQUEST", "each operation is upsert or delete with a request.key");
      }
      events::StateOperation op;
      op.kind = kind == "delete" ? events::StateOperation::Kind::kDelete : events::StateOperation::Kind::kUpsert;
      op.item.key = StateKey(*spec, app, key);
      const json::value* value = ofn::internal::At(req, "value");
      op.item.value = value ? json::serialize(*value) : "null";
      op.item.etag = ofn::internal::Str(req, "etag");
      ops.push_back(std::move(op));
    }
    Status s = st.Transact(ops);
    return s.ok() ? NoContent() : StatusToDapr(s, "ERR_STATE_TRANSACTION");
  }
  if (seg.size() == 4) {
    const std::string key = StateKey(*spec, app, seg[3]);
    if (m == "GET") {
      auto got = st.Get(key);
      if (!got.ok() && got.status().code() == StatusCode::kNotFound) return NoContent();
      if (!got.ok()) return StatusToDapr(got.status(), "ERR_STATE_GET");
      HttpResponse out = HttpResponse::Json(200, got->value);
      out.headers.Set("ETag", got->etag);
      return out;
    }
    if (m == "DELETE") {
      Status s = st.Delete(key, r.headers.GetOr("If-Match", ""));
      return s.ok() ? NoContent() : StatusToDapr(s, "ERR_STATE_DELETE");
    }
  }
  return DaprError(405, "ERR_MALFORMED_REQUEST", m + " " + std::string(r.path()) + " is not a state API call");
}

}  // namespace

HttpResponse HandleDaprApi(AsyncRuntime& rt, HttpRequest& r) {
  const std::vector<std::string> seg = Segments(r.path());
  if (seg.size() >= 2 && seg[0] == "v1.0" && seg[1] == "healthz") return NoContent();
  const std::string token = r.headers.GetOr("dapr-api-token", "");
  const std::string app = token.empty() ? "" : rt.AppOfToken(token);
  if (app.empty()) {
    return DaprError(401, "ERR_UNAUTHORIZED", token.empty() ? "missing the dapr-api-token header (DAPR_API_TOKEN)"
                                                            : "the dapr-api-token is not one this platform gave");
  }
  if (seg.size() < 2 || seg[0] != "v1.0") {
    return DaprError(404, "ERR_DIRECT_INVOKE", "no such Dapr API: " + std::string(r.path()));
  }
  const std::string& api = seg[1];
  if (api == "metadata" && r.method == "GET") {
    json::object o{{"id", app.substr(app.find('/') + 1)}, {"runtimeVersion", "libofn"}};
    return HttpResponse::Json(200, json::serialize(o));
  }
  if (api == "publish" && seg.size() == 4 && r.method == "POST") {
    Status s = rt.Publish(app, seg[2], seg[3], r.body, r.headers.GetOr("Content-Type", ""), QueryMetadata(r.query()));
    if (s.ok()) return NoContent();
    return StatusToDapr(s, s.code() == StatusCode::kNotFound ? "ERR_PUBSUB_NOT_FOUND" : "ERR_PUBSUB_PUBLISH_MESSAGE");
  }
  if (api == "bindings" && seg.size() == 3 && (r.method == "POST" || r.method == "PUT")) {
    auto body = ParseBody(r);
    if (!body.ok() || !body->is_object()) {
      return DaprError(400, "ERR_MALFORMED_REQUEST", "the body must be {\"data\": ..., \"operation\": ...}");
    }
    const json::object& o = body->as_object();
    events::BindingRequest req;
    req.operation = ofn::internal::Str(&o, "operation");
    if (const json::value* d = o.if_contains("data")) req.data = d->is_string() ? std::string(d->as_string()) : json::serialize(*d);
    if (const json::object* md = ofn::internal::Obj(o.if_contains("metadata"))) {
      for (const auto& [k, v] : *md) req.metadata[std::string(k)] = v.is_string() ? std::string(v.as_string()) : json::serialize(v);
    }
    auto out = rt.InvokeBinding(app, seg[2], req);
    if (!out.ok()) return StatusToDapr(out.status(), "ERR_INVOKE_OUTPUT_BINDING");
    if (out->data.empty()) return NoContent();
    HttpResponse resp;
    resp.status = 200;
    resp.body = out->data;
    for (const auto& [k, v] : out->metadata) resp.headers.Set("Metadata." + k, v);
    return resp;
  }
  if (api == "state" && seg.size() >= 3) return HandleState(rt, app, r, seg);
  return DaprError(404, "ERR_NOT_SUPPORTED", r.method + " " + std::string(r.path()) +
                                                 " is not served here (publish, bindings, state, healthz, metadata)");
}

}  // namespace ofn::platform::internal
