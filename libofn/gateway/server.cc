#include "libofn/gateway/server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "libofn/common/json_text.h"
#include "libofn/common/log.h"
#include "libofn/gateway/framing.h"
#include "libofn/gateway/internal/draining_read.h"
#include "libofn/gateway/internal/inline_turn.h"
#include "libofn/gateway/internal/loop_choice.h"
#include "libofn/gateway/internal/proxy.h"
#include "libofn/gateway/internal/stream.h"
#include "libofn/gateway/min_rate.h"
#include "libofn/gateway/tls.h"
#include "libofn/gateway/upstream_pool.h"

namespace ofn::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using internal::Deadline;
using internal::IsTls;
using internal::Lowest;
using internal::PeekPeer;
using internal::PeerState;
using internal::ProxyClient;
using internal::ProxyEnv;
using internal::ProxyOutcome;
using internal::ProxyRequest;
using internal::ReadAllowance;
using internal::RunProxy;
using internal::SlowBodyMessage;
using internal::Strand;
using internal::TrustedProxy;
using tcp = asio::ip::tcp;
using unix_proto = asio::local::stream_protocol;

HttpResponse ErrorResponse(int status, std::string_view message) {
  return HttpResponse::Json(status, "{\"error\":{\"code\":" + std::to_string(status) +
                                        ",\"message\":" + JsonQuote(message) + "}}\n");
}

namespace {

// Lets worker threads post back only while the io_context exists, and
// counts the handler calls not yet answered. One per event loop: a request
// touches only its own loop's.
struct Lifetime {
  std::mutex mu;
  bool alive = true;
  std::atomic<int> running_handlers{0};
};

// One request waiting for its response. The responder may run on any thread
// and even after the server is gone; the timer lives only while the session
// waits on it (the session's strand owns it). Besides the response, the
// handler may ask the session to read the body or to proxy the request.
struct Call : std::enable_shared_from_this<Call> {
  std::optional<asio::steady_timer> timer;
  std::chrono::steady_clock::time_point deadline;  // the request timeout's
  std::mutex mu;
  bool answered = false;  // respond() or Proxy() happened
  bool done = false;      // a response is waiting to be written
  bool abandoned = false;
  HttpResponse response;
  std::function<void(Result<std::string>)> read_body;
  std::optional<ProxyRequest> proxy;
  bool body_claimed = false;
  // The session is running handler code itself (the handler call, a body
  // callback) and looks at the call (under mu) right after: no wake-up
  // needed. Written by the session only. An answer given under mu either
  // comes before the session's look (which then sees it) or after it, and
  // then after this was cleared (the mutex orders them), so Wake posts.
  std::atomic<bool> session_inside{false};
  // Run once when the request is abandoned (client gone, or timed out).
  std::vector<std::function<void()>> on_abandon;
  std::shared_ptr<Lifetime> lifetime;  // its loop's
  std::optional<Strand> strand;

  // Wakes the session (it waits on the timer), unless it is inside handler
  // code and will look anyway: a post would only wake another I/O thread.
  void Wake() {
    if (session_inside.load()) return;
    std::lock_guard<std::mutex> lock(lifetime->mu);
    if (lifetime->alive) {
      asio::post(*strand, [self = shared_from_this()] {
        if (self->timer) self->timer->cancel();
      });
    }
  }
  // Marks the request abandoned; returns the callbacks to run (unlocked).
  std::vector<std::function<void()>> AbandonLocked() {
    abandoned = true;
    return std::move(on_abandon);
  }
  // The client went away while the handler had the request: nothing it
  // could still send matters. Runs on the session's strand.
  void ClientGone() {
    std::vector<std::function<void()>> callbacks;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (abandoned || done || proxy || read_body) return;
      ClaimAnswerLocked();
      callbacks = AbandonLocked();
    }
    for (auto& fn : callbacks) fn();
    if (timer) timer->cancel();
  }
  // First answer wins; false when the request already has one.
  bool ClaimAnswerLocked() {
    if (answered) return false;
    answered = true;
    lifetime->running_handlers.fetch_sub(1);
    return true;
  }
};

// One thread running the server's io_context. `calls` is odd while the
// thread is inside handler code (written by the thread only), so the monitor
// tells a thread held by one long call from a thread busy with many short
// ones.
struct IoThread {
  size_t loop = 0;  // the event loop it runs (Impl::loops)
  std::atomic<uint64_t> calls{0};
  std::atomic<bool> exited{false};
  bool spare = false;
  uint64_t seen = 0;  // the monitor's last look
  std::thread thread;
  clockid_t cpu_clock{};   // the thread's CPU-time clock
  bool has_cpu_clock = false;
  int64_t cpu_seen_ns = -1;  // its CPU time at the monitor's last look (-1: not looked at yet)
};
thread_local IoThread* current_io = nullptr;

// Whether the machine had a core idle over the last stretch of samples
// (internal::ToGive). Sampled from /proc/stat only while a loop is nearly a
// core busy, at most every 20 ms; a sample after a longer gap only starts a
// new stretch. The monitor's alone.
class IdleCores {
 public:
  IdleCores() : fd_(::open("/proc/stat", O_RDONLY | O_CLOEXEC)), cpus_(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN))) {}
  ~IdleCores() {
    if (fd_ >= 0) ::close(fd_);
  }
  IdleCores(const IdleCores&) = delete;
  IdleCores& operator=(const IdleCores&) = delete;

  // Called at each look; `strained`: a loop is nearly a core busy.
  bool Any(bool strained, std::chrono::steady_clock::time_point now) {
    if (!strained) {
      idle_core_ = false;
      return false;
    }
    if (fd_ < 0 || now - last_ < std::chrono::milliseconds(20)) return idle_core_;
    char buf[256];
    const ssize_t n = ::pread(fd_, buf, sizeof buf, 0);
    uint64_t idle = 0, all = 0;
    if (n <= 0 || !internal::ParseCpuTimes(std::string_view(buf, static_cast<size_t>(n)), &idle, &all)) {
      idle_core_ = false;
      return false;
    }
    const bool stretch = last_ != std::chrono::steady_clock::time_point() && now - last_ <= std::chrono::milliseconds(200);
    // At least one core's worth of idle time over the stretch.
    idle_core_ = stretch && all > all_ && (idle - idle_) * static_cast<uint64_t>(cpus_) >= (all - all_);
    last_ = now;
    idle_ = idle;
    all_ = all;
    return idle_core_;
  }

 private:
  int fd_;
  long cpus_;
  std::chrono::steady_clock::time_point last_{};
  uint64_t idle_ = 0, all_ = 0;
  bool idle_core_ = false;
};

// Handler code run by the session itself: the thread's call count, the
// inline turn (internal/inline_turn.h), and no wake-ups while inside.
class InsideHandler {
 public:
  explicit InsideHandler(Call& call) : call_(call), io_(current_io) {
    call_.session_inside.store(true);
    if (io_) io_->calls.store(io_->calls.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  ~InsideHandler() {
    if (io_) io_->calls.store(io_->calls.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    call_.session_inside.store(false);
  }
  InsideHandler(const InsideHandler&) = delete;
  InsideHandler& operator=(const InsideHandler&) = delete;

 private:
  Call& call_;
  IoThread* io_;
  internal::InlineTurn turn_;
};

struct TimerReset {
  std::shared_ptr<Call> call;
  ~TimerReset() { call->timer.reset(); }
};

class SessionBody : public PendingBody {
 public:
  SessionBody(std::weak_ptr<Call> call, bool empty) : call_(std::move(call)), empty_(empty) {}
  bool Empty() const override { return empty_; }

  void Read(std::function<void(Result<std::string>)> done) override {
    std::shared_ptr<Call> call = call_.lock();
    {
      if (!call) {
        done(Status(StatusCode::kUnavailable, "the request is over"));
        return;
      }
      std::lock_guard<std::mutex> lock(call->mu);
      if (call->body_claimed || call->abandoned || call->answered) {
        done(Status(StatusCode::kFailedPrecondition, "the body was already taken or the request is over"));
        return;
      }
      call->body_claimed = true;
      call->read_body = std::move(done);
    }
    call->Wake();
  }

  void Proxy(HttpRequest head, std::string upstream, std::chrono::milliseconds timeout,
             std::function<void(int)> done) override {
    std::shared_ptr<Call> call = call_.lock();
    {
      if (!call) {
        done(0);
        return;
      }
      std::lock_guard<std::mutex> lock(call->mu);
      if (call->body_claimed || call->abandoned || !call->ClaimAnswerLocked()) {
        done(0);
        return;
      }
      call->body_claimed = true;
      head.pending_body.reset();
      call->proxy = ProxyRequest{std::move(head), std::move(upstream), timeout, std::move(done)};
    }
    call->Wake();
  }

  bool Abandoned() const override {
    std::shared_ptr<Call> call = call_.lock();
    if (!call) return true;
    std::lock_guard<std::mutex> lock(call->mu);
    return call->abandoned;
  }

  void OnAbandon(std::function<void()> fn) override {
    std::shared_ptr<Call> call = call_.lock();
    if (call) {
      std::lock_guard<std::mutex> lock(call->mu);
      if (!call->abandoned) {
        call->on_abandon.push_back(std::move(fn));
        return;
      }
    }
    fn();
  }

 private:
  std::weak_ptr<Call> call_;
  bool empty_;
};

// Watches a client connection while its request waits for the handler; a
// client that leaves abandons the request (Call::ClientGone). Lives on the
// session's strand.
template <class Stream>
class ClientWatch {
 public:
  ClientWatch(std::shared_ptr<Stream> stream, std::shared_ptr<Call> call)
      : stream_(std::move(stream)), call_(std::move(call)) {}
  ~ClientWatch() { Disarm(); }

  void Arm() {
    if (armed_ || given_up_) return;
    armed_ = true;
    auto generation = std::make_shared<bool>(true);
    generation_ = generation;
    Lowest(*stream_).socket().async_wait(boost::asio::socket_base::wait_read,
                                 [this, generation](const boost::system::error_code& ec) {
                                   if (ec || !*generation) return;  // disarmed: `this` may be gone
                                   armed_ = false;
                                   switch (PeekPeer(Lowest(*stream_).socket().native_handle())) {
                                     case PeerState::kGone:
                                       given_up_ = true;
                                       call_->ClientGone();
                                       break;
                                     case PeerState::kOpen:
                                       Arm();
                                       break;
                                     case PeerState::kUnknown:
                                       given_up_ = true;  // bytes are waiting: stop, or this would spin
                                       break;
                                   }
                                 });
  }
  // Before the session uses the socket itself.
  void Disarm() {
    if (!armed_) return;
    armed_ = false;
    *generation_ = false;
    boost::system::error_code ec;
    Lowest(*stream_).socket().cancel(ec);
  }

 private:
  std::shared_ptr<Stream> stream_;
  std::shared_ptr<Call> call_;
  std::shared_ptr<bool> generation_;
  bool armed_ = false;
  bool given_up_ = false;
};

HttpRequest ToRequest(const http::request<http::empty_body>& req) {
  HttpRequest out;
  out.method = std::string(req.method_string());
  out.target = std::string(req.target());
  for (const auto& f : req) out.headers.Add(std::string(f.name_string()), std::string(f.value()));
  return out;
}

// A response's header, ready to send ahead of its body, in one string
// (Beast's serializer and its buffer sequences cost more than the bytes).
// Content-Length is the body's size, except for 1xx, 204 and 304, which
// have none (and no body: *send_body is false). Fields with CR or LF in
// them are dropped.
std::string ResponseHead(const HttpResponse& r, unsigned version, bool keep_alive, bool* send_body) {
  const int status = r.status;
  std::string head;
  head.reserve(128 + r.headers.size() * 48);
  head += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  head += std::to_string(status);
  head += ' ';
  head += http::obsolete_reason(static_cast<http::status>(status));
  head += "\r\n";
  bool has_server = false;
  for (const auto& [name, value] : r.headers) {
    if (EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Transfer-Encoding") ||
        EqualsIgnoreCase(name, "Connection")) {
      continue;
    }
    if (name.empty() || name.find_first_of("\r\n:") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      continue;
    }
    has_server = has_server || EqualsIgnoreCase(name, "Server");
    head += name;
    head += ": ";
    head += value;
    head += "\r\n";
  }
  if (!has_server) head += "Server: libofn\r\n";
  const bool bodiless = (status >= 100 && status < 200) || status == 204 || status == 304;
  *send_body = !bodiless;
  if (!bodiless) {
    head += "Content-Length: ";
    head += std::to_string(r.body.size());
    head += "\r\n";
  }
  if (version == 10 && keep_alive) head += "Connection: keep-alive\r\n";
  if (version != 10 && !keep_alive) head += "Connection: close\r\n";
  head += "\r\n";
  return head;
}

int StatusForReadError(const beast::error_code& ec) {
  if (ec == http::error::header_limit) return 431;
  if (ec == http::error::body_limit) return 413;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message) return 0;
  if (ec.category() == http::make_error_code(http::error::bad_target).category()) return 400;
  return 0;  // socket errors, timeouts, cancellation: just close
}

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<Impl> {
  ServerOptions opt;
  Handler handler;
  AsyncHandler async_handler;
  // One event loop per I/O thread, as nginx has one per worker: a
  // connection stays on the loop it was given, so serving a request wakes
  // no other thread. A spare thread joins a loop whose threads are all held
  // inside function calls (strands keep each connection in order).
  struct Loop {
    asio::io_context ctx;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::atomic<int> free{1};  // its threads not held, at the monitor's last look
    // For the choice of a loop for a new connection (internal/loop_choice.h):
    // the CPU its threads used over the monitor's last period (per mille of
    // one core), the connections it took since that look, and its open ones.
    std::atomic<int> busy_permille{0};
    std::atomic<uint32_t> taken{0};
    std::atomic<size_t> connections{0};
    std::atomic<int> threads{1};  // spares included, at the monitor's last look
    // Connections it may still hand to loops with room before the next look
    // (internal::ToGive).
    std::atomic<int> give{0};
    size_t index = 0;
    // Idle keep-alive connections to upstreams, of this loop's sessions.
    std::unique_ptr<internal::SocketPool> upstreams;
    std::shared_ptr<Lifetime> lifetime = std::make_shared<Lifetime>();
    std::atomic<uint64_t> in_flight{0};  // its requests under way
  };
  std::vector<std::unique_ptr<Loop>> loops;
  std::unique_ptr<asio::thread_pool> workers;
  std::optional<tcp::acceptor> tcp_acceptor;
  std::optional<unix_proto::acceptor> unix_acceptor;
  // Set when the TCP listener speaks TLS (ServerOptions::tls).
  std::optional<asio::ssl::context> ssl_ctx;
  std::string bound_address;
  std::string unix_path;
  int bound_port = 0;
  // The loops' threads: one each, and spares the monitor adds to a loop
  // while all of its threads are held inside handler calls.
  std::mutex io_mu;
  std::condition_variable io_cv;
  std::list<IoThread> io_threads;
  std::thread monitor;
  bool monitor_stop = false;  // under io_mu
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> connections_moved{0};
  std::once_flag stop_once;

  // Open connections, so Stop can close the idle ones.
  struct Conn {
    Strand strand;
    std::function<void()> close;
    std::shared_ptr<std::atomic<bool>> busy;  // a request is under way
  };
  std::mutex conns_mu;
  std::map<uint64_t, Conn> conns;
  uint64_t next_conn = 0;

  Impl(ServerOptions o, Handler h, AsyncHandler a)
      : opt(std::move(o)), handler(std::move(h)), async_handler(std::move(a)) {
    for (int i = 0; i < std::max(1, opt.io_threads); ++i) {
      loops.push_back(std::make_unique<Loop>());
      loops.back()->index = loops.size() - 1;
      loops.back()->upstreams = std::make_unique<internal::SocketPool>(opt.max_idle_upstream);
    }
  }

  // Checks the bearer token; the response to send instead, if any.
  std::optional<HttpResponse> Refuse(const HttpRequest& req) const {
    if (opt.bearer_token.empty()) return std::nullopt;
    std::string auth = req.headers.GetOr("Authorization", "");
    if (auth == "Bearer " + opt.bearer_token) return std::nullopt;
    HttpResponse r = ErrorResponse(401, "missing or wrong bearer token");
    r.headers.Set("WWW-Authenticate", "Bearer");
    return r;
  }

  static HttpResponse FromException(std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      return ErrorResponse(500, std::string("handler failed: ") + ex.what());
    } catch (...) {
      return ErrorResponse(500, "handler failed with a non-standard exception");
    }
  }

  // Hands the request to the handler; the call then says what the session
  // does next (see Session).
  uint64_t InFlight() const {
    uint64_t n = 0;
    for (const auto& loop : loops) n += loop->in_flight.load();
    return n;
  }
  int RunningHandlers() const {
    int n = 0;
    for (const auto& loop : loops) n += loop->lifetime->running_handlers.load();
    return n;
  }

  std::shared_ptr<Call> Begin(Strand strand, Loop& loop, HttpRequest& req, bool body_pending, bool body_empty) {
    auto call = std::make_shared<Call>();
    call->lifetime = loop.lifetime;
    call->strand.emplace(strand);
    // The timer itself is made when the session first waits on it: a call
    // answered at once (an in-process function) never needs one.
    call->deadline = opt.request_timeout.count() > 0 ? std::chrono::steady_clock::now() + opt.request_timeout
                                                     : std::chrono::steady_clock::time_point::max();
    loop.lifetime->running_handlers.fetch_add(1);
    if (auto refused = Refuse(req)) {
      std::lock_guard<std::mutex> lock(call->mu);
      call->ClaimAnswerLocked();
      call->response = std::move(*refused);
      call->done = true;
      return call;
    }
    std::weak_ptr<Call> weak = call;
    Responder respond = [weak](HttpResponse r) {
      std::shared_ptr<Call> c = weak.lock();
      if (!c) return;
      {
        std::lock_guard<std::mutex> lock(c->mu);
        if (!c->ClaimAnswerLocked() || c->abandoned) return;
        c->response = std::move(r);
        c->done = true;
      }
      c->Wake();
    };
    // The responder and the body hold the call weakly: once the session is
    // over (answered or timed out) they do nothing.
    if (body_pending) req.pending_body = std::make_shared<SessionBody>(weak, body_empty);
    if (async_handler) {
      InsideHandler inside(*call);
      try {
        async_handler(std::move(req), respond);
      } catch (...) {
        respond(FromException(std::current_exception()));
      }
    } else {
      asio::post(*workers, [self = shared_from_this(), req = std::move(req), respond]() mutable {
        try {
          respond(self->handler(req));
        } catch (...) {
          respond(FromException(std::current_exception()));
        }
      });
    }
    return call;
  }

  // A thread on the io_context (io_mu held). It holds the Impl, so a thread
  // left inside a hung function call at Stop finds it still there.
  void StartIoThreadLocked(size_t loop, bool spare) {
    IoThread& t = io_threads.emplace_back();
    t.loop = loop;
    t.spare = spare;
    t.thread = std::thread([self = shared_from_this(), &t] { self->RunIo(t); });
    t.has_cpu_clock = pthread_getcpuclockid(t.thread.native_handle(), &t.cpu_clock) == 0;
  }
  // What the choice of a loop reads of loop k (internal/loop_choice.h).
  internal::LoopLoad LoadOf(size_t k) const {
    const Loop& l = *loops[k];
    return internal::LoopLoad{l.free.load(std::memory_order_relaxed), l.busy_permille.load(std::memory_order_relaxed),
                              l.taken.load(std::memory_order_relaxed), l.connections.load(std::memory_order_relaxed),
                              l.threads.load(std::memory_order_relaxed)};
  }
  // The loop a new connection joins.
  Loop& ChooseLoop() {
    Loop& loop = *loops[internal::ChooseLoop(loops.size(), [this](size_t k) { return LoadOf(k); })];
    loop.taken.fetch_add(1, std::memory_order_relaxed);
    loop.connections.fetch_add(1, std::memory_order_relaxed);
    return loop;
  }
  // Where a connection of `from` goes now, between two of its requests:
  // nullptr to stay (nothing to give, or no loop with room).
  Loop* MoveTarget(Loop& from) {
    int left = from.give.load(std::memory_order_relaxed);
    do {
      if (left <= 0 || stopping.load(std::memory_order_relaxed)) return nullptr;
    } while (!from.give.compare_exchange_weak(left, left - 1, std::memory_order_relaxed));
    const size_t to = internal::FirstWithRoom(loops.size(), from.index, [this](size_t k) { return LoadOf(k); });
    if (to == loops.size()) return nullptr;
    Loop& target = *loops[to];
    target.taken.fetch_add(1, std::memory_order_relaxed);
    target.connections.fetch_add(1, std::memory_order_relaxed);
    return &target;
  }
  void RunIo(IoThread& me) {
    current_io = &me;
    Loop& loop = *loops[me.loop];
    if (!me.spare) {
      loop.ctx.run();
    } else {
      // A spare leaves once another thread of its loop is free.
      while (!loop.ctx.stopped() && loop.free.load(std::memory_order_relaxed) <= 1) {
        loop.ctx.run_for(std::chrono::milliseconds(20));
      }
    }
    current_io = nullptr;
    {
      std::lock_guard<std::mutex> lock(io_mu);
      me.exited.store(true);  // after this, the thread never takes io_mu
    }
    io_cv.notify_all();
  }
  // Looks at the threads every millisecond while one was inside a handler
  // call at the last look (backing off to 16 ms otherwise: a call caught
  // inside is looked at again a millisecond later); a loop none of whose
  // threads is free (each held inside one call since the last look) gets a
  // spare. Each look also measures the CPU each loop's threads used since
  // the last (for ChooseLoop).
  void Monitor() {
    auto period = std::chrono::milliseconds(1);
    std::vector<int> free(loops.size());
    std::vector<int64_t> cpu_ns(loops.size());
    std::vector<int> threads(loops.size());
    auto last_look = std::chrono::steady_clock::now();
    IdleCores idle_cores;
    bool warned = false;
    std::unique_lock<std::mutex> lock(io_mu);
    while (!monitor_stop) {
      io_cv.wait_for(lock, period, [&] { return monitor_stop; });
      if (monitor_stop) break;
      const auto now = std::chrono::steady_clock::now();
      const int64_t wall_ns = std::max<int64_t>(1, std::chrono::nanoseconds(now - last_look).count());
      last_look = now;
      std::fill(free.begin(), free.end(), 0);
      std::fill(cpu_ns.begin(), cpu_ns.end(), 0);
      std::fill(threads.begin(), threads.end(), 0);
      int spares = 0, held_threads = 0;
      bool inside = false;
      for (auto it = io_threads.begin(); it != io_threads.end();) {
        if (it->exited.load()) {
          it->thread.join();
          it = io_threads.erase(it);
          continue;
        }
        const uint64_t c = it->calls.load(std::memory_order_relaxed);
        const bool held = (c & 1) != 0 && c == it->seen;
        inside = inside || (c & 1) != 0;
        it->seen = c;
        timespec cpu{};
        if (it->has_cpu_clock && clock_gettime(it->cpu_clock, &cpu) == 0) {
          const int64_t ns = int64_t{cpu.tv_sec} * 1'000'000'000 + cpu.tv_nsec;
          // A thread's first look only sets where it starts from (its start
          // is not work of its loop).
          if (it->cpu_seen_ns >= 0) cpu_ns[it->loop] += std::max<int64_t>(0, ns - it->cpu_seen_ns);
          it->cpu_seen_ns = ns;
        }
        free[it->loop] += held ? 0 : 1;
        threads[it->loop] += 1;
        held_threads += held ? 1 : 0;
        spares += it->spare ? 1 : 0;
        ++it;
      }
      bool starved = false;
      for (size_t i = 0; i < loops.size(); ++i) {
        loops[i]->free.store(free[i], std::memory_order_relaxed);
        loops[i]->busy_permille.store(static_cast<int>(std::min<int64_t>(cpu_ns[i] * 1000 / wall_ns, 1'000'000)),
                                      std::memory_order_relaxed);
        loops[i]->taken.store(0, std::memory_order_relaxed);
        loops[i]->threads.store(threads[i], std::memory_order_relaxed);
        if (free[i] > 0 || loops[i]->ctx.stopped()) continue;
        starved = true;
        if (spares < opt.max_spare_io_threads) {
          StartIoThreadLocked(i, true);
          ++spares;
        } else if (!warned) {
          warned = true;
          OFN_LOG(kWarning) << "http server on " << bound_address << ": " << held_threads
                            << " I/O threads are held inside function calls; no more spares are started";
        }
      }
      bool near_full = false;
      for (const auto& l : loops) {
        near_full = near_full || l->busy_permille.load(std::memory_order_relaxed) >= internal::kFullPermille;
      }
      const bool idle_core = idle_cores.Any(near_full, now);
      for (size_t i = 0; i < loops.size(); ++i) {
        auto load = [this](size_t k) { return LoadOf(k); };
        const bool room_elsewhere = internal::FirstWithRoom(loops.size(), i, load) < loops.size();
        loops[i]->give.store(internal::ToGive(LoadOf(i), room_elsewhere, idle_core), std::memory_order_relaxed);
      }
      if (!starved) warned = false;
      period = inside ? std::chrono::milliseconds(1) : std::min(period * 2, std::chrono::milliseconds(16));
    }
  }

  // Reads the rest of a request body into a string.
  template <class Stream>
  asio::awaitable<Result<std::string>> ReadBody(Stream& stream, beast::flat_buffer& buffer,
                                                http::request_parser<http::empty_body>& head_parser) {
    const auto& head = head_parser.get();
    bool expect = head[http::field::expect] == "100-continue";
    if (auto len = head_parser.content_length(); len && *len > opt.max_body_bytes) {
      co_return Status(StatusCode::kResourceExhausted,
                       "request body exceeds " + std::to_string(opt.max_body_bytes) + " bytes");
    }
    http::request_parser<http::string_body> parser(std::move(head_parser));
    parser.body_limit(opt.max_body_bytes);
    buffer.reserve(64 * 1024);  // see RunProxy
    if (expect) {
      http::response<http::empty_body> cont{http::status::continue_, parser.get().version()};
      Lowest(stream).expires_after(opt.idle_timeout);
      auto [wec, wn] = co_await http::async_write(stream, cont, asio::as_tuple(asio::use_awaitable));
      if (wec) co_return Status(StatusCode::kUnavailable, "client went away: " + wec.message());
    }
    MinRate rate(opt.min_body_rate, opt.body_rate_grace);
    Deadline deadline(stream.get_executor());
    beast::error_code ec;
    Lowest(stream).expires_never();
    while (!ec && !parser.is_done()) {
      const size_t before = parser.get().body().size();
      const auto started = std::chrono::steady_clock::now();
      deadline.Arm(stream, ReadAllowance(opt, rate));
      auto [rec, n] = co_await http::async_read_some(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      deadline.Disarm();
      rate.Record(parser.get().body().size() - before, std::chrono::steady_clock::now() - started);
      ec = rec;
    }
    if (ec && deadline.fired()) co_return Status(StatusCode::kDeadlineExceeded, SlowBodyMessage(opt));
    if (ec == http::error::body_limit) {
      co_return Status(StatusCode::kResourceExhausted,
                       "request body exceeds " + std::to_string(opt.max_body_bytes) + " bytes");
    }
    if (ec) co_return Status(StatusCode::kUnavailable, "reading the request body failed: " + ec.message());
    co_return std::move(parser.get().body());
  }

  template <class Stream>
  asio::awaitable<void> WriteResponse(Stream& stream, HttpResponse response, unsigned version, bool keep,
                                      bool* ok) {
    bool send_body = true;
    const std::string head = ResponseHead(response, version, keep, &send_body);
    const std::array<asio::const_buffer, 2> bytes{asio::buffer(head),
                                                  send_body ? asio::buffer(response.body) : asio::const_buffer()};
    const boost::system::error_code wec = co_await internal::WriteTwo(stream, bytes, opt.idle_timeout);
    *ok = !wec;
  }

  // After an answer sent before the request body was read (413, 400): stop
  // sending, then read and drop what the client still sends for a while, so
  // closing with unread data does not reset the connection before the
  // client has read the answer.
  template <class Stream>
  asio::awaitable<void> LingeringClose(Stream& stream) {
    beast::error_code ec;
    Lowest(stream).socket().shutdown(asio::socket_base::shutdown_send, ec);
    std::vector<char> sink(64 * 1024);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    size_t drained = 0;
    while (drained < (size_t{64} << 20) && std::chrono::steady_clock::now() < deadline) {
      Lowest(stream).expires_at(deadline);
      auto [rec, n] = co_await Lowest(stream).async_read_some(asio::buffer(sink), asio::as_tuple(asio::use_awaitable));
      if (rec) break;
      drained += n;
    }
  }

  template <class Stream>
  asio::awaitable<void> Session(std::shared_ptr<Stream> stream, Strand strand, uint64_t id, std::string client_ip,
                                Loop& loop, std::shared_ptr<std::atomic<bool>> busy) {
    beast::flat_buffer buffer;
    bool linger = false;
    Deadline header_deadline(stream->get_executor());  // one timer for the connection's requests
    std::optional<internal::LazyDeadline> upstream_deadline;  // made by the first proxied request
    std::optional<internal::DelayedRun> slow_exchange;        // likewise
    // Closes the connection when it waits for its next request longer than
    // the idle timeout: a request costs a clock read, not a timer operation.
    internal::LazyTimer idle(stream->get_executor(), [s = stream.get()] {
      beast::error_code ec;
      Lowest(*s).socket().cancel(ec);
    });
    bool open = true;
    if constexpr (IsTls<Stream>::value) {
      // The handshake counts as part of the first request's header.
      Lowest(*stream).expires_after(opt.header_timeout);
      auto [hec] = co_await stream->async_handshake(asio::ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
      Lowest(*stream).expires_never();
      open = !hec;
    }
    constexpr std::string_view kScheme = IsTls<Stream>::value ? "https" : "http";
    Loop* moved_to = nullptr;
    const bool trusted_peer = TrustedProxy(opt.trusted_proxies, client_ip);
    while (open) {
      http::request_parser<http::empty_body> head_parser;
      head_parser.header_limit(static_cast<std::uint32_t>(opt.max_header_bytes));
      // Beast checks Content-Length against this when the header is done;
      // body limits are applied where the body is read (ReadBody).
      head_parser.body_limit(boost::none);
      if (buffer.size() == 0) {
        // Between requests: a plain TCP connection of a strained loop may
        // move to one with room (internal/loop_choice.h).
        if constexpr (std::is_same_v<Stream, internal::PlainTcp>) {
          if (loop.give.load(std::memory_order_relaxed) > 0 && (moved_to = MoveTarget(loop)) != nullptr) break;
        }
        // Wait for the first byte of the next request.
        buffer.reserve(4096);
        idle.Set(opt.idle_timeout);
        // A plain socket is read as it is: the stream's own timeouts are off
        // here, and its read operation would only wrap this one.
        boost::system::error_code wec;
        size_t wn = 0;
        if constexpr (IsTls<Stream>::value) {
          std::tie(wec, wn) = co_await stream->async_read_some(buffer.prepare(4096), asio::as_tuple(asio::use_awaitable));
        } else {
          std::tie(wec, wn) = co_await Lowest(*stream).socket().async_read_some(
              internal::DrainingBuffer(buffer.prepare(4096)), asio::as_tuple(asio::use_awaitable));
        }
        idle.Clear();
        if (wec) break;
        buffer.commit(wn);
      }
      // The stream's own timeouts are off here (whatever set one resets it).
      // A head that arrived whole (the usual case) is parsed where it lies,
      // without a read operation, a deadline or a trip through the loop.
      beast::error_code ec;
      if (!internal::ParseBufferedHead(head_parser, buffer, ec) && !ec) {
        header_deadline.Arm(*stream, opt.header_timeout);
        auto [rec, n] =
            co_await http::async_read_header(*stream, buffer, head_parser, asio::as_tuple(asio::use_awaitable));
        header_deadline.Disarm();
        ec = rec;
      }
      if (ec && header_deadline.fired()) {
        bool ignored;
        Lowest(*stream).expires_after(std::chrono::seconds(5));
        co_await WriteResponse(*stream,
                               ErrorResponse(408, "the request header was not complete within " +
                                                      std::to_string(opt.header_timeout.count()) + " ms"),
                               11, false, &ignored);
        break;
      }
      if (ec) {
        int status = StatusForReadError(ec);
        if (status != 0) {
          std::string msg = status == 431 ? "request header fields exceed " + std::to_string(opt.max_header_bytes) + " bytes"
                                          : "malformed request: " + ec.message();
          bool ignored;
          Lowest(*stream).expires_after(std::chrono::seconds(5));
          co_await WriteResponse(*stream, ErrorResponse(status, msg), 11, false, &ignored);
        }
        break;
      }
      busy->store(true, std::memory_order_relaxed);
      const bool keep_alive = head_parser.get().keep_alive();
      const unsigned version = head_parser.get().version();
      if (auto len = head_parser.content_length(); len && *len > opt.max_body_bytes && !opt.stream_bodies) {
        bool ignored;
        co_await WriteResponse(*stream,
                               ErrorResponse(413, "request body exceeds " + std::to_string(opt.max_body_bytes) + " bytes"),
                               version, false, &ignored);
        linger = true;
        break;
      }
      HttpRequest req = ToRequest(head_parser.get());
      if (FramingError fe = CheckFraming(req, version % 10); fe.status != 0) {
        bool ignored;
        co_await WriteResponse(*stream, ErrorResponse(fe.status, fe.message), version, false, &ignored);
        break;
      }
      const std::string client_host = req.headers.GetOr("Host", "");
      // The scheme the client used, for redirects, functions and upstreams;
      // a trusted proxy in front (terminating TLS itself) says it.
      if (!trusted_peer || !req.headers.Has("X-Forwarded-Proto")) req.headers.Set("X-Forwarded-Proto", std::string(kScheme));
      // In stream mode every request carries a PendingBody (even an empty
      // one), so a handler can always proxy it.
      const bool streaming = opt.stream_bodies && async_handler;
      bool body_pending = streaming || !head_parser.is_done();
      if (body_pending && !streaming) {
        Result<std::string> body = co_await ReadBody(*stream, buffer, head_parser);
        if (!body.ok()) {
          if (body.status().code() == StatusCode::kResourceExhausted) {
            bool ignored;
            co_await WriteResponse(*stream, ErrorResponse(413, body.status().message()), version, false, &ignored);
            linger = true;
          }
          break;
        }
        req.body = std::move(*body);
        body_pending = false;
      }
      loop.in_flight.fetch_add(1);
      std::shared_ptr<Call> call = Begin(strand, loop, req, body_pending, head_parser.is_done());
      TimerReset reset{call};
      // Made when the session first waits for the answer: a call answered
      // at once (an in-process function) needs no watch.
      std::optional<ClientWatch<Stream>> watch;
      std::optional<HttpResponse> response;
      std::optional<ProxyRequest> proxy;
      bool body_consumed = !body_pending || head_parser.is_done();
      for (;;) {
        std::function<void(Result<std::string>)> read_body;
        {
          std::lock_guard<std::mutex> lock(call->mu);
          if (call->done) {
            response = std::move(call->response);
          } else if (call->proxy) {
            proxy = std::move(call->proxy);
            call->proxy.reset();
          } else if (call->read_body) {
            read_body = std::move(call->read_body);
            call->read_body = nullptr;
          }
        }
        if (response || proxy) break;
        if (read_body) {
          if (watch) watch->Disarm();
          Result<std::string> body = std::string();
          if (!head_parser.is_done()) body = co_await ReadBody(*stream, buffer, head_parser);
          body_consumed = body.ok();
          {
            InsideHandler inside(*call);
            read_body(std::move(body));
          }
          continue;
        }
        if (!watch) watch.emplace(stream, call);
        watch->Arm();
        if (!call->timer) {
          call->timer.emplace(strand);
          call->timer->expires_at(call->deadline);
        }
        co_await call->timer->async_wait(asio::as_tuple(asio::use_awaitable));
        std::vector<std::function<void()>> abandon_callbacks;
        {
          std::lock_guard<std::mutex> lock(call->mu);
          if (call->done || call->proxy || call->read_body) continue;
          if (call->abandoned) break;  // the client left: nothing to answer
          if (call->timer->expiry() > std::chrono::steady_clock::now()) continue;  // a stray wake-up
          abandon_callbacks = call->AbandonLocked();
          if (call->ClaimAnswerLocked()) {
            response = ErrorResponse(504, "the function did not answer within " +
                                              std::to_string(opt.request_timeout.count()) + " ms");
          }
        }
        for (auto& fn : abandon_callbacks) fn();
        break;
      }
      if (watch) watch->Disarm();
      bool keep = false;
      if (proxy) {
        // Named, not temporaries: g++ 12 destroys temporaries in a co_await
        // expression twice.
        if (!upstream_deadline) {
          upstream_deadline.emplace(stream->get_executor());
          slow_exchange.emplace(stream->get_executor());
        }
        const ProxyEnv env{opt, *loop.upstreams, stopping, *upstream_deadline, *slow_exchange};
        const ProxyClient who{client_ip, trusted_peer, client_host};
        ProxyOutcome o = co_await RunProxy(env, *stream, buffer, head_parser, *proxy, strand, who);
        Lowest(*stream).expires_never();
        if (!o.responded) {
          bool ok = false;
          bool clean = o.client_clean && keep_alive && !stopping.load();
          co_await WriteResponse(*stream, std::move(o.error), version, clean, &ok);
          keep = ok && clean;
          linger = ok && !o.client_clean;  // the client may still be sending its body
        } else {
          keep = o.client_clean;
        }
        if (proxy->done) proxy->done(o.status);
      } else if (response) {
        keep = keep_alive && !stopping.load() && body_consumed;
        bool ok = false;
        co_await WriteResponse(*stream, std::move(*response), version, keep, &ok);
        keep = keep && ok;
        linger = ok && !body_consumed;
      }
      loop.in_flight.fetch_sub(1);
      busy->store(false, std::memory_order_relaxed);
      if (!keep) break;
    }
    if (moved_to != nullptr) {
      if constexpr (std::is_same_v<Stream, internal::PlainTcp>) {
        // Nothing is under way on the socket: it leaves this loop's epoll
        // set and joins the other's, open all along.
        boost::system::error_code rec;
        const int fd = Lowest(*stream).socket().release(rec);
        loop.connections.fetch_sub(1, std::memory_order_relaxed);
        {
          std::lock_guard<std::mutex> lock(conns_mu);
          conns.erase(id);
        }
        if (rec) {
          moved_to->connections.fetch_sub(1, std::memory_order_relaxed);
          co_return;
        }
        connections_moved.fetch_add(1, std::memory_order_relaxed);
        Adopt(fd, *moved_to);
        co_return;
      }
    }
    if (linger) co_await LingeringClose(*stream);
    beast::error_code ignored;
    Lowest(*stream).socket().shutdown(asio::socket_base::shutdown_both, ignored);
    Lowest(*stream).close();
    loop.connections.fetch_sub(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(conns_mu);
    conns.erase(id);
  }

  template <class Socket>
  void StartSession(Socket socket) {
    using Plain = beast::basic_stream<typename Socket::protocol_type, Strand>;
    Loop& loop = ChooseLoop();
    Strand strand = asio::make_strand(loop.ctx);
    auto protocol = socket.local_endpoint().protocol();
    typename Plain::socket_type sock(strand, protocol, socket.release());
    std::string client_ip;
    if constexpr (std::is_same_v<typename Socket::protocol_type, tcp>) {
      boost::system::error_code ec;
      sock.set_option(tcp::no_delay(true), ec);
      auto ep = sock.remote_endpoint(ec);
      if (!ec) client_ip = ep.address().to_string();
      if (ssl_ctx) {
        Run(std::make_shared<beast::ssl_stream<Plain>>(Plain(std::move(sock)), *ssl_ctx), strand, std::move(client_ip),
            loop);
        return;
      }
      // Only a plain session's reads use the hint (internal/draining_read.h).
      internal::ReportUnreadBytes(sock.native_handle());
    }
    Run(std::make_shared<Plain>(std::move(sock)), strand, std::move(client_ip), loop);
  }

  // A connection moved from another loop (its options are set already).
  void Adopt(int fd, Loop& loop) {
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) {
      ::close(fd);
      loop.connections.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    Strand strand = asio::make_strand(loop.ctx);
    boost::system::error_code ec;
    internal::PlainTcp::socket_type sock(strand);
    sock.assign(local.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
    if (ec) {
      ::close(fd);
      loop.connections.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    std::string client_ip;
    auto ep = sock.remote_endpoint(ec);
    if (!ec) client_ip = ep.address().to_string();
    Run(std::make_shared<internal::PlainTcp>(std::move(sock)), strand, std::move(client_ip), loop);
  }

  template <class Stream>
  void Run(std::shared_ptr<Stream> stream, Strand strand, std::string client_ip, Loop& loop) {
    uint64_t id;
    auto busy = std::make_shared<std::atomic<bool>>(false);
    {
      std::lock_guard<std::mutex> lock(conns_mu);
      id = next_conn++;
      std::weak_ptr<Stream> weak = stream;
      conns.emplace(id, Conn{strand,
                             [weak] {
                               if (auto s = weak.lock()) Lowest(*s).cancel();
                             },
                             busy});
    }
    asio::co_spawn(strand, Session(stream, strand, id, std::move(client_ip), loop, busy), asio::detached);
  }

  size_t open_connections() {
    std::lock_guard<std::mutex> lock(conns_mu);
    return conns.size();
  }

  template <class Acceptor>
  asio::awaitable<void> Accept(Acceptor& acceptor) {
    asio::steady_timer pause(acceptor.get_executor());
    std::chrono::milliseconds backoff{0};
    while (!stopping.load()) {
      if (open_connections() >= opt.max_connections) {
        // At the cap: leave new connections in the backlog until one closes.
        pause.expires_after(std::chrono::milliseconds(10));
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (ec == asio::error::operation_aborted || stopping.load()) break;
        // Out of descriptors or memory: the pending connection stays
        // readable, so retrying at once would spin. Back off 10 ms doubling
        // to 1 s; closing connections meanwhile frees descriptors.
        backoff = std::min<std::chrono::milliseconds>(std::max(backoff * 2, std::chrono::milliseconds(10)),
                                                      std::chrono::seconds(1));
        if (backoff == std::chrono::milliseconds(10)) {
          OFN_LOG(kWarning) << "accepting on " << bound_address << " failed (" << ec.message()
                            << "); retrying with back-off";
        }
        pause.expires_after(backoff);
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      backoff = std::chrono::milliseconds(0);
      StartSession(std::move(socket));
    }
  }
};

HttpServer::HttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(std::chrono::milliseconds(0)); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const ServerOptions& options, Handler handler) {
  return Launch(options, std::move(handler), nullptr);
}

Result<std::unique_ptr<HttpServer>> HttpServer::StartAsync(const ServerOptions& options, AsyncHandler handler) {
  return Launch(options, nullptr, std::move(handler));
}

Result<std::unique_ptr<HttpServer>> HttpServer::Launch(const ServerOptions& options, Handler handler,
                                                      AsyncHandler async_handler) {
  auto impl = std::make_shared<Impl>(options, std::move(handler), std::move(async_handler));
  boost::system::error_code ec;
  const std::string& a = options.address;
  if (options.tls) {
    if (a.rfind("unix:", 0) == 0) return Status(StatusCode::kInvalidArgument, "TLS needs a TCP address, not " + a);
    // The context belongs to `options.tls`; asio's wrapper takes a reference.
    auto* native = static_cast<SSL_CTX*>(options.tls->native_context());
    SSL_CTX_up_ref(native);
    impl->ssl_ctx.emplace(native);
  }
  if (a.rfind("unix:", 0) == 0) {
    impl->unix_path = a.substr(5);
    ::unlink(impl->unix_path.c_str());
    impl->unix_acceptor.emplace(impl->loops[0]->ctx);
    unix_proto::endpoint ep(impl->unix_path);
    impl->unix_acceptor->open(ep.protocol(), ec);
    if (!ec) impl->unix_acceptor->bind(ep, ec);
    if (!ec && ::chmod(impl->unix_path.c_str(), options.unix_socket_mode) != 0) {
      ec = boost::system::error_code(errno, boost::system::system_category());
    }
    if (!ec) impl->unix_acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Status(StatusCode::kUnavailable, "cannot listen on " + a + ": " + ec.message());
    impl->bound_address = a;
  } else {
    size_t colon = a.rfind(':');
    if (colon == std::string::npos) {
      return Status(StatusCode::kInvalidArgument, "address \"" + a + "\": expected host:port or unix:/path");
    }
    std::string host = a.substr(0, colon);
    if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
    auto addr = asio::ip::make_address(host, ec);
    if (ec) return Status(StatusCode::kInvalidArgument, "address \"" + a + "\": bad IP address \"" + host + "\"");
    int port = 0;
    try {
      port = std::stoi(a.substr(colon + 1));
    } catch (...) {
      port = -1;
    }
    if (port < 0 || port > 65535) {
      return Status(StatusCode::kInvalidArgument, "address \"" + a + "\": bad port");
    }
    tcp::endpoint ep(addr, static_cast<unsigned short>(port));
    impl->tcp_acceptor.emplace(impl->loops[0]->ctx);
    impl->tcp_acceptor->open(ep.protocol(), ec);
    if (!ec) impl->tcp_acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) impl->tcp_acceptor->bind(ep, ec);
    if (!ec) impl->tcp_acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Status(StatusCode::kUnavailable, "cannot listen on " + a + ": " + ec.message());
    impl->bound_port = impl->tcp_acceptor->local_endpoint().port();
    std::string h = addr.to_string();
    impl->bound_address = (addr.is_v6() ? "[" + h + "]" : h) + ":" + std::to_string(impl->bound_port);
  }
  impl->workers = std::make_unique<asio::thread_pool>(std::max(1, options.worker_threads));
  for (auto& loop : impl->loops) loop->work.emplace(loop->ctx.get_executor());
  asio::io_context& first = impl->loops[0]->ctx;
  if (impl->tcp_acceptor) asio::co_spawn(first, impl->Accept(*impl->tcp_acceptor), asio::detached);
  if (impl->unix_acceptor) asio::co_spawn(first, impl->Accept(*impl->unix_acceptor), asio::detached);
  {
    std::lock_guard<std::mutex> lock(impl->io_mu);
    for (size_t i = 0; i < impl->loops.size(); ++i) impl->StartIoThreadLocked(i, false);
  }
  impl->monitor = std::thread([raw = impl.get()] { raw->Monitor(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

std::string HttpServer::address() const { return impl_->bound_address; }
int HttpServer::port() const { return impl_->bound_port; }
uint64_t HttpServer::in_flight() const { return impl_->InFlight(); }
uint64_t HttpServer::connections_moved() const { return impl_->connections_moved.load(); }

void HttpServer::Stop(std::chrono::milliseconds drain) {
  Impl* impl = impl_.get();
  std::call_once(impl->stop_once, [impl, drain] {
    impl->stopping.store(true);
    asio::post(impl->loops[0]->ctx, [impl] {
      boost::system::error_code ec;
      if (impl->tcp_acceptor) impl->tcp_acceptor->close(ec);
      if (impl->unix_acceptor) impl->unix_acceptor->close(ec);
    });
    auto close_idle = [impl](bool all) {
      std::lock_guard<std::mutex> lock(impl->conns_mu);
      for (auto& [id, c] : impl->conns) {
        if (all || !c.busy->load()) asio::post(c.strand, c.close);
      }
    };
    close_idle(false);
    auto deadline = std::chrono::steady_clock::now() + drain;
    while (impl->InFlight() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      close_idle(false);
    }
    close_idle(true);
    for (auto& loop : impl->loops) loop->work.reset();
    // Give sessions a moment to unwind after their sockets were cancelled.
    auto unwind = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(impl->conns_mu);
        if (impl->conns.empty()) break;
      }
      if (std::chrono::steady_clock::now() > unwind) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    {
      std::lock_guard<std::mutex> lock(impl->io_mu);
      impl->monitor_stop = true;
    }
    impl->io_cv.notify_all();
    impl->monitor.join();
    for (auto& loop : impl->loops) loop->ctx.stop();
    {
      // A thread held inside a function call cannot be taken back: it is
      // left to finish on its own (it holds the Impl).
      const auto held_until = std::chrono::steady_clock::now() + std::max(drain, std::chrono::milliseconds(1000));
      std::unique_lock<std::mutex> lock(impl->io_mu);
      impl->io_cv.wait_until(lock, held_until, [impl] {
        for (const IoThread& t : impl->io_threads) {
          if (!t.exited.load()) return false;
        }
        return true;
      });
      int left = 0;
      for (IoThread& t : impl->io_threads) {
        if (t.exited.load()) {
          t.thread.join();
        } else {
          t.thread.detach();
          ++left;
        }
      }
      if (left > 0) {
        OFN_LOG(kWarning) << "http server on " << impl->bound_address << " stopped with " << left
                          << " I/O thread(s) still inside a function call";
      }
    }
    for (auto& loop : impl->loops) {
      std::lock_guard<std::mutex> lock(loop->lifetime->mu);
      loop->lifetime->alive = false;
    }
    for (auto& loop : impl->loops) loop->upstreams->CloseAll();
    // Functions that already answered (or timed out) may still be returning.
    auto grace = std::chrono::steady_clock::now() + std::max(drain, std::chrono::milliseconds(1000));
    while (impl->RunningHandlers() > 0 && std::chrono::steady_clock::now() < grace) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (impl->RunningHandlers() > 0) {
      // A function is still running; its thread cannot be taken back. Leave
      // the pool to finish on its own rather than block the caller forever.
      OFN_LOG(kWarning) << "http server on " << impl->bound_address << " stopped with "
                        << impl->RunningHandlers() << " function call(s) still running";
      (void)impl->workers.release();
    } else {
      impl->workers->join();
    }
    if (!impl->unix_path.empty()) ::unlink(impl->unix_path.c_str());
  });
}

}  // namespace ofn::gateway
