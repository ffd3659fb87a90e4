// A socket read that ends the reactor's guessing once the socket is known
// to be drained.
//
// Asio's epoll reactor tries a read at once when it is started and only
// waits for readiness when that attempt finds nothing. A keep-alive
// connection's next request never is there yet right after the answer was
// sent (nor an instance's answer right after the request went out), so
// every request paid a recv() that returned EAGAIN. With edge-triggered
// epoll (as Asio registers sockets) a socket whose receive queue a read
// emptied raises a new edge for any later byte or end of stream: the next
// read can wait for that edge without trying first.
//
// Whether the read emptied the queue comes from the kernel: a TCP socket
// with TCP_INQ set (ReportUnreadBytes) returns, with each recvmsg(), the
// bytes still unread, and counts an end of stream already received but not
// yet read as one (so a request and the client's FIN that arrived together
// are not taken for a drained socket). A read of a DrainingBuffer that left
// nothing reports the socket exhausted (reactor_op::done_and_exhausted,
// which Asio itself only reports at end of stream): the reactor queues the
// socket's next read for the next readiness event instead of attempting it.
// An event that arrives in between re-enables the attempt (the reactor sets
// it again on every event). Without the hint (a unix socket, TCP_INQ not
// set) the read behaves as Asio's own.
//
// Left as it is: a connection reset that arrives together with the last
// bytes before them is not in the hint; the next read then waits for the
// timeout its caller set (the header, idle or response timeout).
//
// Only the reactor's receive operation for this buffer type changes: Asio's
// own reads, TLS and Beast's reads on the same socket behave as before
// (after an exhausted read they too wait for the next event).
// Private to gateway/.
#ifndef LIBOFN_GATEWAY_INTERNAL_DRAINING_READ_H_
#define LIBOFN_GATEWAY_INTERNAL_DRAINING_READ_H_

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <cerrno>
#include <cstddef>
#include <cstring>

#if !defined(BOOST_ASIO_HAS_EPOLL) || defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#error "draining_read.h relies on Asio's edge-triggered epoll reactor"
#endif

namespace ofn::gateway::internal {

// One mutable buffer, as a buffer sequence of its own type.
class DrainingBuffer {
 public:
  using value_type = boost::asio::mutable_buffer;
  using const_iterator = const boost::asio::mutable_buffer*;

  explicit DrainingBuffer(boost::asio::mutable_buffer b) : b_(b) {}
  const boost::asio::mutable_buffer* begin() const { return &b_; }
  const boost::asio::mutable_buffer* end() const { return &b_ + 1; }

 private:
  boost::asio::mutable_buffer b_;
};

// Asks the kernel to report the unread bytes with each read of `fd` (a TCP
// socket; false when it cannot). One system call per connection.
inline bool ReportUnreadBytes(int fd) {
  int one = 1;
  return ::setsockopt(fd, IPPROTO_TCP, TCP_INQ, &one, sizeof(one)) == 0;
}

}  // namespace ofn::gateway::internal

namespace boost::asio::detail {

// The reactor's receive operation for a DrainingBuffer: a non-blocking
// recvmsg() into the one buffer, reporting the socket exhausted at end of
// stream (as Asio does) and when the kernel says nothing is left unread.
template <>
class reactive_socket_recv_op_base<ofn::gateway::internal::DrainingBuffer> : public reactor_op {
 public:
  reactive_socket_recv_op_base(const boost::system::error_code& success_ec, socket_type socket,
                               socket_ops::state_type state, const ofn::gateway::internal::DrainingBuffer& buffers,
                               socket_base::message_flags flags, func_type complete_func)
      : reactor_op(success_ec, &reactive_socket_recv_op_base::do_perform, complete_func),
        socket_(socket),
        state_(state),
        buffer_(*buffers.begin()),
        flags_(flags) {}

  static status do_perform(reactor_op* base) {
    auto* o = static_cast<reactive_socket_recv_op_base*>(base);
    const bool stream = (o->state_ & socket_ops::stream_oriented) != 0;
    o->bytes_transferred_ = 0;
    if (stream && o->buffer_.size() == 0) {
      o->ec_ = boost::system::error_code();
      return done;
    }
    iovec iov{o->buffer_.data(), o->buffer_.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n;
    do {
      n = ::recvmsg(o->socket_, &msg, o->flags_);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;
      o->ec_ = boost::system::error_code(errno, boost::asio::error::get_system_category());
      return done;
    }
    o->ec_ = boost::system::error_code();
    o->bytes_transferred_ = static_cast<size_t>(n);
    if (stream && n == 0) {
      o->ec_ = boost::asio::error::eof;
      return done_and_exhausted;
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == IPPROTO_TCP && c->cmsg_type == TCP_CM_INQ) {
        int unread = 0;
        std::memcpy(&unread, CMSG_DATA(c), sizeof(unread));
        return unread == 0 ? done_and_exhausted : done;
      }
    }
    return done;
  }

 private:
  socket_type socket_;
  socket_ops::state_type state_;
  boost::asio::mutable_buffer buffer_;
  socket_base::message_flags flags_;
};

}  // namespace boost::asio::detail

#endif  // LIBOFN_GATEWAY_INTERNAL_DRAINING_READ_H_
