// The three function signatures of OpenFunction's functions frameworks, for
// C++ functions served in-process (seed 001 §7):
//
//   HTTP          HttpResponse(const HttpRequest&)
//   CloudEvent    void(const CloudEvent&)             (CloudEvents 1.0 over HTTP,
//                                                      binary or structured mode)
//   OpenFunction  std::string(Context&, std::string_view data)
//                 with context.Send(output, data) for the function's outputs
//
// A function that throws answers 500 with a JSON body; the platform keeps
// serving. Functions run on the platform's function pool
// (Platform::Options::worker_threads threads), many calls at once up to the
// revision's containerConcurrency: a function must be thread-safe. Init
// hooks run on the instance-start threads, once per instance. A host registers functions on Platform::functions(); a shared
// library exports them with OFN_REGISTER_FUNCTIONS:
//
//   OFN_REGISTER_FUNCTIONS(registrar) {
//     registrar->Http("HelloWorld", [](const ofn::HttpRequest& req) {
//       return ofn::HttpResponse::Text(200, "Hello, World!\n");
//     });
//   }
//
// Header-only, so a function library needs no libofn symbol.
#ifndef LIBOFN_SERVE_FUNCTION_H_
#define LIBOFN_SERVE_FUNCTION_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "libofn/serve/http.h"

namespace ofn {

// A CloudEvents 1.0 event. Optional attributes are empty when absent.
struct CloudEvent {
  std::string id;
  std::string source;
  std::string type;
  std::string specversion = "1.0";
  std::string subject;
  std::string time;
  std::string datacontenttype;
  std::string dataschema;
  std::string data;  // bytes as sent (for structured JSON events, the JSON text of "data")
  std::map<std::string, std::string> extensions;
};

// What an OpenFunction-signature function sees. Valid only during the call.
// Thread-compatible.
class Context {
 public:
  virtual ~Context() = default;
  virtual std::string_view name() const = 0;     // the Function's name
  virtual std::string_view version() const = 0;  // spec.version
  // The triggering HTTP request; null when an event, not HTTP, triggered it.
  virtual const HttpRequest* http_request() const = 0;
  // Sends `data` to the output named in spec.serving.outputs. False when no
  // output has that name or the output refused it.
  virtual bool Send(std::string_view output, std::string_view data) = 0;
};

using HttpFunction = std::function<HttpResponse(const HttpRequest&)>;
using CloudEventFunction = std::function<void(const CloudEvent&)>;
using OpenFunctionFunction = std::function<std::string(Context&, std::string_view)>;
// Runs once for every new instance of a function, before it serves, with the
// revision's name (e.g. "hello-00002"): the place for per-instance setup, and
// what makes a cold start cost something. Throwing fails the instance start.
using InitFunction = std::function<void(std::string_view revision)>;

// Where functions are registered by name. Implemented by libofn.
class FunctionRegistrar {
 public:
  virtual ~FunctionRegistrar() = default;
  virtual void Http(std::string name, HttpFunction fn) = 0;
  virtual void Event(std::string name, CloudEventFunction fn) = 0;
  virtual void OpenFunction(std::string name, OpenFunctionFunction fn) = 0;
  // The init hook of the function registered (now or later) under `name`.
  virtual void Init(std::string name, InitFunction fn) = 0;
};

}  // namespace ofn

// The entry point a function library exports; libofn calls it once after
// loading the library.
#define OFN_REGISTER_FUNCTIONS(registrar)                                             \
  extern "C" __attribute__((visibility("default"))) void ofn_register_functions(      \
      ::ofn::FunctionRegistrar* registrar)

#endif  // LIBOFN_SERVE_FUNCTION_H_
