#include "libofn/backends/inprocess/inprocess.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>

#include "libofn/gateway/server.h"
#include "libofn/serve/cloudevent.h"

namespace ofn::inprocess {

void FunctionRegistry::Http(std::string name, HttpFunction fn) {
  auto r = std::make_shared<Registered>();
  r->signature = Signature::kHttp;
  r->http = std::move(fn);
  {
    std::lock_guard<std::mutex> lock(mu_);
    PutLocked(std::move(name), std::move(r));
  }
  Changed();
}

void FunctionRegistry::Event(std::string name, CloudEventFunction fn) {
  auto r = std::make_shared<Registered>();
  r->signature = Signature::kCloudEvent;
  r->event = std::move(fn);
  {
    std::lock_guard<std::mutex> lock(mu_);
    PutLocked(std::move(name), std::move(r));
  }
  Changed();
}

void FunctionRegistry::OpenFunction(std::string name, OpenFunctionFunction fn) {
  auto r = std::make_shared<Registered>();
  r->signature = Signature::kOpenFunction;
  r->openfunction = std::move(fn);
  {
    std::lock_guard<std::mutex> lock(mu_);
    PutLocked(std::move(name), std::move(r));
  }
  Changed();
}

void FunctionRegistry::PutLocked(std::string name, std::shared_ptr<Registered> r) {
  auto init = inits_.find(name);
  if (init != inits_.end()) r->init = init->second;
  fns_[std::move(name)] = std::move(r);
}

void FunctionRegistry::Init(std::string name, InitFunction fn) {
  std::lock_guard<std::mutex> lock(mu_);
  inits_[name] = fn;
  auto it = fns_.find(name);
  if (it != fns_.end()) {
    auto r = std::make_shared<Registered>(*it->second);
    r->init = std::move(fn);
    it->second = std::move(r);
  }
}

bool FunctionRegistry::Remove(const std::string& name) {
  bool removed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    removed = fns_.erase(name) > 0;
  }
  if (removed) Changed();
  return removed;
}

void FunctionRegistry::SetObserver(std::function<void()> observer) {
  std::lock_guard<std::mutex> lock(mu_);
  observer_ = std::move(observer);
}

void FunctionRegistry::Changed() {
  std::function<void()> observer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    observer = observer_;
  }
  if (observer) observer();
}

std::shared_ptr<const Registered> FunctionRegistry::Find(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = fns_.find(name);
  return it == fns_.end() ? nullptr : it->second;
}

std::vector<std::string> FunctionRegistry::Names() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& [n, f] : fns_) names.push_back(n);
  return names;
}

namespace {

class FunctionContext final : public Context {
 public:
  FunctionContext(const backend::Workload& spec, const OutputSink& outputs, const HttpRequest* request)
      : spec_(spec), outputs_(outputs), request_(request) {}
  std::string_view name() const override { return spec_.function; }
  std::string_view version() const override { return spec_.version; }
  const HttpRequest* http_request() const override { return request_; }
  bool Send(std::string_view output, std::string_view data) override {
    if (std::find(spec_.outputs.begin(), spec_.outputs.end(), output) == spec_.outputs.end()) return false;
    return outputs_ && outputs_(spec_.ns, spec_.function, std::string(output), std::string(data));
  }

 private:
  const backend::Workload& spec_;
  const OutputSink& outputs_;
  const HttpRequest* request_;
};

class FunctionInstance final : public backend::Instance {
 public:
  FunctionInstance(std::shared_ptr<const Registered> fn, backend::Workload spec, OutputSink outputs)
      : fn_(std::move(fn)), spec_(std::move(spec)), outputs_(std::move(outputs)) {}
  HttpResponse Handle(const HttpRequest& request) override {
    return CallFunction(*fn_, spec_, outputs_, request);
  }

 private:
  std::shared_ptr<const Registered> fn_;
  backend::Workload spec_;
  OutputSink outputs_;
};

// "ofn.local/hello-world:latest" -> "hello-world"
std::string ImageBaseName(std::string_view image) {
  size_t at = image.find('@');
  if (at != std::string_view::npos) image = image.substr(0, at);
  size_t slash = image.rfind('/');
  std::string_view last = slash == std::string_view::npos ? image : image.substr(slash + 1);
  size_t colon = last.find(':');
  return std::string(last.substr(0, colon));
}

bool IsFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

HttpResponse CallFunction(const Registered& fn, const backend::Workload& spec, const OutputSink& outputs,
                          const HttpRequest& request) {
  // Named only when it fails: a call builds no string of its own.
  auto who = [&spec] { return "function " + spec.ns + "/" + spec.function; };
  try {
    switch (fn.signature) {
      case Signature::kHttp:
        return fn.http(request);
      case Signature::kCloudEvent: {
        auto event = serve::CloudEventFromHttp(request);
        if (!event.ok()) return gateway::ErrorResponse(serve::CloudEventErrorStatus(event.status()), event.status().message());
        fn.event(*event);
        HttpResponse r;
        r.status = 200;
        return r;
      }
      case Signature::kOpenFunction: {
        // An event (not a client) triggered it: the context has no request.
        FunctionContext ctx(spec, outputs, request.event_input.empty() ? &request : nullptr);
        // A pub/sub event arrives as a structured CloudEvent: the function gets its data.
        std::string unwrapped;
        std::string_view data = request.body;
        if (!request.event_input.empty() &&
            request.headers.GetOr("Content-Type", "").starts_with("application/cloudevents+json")) {
          if (auto event = serve::CloudEventFromHttp(request); event.ok()) {
            unwrapped = std::move(event->data);
            data = unwrapped;
          }
        }
        std::string out = fn.openfunction(ctx, data);
        HttpResponse r;
        r.status = 200;
        r.body = std::move(out);
        return r;
      }
    }
  } catch (const std::exception& e) {
    return gateway::ErrorResponse(500, who() + " threw: " + e.what());
  } catch (...) {
    return gateway::ErrorResponse(500, who() + " threw a non-standard exception");
  }
  return gateway::ErrorResponse(500, who() + ": unknown signature");
}

InProcessDriver::InProcessDriver(const FunctionRegistry* host, std::vector<std::string> library_dirs,
                                 OutputSink outputs)
    : host_(host), library_dirs_(std::move(library_dirs)), outputs_(std::move(outputs)) {}

namespace {
// The name a workload's function is registered under.
std::string TargetName(const backend::Workload& w) { return w.Env("FUNC_NAME", w.function); }
}  // namespace

std::vector<std::string> InProcessDriver::LibraryCandidates(const backend::Workload& w) const {
  if (!w.library.empty()) return {w.library};  // what a build made
  std::string base = ImageBaseName(w.image);
  std::vector<std::string> out;
  for (const std::string& dir : library_dirs_) {
    for (const std::string& file : {base + ".so", "lib" + base + ".so"}) out.push_back(dir + "/" + file);
  }
  return out;
}

bool InProcessDriver::Accepts(const backend::Workload& w) const {
  if (w.kind != backend::WorkloadKind::kImage) return false;
  if (host_ && w.library.empty() && host_->Find(TargetName(w))) return true;
  for (const std::string& path : LibraryCandidates(w)) {
    if (IsFile(path)) return true;
  }
  return false;
}

std::string InProcessDriver::Requirement(const backend::Workload& w) const {
  if (w.kind != backend::WorkloadKind::kImage) return "a function container without a command";
  std::string tried;
  for (const std::string& path : LibraryCandidates(w)) tried += (tried.empty() ? "" : ", ") + path;
  return "a function registered in this process as \"" + TargetName(w) +
         "\" (serving.params.FUNC_NAME, else the Function's name) or a function library for image \"" + w.image +
         "\" (" + (tried.empty() ? std::string("no library directories") : "tried " + tried) + ")";
}

std::shared_ptr<Library> InProcessDriver::Loaded(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = libraries_.find(path);
  return it == libraries_.end() ? nullptr : it->second;
}

Result<std::shared_ptr<Library>> InProcessDriver::LoadLibrary(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = libraries_.find(path);
  if (it != libraries_.end()) return it->second;
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* err = ::dlerror();
    return Status(StatusCode::kFailedPrecondition, "cannot load " + path + ": " + (err ? err : "unknown error"));
  }
  using Entry = void (*)(FunctionRegistrar*);
  auto entry = reinterpret_cast<Entry>(::dlsym(handle, "ofn_register_functions"));
  if (!entry) {
    return Status(StatusCode::kFailedPrecondition,
                  path + " does not export ofn_register_functions (use OFN_REGISTER_FUNCTIONS)");
  }
  auto lib = std::make_shared<Library>();
  lib->path = path;
  try {
    entry(&lib->functions);
  } catch (const std::exception& e) {
    return Status(StatusCode::kFailedPrecondition, path + ": registering functions threw: " + e.what());
  }
  libraries_[path] = lib;
  return lib;
}

Result<std::shared_ptr<const Registered>> InProcessDriver::Resolve(const backend::Workload& spec) {
  const bool named = !spec.Env("FUNC_NAME").empty();
  std::string target = TargetName(spec);
  if (host_ && spec.library.empty()) {
    if (auto fn = host_->Find(target)) return fn;
  }
  std::vector<std::string> tried;
  for (const std::string& path : LibraryCandidates(spec)) {
    tried.push_back(path);
    // A library loaded from this path stays loaded as it was (dlopen would
    // hand back the same one): no need to look at the file again.
    std::shared_ptr<Library> lib = Loaded(path);
    if (!lib) {
      if (!IsFile(path)) continue;
      OFN_ASSIGN_OR_RETURN(lib, LoadLibrary(path));
    }
    if (auto fn = lib->functions.Find(target)) return fn;
    std::vector<std::string> names = lib->functions.Names();
    if (!named && names.size() == 1) return lib->functions.Find(names[0]);
    std::string list;
    for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
    return Status(StatusCode::kNotFound, path + " has no function \"" + target + "\" (it has: " + list +
                                             "); set FUNC_NAME in spec.build.env or spec.serving.params");
  }
  std::string where;
  for (const std::string& t : tried) where += (where.empty() ? "" : ", ") + t;
  return Status(StatusCode::kNotFound, "no function \"" + target + "\" is registered in this process and no library for image \"" +
                                           spec.image + "\" was found" +
                                           (where.empty() ? std::string(" (no library directories)") : " (tried " + where + ")"));
}

Result<std::shared_ptr<backend::Instance>> InProcessDriver::Start(const backend::Workload& spec) {
  OFN_ASSIGN_OR_RETURN(std::shared_ptr<const Registered> fn, Resolve(spec));
  if (fn->init) {
    try {
      fn->init(spec.revision);
    } catch (const std::exception& e) {
      return Status(StatusCode::kFailedPrecondition, std::string("the function's init hook failed: ") + e.what());
    } catch (...) {
      return Status(StatusCode::kFailedPrecondition, "the function's init hook failed");
    }
  }
  return std::shared_ptr<backend::Instance>(std::make_shared<FunctionInstance>(std::move(fn), spec, outputs_));
}

}  // namespace ofn::inprocess
