// A socket read that ends the reactor's guessing once a read came up short.
//
// Asio's epoll reactor tries a read at once when it is started and only
// waits for readiness when that attempt finds nothing. A keep-alive
// connection's next request never is there yet right after the answer was
// sent, so every request paid a recv() that returned EAGAIN. With
// edge-triggered epoll (as Asio registers sockets) a stream read that
// returned less than it asked for took everything the socket held, and any
// later byte raises a new edge: the next read can wait for that edge
// without trying first. A read of a DrainingBuffer says so to the reactor
// (reactor_op::done_and_exhausted, which Asio itself only reports at end of
// stream): its next read on the socket is queued for the next readiness
// event instead of attempted. An event that arrives before that read is
// started re-enables the attempt (the reactor sets it again on every
// event), so no byte is waited for in vain.
//
// Only the reactor's receive operation for this buffer type changes: Asio's
// own reads, TLS and Beast's reads on the same socket behave as before.
// Private to gateway/.
#ifndef LIBOFN_GATEWAY_INTERNAL_DRAINING_READ_H_
#define LIBOFN_GATEWAY_INTERNAL_DRAINING_READ_H_

#include <boost/asio.hpp>
#include <cstddef>

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

}  // namespace ofn::gateway::internal

namespace boost::asio::detail {

// The reactor's receive operation for a DrainingBuffer: Asio's own (a
// non-blocking recv into the one buffer), but a short read, as well as the
// end of the stream, reports the socket exhausted.
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
    if (!socket_ops::non_blocking_recv1(o->socket_, o->buffer_.data(), o->buffer_.size(), o->flags_, stream, o->ec_,
                                        o->bytes_transferred_)) {
      return not_done;
    }
    const size_t n = o->bytes_transferred_;
    return stream && (n == 0 || n < o->buffer_.size()) ? done_and_exhausted : done;
  }

 private:
  socket_type socket_;
  socket_ops::state_type state_;
  boost::asio::mutable_buffer buffer_;
  socket_base::message_flags flags_;
};

}  // namespace boost::asio::detail

#endif  // LIBOFN_GATEWAY_INTERNAL_DRAINING_READ_H_
