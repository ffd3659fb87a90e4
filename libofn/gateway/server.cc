#include "libofn/gateway/server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "libofn/common/json_text.h"
#include "libofn/common/log.h"

namespace ofn::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using unix_proto = asio::local::stream_protocol;
using Strand = asio::strand<asio::io_context::executor_type>;

HttpResponse ErrorResponse(int status, std::string_view message) {
  return HttpResponse::Json(status, "{\"error\":{\"code\":" + std::to_string(status) +
                                        ",\"message\":" + JsonQuote(message) + "}}\n");
}

namespace {

// Lets worker threads post back only while the io_context exists.
struct Lifetime {
  std::mutex mu;
  bool alive = true;
};

// One request waiting for its response. The responder may run on any thread
// and even after the server is gone; the timer lives only while the session
// waits on it (the session's strand owns it).
struct Call {
  std::optional<asio::steady_timer> timer;
  std::mutex mu;
  bool done = false;
  bool abandoned = false;
  HttpResponse response;
};

struct TimerReset {
  std::shared_ptr<Call> call;
  ~TimerReset() { call->timer.reset(); }
};

HttpRequest ToRequest(http::request<http::string_body>&& req) {
  HttpRequest out;
  out.method = std::string(req.method_string());
  out.target = std::string(req.target());
  for (const auto& f : req) out.headers.Add(std::string(f.name_string()), std::string(f.value()));
  out.body = std::move(req.body());
  return out;
}

http::response<http::string_body> ToBeast(HttpResponse&& r, unsigned version, bool keep_alive) {
  http::response<http::string_body> out;
  out.version(version);
  out.result(static_cast<unsigned>(r.status));
  for (const auto& [name, value] : r.headers) {
    if (EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Transfer-Encoding") ||
        EqualsIgnoreCase(name, "Connection")) {
      continue;
    }
    out.insert(name, value);
  }
  if (!out.count(http::field::server)) out.set(http::field::server, "libofn");
  out.body() = std::move(r.body);
  out.keep_alive(keep_alive);
  out.prepare_payload();
  return out;
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
  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::unique_ptr<asio::thread_pool> workers;
  std::optional<tcp::acceptor> tcp_acceptor;
  std::optional<unix_proto::acceptor> unix_acceptor;
  std::string bound_address;
  std::string unix_path;
  int bound_port = 0;
  std::vector<std::thread> threads;
  std::shared_ptr<Lifetime> lifetime = std::make_shared<Lifetime>();
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> in_flight{0};
  std::shared_ptr<std::atomic<int>> running_handlers = std::make_shared<std::atomic<int>>(0);
  std::once_flag stop_once;

  // Open connections, so Stop can close the idle ones.
  struct Conn {
    Strand strand;
    std::function<void()> close;
    bool busy = false;
  };
  std::mutex conns_mu;
  std::map<uint64_t, Conn> conns;
  uint64_t next_conn = 0;

  Impl(ServerOptions o, Handler h, AsyncHandler a)
      : opt(std::move(o)), handler(std::move(h)), async_handler(std::move(a)) {}

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

  asio::awaitable<HttpResponse> Await(Strand strand, HttpRequest req) {
    if (auto refused = Refuse(req)) co_return std::move(*refused);
    auto call = std::make_shared<Call>();
    call->timer.emplace(strand);
    TimerReset reset{call};
    if (opt.request_timeout.count() > 0) {
      call->timer->expires_after(opt.request_timeout);
    } else {
      call->timer->expires_at(asio::steady_timer::time_point::max());
    }
    running_handlers->fetch_add(1);
    auto once = std::make_shared<std::atomic<bool>>(false);
    Responder respond = [call, once, strand, life = lifetime, counter = running_handlers](HttpResponse r) {
      if (once->exchange(true)) return;
      counter->fetch_sub(1);
      {
        std::lock_guard<std::mutex> lock(call->mu);
        if (call->abandoned) return;
        call->response = std::move(r);
        call->done = true;
      }
      std::lock_guard<std::mutex> lock(life->mu);
      if (life->alive) {
        asio::post(strand, [call] {
          if (call->timer) call->timer->cancel();
        });
      }
    };
    if (async_handler) {
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
    {
      std::lock_guard<std::mutex> lock(call->mu);
      if (call->done) co_return std::move(call->response);
    }
    co_await call->timer->async_wait(asio::as_tuple(asio::use_awaitable));
    std::lock_guard<std::mutex> lock(call->mu);
    if (call->done) co_return std::move(call->response);
    call->abandoned = true;
    co_return ErrorResponse(504, "the function did not answer within " +
                                     std::to_string(opt.request_timeout.count()) + " ms");
  }

  void SetBusy(uint64_t id, bool busy) {
    std::lock_guard<std::mutex> lock(conns_mu);
    auto it = conns.find(id);
    if (it != conns.end()) it->second.busy = busy;
  }

  template <class Stream>
  asio::awaitable<void> Session(std::shared_ptr<Stream> stream, Strand strand, uint64_t id) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(opt.max_header_bytes));
      parser.body_limit(opt.max_body_bytes);
      stream->expires_after(opt.idle_timeout);
      auto [ec, n] = co_await http::async_read_header(*stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      if (!ec) {
        SetBusy(id, true);
        if (parser.get()[http::field::expect] == "100-continue") {
          http::response<http::empty_body> cont{http::status::continue_, parser.get().version()};
          auto [wec, wn] = co_await http::async_write(*stream, cont, asio::as_tuple(asio::use_awaitable));
          ec = wec;
        }
      }
      if (!ec && !parser.is_done()) {
        stream->expires_after(opt.idle_timeout);
        auto [rec, rn] = co_await http::async_read(*stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
        ec = rec;
      }
      if (ec) {
        int status = StatusForReadError(ec);
        if (status != 0) {
          std::string msg = status == 431   ? "request header fields exceed " + std::to_string(opt.max_header_bytes) + " bytes"
                            : status == 413 ? "request body exceeds " + std::to_string(opt.max_body_bytes) + " bytes"
                                            : "malformed request: " + ec.message();
          auto res = ToBeast(ErrorResponse(status, msg), 11, false);
          stream->expires_after(std::chrono::seconds(5));
          co_await http::async_write(*stream, res, asio::as_tuple(asio::use_awaitable));
        }
        break;
      }
      http::request<http::string_body> req = parser.release();
      bool keep_alive = req.keep_alive();
      unsigned version = req.version();
      in_flight.fetch_add(1);
      HttpResponse response = co_await Await(strand, ToRequest(std::move(req)));
      bool keep = keep_alive && !stopping.load();
      auto res = ToBeast(std::move(response), version, keep);
      stream->expires_after(opt.idle_timeout);
      auto [wec, wn] = co_await http::async_write(*stream, res, asio::as_tuple(asio::use_awaitable));
      in_flight.fetch_sub(1);
      SetBusy(id, false);
      if (wec || !keep) break;
    }
    beast::error_code ignored;
    stream->socket().shutdown(asio::socket_base::shutdown_both, ignored);
    stream->close();
    std::lock_guard<std::mutex> lock(conns_mu);
    conns.erase(id);
  }

  template <class Socket>
  void StartSession(Socket socket) {
    using Stream = beast::basic_stream<typename Socket::protocol_type, Strand>;
    Strand strand = asio::make_strand(ioc);
    auto protocol = socket.local_endpoint().protocol();
    auto stream = std::make_shared<Stream>(typename Stream::socket_type(strand, protocol, socket.release()));
    uint64_t id;
    {
      std::lock_guard<std::mutex> lock(conns_mu);
      id = next_conn++;
      std::weak_ptr<Stream> weak = stream;
      conns.emplace(id, Conn{strand, [weak] {
                               if (auto s = weak.lock()) s->cancel();
                             }});
    }
    asio::co_spawn(strand, Session(stream, strand, id), asio::detached);
  }

  template <class Acceptor>
  asio::awaitable<void> Accept(Acceptor& acceptor) {
    while (!stopping.load()) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (ec == asio::error::operation_aborted || stopping.load()) break;
        continue;
      }
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
  if (a.rfind("unix:", 0) == 0) {
    impl->unix_path = a.substr(5);
    ::unlink(impl->unix_path.c_str());
    impl->unix_acceptor.emplace(impl->ioc);
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
    impl->tcp_acceptor.emplace(impl->ioc);
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
  impl->work.emplace(impl->ioc.get_executor());
  if (impl->tcp_acceptor) asio::co_spawn(impl->ioc, impl->Accept(*impl->tcp_acceptor), asio::detached);
  if (impl->unix_acceptor) asio::co_spawn(impl->ioc, impl->Accept(*impl->unix_acceptor), asio::detached);
  for (int i = 0; i < std::max(1, options.io_threads); ++i) {
    impl->threads.emplace_back([io = &impl->ioc] { io->run(); });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

std::string HttpServer::address() const { return impl_->bound_address; }
int HttpServer::port() const { return impl_->bound_port; }
uint64_t HttpServer::in_flight() const { return impl_->in_flight.load(); }

void HttpServer::Stop(std::chrono::milliseconds drain) {
  Impl* impl = impl_.get();
  std::call_once(impl->stop_once, [impl, drain] {
    impl->stopping.store(true);
    asio::post(impl->ioc, [impl] {
      boost::system::error_code ec;
      if (impl->tcp_acceptor) impl->tcp_acceptor->close(ec);
      if (impl->unix_acceptor) impl->unix_acceptor->close(ec);
    });
    auto close_idle = [impl](bool all) {
      std::lock_guard<std::mutex> lock(impl->conns_mu);
      for (auto& [id, c] : impl->conns) {
        if (all || !c.busy) asio::post(c.strand, c.close);
      }
    };
    close_idle(false);
    auto deadline = std::chrono::steady_clock::now() + drain;
    while (impl->in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      close_idle(false);
    }
    close_idle(true);
    impl->work.reset();
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
    impl->ioc.stop();
    for (std::thread& t : impl->threads) t.join();
    {
      std::lock_guard<std::mutex> lock(impl->lifetime->mu);
      impl->lifetime->alive = false;
    }
    // Functions that already answered (or timed out) may still be returning.
    auto grace = std::chrono::steady_clock::now() + std::max(drain, std::chrono::milliseconds(1000));
    while (impl->running_handlers->load() > 0 && std::chrono::steady_clock::now() < grace) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (impl->running_handlers->load() > 0) {
      // A function is still running; its thread cannot be taken back. Leave
      // the pool to finish on its own rather than block the caller forever.
      OFN_LOG(kWarning) << "http server on " << impl->bound_address << " stopped with "
                        << impl->running_handlers->load() << " function call(s) still running";
      (void)impl->workers.release();
    } else {
      impl->workers->join();
    }
    if (!impl->unix_path.empty()) ::unlink(impl->unix_path.c_str());
  });
}

}  // namespace ofn::gateway
