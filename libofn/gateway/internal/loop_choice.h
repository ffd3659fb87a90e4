// Which event loop a new connection joins. Private to gateway/ (no Asio).
//
// A connection stays on the loop it joins, and serving it on a loop that is
// already awake costs no thread wake-up. So new connections fill the first
// loop that has room before the next one gets any: a loop has room while
// one of its threads is not held inside a function call, its threads used
// under half a core over the monitor's last look, and it took fewer than
// kTakenPerLook connections since that look (a burst of connections is not
// all packed onto a loop whose load the monitor has not seen yet). When no
// loop has room, the connection goes where the fewest are open, among the
// loops with a thread not held if there are any.
//
// Connections made while the server was idle may later keep a loop busier
// than one core can serve while another loop has room and the machine has
// a core idle: such a loop hands some of its connections, between two of
// their requests, to loops with room (ToGive). (Without an idle core, a
// second busy thread only takes turns with the first and with whatever
// else runs.) So does a loop one of whose threads is held inside a call
// (its other connections are served by a spare thread meanwhile).
//
// This is how a busy nginx spreads its connections (the first idle worker
// accepts), and it matters when the machine is small: two loops serving
// eight connections each both need a core, one loop serving sixteen leaves
// the other core to the rest of the machine.
#ifndef LIBOFN_GATEWAY_INTERNAL_LOOP_CHOICE_H_
#define LIBOFN_GATEWAY_INTERNAL_LOOP_CHOICE_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

namespace ofn::gateway::internal {

struct LoopLoad {
  int free_threads = 1;   // its threads not held inside a call
  int busy_permille = 0;  // the CPU its threads used, per mille of one core
  uint32_t taken = 0;     // connections it took since the monitor's last look
  size_t connections = 0; // open on it now
  int threads = 1;        // its threads, spares included
};

inline constexpr int kRoomPermille = 500;
inline constexpr uint32_t kTakenPerLook = 64;
inline constexpr int kFullPermille = 900;

inline bool HasRoom(const LoopLoad& l) {
  return l.free_threads > 0 && l.busy_permille < kRoomPermille && l.taken < kTakenPerLook;
}

// `load(i)` gives loop i's LoopLoad, for i < n (n > 0).
template <class LoadOf>
size_t ChooseLoop(size_t n, LoadOf load) {
  size_t best = 0;
  bool best_free = false;
  size_t best_connections = std::numeric_limits<size_t>::max();
  for (size_t i = 0; i < n; ++i) {
    const LoopLoad l = load(i);
    if (HasRoom(l)) return i;
    const bool free = l.free_threads > 0;
    if ((free && !best_free) || (free == best_free && l.connections < best_connections)) {
      best = i;
      best_free = free;
      best_connections = l.connections;
    }
  }
  return best;
}

// The first loop other than `except` that has room; n when none has.
template <class LoadOf>
size_t FirstWithRoom(size_t n, size_t except, LoadOf load) {
  for (size_t i = 0; i < n; ++i) {
    if (i != except && HasRoom(load(i))) return i;
  }
  return n;
}

// How many connections a loop may hand over until the next look: a quarter
// of its own (at least one) when it is nearly a core busy while the machine
// has a core idle, or a thread of it is held; and it has more than one, and
// another loop has room.
inline int ToGive(const LoopLoad& l, bool room_elsewhere, bool idle_core) {
  const bool strained = (l.busy_permille >= kFullPermille && idle_core) || l.free_threads < l.threads;
  if (!strained || !room_elsewhere || l.connections < 2) return 0;
  return static_cast<int>(std::max<size_t>(1, l.connections / 4));
}

// The machine's CPU time, idle and in all, in clock ticks, from the first
// line of /proc/stat ("cpu  user nice system idle iowait irq softirq
// steal ..."): idle counts idle and iowait; all counts the eight fields.
// False when the text does not start so.
inline bool ParseCpuTimes(std::string_view stat, uint64_t* idle, uint64_t* all) {
  if (stat.substr(0, 4) != "cpu ") return false;
  stat.remove_prefix(4);
  uint64_t field[8] = {};
  for (uint64_t& f : field) {
    while (!stat.empty() && stat.front() == ' ') stat.remove_prefix(1);
    if (stat.empty() || stat.front() < '0' || stat.front() > '9') return false;
    while (!stat.empty() && stat.front() >= '0' && stat.front() <= '9') {
      f = f * 10 + static_cast<uint64_t>(stat.front() - '0');
      stat.remove_prefix(1);
    }
  }
  *idle = field[3] + field[4];
  *all = 0;
  for (uint64_t f : field) *all += f;
  return true;
}

}  // namespace ofn::gateway::internal

#endif  // LIBOFN_GATEWAY_INTERNAL_LOOP_CHOICE_H_
