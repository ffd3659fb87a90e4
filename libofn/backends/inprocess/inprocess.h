// The in-process backend: Functions served by C++ callables in the host
// process.
//
// Which callable serves a Function:
//  1. its name is FUNC_NAME from serving.params or the function container's
//     env (OpenFunction's variable for the target function), else the
//     Function's metadata.name;
//  2. a callable the host registered under that name (Platform::functions());
//  3. else a shared library found from the image: for image
//     "ofn.local/hello-world:latest" the driver loads "hello-world.so" or
//     "libhello-world.so" from its library directories and calls its
//     OFN_REGISTER_FUNCTIONS entry; when FUNC_NAME is not set and the library
//     registers exactly one function, that one serves.
// The manifest stays a plain OpenFunction Function.
//
// Thread-safe.
#ifndef LIBOFN_BACKENDS_INPROCESS_INPROCESS_H_
#define LIBOFN_BACKENDS_INPROCESS_INPROCESS_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "libofn/backend/driver.h"
#include "libofn/serve/function.h"

namespace ofn::inprocess {

enum class Signature { kHttp, kCloudEvent, kOpenFunction };

struct Registered {
  Signature signature = Signature::kHttp;
  HttpFunction http;
  CloudEventFunction event;
  OpenFunctionFunction openfunction;
  InitFunction init;
};

// Functions by name. Thread-safe.
class FunctionRegistry final : public FunctionRegistrar {
 public:
  void Http(std::string name, HttpFunction fn) override;
  void Event(std::string name, CloudEventFunction fn) override;
  void OpenFunction(std::string name, OpenFunctionFunction fn) override;
  void Init(std::string name, InitFunction fn) override;
  bool Remove(const std::string& name);

  std::shared_ptr<const Registered> Find(const std::string& name) const;
  std::vector<std::string> Names() const;
  // Called (without locks held) after every registration or removal.
  void SetObserver(std::function<void()> observer);

 private:
  void Changed();
  mutable std::mutex mu_;
  std::function<void()> observer_;
  void PutLocked(std::string name, std::shared_ptr<Registered> r);

  std::map<std::string, std::shared_ptr<const Registered>> fns_;
  std::map<std::string, InitFunction> inits_;
};

// A loaded function library. Libraries are never unloaded (code may still run).
struct Library {
  std::string path;
  FunctionRegistry functions;
};

// Sends OpenFunction outputs: (namespace, function, output, data) -> accepted.
using OutputSink = std::function<bool(const std::string&, const std::string&, const std::string&,
                                      const std::string&)>;

class InProcessDriver final : public backend::InstanceDriver {
 public:
  // `host` must outlive the driver.
  InProcessDriver(const FunctionRegistry* host, std::vector<std::string> library_dirs, OutputSink outputs);

  std::string_view name() const override { return "inprocess"; }
  // Image workloads whose function is registered in this process or whose
  // image names a library in one of the library directories.
  bool Accepts(const backend::Workload& spec) const override;
  std::string Requirement(const backend::Workload& spec) const override;
  Result<std::shared_ptr<backend::Instance>> Start(const backend::Workload& spec) override;
  // A lookup (a library is opened once) and the function's init hook.
  bool StartsInline() const override { return true; }

  // Loads (once) the library at `path`.
  Result<std::shared_ptr<Library>> LoadLibrary(const std::string& path);

 private:
  Result<std::shared_ptr<const Registered>> Resolve(const backend::Workload& spec);
  std::vector<std::string> LibraryCandidates(const backend::Workload& spec) const;
  // The library loaded from `path`, or null.
  std::shared_ptr<Library> Loaded(const std::string& path) const;

  const FunctionRegistry* host_;
  std::vector<std::string> library_dirs_;
  OutputSink outputs_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Library>> libraries_;
};

// Calls a registered function for one request, turning exceptions into a
// JSON 500 and bad CloudEvents into 400. Never throws.
HttpResponse CallFunction(const Registered& fn, const backend::Workload& spec, const OutputSink& outputs,
                          const HttpRequest& request);

}  // namespace ofn::inprocess

#endif  // LIBOFN_BACKENDS_INPROCESS_INPROCESS_H_
