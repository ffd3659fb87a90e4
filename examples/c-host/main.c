/* libofn from C: open a platform, register a C function, apply a Function
   that runs it, call it, print the answer.

     cc -std=c99 main.c $(pkg-config --cflags --libs libofn-c) -o c-host
     ./c-host            # prints: 200 Hello from C, who=world
*/
#include <libofn/ofn_c.h>

#include <stdio.h>
#include <string.h>

static const char kFunction[] =
    "apiVersion: core.openfunction.io/v1beta2\n"
    "kind: Function\n"
    "metadata:\n"
    "  name: hello\n"
    "spec:\n"
    "  version: v1.0.0\n"
    "  image: ofn.local/hello:latest\n"
    "  serving:\n"
    "    template:\n"
    "      containers:\n"
    "        - name: function\n"
    "    triggers:\n"
    "      http:\n"
    "        port: 8080\n";

static int hello(ofn_http_response *res, const ofn_http_request *req, void *payload) {
  const char *target = ofn_http_request_target(req);
  const char *who = strstr(target, "who=");
  char text[256];
  (void)payload;
  snprintf(text, sizeof text, "Hello from C, who=%s", who ? who + 4 : "nobody");
  ofn_http_response_set_header(res, "Content-Type", "text/plain");
  ofn_http_response_set_body(res, text, strlen(text));
  return 0;
}

static int fail(const char *what) {
  const ofn_error *e = ofn_error_last();
  fprintf(stderr, "%s: %s\n", what, e ? e->message : "unknown error");
  return 1;
}

int main(void) {
  ofn_platform_options opts = OFN_PLATFORM_OPTIONS_INIT;
  ofn_platform *p = NULL;
  ofn_request req = OFN_REQUEST_INIT;
  ofn_response *res = NULL;
  int rc = 0;

  opts.gateway_address = ""; /* no listener: calls go through ofn_invoke */
  if (ofn_platform_open(&p, &opts) != OFN_OK) return fail("open");
  if (ofn_register_http(p, "hello", hello, NULL) != OFN_OK) rc = fail("register");
  if (!rc && ofn_apply(NULL, p, kFunction, "hello.yaml") != OFN_OK) rc = fail("apply");
  if (!rc && ofn_wait_ready(NULL, p, "hello", NULL, 10000) != OFN_OK) rc = fail("wait");
  req.target = "/?who=world";
  if (!rc && ofn_invoke(&res, p, "hello", NULL, &req) != OFN_OK) rc = fail("invoke");
  if (!rc) {
    printf("%d %s\n", ofn_response_status(res), ofn_response_body(res, NULL));
    rc = ofn_response_status(res) == 200 ? 0 : 1;
  }
  ofn_response_free(res);
  ofn_platform_free(p);
  return rc;
}
