// ActiveConnections in isolation, with explicit times.
#include "http/active_connections.h"

#include <gtest/gtest.h>

namespace clusterlite {
namespace {

using namespace std::chrono_literals;
using Clock = ActiveConnections::Clock;

// A time in period `n` (ActiveConnections::kPeriod long), `offset` into it.
Clock::time_point at(int n, std::chrono::milliseconds offset = 0ms) {
  return Clock::time_point(ActiveConnections::kPeriod * (1000 + n) + offset);
}

TEST(ActiveConnectionsTest, CountsEachConnectionOnceWhileItSendsRequests) {
  ActiveConnections active;
  ActiveConnections::Mark a, b;
  EXPECT_EQ(active.active(at(0)), 0);
  active.request(a, at(0));
  active.request(a, at(0, 10ms));
  active.request(b, at(0, 20ms));
  EXPECT_EQ(active.active(at(0, 30ms)), 2);
  // Still counted in the next period, and moved along by a new request there.
  active.request(a, at(1));
  active.request(a, at(1, 500ms));
  EXPECT_EQ(active.active(at(1, 600ms)), 2);
  active.request(b, at(2));
  active.request(a, at(2, 100ms));
  EXPECT_EQ(active.active(at(2, 200ms)), 2);
}

TEST(ActiveConnectionsTest, AnIdleConnectionDropsOutAfterTheNextPeriod) {
  ActiveConnections active;
  ActiveConnections::Mark busy, idle;
  active.request(busy, at(0));
  active.request(idle, at(0));
  active.request(busy, at(1));
  EXPECT_EQ(active.active(at(1)), 2);  // idle's request was in the previous period
  active.request(busy, at(2));
  EXPECT_EQ(active.active(at(2)), 1);
  // Back after a pause of several periods: counted again, once.
  active.request(idle, at(7));
  active.request(idle, at(7, 1ms));
  EXPECT_EQ(active.active(at(7, 2ms)), 1);  // busy went quiet too
}

TEST(ActiveConnectionsTest, AClosedConnectionIsNoLongerCounted) {
  ActiveConnections active;
  ActiveConnections::Mark a, b, c, never;
  active.request(a, at(0));
  active.request(b, at(0));
  active.request(c, at(1));
  active.closed(a, at(1));      // last seen in the previous period
  active.closed(c, at(1));      // last seen in this one
  active.closed(never, at(1));  // closed without a request: was never counted
  EXPECT_EQ(active.active(at(1)), 1);
  active.closed(b, at(5));  // long idle: already dropped out
  EXPECT_EQ(active.active(at(5)), 0);
}

}  // namespace
}  // namespace clusterlite
