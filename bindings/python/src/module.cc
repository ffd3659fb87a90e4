// ofn._ofn: the Platform for Python (pybind11). A thin layer: objects cross
// as JSON text and plain tuples, and ofn/platform.py makes them Pythonic.
//
// The GIL: every call that may wait (apply, invoke, wait_ready, sync,
// close, watch reads, clock advances) releases it. Python functions run on
// the platform's function-pool threads and hold the GIL only while Python
// runs. Python objects the platform keeps (registered functions) are
// released with the GIL held.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "libofn/common/clock.h"
#include "libofn/platform/platform.h"

namespace py = pybind11;

namespace {

// A failed call: what ofn/platform.py turns into ofn.Error and its kinds.
// Plain C++ (no Python object), so it may be thrown without the GIL.
struct StatusError {
  std::string code;  // "NotFound", "InvalidArgument", ...
  std::string message;
  std::vector<ofn::spec::Diagnostic> diagnostics;
};

[[noreturn]] void Raise(const ofn::Status& s, std::vector<ofn::spec::Diagnostic> diags = {}) {
  throw StatusError{std::string(ofn::StatusCodeName(s.code())), s.message(), std::move(diags)};
}

template <class T>
T Take(ofn::Result<T> r) {
  if (!r.ok()) Raise(r.status());
  return std::move(*r);
}

// A Python object the platform holds; dropped with the GIL held.
std::shared_ptr<py::object> Keep(py::object o) {
  return std::shared_ptr<py::object>(new py::object(std::move(o)), [](py::object* p) {
    py::gil_scoped_acquire gil;
    delete p;
  });
}

py::tuple Headers(const ofn::Headers& headers) {
  py::list out;
  for (const auto& [name, value] : headers) out.append(py::make_tuple(name, value));
  return py::tuple(out);
}

ofn::HttpResponse FromTuple(const py::object& r) {
  // (status, [(name, value), ...], body bytes)
  py::tuple t = r.cast<py::tuple>();
  ofn::HttpResponse res;
  res.status = t[0].cast<int>();
  for (py::handle h : t[1]) {
    py::tuple kv = h.cast<py::tuple>();
    res.headers.Add(kv[0].cast<std::string>(), kv[1].cast<std::string>());
  }
  res.body = t[2].cast<std::string>();
  return res;
}

ofn::HttpResponse Failed(const std::string& what) {
  std::string message;
  for (char c : what) {
    if (c == '"' || c == '\\') message += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) message += c;
  }
  return ofn::HttpResponse::Json(500, "{\"error\":{\"code\":500,\"message\":\"" + message + "\"}}\n");
}

// Changes seen by one watch, bounded: a reader that falls more than
// kLimit events behind loses the oldest and is told so.
class Watcher {
 public:
  static constexpr size_t kLimit = 10000;

  Watcher(std::shared_ptr<ofn::Platform> platform, const std::string& kind) : platform_(platform) {
    id_ = platform->Watch(kind, [this](ofn::WatchEventType type, const ofn::ObjectInfo& o) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (queue_.size() >= kLimit) {
          queue_.pop_front();
          ++dropped_;
        }
        queue_.emplace_back(std::string(ofn::WatchEventTypeName(type)), o.json);
      }
      cv_.notify_all();
    });
  }
  ~Watcher() { Close(); }

  // The next event, or None after `timeout` seconds (negative: wait for ever).
  py::object Next(double timeout) {
    std::pair<std::string, std::string> event;
    size_t dropped = 0;
    bool got = false;
    {
      py::gil_scoped_release release;
      std::unique_lock<std::mutex> lock(mu_);
      auto ready = [&] { return closed_ || !queue_.empty() || dropped_ > 0; };
      if (timeout < 0) {
        cv_.wait(lock, ready);
      } else {
        cv_.wait_for(lock, std::chrono::duration<double>(timeout), ready);
      }
      if (dropped_ > 0) {
        dropped = dropped_;
        dropped_ = 0;
      } else if (!queue_.empty()) {
        event = std::move(queue_.front());
        queue_.pop_front();
        got = true;
      }
    }
    if (dropped > 0) {
      throw StatusError{"ResourceExhausted",
                        "the watch fell behind: " + std::to_string(dropped) + " older event(s) were dropped", {}};
    }
    if (!got) return py::none();
    return py::make_tuple(event.first, event.second);
  }

  void Close() {
    bool was_open;
    {
      std::lock_guard<std::mutex> lock(mu_);
      was_open = !closed_;
      closed_ = true;
    }
    cv_.notify_all();
    std::shared_ptr<ofn::Platform> platform = platform_.lock();
    if (was_open && platform) {
      py::gil_scoped_release release;
      platform->Unwatch(id_);
    }
  }

 private:
  std::weak_ptr<ofn::Platform> platform_;
  int64_t id_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, std::string>> queue_;
  size_t dropped_ = 0;
  bool closed_ = false;
};

// What an OpenFunction-signature function gets: valid during the call only.
class ContextHandle {
 public:
  explicit ContextHandle(ofn::Context* c) : c_(c) {}
  std::string name() const { return std::string(Live()->name()); }
  std::string version() const { return std::string(Live()->version()); }
  bool Send(const std::string& data, const std::string& output) {
    ofn::Context* c = Live();
    py::gil_scoped_release release;
    return c->Send(output, data);
  }
  py::object HttpHeaders() const {
    const ofn::HttpRequest* r = Live()->http_request();
    if (!r) return py::none();
    return Headers(r->headers);
  }
  void End() { c_ = nullptr; }

 private:
  ofn::Context* Live() const {
    if (!c_) throw StatusError{"FailedPrecondition", "the context is only valid during the function call", {}};
    return c_;
  }
  ofn::Context* c_;
};

class PyPlatform {
 public:
  PyPlatform(const std::string& state_dir, const std::string& listen, const std::string& admin,
             const std::string& default_namespace, const std::vector<std::string>& library_dirs, int worker_threads,
             bool manual_clock) {
    ofn::Platform::Options o;
    o.state_dir = state_dir;
    o.gateway_address = listen;
    o.admin_address = admin;
    if (!default_namespace.empty()) o.default_namespace = default_namespace;
    default_ns_ = o.default_namespace;
    o.library_dirs = library_dirs;
    if (worker_threads > 0) o.worker_threads = worker_threads;
    if (manual_clock) {
      clock_ = std::make_unique<ofn::ManualClock>();
      o.clock = clock_.get();
      o.autoscale_ticker = false;
    }
    py::gil_scoped_release release;
    platform_ = std::shared_ptr<ofn::Platform>(Take(ofn::Platform::Open(o)).release());
  }
  ~PyPlatform() { Close(0); }

  void Close(double drain) {
    if (!platform_) return;
    // Readers of open watches wake up and see the end.
    for (const std::weak_ptr<Watcher>& w : watchers_) {
      if (auto live = w.lock()) live->Close();
    }
    watchers_.clear();
    py::gil_scoped_release release;
    platform_->Close(std::chrono::milliseconds(static_cast<int64_t>(drain * 1000)));
    platform_.reset();  // drops the registered functions (their deleters take the GIL)
  }

  ofn::Platform& P() {
    if (!platform_) throw StatusError{"FailedPrecondition", "the platform is closed", {}};
    return *platform_;
  }

  std::string GatewayAddress() { return P().gateway_address(); }
  std::string AdminAddress() { return P().admin_address(); }

  py::list Apply(const std::string& text, const std::string& file) {
    std::vector<ofn::spec::Diagnostic> diags;
    std::optional<ofn::Result<std::vector<ofn::ObjectInfo>>> result;
    {
      py::gil_scoped_release release;
      result.emplace(P().Apply(text, file, &diags));
    }
    ofn::Result<std::vector<ofn::ObjectInfo>>& applied = *result;
    if (!applied.ok()) {
      std::vector<ofn::spec::Diagnostic> errors;
      for (const ofn::spec::Diagnostic& d : diags) {
        if (d.severity == ofn::spec::Severity::kError) errors.push_back(d);
      }
      Raise(applied.status(), errors);
    }
    py::list out;
    for (const ofn::ObjectInfo& o : *applied) out.append(py::make_tuple(o.kind, o.ns, o.name, o.generation));
    return out;
  }

  std::string Get(const std::string& kind, const std::string& ns, const std::string& name) {
    return Take(P().Get(kind, ns.empty() ? DefaultNs() : ns, name)).json;
  }
  std::vector<std::string> List(const std::string& kind, const std::string& ns) {
    std::vector<std::string> out;
    for (const ofn::ObjectInfo& o : Take(P().List(kind, ns))) out.push_back(o.json);
    return out;
  }
  void Delete(const std::string& kind, const std::string& ns, const std::string& name) {
    ofn::Status s = P().Delete(kind, ns.empty() ? DefaultNs() : ns, name);
    if (!s.ok()) Raise(s);
  }

  py::tuple Invoke(const std::string& name, const std::string& method, const std::string& target,
                   const std::vector<std::pair<std::string, std::string>>& headers, const py::bytes& body,
                   const std::string& ns) {
    ofn::HttpRequest r;
    r.method = method;
    r.target = target;
    for (const auto& [k, v] : headers) r.headers.Add(k, v);
    r.body = std::string(body);
    ofn::HttpResponse res;
    {
      py::gil_scoped_release release;
      res = P().Invoke(name, std::move(r), ns);
    }
    return py::make_tuple(res.status, Headers(res.headers), py::bytes(res.body));
  }

  std::string WaitReady(const std::string& name, double timeout, const std::string& ns) {
    std::optional<ofn::Result<ofn::FunctionInfo>> info;
    {
      py::gil_scoped_release release;
      info.emplace(P().WaitReady(name, std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000)), ns));
    }
    return Take(std::move(*info)).json;
  }

  py::list Revisions(const std::string& name, const std::string& ns) {
    py::list out;
    for (const ofn::RevisionInfo& r : Take(P().Revisions(name, ns))) {
      py::dict d;
      d["name"] = r.name;
      d["namespace"] = r.ns;
      d["function"] = r.function;
      d["number"] = r.number;
      d["ready"] = r.ready;
      d["reason"] = r.reason;
      d["message"] = r.message;
      d["percent"] = r.percent;
      d["tags"] = r.tags;
      d["ready_instances"] = r.ready_instances;
      d["desired_instances"] = r.desired_instances;
      d["cold_starts"] = r.cold_starts;
      d["restarts"] = r.restarts;
      d["concurrency"] = r.concurrency;
      d["queued"] = r.queued;
      d["object"] = r.json;
      out.append(d);
    }
    return out;
  }

  std::string Metrics() { return P().Metrics(); }

  void Sync(double timeout) {
    ofn::Status s;
    {
      py::gil_scoped_release release;
      s = P().Sync(std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000)));
    }
    if (!s.ok()) Raise(s);
  }

  // With a manual clock: moves it `seconds` forward in steps of at most the
  // autoscaler's tick (2 s), running the autoscaler after each, as the
  // ticker would; then waits for the reconciler.
  void Advance(double seconds) {
    if (!clock_) throw StatusError{"FailedPrecondition", "the platform was not opened with manual_clock=True", {}};
    if (seconds < 0) throw StatusError{"InvalidArgument", "a clock only moves forward", {}};
    py::gil_scoped_release release;
    auto left = std::chrono::duration_cast<ofn::Clock::Duration>(std::chrono::duration<double>(seconds));
    const ofn::Clock::Duration tick = std::chrono::seconds(2);
    while (left > ofn::Clock::Duration::zero()) {
      ofn::Clock::Duration step = std::min(left, tick);
      clock_->Advance(step);
      left -= step;
      P().Autoscale();
    }
    (void)P().Sync(std::chrono::seconds(10));
  }
  double Now() {
    if (!clock_) return std::chrono::duration<double>(ofn::Clock::System()->Monotonic()).count();
    return std::chrono::duration<double>(clock_->Monotonic()).count();
  }
  bool manual_clock() const { return clock_ != nullptr; }

  // `adapter(method, target, headers, body)` -> (status, headers, body).
  void RegisterHttp(const std::string& name, py::object adapter) {
    auto fn = Keep(std::move(adapter));
    P().functions().Http(name, [fn](const ofn::HttpRequest& r) -> ofn::HttpResponse {
      py::gil_scoped_acquire gil;
      try {
        return FromTuple((*fn)(r.method, r.target, Headers(r.headers), py::bytes(r.body)));
      } catch (py::error_already_set& e) {
        return Failed("function failed: " + std::string(e.what()));
      } catch (const std::exception& e) {
        return Failed(std::string("function returned something that is not a response: ") + e.what());
      }
    });
  }

  // `adapter(context, data, headers)` -> (status, headers, body); the body is the answer.
  void RegisterOpenFunction(const std::string& name, py::object adapter) {
    auto fn = Keep(std::move(adapter));
    P().functions().OpenFunction(name, [fn](ofn::Context& c, std::string_view data) -> std::string {
      py::gil_scoped_acquire gil;
      auto ctx = std::make_shared<ContextHandle>(&c);
      py::object pyctx = py::cast(ctx);
      struct End {
        std::shared_ptr<ContextHandle> c;
        ~End() { c->End(); }
      } end{ctx};
      py::object headers = ctx->HttpHeaders();
      try {
        return FromTuple((*fn)(pyctx, py::bytes(data.data(), data.size()), headers)).body;
      } catch (py::error_already_set& e) {
        throw std::runtime_error(std::string("function failed: ") + e.what());
      }
    });
  }

  std::shared_ptr<Watcher> Watch(const std::string& kind) {
    P();
    auto w = std::make_shared<Watcher>(platform_, kind);
    watchers_.push_back(w);
    return w;
  }

 private:
  const std::string& DefaultNs() const { return default_ns_; }

  std::unique_ptr<ofn::ManualClock> clock_;
  std::shared_ptr<ofn::Platform> platform_;
  std::string default_ns_;
  std::vector<std::weak_ptr<Watcher>> watchers_;
};

}  // namespace

PYBIND11_MODULE(_ofn, m) {
  m.doc() = "libofn's Platform (use the ofn package: ofn.Platform)";
  static py::exception<StatusError> status_error(m, "StatusError");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const StatusError& e) {
      py::list diags;
      for (const ofn::spec::Diagnostic& d : e.diagnostics) {
        diags.append(py::make_tuple(d.file, d.line, d.column, d.path, d.message,
                                    d.severity == ofn::spec::Severity::kError ? "error" : "warning"));
      }
      PyErr_SetObject(status_error.ptr(), py::make_tuple(e.code, e.message, diags).ptr());
    }
  });

  py::class_<ContextHandle, std::shared_ptr<ContextHandle>>(m, "Context")
      .def_property_readonly("name", &ContextHandle::name)
      .def_property_readonly("version", &ContextHandle::version)
      .def("send", &ContextHandle::Send, py::arg("data"), py::arg("output"));

  py::class_<Watcher, std::shared_ptr<Watcher>>(m, "Watcher")
      .def("next", &Watcher::Next, py::arg("timeout"))
      .def("close", &Watcher::Close);

  py::class_<PyPlatform>(m, "Platform")
      .def(py::init<const std::string&, const std::string&, const std::string&, const std::string&,
                    const std::vector<std::string>&, int, bool>(),
           py::arg("state_dir"), py::arg("listen"), py::arg("admin"), py::arg("default_namespace"),
           py::arg("library_dirs"), py::arg("worker_threads"), py::arg("manual_clock"))
      .def("close", &PyPlatform::Close, py::arg("drain"))
      .def("gateway_address", &PyPlatform::GatewayAddress)
      .def("admin_address", &PyPlatform::AdminAddress)
      .def("apply", &PyPlatform::Apply, py::arg("text"), py::arg("file"))
      .def("get", &PyPlatform::Get, py::arg("kind"), py::arg("ns"), py::arg("name"))
      .def("list", &PyPlatform::List, py::arg("kind"), py::arg("ns"))
      .def("delete", &PyPlatform::Delete, py::arg("kind"), py::arg("ns"), py::arg("name"))
      .def("invoke", &PyPlatform::Invoke, py::arg("name"), py::arg("method"), py::arg("target"), py::arg("headers"),
           py::arg("body"), py::arg("ns"))
      .def("wait_ready", &PyPlatform::WaitReady, py::arg("name"), py::arg("timeout"), py::arg("ns"))
      .def("revisions", &PyPlatform::Revisions, py::arg("name"), py::arg("ns"))
      .def("metrics", &PyPlatform::Metrics)
      .def("sync", &PyPlatform::Sync, py::arg("timeout"))
      .def("advance", &PyPlatform::Advance, py::arg("seconds"))
      .def("now", &PyPlatform::Now)
      .def_property_readonly("manual_clock", &PyPlatform::manual_clock)
      .def("register_http", &PyPlatform::RegisterHttp, py::arg("name"), py::arg("adapter"))
      .def("register_openfunction", &PyPlatform::RegisterOpenFunction, py::arg("name"), py::arg("adapter"))
      .def("watch", &PyPlatform::Watch, py::arg("kind"));
}
