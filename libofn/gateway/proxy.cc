#include "libofn/gateway/internal/proxy.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <optional>
#include <tuple>
#include <vector>

#include "libofn/gateway/internal/draining_read.h"
#include "libofn/gateway/internal/response_head.h"

namespace ofn::gateway::internal {
namespace {

// How long an upstream exchange goes on before its client's connection is
// watched for the client leaving (nearly every exchange ends sooner).
constexpr std::chrono::milliseconds kClientWatchAfter{50};

// Writes what `sr` has to `fd` as far as the socket takes it without
// waiting (the socket is non-blocking underneath Asio). True when the
// serializer is done or waits for more body (need_buffer), false when the
// rest needs an asynchronous write or `ec` says the connection failed.
template <bool isRequest>
bool SerializeNow(int fd, http::serializer<isRequest, http::buffer_body>& sr, beast::error_code& ec) {
  while (!sr.is_done()) {
    size_t offered = 0, sent = 0;
    bool called = false;
    sr.next(ec, [&](beast::error_code& ec2, const auto& buffers) {
      called = true;
      iovec iov[16];
      size_t k = 0;
      for (const auto b : beast::buffers_range_ref(buffers)) {
        if (k == 16) break;
        iov[k].iov_base = const_cast<void*>(b.data());
        iov[k].iov_len = b.size();
        offered += b.size();
        ++k;
      }
      sent = SendNow(fd, iov, k, ec2);
    });
    if (ec == http::error::need_buffer) {
      ec = {};
      return true;
    }
    if (ec) return false;
    if (!called) continue;
    sr.consume(sent);
    if (sent < offered) return false;
  }
  return true;
}

// Writes what `sr` has to the client: at once when its socket takes it
// all, else asynchronously within `idle`. need_buffer (the serializer waits
// for more body) is no error.
template <class Stream, bool isRequest>
asio::awaitable<beast::error_code> WriteToClient(Stream& client, http::serializer<isRequest, http::buffer_body>& sr,
                                                 std::chrono::milliseconds idle) {
  beast::error_code ec;
  if constexpr (!IsTls<Stream>::value) {
    if (SerializeNow(Lowest(client).socket().native_handle(), sr, ec) || ec) co_return ec;
  }
  Lowest(client).expires_after(idle);
  std::tie(ec, std::ignore) = co_await http::async_write(client, sr, asio::as_tuple(asio::use_awaitable));
  if (ec == http::error::need_buffer) ec = {};
  co_return ec;
}

// Parses what `buffer` already holds into the body buffer `parser` was
// given, without reading; stops when the message is done, the body buffer
// is full, or more bytes are needed. An error other than those is left in
// `ec`.
void ParseBuffered(http::response_parser<http::buffer_body>& parser, beast::flat_buffer& buffer,
                   beast::error_code& ec) {
  while (buffer.size() > 0 && !parser.is_done() && parser.get().body().size > 0) {
    const size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == http::error::need_buffer || ec == http::error::need_more) {
      ec = {};
      return;
    }
    if (ec || used == 0) return;
  }
}

// Reads from `up` into `buffer` until the whole response header is there:
// plain reads on the socket, without a composed operation. A header that
// came whole with the first bytes and is plain is read in place into
// `*plain` (`*is_plain` set; it stays in `buffer`); any other goes to
// `parser`, fed from `buffer` (the bytes after the header stay there).
// Errors are Beast's: end_of_stream when the connection closed before any
// byte, partial_message in the middle of the header.
asio::awaitable<beast::error_code> ReadResponseHead(tcp::socket& up, beast::flat_buffer& buffer,
                                                    http::response_parser<http::buffer_body>& parser,
                                                    PlainResponseHead* plain, bool* is_plain) {
  beast::error_code ec;
  bool general = false;  // the parser has begun
  *is_plain = false;
  for (;;) {
    if (!general && buffer.size() > 0) {
      const std::string_view bytes(static_cast<const char*>(buffer.data().data()), buffer.size());
      const size_t end = bytes.find("\r\n\r\n");
      if (end != std::string_view::npos && ParsePlainResponseHead(bytes.substr(0, end + 4), plain)) {
        *is_plain = true;
        co_return ec;
      }
      general = true;
    }
    if (general && (ParseBufferedHead(parser, buffer, ec) || ec)) co_return ec;
    const size_t room = std::max<size_t>(4096, buffer.capacity() - buffer.size());
    // A kept connection's last read emptied it: the answer to the request
    // just sent is waited for, not tried for at once (draining_read.h).
    auto [rec, n] =
        co_await up.async_read_some(DrainingBuffer(buffer.prepare(room)), asio::as_tuple(asio::use_awaitable));
    if (rec == asio::error::eof) {
      if (!parser.got_some()) co_return http::error::end_of_stream;
      parser.put_eof(ec);
      co_return ec ? ec : beast::error_code(http::error::partial_message);
    }
    if (rec) co_return rec;
    buffer.commit(n);
  }
}

// The head of a response passed on whole: the instance's status (with its
// standard reason) and the fields `passed` keeps, Content-Length when the
// instance gave one, and what becomes of the client's connection.
// `each(emit)` calls emit(name, value) for each of the instance's fields.
template <class EachField, class Passed>
std::string WholeResponseHead(unsigned client_version, unsigned status, EachField each, const Passed& passed,
                              std::optional<uint64_t> len, bool client_keep) {
  std::string head;
  head.reserve(256);
  head += client_version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  head += std::to_string(status);
  head += ' ';
  head += http::obsolete_reason(static_cast<http::status>(status));
  head += "\r\n";
  each([&](std::string_view name, std::string_view value) {
    if (!passed(name)) return;
    head += name;
    head += ": ";
    head += value;
    head += "\r\n";
  });
  if (len) {
    head += "Content-Length: ";
    head += std::to_string(*len);
    head += "\r\n";
  }
  if (client_version == 10 && client_keep) head += "Connection: keep-alive\r\n";
  if (client_version != 10 && !client_keep) head += "Connection: close\r\n";
  head += "\r\n";
  return head;
}

}  // namespace

// Streams one request to an upstream and its response back (see
// PendingBody::Proxy). Runs on the session's strand.
template <class Stream>
asio::awaitable<ProxyOutcome> RunProxy(const ProxyEnv& env, Stream& client, beast::flat_buffer& cbuf,
                                       http::request_parser<http::empty_body>& head_parser, ProxyRequest& pr,
                                       Strand strand, const ProxyClient& who) {
  ProxyOutcome out;
  auto fail = [&](int status, std::string message) {
    out.status = status;
    out.error = ErrorResponse(status, message);
    return out;
  };
  // What the client's request says; read now, because the body parser
  // below takes the message over from head_parser.
  const auto& original = head_parser.get();
  const bool head_request = original.method() == http::verb::head;
  const unsigned client_version = original.version();
  const bool client_keep_alive = original.keep_alive();
  const bool expect_continue = original[http::field::expect] == "100-continue";

  if (auto len = head_parser.content_length(); len && *len > env.opt.max_body_bytes) {
    out = fail(413, "request body exceeds " + std::to_string(env.opt.max_body_bytes) + " bytes");
    co_return out;  // client_clean stays false: the body is still on the connection
  }

  // Every wait on the upstream is limited by `deadline`, cleared when the
  // exchange ends however it ends.
  LazyDeadline& deadline = env.upstream_deadline;
  struct ClearAtEnd {
    LazyDeadline& d;
    ~ClearAtEnd() { d.Clear(); }
  } clear_at_end{deadline};

  // Request header: the handler's head (after filters), without hop-by-hop
  // fields, with the body framing of the client's request. A bodiless
  // request's head is one string; one with a body goes through Beast's
  // serializer, which frames the body as it streams.
  const bool has_body = !head_parser.is_done();
  http::request<http::buffer_body> ureq;
  std::string uhead;
  if (has_body) {
    ureq.method_string(pr.head.method);
    ureq.target(pr.head.target);
    ureq.version(11);
  } else {
    uhead.reserve(128 + pr.head.target.size() + pr.head.headers.size() * 48);
    uhead += pr.head.method;
    uhead += ' ';
    uhead += pr.head.target;
    uhead += " HTTP/1.1\r\n";
  }
  auto add = [&](std::string_view name, std::string_view value) {
    if (has_body) {
      ureq.insert(name, value);
      return;
    }
    if (name.empty() || name.find_first_of("\r\n:") != std::string_view::npos ||
        value.find_first_of("\r\n") != std::string_view::npos) {
      return;  // a filter's field that would split the head
    }
    uhead += name;
    uhead += ": ";
    uhead += value;
    uhead += "\r\n";
  };
  std::vector<std::string> listed;  // names the Connection header lists
  for (const auto& [name, value] : pr.head.headers) {
    if (EqualsIgnoreCase(name, "Connection")) AppendTokens(value, &listed);
  }
  auto hop = [&](std::string_view name) {
    static constexpr std::string_view kHop[] = {"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
                                                "Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding",
                                                "Upgrade", "Expect", "Content-Length"};
    for (std::string_view h : kHop) {
      if (EqualsIgnoreCase(name, h)) return true;
    }
    for (const std::string& l : listed) {
      if (EqualsIgnoreCase(name, l)) return true;
    }
    return false;
  };
  std::string xff;
  for (const auto& [name, value] : pr.head.headers) {
    if (EqualsIgnoreCase(name, "X-Forwarded-For")) {
      if (who.trusted) xff += (xff.empty() ? "" : ", ") + value;
      continue;
    }
    if (EqualsIgnoreCase(name, "X-Forwarded-Host")) continue;
    if (hop(name)) continue;
    add(name, value);
  }
  if (!who.ip.empty()) xff += (xff.empty() ? "" : ", ") + who.ip;
  if (!xff.empty()) add("X-Forwarded-For", xff);
  add("X-Forwarded-Host", who.host);
  if (!pr.head.headers.Has("X-Forwarded-Proto")) add("X-Forwarded-Proto", "http");
  if (has_body) {
    if (head_parser.chunked()) {
      ureq.chunked(true);
    } else if (auto len = head_parser.content_length()) {
      ureq.content_length(*len);
    }
    ureq.body().data = nullptr;
    ureq.body().size = 0;
    ureq.body().more = false;
  } else {
    uhead += "\r\n";
  }
  // A request that can be sent again (RFC 9110 §9.2.2: idempotent, and no
  // body to replay) goes out on a pooled connection without asking its
  // peer first; if that connection turns out closed before any byte of an
  // answer, the request is sent once more on a checked or new connection.
  const std::string_view method = pr.head.method;
  const bool replayable =
      !has_body && (method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE");

  // Request body, chunk by chunk: memory stays at one buffer, and the
  // header goes out with the first chunk. An instance that stops reading
  // may still have answered early; its answer is read below (and the
  // client connection closes afterwards).
  constexpr size_t kChunk = 64 * 1024;
  struct Chunk {  // not zeroed: every byte sent was read first
    std::unique_ptr<char[]> bytes;  // made for the first body that streams
    char* data() {
      if (!bytes) bytes = std::make_unique_for_overwrite<char[]>(kChunk);
      return bytes.get();
    }
    static constexpr size_t size() { return kChunk; }
  } chunk;
  bool request_complete = true;
  std::string write_error;
  std::unique_ptr<tcp::socket> upstream;
  std::optional<http::request_serializer<http::buffer_body>> sr;
  beast::flat_buffer ubuf;
  std::optional<http::response_parser<http::buffer_body>> rpo;
  PlainResponseHead plain;  // the response head, when it came whole and plain
  bool plain_head = false;
  for (int attempt = 0;; ++attempt) {
    deadline.Clear();  // a connection of an earlier attempt is gone
    // Upstream connection: pooled when one is idle (still registered with
    // this loop), else a new one.
    upstream = env.upstreams.Checkout(pr.upstream, /*check_peer=*/!replayable || attempt > 0);
    const bool reused = upstream != nullptr;
    if (!upstream) {
      size_t colon = pr.upstream.rfind(':');
      boost::system::error_code pec;
      auto addr = asio::ip::make_address(pr.upstream.substr(0, colon), pec);
      if (pec || colon == std::string::npos) co_return fail(502, "bad upstream address " + pr.upstream);
      tcp::endpoint ep(addr, static_cast<unsigned short>(std::atoi(pr.upstream.c_str() + colon + 1)));
      upstream = std::make_unique<tcp::socket>(strand.get_inner_executor());
      const auto limit = std::min<std::chrono::milliseconds>(pr.timeout, std::chrono::seconds(10));
      deadline.Set(*upstream, limit);
      auto [cec] = co_await upstream->async_connect(ep, asio::as_tuple(asio::use_awaitable));
      if (cec) {
        co_return fail(502, "cannot connect to the instance at " + pr.upstream + ": " +
                                (deadline.fired() ? "no answer within " + std::to_string(limit.count()) + " ms"
                                                  : cec.message()));
      }
      boost::system::error_code nec;
      upstream->set_option(tcp::no_delay(true), nec);  // header and body go in separate writes
      ReportUnreadBytes(upstream->native_handle());    // see ReadResponseHead
    }
    tcp::socket& up = *upstream;

    if (!has_body) {
      // At once when the socket takes it all (it usually does).
      beast::error_code wec;
      const iovec iov{uhead.data(), uhead.size()};
      const size_t sent = SendNow(up.native_handle(), &iov, 1, wec);
      if (!wec && sent < uhead.size()) {
        deadline.Set(up, env.opt.idle_timeout);
        std::tie(wec, std::ignore) = co_await asio::async_write(
            up, asio::buffer(uhead.data() + sent, uhead.size() - sent), asio::as_tuple(asio::use_awaitable));
      }
      if (wec && reused && replayable && !deadline.fired()) continue;  // the pooled connection was closed
      if (wec) co_return fail(502, "the instance at " + pr.upstream + " closed the connection: " + wec.message());
    } else {
      sr.emplace(ureq);
      // Beast reads max(512, free capacity) bytes at a time: give it room,
      // or a large body goes through in 512-byte reads.
      cbuf.reserve(chunk.size());
      uint64_t sent_body = 0;
      http::request_parser<http::buffer_body> bp(std::move(head_parser));
      bp.body_limit(boost::none);
      if (expect_continue) {
        http::response<http::empty_body> cont{http::status::continue_, client_version};
        Lowest(client).expires_after(env.opt.idle_timeout);
        co_await http::async_write(client, cont, asio::as_tuple(asio::use_awaitable));
      }
      bool more = true;
      MinRate rate(env.opt.min_body_rate, env.opt.body_rate_grace);
      Deadline body_deadline(client.get_executor());
      while (more && write_error.empty()) {
        size_t got = 0;
        if (!bp.is_done()) {
          bp.get().body().data = chunk.data();
          bp.get().body().size = chunk.size();
          const auto started = std::chrono::steady_clock::now();
          Lowest(client).expires_never();
          body_deadline.Arm(client, ReadAllowance(env.opt, rate));
          auto [rec, rn] = co_await http::async_read(client, cbuf, bp, asio::as_tuple(asio::use_awaitable));
          body_deadline.Disarm();
          rate.Record(chunk.size() - bp.get().body().size, std::chrono::steady_clock::now() - started);
          if (rec && body_deadline.fired()) co_return fail(408, SlowBodyMessage(env.opt));
          if (rec && rec != http::error::need_buffer) {
            if (rec.category() == http::make_error_code(http::error::bad_target).category() &&
                rec != http::error::partial_message && rec != http::error::end_of_stream) {
              co_return fail(400, "malformed request body: " + rec.message());
            }
            out.status = 400;
            out.responded = true;  // the client is gone: nothing more can be said to it
            co_return out;
          }
          got = chunk.size() - bp.get().body().size;
          sent_body += got;
          if (sent_body > env.opt.max_body_bytes) {
            co_return fail(413, "request body exceeds " + std::to_string(env.opt.max_body_bytes) + " bytes");
          }
        }
        more = !bp.is_done();
        ureq.body().data = got > 0 ? chunk.data() : nullptr;
        ureq.body().size = got;
        ureq.body().more = more;
        deadline.Set(up, env.opt.idle_timeout);
        auto [wec, wn] = co_await http::async_write(up, *sr, asio::as_tuple(asio::use_awaitable));
        if (wec && wec != http::error::need_buffer) write_error = deadline.fired() ? "timed out" : wec.message();
      }
      request_complete = bp.is_done();
    }

    // Response header, within the route timeout.
    ubuf.clear();
    ubuf.reserve(16 * 1024);  // a header and a small body in one read
    rpo.emplace();
    rpo->header_limit(64 * 1024);
    rpo->body_limit(boost::none);
    if (head_request) rpo->skip(true);
    deadline.Set(up, pr.timeout);
    // A client that leaves while the instance works cancels the exchange:
    // the upstream connection is dropped, so the instance sees it too. The
    // client's socket is watched only once the exchange has lasted a while
    // (a wait registered with the loop costs a syscall per exchange).
    bool client_left = false;
    std::shared_ptr<bool> watching;  // set while the client's socket is watched
    auto watch = [&] {
      watching = std::make_shared<bool>(true);
      Lowest(client).socket().async_wait(asio::socket_base::wait_read,
                                         [w = watching, &client, &up, &client_left](const boost::system::error_code& ec) {
                                           if (ec || !*w) return;  // the exchange moved on
                                           if (PeekPeer(Lowest(client).socket().native_handle()) == PeerState::kGone) {
                                             client_left = true;
                                             up.cancel();
                                           }
                                         });
    };
    if (request_complete) env.slow_exchange.Begin(watch, kClientWatchAfter);
    const beast::error_code hec = co_await ReadResponseHead(up, ubuf, *rpo, &plain, &plain_head);
    env.slow_exchange.End();
    if (watching) {
      *watching = false;
      boost::system::error_code ignored;
      Lowest(client).socket().cancel(ignored);
    }
    if (client_left) {
      out.status = 499;  // nginx's "client closed request"
      out.responded = true;
      co_return out;
    }
    if (hec && deadline.fired()) {
      out = fail(504, "the instance at " + pr.upstream + " did not answer within " +
                          std::to_string(pr.timeout.count()) + " ms");
      out.client_clean = request_complete;
      co_return out;
    }
    if (hec && reused && replayable && !rpo->got_some() &&
        (hec == http::error::end_of_stream || hec == asio::error::eof || hec == asio::error::connection_reset ||
         hec == asio::error::broken_pipe)) {
      continue;  // the pooled connection was closed before it was used
    }
    if (hec) {
      out = fail(502, "the instance at " + pr.upstream + " closed the connection before a complete response header (" +
                          (write_error.empty() ? hec.message() : "it stopped reading the request: " + write_error) + ")");
      out.client_clean = request_complete;
      co_return out;
    }
    break;
  }
  tcp::socket& up = *upstream;
  http::response_parser<http::buffer_body>& rp = *rpo;
  const auto& ures = rp.get();
  std::vector<std::string> rlisted;  // names the instance's Connection header lists
  auto passed = [&](std::string_view name) {
    if (hop(name)) return false;
    for (const std::string& l : rlisted) {
      if (EqualsIgnoreCase(l, name)) return false;
    }
    return true;
  };

  // The usual answer: no body, or one of a known length that came whole
  // with the header. Its head goes out as one string and the body straight
  // from the read buffer, in one send (no serializer, no copy).
  struct Whole {
    std::string head;
    size_t skip = 0;       // bytes of the instance's head still in ubuf
    size_t body_size = 0;  // then the body's
    unsigned status = 0;
    bool upstream_keep = false;
  };
  std::optional<Whole> whole;
  const bool client_keep_whole = client_keep_alive && !env.stopping.load() && request_complete;
  if (plain_head) {
    const bool bodiless = plain.status == 204 || plain.status == 304;
    if (!head_request && (bodiless || (plain.content_length && ubuf.size() - plain.size >= *plain.content_length))) {
      AppendTokens(plain.connection, &rlisted);
      whole.emplace();
      whole->head = WholeResponseHead(
          client_version, plain.status,
          [&](auto&& emit) {
            for (size_t i = 0; i < plain.count; ++i) emit(plain.fields[i].first, plain.fields[i].second);
          },
          passed, plain.content_length, client_keep_whole);
      whole->skip = plain.size;
      whole->body_size = bodiless ? 0 : static_cast<size_t>(*plain.content_length);
      whole->status = plain.status;
      whole->upstream_keep = plain.keep_alive;
    } else {
      // Not whole: the general parser reads the same head from ubuf.
      beast::error_code pec;
      if (!ParseBufferedHead(rp, ubuf, pec) || pec) {
        out = fail(502, "the instance at " + pr.upstream + " sent a response header that cannot be read (" +
                            (pec ? pec.message() : std::string("incomplete")) + ")");
        out.client_clean = request_complete;
        co_return out;
      }
    }
  }
  if (!whole) {
    for (const auto& f : ures) {
      if (f.name() == http::field::connection) AppendTokens(f.value(), &rlisted);
    }
  }
  // Unless the plain reading passed the answer on whole, the general parser
  // has read the head by now: only then may it be asked about it.
  const auto ulen = whole ? boost::none : rp.content_length();
  if (!whole && !head_request && !rp.chunked() && (rp.is_done() || (ulen && ubuf.size() >= *ulen))) {
    whole.emplace();
    whole->head = WholeResponseHead(
        client_version, ures.result_int(),
        [&](auto&& emit) {
          for (const auto& f : ures) emit(f.name_string(), f.value());
        },
        passed, ulen ? std::optional<uint64_t>(*ulen) : std::nullopt, client_keep_whole);
    whole->body_size = rp.is_done() ? 0 : static_cast<size_t>(*ulen);
    whole->status = ures.result_int();
    whole->upstream_keep = ures.keep_alive();
  }
  if (whole) {
    out.status = static_cast<int>(whole->status);
    out.responded = true;
    const std::array<asio::const_buffer, 2> bytes{
        asio::buffer(whole->head), asio::buffer(static_cast<const char*>(ubuf.data().data()) + whole->skip, whole->body_size)};
    if (co_await WriteTwo(client, bytes, env.opt.idle_timeout)) co_return out;
    ubuf.consume(whole->skip + whole->body_size);
    out.client_clean = client_keep_whole;
    if (whole->upstream_keep && ubuf.size() == 0 && write_error.empty() && request_complete) {
      deadline.Clear();
      env.upstreams.Checkin(pr.upstream, std::move(upstream));
    }
    co_return out;
  }

  // Anything else is streamed chunk by chunk.
  http::response<http::buffer_body> cres;
  cres.version(client_version);
  cres.result(ures.result_int());
  for (const auto& f : ures) {
    if (passed(f.name_string())) cres.insert(f.name_string(), f.value());
  }
  const bool response_body = !rp.is_done();
  if (rp.chunked()) {
    cres.chunked(true);
  } else if (ulen) {
    cres.content_length(*ulen);
  } else if (response_body) {
    // Body until close: pass it on chunked (HTTP/1.1) so the client
    // connection can stay open.
    if (client_version >= 11) cres.chunked(true);
  }
  const bool client_keep = client_keep_alive && !env.stopping.load() && request_complete &&
                           (cres.chunked() || cres.has_content_length() || !response_body);
  cres.keep_alive(client_keep);
  http::response_serializer<http::buffer_body> csr{cres};
  out.status = static_cast<int>(ures.result_int());
  if (head_request || !response_body) {
    // Header only (HEAD keeps the instance's Content-Length).
    cres.body().data = nullptr;
    cres.body().size = 0;
    cres.body().more = false;
    out.responded = true;
    beast::error_code wec;
    if (head_request) {
      Lowest(client).expires_after(env.opt.idle_timeout);
      std::tie(wec, std::ignore) =
          co_await http::async_write_header(client, csr, asio::as_tuple(asio::use_awaitable));
    } else {
      wec = co_await WriteToClient(client, csr, env.opt.idle_timeout);
    }
    if (wec) co_return out;
  }
  // The body, chunk by chunk; the header goes out with the first chunk, so
  // an instance that fails before its first body bytes still gives 502.
  while (!rp.is_done()) {
    rp.get().body().data = chunk.data();
    rp.get().body().size = chunk.size();
    // What came with the header (often the whole body) needs no read.
    beast::error_code rec;
    ParseBuffered(rp, ubuf, rec);
    if (!rec && !rp.is_done() && rp.get().body().size > 0) {
      // The body did not come with the header. Many servers write the two
      // separately without TCP_NODELAY: acknowledging at once (which also
      // sends the acknowledgement pending now) keeps Nagle from holding the
      // body back for our delayed ACK (40 ms).
      int one = 1;
      ::setsockopt(up.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
      deadline.Set(up, pr.timeout);
      std::tie(rec, std::ignore) = co_await http::async_read(up, ubuf, rp, asio::as_tuple(asio::use_awaitable));
    }
    if (rec == http::error::need_buffer) rec = {};
    if (rec) {
      if (!out.responded) {
        out = fail(502, "the instance at " + pr.upstream + " closed the connection in the middle of its response (" +
                            rec.message() + ")");
        out.client_clean = request_complete;
      }
      co_return out;  // after the header was sent: cut, the client connection closes
    }
    size_t got = chunk.size() - rp.get().body().size;
    cres.body().data = got > 0 ? chunk.data() : nullptr;
    cres.body().size = got;
    cres.body().more = !rp.is_done();
    out.responded = true;
    if (beast::error_code wec = co_await WriteToClient(client, csr, env.opt.idle_timeout)) co_return out;
  }
  out.client_clean = client_keep;
  if (ures.keep_alive() && ubuf.size() == 0 && write_error.empty() && request_complete) {
    deadline.Clear();
    env.upstreams.Checkin(pr.upstream, std::move(upstream));
  }
  co_return out;
}


template asio::awaitable<ProxyOutcome> RunProxy<PlainTcp>(const ProxyEnv&, PlainTcp&, beast::flat_buffer&,
                                                          http::request_parser<http::empty_body>&, ProxyRequest&,
                                                          Strand, const ProxyClient&);
template asio::awaitable<ProxyOutcome> RunProxy<PlainUnix>(const ProxyEnv&, PlainUnix&, beast::flat_buffer&,
                                                           http::request_parser<http::empty_body>&, ProxyRequest&,
                                                           Strand, const ProxyClient&);
template asio::awaitable<ProxyOutcome> RunProxy<TlsTcp>(const ProxyEnv&, TlsTcp&, beast::flat_buffer&,
                                                        http::request_parser<http::empty_body>&, ProxyRequest&,
                                                        Strand, const ProxyClient&);

}  // namespace ofn::gateway::internal
