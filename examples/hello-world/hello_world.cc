// The hello-world function: an HTTP-signature C++ function built into a
// shared library (hello-world.so) that `ofn serve --lib-dir` loads for the
// image "ofn.local/hello-world:latest".
//
//   curl -H 'Host: hello.default.ofn.io' http://127.0.0.1:8080/?name=libofn
//   Hello, libofn! (path /)
#include <string>

#include "libofn/serve/function.h"

namespace {

ofn::HttpResponse HelloWorld(const ofn::HttpRequest& request) {
  std::string name = "World";
  std::string_view query = request.query();
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    if (part.substr(0, 5) == "name=" && part.size() > 5) name = std::string(part.substr(5));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  std::string body = "Hello, " + name + "! (path " + std::string(request.path()) + ")\n";
  ofn::HttpResponse response = ofn::HttpResponse::Text(200, std::move(body));
  response.headers.Set("X-Function", "hello-world");
  return response;
}

}  // namespace

OFN_REGISTER_FUNCTIONS(registrar) { registrar->Http("HelloWorld", HelloWorld); }
