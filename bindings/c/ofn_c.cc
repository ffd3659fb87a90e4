// The C API (ofn_c.h) over ofn::Platform.
#include "bindings/c/ofn_c.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "libofn/common/clock.h"
#include "libofn/common/json_text.h"
#include "libofn/platform/platform.h"

struct ofn_platform {
  std::unique_ptr<ofn::ManualClock> clock;  // with manual_clock
  std::string default_ns;
  std::unique_ptr<ofn::Platform> platform;
};

struct ofn_response {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct ofn_http_request {
  const ofn::HttpRequest* request;
  mutable std::string header_value;  // the last ofn_http_request_header answer
};

struct ofn_http_response {
  ofn::HttpResponse response;
};

namespace {

struct LastError {
  bool set = false;
  std::string message;
  ofn_error error{0, nullptr};
};
thread_local LastError last_error;

int Code(ofn::StatusCode c) {
  switch (c) {
    case ofn::StatusCode::kOk: return OFN_OK;
    case ofn::StatusCode::kInvalidArgument: return OFN_EINVALID;
    case ofn::StatusCode::kNotFound: return OFN_ENOTFOUND;
    case ofn::StatusCode::kAlreadyExists: return OFN_EEXISTS;
    case ofn::StatusCode::kConflict: return OFN_ECONFLICT;
    case ofn::StatusCode::kFailedPrecondition: return OFN_EPRECONDITION;
    case ofn::StatusCode::kUnavailable: return OFN_EUNAVAILABLE;
    case ofn::StatusCode::kDeadlineExceeded: return OFN_ETIMEOUT;
    case ofn::StatusCode::kResourceExhausted: return OFN_EEXHAUSTED;
    case ofn::StatusCode::kPermissionDenied: return OFN_EPERMISSION;
    case ofn::StatusCode::kUnimplemented: return OFN_EUNIMPLEMENTED;
    case ofn::StatusCode::kInternal: return OFN_EINTERNAL;
  }
  return OFN_EINTERNAL;
}

int Fail(int code, std::string message) {
  last_error.set = true;
  last_error.message = std::move(message);
  last_error.error = ofn_error{code, last_error.message.c_str()};
  return code;
}
int Fail(const ofn::Status& s) { return Fail(Code(s.code()), s.message()); }
int Ok() {
  last_error.set = false;
  return OFN_OK;
}

// Every entry point: no exception crosses into C.
template <class F>
int Guard(F&& f) noexcept {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return Fail(OFN_EEXHAUSTED, "out of memory");
  } catch (const std::exception& e) {
    return Fail(OFN_EINTERNAL, e.what());
  } catch (...) {
    return Fail(OFN_EINTERNAL, "unknown exception");
  }
}

char* Dup(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (!out) throw std::bad_alloc();
  std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

// Sets *out when it is asked for.
void Give(char** out, const std::string& s) {
  if (out) *out = Dup(s);
}

std::string Str(const char* s, const char* fallback = "") { return s ? s : fallback; }

#define OFN_CHECK_ARG(cond, what) \
  if (!(cond)) return Fail(OFN_EINVALID, what)

std::string ObjectsJson(const std::vector<ofn::ObjectInfo>& objects, bool full) {
  std::string out = "[";
  for (size_t i = 0; i < objects.size(); ++i) {
    const ofn::ObjectInfo& o = objects[i];
    if (i) out += ",";
    if (full) {
      out += o.json;
    } else {
      out += "{\"kind\":" + ofn::JsonQuote(o.kind) + ",\"namespace\":" + ofn::JsonQuote(o.ns) +
             ",\"name\":" + ofn::JsonQuote(o.name) + ",\"generation\":" + std::to_string(o.generation) + "}";
    }
  }
  return out + "]";
}

}  // namespace

extern "C" {

const ofn_error* ofn_error_last(void) { return last_error.set ? &last_error.error : nullptr; }

void ofn_error_clear(void) { last_error.set = false; }

void ofn_string_free(char* s) { std::free(s); }

int ofn_platform_options_init(ofn_platform_options* opts, unsigned int version) {
  return Guard([&] {
    OFN_CHECK_ARG(opts, "opts is NULL");
    if (version != OFN_PLATFORM_OPTIONS_VERSION) {
      return Fail(OFN_EINVALID, "ofn_platform_options version " + std::to_string(version) + " is not known (this library: " +
                                    std::to_string(OFN_PLATFORM_OPTIONS_VERSION) + ")");
    }
    *opts = ofn_platform_options OFN_PLATFORM_OPTIONS_INIT;
    return Ok();
  });
}

int ofn_platform_open(ofn_platform** out, const ofn_platform_options* opts) {
  return Guard([&] {
    OFN_CHECK_ARG(out, "out is NULL");
    *out = nullptr;
    ofn_platform_options defaults = OFN_PLATFORM_OPTIONS_INIT;
    if (!opts) opts = &defaults;
    if (opts->version != OFN_PLATFORM_OPTIONS_VERSION) {
      return Fail(OFN_EINVALID, "ofn_platform_options version " + std::to_string(opts->version) +
                                    " is not known; declare it with OFN_PLATFORM_OPTIONS_INIT");
    }
    auto handle = std::make_unique<ofn_platform>();
    ofn::Platform::Options o;
    o.state_dir = Str(opts->state_dir);
    if (opts->gateway_address) o.gateway_address = opts->gateway_address;
    o.admin_address = Str(opts->admin_address);
    if (opts->default_namespace) o.default_namespace = opts->default_namespace;
    OFN_CHECK_ARG(opts->library_dirs || opts->library_dirs_count == 0, "library_dirs is NULL but its count is not 0");
    for (size_t i = 0; i < opts->library_dirs_count; ++i) {
      OFN_CHECK_ARG(opts->library_dirs[i], "library_dirs[" + std::to_string(i) + "] is NULL");
      o.library_dirs.emplace_back(opts->library_dirs[i]);
    }
    OFN_CHECK_ARG(opts->worker_threads >= 0, "worker_threads must not be negative");
    if (opts->worker_threads > 0) o.worker_threads = opts->worker_threads;
    if (opts->manual_clock) {
      handle->clock = std::make_unique<ofn::ManualClock>();
      o.clock = handle->clock.get();
      o.autoscale_ticker = false;
    }
    auto p = ofn::Platform::Open(o);
    if (!p.ok()) return Fail(p.status());
    handle->platform = std::move(*p);
    handle->default_ns = o.default_namespace;
    *out = handle.release();
    return Ok();
  });
}

void ofn_platform_close(ofn_platform* p, int drain_ms) {
  if (!p || !p->platform) return;
  try {
    p->platform->Close(std::chrono::milliseconds(drain_ms < 0 ? 0 : drain_ms));
  } catch (...) {
  }
}

void ofn_platform_free(ofn_platform* p) {
  if (!p) return;
  ofn_platform_close(p, 0);
  delete p;
}

int ofn_platform_gateway_address(char** out, ofn_platform* p) {
  return Guard([&] {
    OFN_CHECK_ARG(out && p, "out and p must not be NULL");
    *out = Dup(p->platform->gateway_address());
    return Ok();
  });
}

int ofn_platform_advance(ofn_platform* p, int64_t ms) {
  return Guard([&] {
    OFN_CHECK_ARG(p, "p is NULL");
    if (!p->clock) return Fail(OFN_EPRECONDITION, "the platform was not opened with manual_clock");
    OFN_CHECK_ARG(ms >= 0, "a clock only moves forward: ms must not be negative");
    p->clock->Advance(std::chrono::milliseconds(ms));
    return Ok();
  });
}

int ofn_platform_autoscale(ofn_platform* p) {
  return Guard([&] {
    OFN_CHECK_ARG(p, "p is NULL");
    p->platform->Autoscale();
    return Ok();
  });
}

int ofn_platform_sync(ofn_platform* p, int timeout_ms) {
  return Guard([&] {
    OFN_CHECK_ARG(p, "p is NULL");
    ofn::Status s = p->platform->Sync(std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms));
    return s.ok() ? Ok() : Fail(s);
  });
}

int ofn_apply(char** out, ofn_platform* p, const char* yaml, const char* file) {
  return Guard([&] {
    if (out) *out = nullptr;
    OFN_CHECK_ARG(p && yaml, "p and yaml must not be NULL");
    auto applied = p->platform->Apply(yaml, Str(file, "<apply>"));
    if (!applied.ok()) return Fail(applied.status());
    Give(out, ObjectsJson(*applied, false));
    return Ok();
  });
}

int ofn_get(char** out, ofn_platform* p, const char* kind, const char* ns, const char* name) {
  return Guard([&] {
    OFN_CHECK_ARG(out, "out is NULL");
    *out = nullptr;
    OFN_CHECK_ARG(p && kind && name, "p, kind and name must not be NULL");
    auto o = p->platform->Get(kind, ns && *ns ? ns : p->default_ns.c_str(), name);
    if (!o.ok()) return Fail(o.status());
    *out = Dup(o->json);
    return Ok();
  });
}

int ofn_list(char** out, ofn_platform* p, const char* kind, const char* ns) {
  return Guard([&] {
    OFN_CHECK_ARG(out, "out is NULL");
    *out = nullptr;
    OFN_CHECK_ARG(p && kind, "p and kind must not be NULL");
    auto list = p->platform->List(kind, Str(ns));
    if (!list.ok()) return Fail(list.status());
    *out = Dup(ObjectsJson(*list, true));
    return Ok();
  });
}

int ofn_delete(ofn_platform* p, const char* kind, const char* ns, const char* name) {
  return Guard([&] {
    OFN_CHECK_ARG(p && kind && name, "p, kind and name must not be NULL");
    ofn::Status s = p->platform->Delete(kind, ns && *ns ? ns : p->default_ns.c_str(), name);
    return s.ok() ? Ok() : Fail(s);
  });
}

int ofn_wait_ready(char** out, ofn_platform* p, const char* name, const char* ns, int timeout_ms) {
  return Guard([&] {
    if (out) *out = nullptr;
    OFN_CHECK_ARG(p && name, "p and name must not be NULL");
    auto info = p->platform->WaitReady(name, std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms), Str(ns));
    if (!info.ok()) return Fail(info.status());
    Give(out, info->json);
    return Ok();
  });
}

int ofn_revisions(char** out, ofn_platform* p, const char* name, const char* ns) {
  return Guard([&] {
    OFN_CHECK_ARG(out, "out is NULL");
    *out = nullptr;
    OFN_CHECK_ARG(p && name, "p and name must not be NULL");
    auto revs = p->platform->Revisions(name, Str(ns));
    if (!revs.ok()) return Fail(revs.status());
    std::string json = "[";
    for (size_t i = 0; i < revs->size(); ++i) {
      const ofn::RevisionInfo& r = (*revs)[i];
      std::string tags;
      for (const std::string& t : r.tags) tags += (tags.empty() ? "" : ",") + ofn::JsonQuote(t);
      json += std::string(i ? "," : "") + "{\"name\":" + ofn::JsonQuote(r.name) + ",\"ready\":" +
              (r.ready ? "true" : "false") + ",\"percent\":" + std::to_string(r.percent) + ",\"tags\":[" + tags +
              "],\"readyInstances\":" + std::to_string(r.ready_instances) +
              ",\"desiredInstances\":" + std::to_string(r.desired_instances) +
              ",\"coldStarts\":" + std::to_string(r.cold_starts) + ",\"reason\":" + ofn::JsonQuote(r.reason) +
              ",\"message\":" + ofn::JsonQuote(r.message) + "}";
    }
    *out = Dup(json + "]");
    return Ok();
  });
}

int ofn_metrics(char** out, ofn_platform* p) {
  return Guard([&] {
    OFN_CHECK_ARG(out, "out is NULL");
    *out = nullptr;
    OFN_CHECK_ARG(p, "p is NULL");
    *out = Dup(p->platform->Metrics());
    return Ok();
  });
}

int ofn_watch(int64_t* out_id, ofn_platform* p, const char* kind, ofn_watch_cb cb, void* payload) {
  return Guard([&] {
    OFN_CHECK_ARG(out_id && p && cb, "out_id, p and cb must not be NULL");
    *out_id = p->platform->Watch(Str(kind), [cb, payload](ofn::WatchEventType type, const ofn::ObjectInfo& o) {
      cb(static_cast<ofn_watch_event>(type), o.json.c_str(), payload);
    });
    return Ok();
  });
}

int ofn_unwatch(ofn_platform* p, int64_t id) {
  return Guard([&] {
    OFN_CHECK_ARG(p, "p is NULL");
    p->platform->Unwatch(id);
    return Ok();
  });
}

int ofn_invoke(ofn_response** out, ofn_platform* p, const char* name, const char* ns, const ofn_request* req) {
  return Guard([&] {
    OFN_CHECK_ARG(out, "out is NULL");
    *out = nullptr;
    OFN_CHECK_ARG(p && name, "p and name must not be NULL");
    ofn::HttpRequest r;
    if (req) {
      if (req->version != OFN_REQUEST_VERSION) {
        return Fail(OFN_EINVALID, "ofn_request version " + std::to_string(req->version) +
                                      " is not known; declare it with OFN_REQUEST_INIT");
      }
      if (req->method) r.method = req->method;
      if (req->target) r.target = req->target;
      OFN_CHECK_ARG(req->headers || req->headers_count == 0, "headers is NULL but its count is not 0");
      for (size_t i = 0; i < req->headers_count; ++i) {
        const char* hn = req->headers[2 * i];
        const char* hv = req->headers[2 * i + 1];
        OFN_CHECK_ARG(hn && hv, "header " + std::to_string(i) + " has a NULL name or value");
        r.headers.Add(hn, hv);
      }
      OFN_CHECK_ARG(req->body || req->body_len == 0, "body is NULL but body_len is not 0");
      if (req->body) r.body.assign(req->body, req->body_len);
    }
    ofn::HttpResponse res = p->platform->Invoke(name, std::move(r), Str(ns));
    auto handle = std::make_unique<ofn_response>();
    handle->status = res.status;
    handle->body = std::move(res.body);
    for (const auto& [hn, hv] : res.headers) handle->headers.emplace_back(hn, hv);
    *out = handle.release();
    return Ok();
  });
}

int ofn_response_status(const ofn_response* r) { return r ? r->status : 0; }

const char* ofn_response_body(const ofn_response* r, size_t* len) {
  if (len) *len = r ? r->body.size() : 0;
  return r ? r->body.c_str() : nullptr;
}

const char* ofn_response_header(const ofn_response* r, const char* name) {
  if (!r || !name) return nullptr;
  for (const auto& [hn, hv] : r->headers) {
    if (ofn::EqualsIgnoreCase(hn, name)) return hv.c_str();
  }
  return nullptr;
}

size_t ofn_response_header_count(const ofn_response* r) { return r ? r->headers.size() : 0; }

int ofn_response_header_at(const char** name, const char** value, const ofn_response* r, size_t i) {
  return Guard([&] {
    OFN_CHECK_ARG(name && value && r, "name, value and r must not be NULL");
    if (i >= r->headers.size()) {
      return Fail(OFN_ENOTFOUND, "header " + std::to_string(i) + " of " + std::to_string(r->headers.size()));
    }
    *name = r->headers[i].first.c_str();
    *value = r->headers[i].second.c_str();
    return Ok();
  });
}

void ofn_response_free(ofn_response* r) { delete r; }

const char* ofn_http_request_method(const ofn_http_request* req) { return req->request->method.c_str(); }

const char* ofn_http_request_target(const ofn_http_request* req) { return req->request->target.c_str(); }

const char* ofn_http_request_header(const ofn_http_request* req, const char* name) {
  if (!name) return nullptr;
  auto v = req->request->headers.Get(name);
  if (!v) return nullptr;
  req->header_value = std::string(*v);
  return req->header_value.c_str();
}

const char* ofn_http_request_body(const ofn_http_request* req, size_t* len) {
  if (len) *len = req->request->body.size();
  return req->request->body.c_str();
}

void ofn_http_response_set_status(ofn_http_response* res, int status) { res->response.status = status; }

void ofn_http_response_set_header(ofn_http_response* res, const char* name, const char* value) {
  if (name && value) res->response.headers.Set(name, value);
}

void ofn_http_response_set_body(ofn_http_response* res, const char* body, size_t len) {
  res->response.body.assign(body ? body : "", body ? len : 0);
}

int ofn_register_http(ofn_platform* p, const char* function_name, ofn_http_cb cb, void* payload) {
  return Guard([&] {
    OFN_CHECK_ARG(p && function_name && cb, "p, function_name and cb must not be NULL");
    OFN_CHECK_ARG(*function_name, "function_name is empty");
    p->platform->functions().Http(function_name, [cb, payload](const ofn::HttpRequest& request) {
      ofn_http_request req{&request, {}};
      ofn_http_response res;
      int rc = cb(&res, &req, payload);
      if (rc != 0) {
        return ofn::HttpResponse::Json(500, "{\"error\":{\"code\":500,\"message\":" +
                                                ofn::JsonQuote("the C handler returned " + std::to_string(rc)) +
                                                "}}\n");
      }
      return std::move(res.response);
    });
    return Ok();
  });
}

}  // extern "C"
