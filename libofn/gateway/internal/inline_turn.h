// An I/O thread of the gateway lends itself to the function it dispatches
// to. HttpServer opens a turn around each handler call; the first hop of
// that call to a function's executor may then run at once on the I/O thread
// (RevisionPool does so for a function whose calls have proved short)
// instead of waking a worker and being woken back: two thread switches less
// per request. Platform::Invoke opens one too (its caller waits). One turn
// per handler call: work launched from inside the call (a queued request, a
// job) goes to the executor as before.
//
// A call that turns out long holds one I/O thread: the others go on serving
// (they share one io_context), and when all of them are held, HttpServer
// adds spare I/O threads until they are free again.
#ifndef LIBOFN_GATEWAY_INTERNAL_INLINE_TURN_H_
#define LIBOFN_GATEWAY_INTERNAL_INLINE_TURN_H_

namespace ofn::gateway::internal {

inline thread_local bool inline_turn = false;

class InlineTurn {
 public:
  // A turn opened inside another (a function that invokes one) leaves the
  // outer turn as it found it.
  InlineTurn() : outer_(inline_turn) { inline_turn = true; }
  ~InlineTurn() { inline_turn = outer_; }
  InlineTurn(const InlineTurn&) = delete;
  InlineTurn& operator=(const InlineTurn&) = delete;

 private:
  bool outer_;
};

// True once per turn, on the thread that holds it.
inline bool TakeInlineTurn() {
  if (!inline_turn) return false;
  inline_turn = false;
  return true;
}

}  // namespace ofn::gateway::internal

#endif  // LIBOFN_GATEWAY_INTERNAL_INLINE_TURN_H_
