// A custom PaaS on libofn: the host program embeds a Platform, serves its own
// REST API through the platform's gateway (as an in-process function), and
// runs its users' functions on a backend of its own, registered through the
// driver registry. Built against the installed library:
//
//   g++ -std=c++20 main.cc $(pkg-config --cflags --libs libofn) -o custom-paas
//   ./custom-paas 127.0.0.1:8080
//   curl -H 'Host: paas.default.ofn.io' -d '{"name":"bob","greeting":"Howdy"}' http://127.0.0.1:8080/functions
//   curl -H 'Host: bob.default.ofn.io' http://127.0.0.1:8080/            # Howdy from bob
//   curl -H 'Host: paas.default.ofn.io' http://127.0.0.1:8080/functions  # ["bob"]
//   curl -H 'Host: paas.default.ofn.io' -X DELETE http://127.0.0.1:8080/functions/bob
//
// It prints "listening on HOST:PORT" once ready and runs until stdin closes.
#include <libofn/ofn.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

namespace {

// The PaaS's own backend: "greeter" instances answer "<greeting> from <name>"
// for workloads of images under paas.local/.
class GreeterDriver : public ofn::backend::InstanceDriver {
 public:
  std::string_view name() const override { return "greeter"; }
  bool Accepts(const ofn::backend::Workload& w) const override { return w.image.rfind("paas.local/", 0) == 0; }
  std::string Requirement(const ofn::backend::Workload&) const override { return "an image under paas.local/"; }
  ofn::Result<std::shared_ptr<ofn::backend::Instance>> Start(const ofn::backend::Workload& w) override {
    ++starts_;
    return std::shared_ptr<ofn::backend::Instance>(
        std::make_shared<Greeter>(w.Env("GREETING", "Hello") + " from " + w.function));
  }
  int starts() const { return starts_.load(); }

 private:
  class Greeter : public ofn::backend::Instance {
   public:
    explicit Greeter(std::string text) : text_(std::move(text)) {}
    ofn::HttpResponse Handle(const ofn::HttpRequest&) override { return ofn::HttpResponse::Text(200, text_ + "\n"); }

   private:
    std::string text_;
  };
  std::atomic<int> starts_{0};
};

// A JSON string field of a flat object, enough for this API's requests.
std::string Field(const std::string& json, const std::string& key) {
  size_t at = json.find("\"" + key + "\"");
  if (at == std::string::npos) return "";
  at = json.find('"', json.find(':', at) + 1);
  size_t end = json.find('"', at + 1);
  return at == std::string::npos || end == std::string::npos ? "" : json.substr(at + 1, end - at - 1);
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 40) return false;
  for (char c : name) {
    if (!std::islower(static_cast<unsigned char>(c)) && !std::isdigit(static_cast<unsigned char>(c)) && c != '-') {
      return false;
    }
  }
  return true;
}

std::string UserFunction(const std::string& name, const std::string& greeting) {
  return "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: " + name +
         "\n  labels:\n    paas.example/owner: api\n  annotations:\n    ofn.io/backend: greeter\nspec:\n"
         "  version: v1.0.0\n  image: paas.local/" + name + ":latest\n  serving:\n    template:\n"
         "      containers:\n        - name: function\n          env:\n            - name: GREETING\n"
         "              value: \"" + greeting + "\"\n    triggers:\n      http:\n        port: 8080\n";
}

const char kApiFunction[] = R"(apiVersion: core.openfunction.io/v1beta2
kind: Function
metadata:
  name: paas
spec:
  version: v1.0.0
  image: ofn.local/paas:latest
  serving:
    template:
      containers:
        - name: function
    triggers:
      http:
        port: 8080
)";

ofn::HttpResponse Error(int status, const std::string& message) {
  return ofn::HttpResponse::Json(status, "{\"error\":\"" + message + "\"}\n");
}

}  // namespace

int main(int argc, char** argv) {
  auto greeter = std::make_shared<GreeterDriver>();
  ofn::Platform::Options options;
  options.gateway_address = argc > 1 ? argv[1] : "127.0.0.1:8080";
  options.drivers.push_back({200, greeter});
  auto opened = ofn::Platform::Open(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "custom-paas: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  ofn::Platform& platform = **opened;

  // The REST API, served by the platform itself.
  platform.functions().Http("paas", [&platform](const ofn::HttpRequest& r) -> ofn::HttpResponse {
    const std::string path(r.path());
    if (path == "/functions" && r.method == "POST") {
      std::string name = Field(r.body, "name"), greeting = Field(r.body, "greeting");
      if (!ValidName(name)) return Error(400, "name must be a DNS label");
      for (char c : greeting) {
        if (c == '"' || c == '\\' || c == '\n') return Error(400, "greeting may not hold quotes or newlines");
      }
      auto applied = platform.Apply(UserFunction(name, greeting.empty() ? "Hello" : greeting), "api");
      if (!applied.ok()) return Error(400, applied.status().message());
      return ofn::HttpResponse::Json(201, "{\"name\":\"" + name + "\"}\n");
    }
    if (path == "/functions" && r.method == "GET") {
      auto list = platform.List("Function", "default");
      if (!list.ok()) return Error(500, list.status().message());
      std::string out = "[";
      for (const ofn::ObjectInfo& o : *list) {
        if (o.name == "paas") continue;
        out += (out.size() > 1 ? ",\"" : "\"") + o.name + "\"";
      }
      return ofn::HttpResponse::Json(200, out + "]\n");
    }
    if (path.rfind("/functions/", 0) == 0 && r.method == "DELETE") {
      std::string name = path.substr(11);
      if (!ValidName(name) || name == "paas") return Error(400, "no such user function");
      ofn::Status s = platform.Delete("Function", "default", name);
      if (!s.ok()) return Error(s.code() == ofn::StatusCode::kNotFound ? 404 : 500, s.message());
      return ofn::HttpResponse::Json(200, "{\"deleted\":\"" + name + "\"}\n");
    }
    return Error(404, "try POST /functions, GET /functions, DELETE /functions/NAME");
  });
  auto api = platform.Apply(kApiFunction, "paas-api");
  if (!api.ok() || !platform.WaitReady("paas", std::chrono::seconds(10)).ok()) {
    std::fprintf(stderr, "custom-paas: the API did not come up\n");
    return 1;
  }
  std::printf("listening on %s\n", platform.gateway_address().c_str());
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  std::printf("greeter instances started: %d\n", greeter->starts());
  platform.Close(std::chrono::seconds(2));
  return 0;
}
