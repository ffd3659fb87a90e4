/*
 * libofn's C API: the Platform from C (and from anything with a C FFI).
 *
 * Conventions:
 *  - Opaque handles: ofn_platform, ofn_response, ofn_http_request,
 *    ofn_http_response. What a call hands out, the caller frees with the
 *    matching ofn_*_free (strings with ofn_string_free).
 *  - Calls return 0 or a negative OFN_E* code; out-parameters come first.
 *    After a failure, ofn_error_last() describes it: per thread, valid
 *    until the thread's next call into this API.
 *  - Options structs carry a version: declare them with the
 *    OFN_*_OPTIONS_INIT macro (or ofn_*_options_init) and set what you need.
 *  - Callbacks end in `void *payload`, handed back as given.
 *  - Strings are NUL-terminated UTF-8; JSON results are objects as the
 *    admin API shows them.
 *
 * Thread-safety: every call on an ofn_platform may be made from any thread
 * at once, except ofn_platform_free (nothing else may run on that platform
 * meanwhile, or after). Handles returned to the caller (responses, strings)
 * belong to it and are not shared with the library.
 *
 * Building: the functions live in libofn.so. C programs take their flags
 * from `pkg-config --cflags --libs libofn-c` (libofn.pc's Cflags carry
 * -std=c++20 for C++ hosts). The header is C99.
 */
#ifndef LIBOFN_OFN_C_H_
#define LIBOFN_OFN_C_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define OFN_EXTERN __attribute__((visibility("default")))
#else
#define OFN_EXTERN
#endif

/* Error codes (negated), one per ofn::StatusCode. */
typedef enum {
  OFN_OK = 0,
  OFN_EINVALID = -1,        /* bad input: a manifest, an argument */
  OFN_ENOTFOUND = -2,
  OFN_EEXISTS = -3,
  OFN_ECONFLICT = -4,       /* changed meanwhile (resourceVersion) */
  OFN_EPRECONDITION = -5,
  OFN_EUNAVAILABLE = -6,
  OFN_ETIMEOUT = -7,
  OFN_EEXHAUSTED = -8,
  OFN_EPERMISSION = -9,
  OFN_EUNIMPLEMENTED = -10,
  OFN_EINTERNAL = -11
} ofn_error_code;

typedef struct {
  int code;            /* an ofn_error_code */
  const char *message; /* for a rejected manifest, one problem per line:
                          "file:line:col: field.path: message" */
} ofn_error;

/* The last error of the calling thread, or NULL when its last call
   succeeded. Owned by the library. */
OFN_EXTERN const ofn_error *ofn_error_last(void);
OFN_EXTERN void ofn_error_clear(void);

/* Frees a string the library handed out (NULL is fine). */
OFN_EXTERN void ofn_string_free(char *s);

/* ---- Platform ---------------------------------------------------------- */

typedef struct ofn_platform ofn_platform;

#define OFN_PLATFORM_OPTIONS_VERSION 1
typedef struct {
  unsigned int version;
  /* Where state is kept; NULL: in memory. */
  const char *state_dir;
  /* Gateway listener "host:port" (port 0: any); NULL: "127.0.0.1:8080";
     "": none (ofn_invoke still works). */
  const char *gateway_address;
  /* Admin API: NULL or "" (none), "unix", "unix:/path", "127.0.0.1:port". */
  const char *admin_address;
  /* Namespace of manifests and calls that name none; NULL: "default". */
  const char *default_namespace;
  /* Directories the in-process backend loads function libraries from. */
  const char *const *library_dirs;
  size_t library_dirs_count;
  /* Function-pool threads; 0: the default (16). */
  int worker_threads;
  /* Non-zero: the platform runs on a manual clock that only
     ofn_platform_advance moves (deterministic scale-to-zero and rollouts);
     the autoscaler then runs when ofn_platform_autoscale is called. */
  int manual_clock;
} ofn_platform_options;

#define OFN_PLATFORM_OPTIONS_INIT {OFN_PLATFORM_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL, 0, 0, 0}

/* Sets `opts` to its defaults; OFN_EINVALID for an unknown version. */
OFN_EXTERN int ofn_platform_options_init(ofn_platform_options *opts, unsigned int version);

/* Opens a platform; `opts` NULL: the defaults. */
OFN_EXTERN int ofn_platform_open(ofn_platform **out, const ofn_platform_options *opts);
/* Stops listeners (in-flight requests get up to `drain_ms`), the reconcile
   loop and the instances; idempotent. The handle stays valid until freed. */
OFN_EXTERN void ofn_platform_close(ofn_platform *p, int drain_ms);
/* Closes (if open) and frees. NULL is fine. */
OFN_EXTERN void ofn_platform_free(ofn_platform *p);

/* The gateway's bound "host:port" ("" without a listener), newly allocated. */
OFN_EXTERN int ofn_platform_gateway_address(char **out, ofn_platform *p);

/* With a manual clock: moves it forward `ms` milliseconds. */
OFN_EXTERN int ofn_platform_advance(ofn_platform *p, int64_t ms);
/* One autoscaler pass over every revision now. */
OFN_EXTERN int ofn_platform_autoscale(ofn_platform *p);
/* Waits until every change stored so far is reconciled. */
OFN_EXTERN int ofn_platform_sync(ofn_platform *p, int timeout_ms);

/* ---- Objects ----------------------------------------------------------- */

/* Parses, validates and stores YAML manifests, all or nothing; `file` names
   the text in messages (NULL: "<apply>"). `out` (may be NULL) receives a
   JSON array of {"kind","namespace","name","generation"}. On OFN_EINVALID
   nothing was stored and the error lists every problem. */
OFN_EXTERN int ofn_apply(char **out, ofn_platform *p, const char *yaml, const char *file);

/* The object as JSON (apiVersion, kind, metadata, spec, status).
   `ns` NULL: the default namespace. */
OFN_EXTERN int ofn_get(char **out, ofn_platform *p, const char *kind, const char *ns, const char *name);
/* A JSON array of the objects of `kind`; `ns` NULL: every namespace. */
OFN_EXTERN int ofn_list(char **out, ofn_platform *p, const char *kind, const char *ns);
OFN_EXTERN int ofn_delete(ofn_platform *p, const char *kind, const char *ns, const char *name);

/* Waits until the Function serves (state Running, route accepted); fails
   early with the reason when it cannot (OFN_EPRECONDITION), OFN_ETIMEOUT
   after `timeout_ms`. `out` (may be NULL): the Function as JSON. */
OFN_EXTERN int ofn_wait_ready(char **out, ofn_platform *p, const char *name, const char *ns, int timeout_ms);

/* The Function's revisions, oldest first, as a JSON array of
   {"name","ready","percent","tags","readyInstances","desiredInstances",
    "coldStarts","reason","message"}. */
OFN_EXTERN int ofn_revisions(char **out, ofn_platform *p, const char *name, const char *ns);

/* Per-revision metrics, Prometheus text format. */
OFN_EXTERN int ofn_metrics(char **out, ofn_platform *p);

/* ---- Watch ------------------------------------------------------------- */

typedef enum { OFN_WATCH_ADDED = 0, OFN_WATCH_MODIFIED = 1, OFN_WATCH_DELETED = 2 } ofn_watch_event;

/* Called for each later change of the watched kind, in commit order, on the
   thread that committed it: it must not block nor call into the platform.
   `object_json` is valid during the call only. */
typedef void (*ofn_watch_cb)(ofn_watch_event type, const char *object_json, void *payload);

/* `kind` NULL or "": every kind. `out_id` identifies it for ofn_unwatch. */
OFN_EXTERN int ofn_watch(int64_t *out_id, ofn_platform *p, const char *kind, ofn_watch_cb cb, void *payload);
/* After it returns, `cb` is not running and is not called again. */
OFN_EXTERN int ofn_unwatch(ofn_platform *p, int64_t id);

/* ---- Requests ---------------------------------------------------------- */

#define OFN_REQUEST_VERSION 1
typedef struct {
  unsigned int version;
  const char *method;  /* NULL: "GET" */
  const char *target;  /* path and query; NULL: "/" */
  /* Header fields as name, value, name, value, ...; count = pairs. */
  const char *const *headers;
  size_t headers_count;
  const char *body;
  size_t body_len;
} ofn_request;

#define OFN_REQUEST_INIT {OFN_REQUEST_VERSION, NULL, NULL, NULL, 0, NULL, 0}

typedef struct ofn_response ofn_response;

/* Sends a request to a Function the way the gateway would (route, filters,
   instance) without a socket. `ns` NULL: the default namespace; `req` NULL:
   GET /. Answers from the function (4xx/5xx included) return 0. */
OFN_EXTERN int ofn_invoke(ofn_response **out, ofn_platform *p, const char *name, const char *ns,
                          const ofn_request *req);

OFN_EXTERN int ofn_response_status(const ofn_response *r);
/* The body (not NUL-terminated when binary; a NUL follows it anyway). */
OFN_EXTERN const char *ofn_response_body(const ofn_response *r, size_t *len);
/* The first value of header `name` (case-insensitive), or NULL. */
OFN_EXTERN const char *ofn_response_header(const ofn_response *r, const char *name);
OFN_EXTERN size_t ofn_response_header_count(const ofn_response *r);
/* Header `i` (< count); OFN_ENOTFOUND past the end. */
OFN_EXTERN int ofn_response_header_at(const char **name, const char **value, const ofn_response *r, size_t i);
OFN_EXTERN void ofn_response_free(ofn_response *r);

/* ---- In-process functions ---------------------------------------------- */

/* What a handler sees and what it answers; valid during the call only. */
typedef struct ofn_http_request ofn_http_request;
typedef struct ofn_http_response ofn_http_response;

OFN_EXTERN const char *ofn_http_request_method(const ofn_http_request *req);
OFN_EXTERN const char *ofn_http_request_target(const ofn_http_request *req);
OFN_EXTERN const char *ofn_http_request_header(const ofn_http_request *req, const char *name);
OFN_EXTERN const char *ofn_http_request_body(const ofn_http_request *req, size_t *len);

/* Status defaults to 200 and the body to empty. */
OFN_EXTERN void ofn_http_response_set_status(ofn_http_response *res, int status);
OFN_EXTERN void ofn_http_response_set_header(ofn_http_response *res, const char *name, const char *value);
OFN_EXTERN void ofn_http_response_set_body(ofn_http_response *res, const char *body, size_t len);

/* An HTTP-signature function. Return 0; anything else answers 500 naming
   the code. Runs on the platform's function pool, many calls at once: it
   must be thread-safe. */
typedef int (*ofn_http_cb)(ofn_http_response *res, const ofn_http_request *req, void *payload);

/* Registers `cb` as the in-process function `function_name`: a Function
   whose FUNC_NAME (serving.params or the container's env) names it, or
   without one whose metadata.name is it, runs it.
   `payload` must stay valid while the platform is open. */
OFN_EXTERN int ofn_register_http(ofn_platform *p, const char *function_name, ofn_http_cb cb, void *payload);

#ifdef __cplusplus
}
#endif

#endif /* LIBOFN_OFN_C_H_ */
