// UpstreamPool over socketpairs on the manual clock: reuse, a peer that
// closed, staleness, the per-address cap.
#include "libofn/gateway/upstream_pool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ofn::gateway {
namespace {

using std::chrono::seconds;

// Whether `fd` is an open descriptor.
bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

struct Pair {
  int ours = -1, peer = -1;
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    ours = fds[0];
    peer = fds[1];
  }
  ~Pair() {
    if (peer >= 0) ::close(peer);
  }
};

TEST(UpstreamPoolTest, HandsBackALiveConnectionNewestFirst) {
  ManualClock clock;
  UpstreamPool pool(4, seconds(30), &clock);
  Pair a, b;
  pool.Checkin("u:1", a.ours);
  pool.Checkin("u:1", b.ours);
  EXPECT_EQ(pool.idle("u:1"), 2u);
  EXPECT_EQ(pool.Checkout("u:2"), -1);
  EXPECT_EQ(pool.Checkout("u:1"), b.ours);
  EXPECT_EQ(pool.Checkout("u:1"), a.ours);
  EXPECT_EQ(pool.Checkout("u:1"), -1);
  ::close(a.ours);
  ::close(b.ours);
}

TEST(UpstreamPoolTest, AConnectionItsPeerClosedOrThatSentBytesIsDropped) {
  ManualClock clock;
  UpstreamPool pool(4, seconds(30), &clock);
  Pair closed, chatty;
  pool.Checkin("u:1", chatty.ours);
  pool.Checkin("u:1", closed.ours);
  ::close(closed.peer);
  closed.peer = -1;
  ASSERT_EQ(::write(chatty.peer, "x", 1), 1);  // an unread byte: not a clean keep-alive
  EXPECT_EQ(pool.Checkout("u:1"), -1);
  EXPECT_FALSE(IsOpen(closed.ours));
  EXPECT_FALSE(IsOpen(chatty.ours));
}

TEST(UpstreamPoolTest, StaleConnectionsAreClosedAndTheCapDropsTheOldest) {
  ManualClock clock;
  UpstreamPool pool(2, seconds(30), &clock);
  Pair a, b, c;
  pool.Checkin("u:1", a.ours);
  clock.Advance(seconds(1));
  pool.Checkin("u:1", b.ours);
  pool.Checkin("u:1", c.ours);  // over the cap of 2: the oldest (a) goes
  EXPECT_FALSE(IsOpen(a.ours));
  EXPECT_EQ(pool.idle("u:1"), 2u);
  clock.Advance(seconds(30));
  EXPECT_EQ(pool.Checkout("u:1"), -1);  // both idle for 30 s
  EXPECT_FALSE(IsOpen(b.ours));
  EXPECT_FALSE(IsOpen(c.ours));
  UpstreamPool none(0, seconds(30), &clock);
  Pair d;
  none.Checkin("u:1", d.ours);
  EXPECT_FALSE(IsOpen(d.ours));
}

}  // namespace
}  // namespace ofn::gateway
