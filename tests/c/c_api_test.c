/* Every call of the C API (bindings/c/ofn_c.h) and its error paths, from C99.
   Prints one line per failed check and ends with "c_api_test: N checks, M failed";
   exits 1 when any failed. Run by tests/python/test_c_api.py. */
#define _XOPEN_SOURCE 700
#include "ofn_c.h" /* installed as <libofn/ofn_c.h> */

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int checks = 0, failed = 0;

#define CHECK(cond)                                                          \
  do {                                                                       \
    ++checks;                                                                \
    if (!(cond)) {                                                           \
      ++failed;                                                              \
      const ofn_error *e_ = ofn_error_last();                                \
      printf("FAILED %s:%d: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
             e_ ? e_->message : "none");                                     \
    }                                                                        \
  } while (0)

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int contains(const char *text, const char *part) { return text && part && strstr(text, part) != NULL; }

static const char kHello[] =
    "apiVersion: core.openfunction.io/v1beta2\n"
    "kind: Function\n"
    "metadata:\n"
    "  name: hello\n"
    "spec:\n"
    "  version: v1.0.0\n"
    "  image: ofn.local/hello:latest\n"
    "  serving:\n"
    "    params:\n"
    "      FUNC_NAME: greet\n"
    "    template:\n"
    "      containers:\n"
    "        - name: function\n"
    "    triggers:\n"
    "      http:\n"
    "        port: 8080\n";

/* The in-process function: echoes the method, target, a header and the body. */
static int greet(ofn_http_response *res, const ofn_http_request *req, void *payload) {
  int *calls = (int *)payload;
  size_t len = 0;
  const char *body = ofn_http_request_body(req, &len);
  const char *who = ofn_http_request_header(req, "X-Who");
  char text[512];
  ++*calls;
  if (strcmp(ofn_http_request_target(req), "/fail") == 0) return 7;
  snprintf(text, sizeof text, "%s %s who=%s body=%.*s", ofn_http_request_method(req), ofn_http_request_target(req),
           who ? who : "-", (int)len, body);
  ofn_http_response_set_status(res, 201);
  ofn_http_response_set_header(res, "X-Greeted", "yes");
  ofn_http_response_set_body(res, text, strlen(text));
  return 0;
}

struct seen {
  int added, modified, deleted;
  int hello;
};

static void on_event(ofn_watch_event type, const char *object_json, void *payload) {
  struct seen *s = (struct seen *)payload;
  if (type == OFN_WATCH_ADDED) ++s->added;
  if (type == OFN_WATCH_MODIFIED) ++s->modified;
  if (type == OFN_WATCH_DELETED) ++s->deleted;
  if (contains(object_json, "\"name\":\"hello\"")) ++s->hello;
}

int main(void) {
  char dir[] = "/tmp/ofn-c-api-XXXXXX";
  ofn_platform_options opts = OFN_PLATFORM_OPTIONS_INIT;
  ofn_platform *p = NULL;
  char *out = NULL;
  ofn_response *res = NULL;
  int calls = 0;
  struct seen seen = {0, 0, 0, 0};
  int64_t watch_id = -1;

  CHECK(mkdtemp(dir) != NULL);

  /* Options: init, versions, bad values. */
  CHECK(ofn_platform_options_init(&opts, OFN_PLATFORM_OPTIONS_VERSION) == OFN_OK);
  CHECK(ofn_error_last() == NULL);
  CHECK(ofn_platform_options_init(&opts, 99) == OFN_EINVALID);
  CHECK(ofn_error_last() != NULL && ofn_error_last()->code == OFN_EINVALID && contains(ofn_error_last()->message, "99"));
  ofn_error_clear();
  CHECK(ofn_error_last() == NULL);
  CHECK(ofn_platform_options_init(NULL, OFN_PLATFORM_OPTIONS_VERSION) == OFN_EINVALID);
  {
    ofn_platform_options bad = OFN_PLATFORM_OPTIONS_INIT;
    bad.version = 0;
    CHECK(ofn_platform_open(&p, &bad) == OFN_EINVALID && p == NULL);
    bad.version = OFN_PLATFORM_OPTIONS_VERSION;
    bad.library_dirs_count = 2;
    CHECK(ofn_platform_open(&p, &bad) == OFN_EINVALID && contains(ofn_error_last()->message, "library_dirs"));
    bad.library_dirs_count = 0;
    bad.gateway_address = "not an address";
    CHECK(ofn_platform_open(&p, &bad) != OFN_OK && p == NULL);
  }
  CHECK(ofn_platform_open(NULL, &opts) == OFN_EINVALID);

  opts.state_dir = dir;
  opts.gateway_address = "127.0.0.1:0";
  opts.manual_clock = 1;
  CHECK(ofn_platform_open(&p, &opts) == OFN_OK && p != NULL);
  if (!p) {
    printf("c_api_test: %d checks, %d failed\n", checks, failed);
    return 1;
  }
  CHECK(ofn_platform_gateway_address(&out, p) == OFN_OK && contains(out, "127.0.0.1:"));
  ofn_string_free(out);
  out = NULL;

  /* A second platform on the same state dir is refused, naming the holder. */
  {
    ofn_platform *second = NULL;
    CHECK(ofn_platform_open(&second, &opts) != OFN_OK && second == NULL);
    CHECK(contains(ofn_error_last()->message, "pid"));
  }

  CHECK(ofn_watch(&watch_id, p, "Function", on_event, &seen) == OFN_OK);
  CHECK(ofn_watch(NULL, p, "Function", on_event, &seen) == OFN_EINVALID);
  CHECK(ofn_register_http(p, "greet", greet, &calls) == OFN_OK);
  CHECK(ofn_register_http(p, "", greet, &calls) == OFN_EINVALID);
  CHECK(ofn_register_http(p, "x", NULL, NULL) == OFN_EINVALID);

  /* Apply: a bad manifest names the file, the line and the field, and stores nothing. */
  CHECK(ofn_apply(&out, p, "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: bad\n"
                           "spec:\n  version: v1\n  serving:\n    triggers:\n      http:\n        port: 99999\n",
                  "bad.yaml") == OFN_EINVALID);
  CHECK(out == NULL);
  CHECK(contains(ofn_error_last()->message, "bad.yaml:10:") &&
        contains(ofn_error_last()->message, "spec.serving.triggers.http.port"));
  CHECK(ofn_get(&out, p, "Function", NULL, "bad") == OFN_ENOTFOUND);
  CHECK(ofn_apply(NULL, p, NULL, NULL) == OFN_EINVALID);

  CHECK(ofn_apply(&out, p, kHello, "hello.yaml") == OFN_OK);
  CHECK(contains(out, "\"kind\":\"Function\"") && contains(out, "\"name\":\"hello\"") &&
        contains(out, "\"generation\":1"));
  ofn_string_free(out);
  out = NULL;
  CHECK(ofn_apply(NULL, p, kHello, NULL) == OFN_OK); /* the result is optional */

  CHECK(ofn_wait_ready(&out, p, "hello", NULL, 10000) == OFN_OK);
  CHECK(contains(out, "\"state\":\"Running\""));
  ofn_string_free(out);
  out = NULL;
  CHECK(ofn_wait_ready(NULL, p, "nosuch", NULL, 50) != OFN_OK);

  /* Invoke: request fields in, response fields out. */
  {
    const char *headers[] = {"X-Who", "c", "Content-Type", "text/plain"};
    ofn_request req = OFN_REQUEST_INIT;
    size_t len = 0;
    const char *name = NULL, *value = NULL;
    req.method = "POST";
    req.target = "/hi?x=1";
    req.headers = headers;
    req.headers_count = 2;
    req.body = "data";
    req.body_len = 4;
    CHECK(ofn_invoke(&res, p, "hello", NULL, &req) == OFN_OK && res != NULL);
    CHECK(ofn_response_status(res) == 201);
    CHECK(strcmp(ofn_response_body(res, &len), "POST /hi?x=1 who=c body=data") == 0 && len == 28);
    CHECK(ofn_response_header(res, "x-greeted") != NULL && strcmp(ofn_response_header(res, "x-greeted"), "yes") == 0);
    CHECK(ofn_response_header(res, "X-Missing") == NULL);
    CHECK(ofn_response_header_count(res) >= 1);
    CHECK(ofn_response_header_at(&name, &value, res, 0) == OFN_OK && name != NULL && value != NULL);
    CHECK(ofn_response_header_at(&name, &value, res, ofn_response_header_count(res)) == OFN_ENOTFOUND);
    ofn_response_free(res);
    res = NULL;

    req.version = 7;
    CHECK(ofn_invoke(&res, p, "hello", NULL, &req) == OFN_EINVALID && res == NULL);
    req.version = OFN_REQUEST_VERSION;
    req.headers = NULL;
    CHECK(ofn_invoke(&res, p, "hello", NULL, &req) == OFN_EINVALID);
  }
  CHECK(ofn_invoke(&res, p, "hello", NULL, NULL) == OFN_OK && ofn_response_status(res) == 201);
  ofn_response_free(res);
  {
    ofn_request req = OFN_REQUEST_INIT;
    req.target = "/fail";
    CHECK(ofn_invoke(&res, p, "hello", NULL, &req) == OFN_OK && ofn_response_status(res) == 500);
    CHECK(contains(ofn_response_body(res, NULL), "returned 7"));
    ofn_response_free(res);
  }
  CHECK(ofn_invoke(&res, p, "nosuch", NULL, NULL) == OFN_OK && ofn_response_status(res) == 404);
  ofn_response_free(res);
  res = NULL;
  CHECK(calls == 3);

  /* Get, list, revisions, metrics. */
  CHECK(ofn_get(&out, p, "Function", "default", "hello") == OFN_OK && contains(out, "\"kind\":\"Function\""));
  ofn_string_free(out);
  CHECK(ofn_get(&out, p, "Function", NULL, "hello") == OFN_OK && contains(out, "\"namespace\":\"default\""));
  ofn_string_free(out);
  CHECK(ofn_get(NULL, p, "Function", NULL, "hello") == OFN_EINVALID);
  CHECK(ofn_list(&out, p, "Function", NULL) == OFN_OK && out[0] == '[' && contains(out, "\"name\":\"hello\""));
  ofn_string_free(out);
  CHECK(ofn_list(&out, p, "Function", "elsewhere") == OFN_OK && strcmp(out, "[]") == 0);
  ofn_string_free(out);
  CHECK(ofn_list(NULL, p, "Function", NULL) == OFN_EINVALID);
  CHECK(ofn_list(&out, p, NULL, NULL) == OFN_EINVALID && out == NULL);
  CHECK(ofn_revisions(&out, p, "hello", NULL) == OFN_OK && contains(out, "\"name\":\"hello-00001\"") &&
        contains(out, "\"percent\":100") && contains(out, "\"readyInstances\":1"));
  ofn_string_free(out);
  CHECK(ofn_metrics(&out, p) == OFN_OK && contains(out, "hello-00001"));
  ofn_string_free(out);
  out = NULL;

  /* The manual clock: idle past the windows, the revision goes to zero. */
  {
    int i;
    for (i = 0; i < 60; ++i) {
      CHECK(ofn_platform_advance(p, 2000) == OFN_OK);
      CHECK(ofn_platform_autoscale(p) == OFN_OK);
    }
    CHECK(ofn_revisions(&out, p, "hello", NULL) == OFN_OK && contains(out, "\"readyInstances\":0"));
    ofn_string_free(out);
    out = NULL;
  }
  CHECK(ofn_platform_advance(p, -1) == OFN_EINVALID);
  CHECK(ofn_platform_sync(p, 10000) == OFN_OK);

  /* Delete; then the watch saw it all, and stops. */
  CHECK(ofn_delete(p, "Function", NULL, "hello") == OFN_OK);
  CHECK(ofn_delete(p, "Function", NULL, "hello") == OFN_ENOTFOUND);
  CHECK(ofn_platform_sync(p, 10000) == OFN_OK);
  CHECK(ofn_unwatch(p, watch_id) == OFN_OK);
  CHECK(seen.added >= 1 && seen.modified >= 1 && seen.deleted == 1 && seen.hello >= 3);
  {
    int before = seen.added;
    CHECK(ofn_apply(NULL, p, kHello, NULL) == OFN_OK);
    CHECK(seen.added == before); /* unwatched */
  }

  ofn_platform_close(p, 1000);
  ofn_platform_close(p, 1000); /* idempotent */
  ofn_platform_free(p);
  ofn_platform_free(NULL);
  ofn_string_free(NULL);

  /* Without a manual clock, advancing is refused. */
  {
    ofn_platform_options o = OFN_PLATFORM_OPTIONS_INIT;
    ofn_platform *q = NULL;
    o.gateway_address = "";
    CHECK(ofn_platform_open(&q, &o) == OFN_OK); /* in memory */
    CHECK(ofn_platform_advance(q, 10) == OFN_EPRECONDITION);
    CHECK(ofn_platform_gateway_address(&out, q) == OFN_OK && strcmp(out, "") == 0);
    ofn_string_free(out);
    ofn_platform_free(q);
  }

  CHECK(nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0); /* the state dir goes */
  printf("c_api_test: %d checks, %d failed\n", checks, failed);
  return failed == 0 ? 0 : 1;
}
