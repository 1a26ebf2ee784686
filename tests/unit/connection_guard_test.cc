// ConnectionGuard and ClientConnection on socket pairs (no server): the
// connection cap, and which connections a sweep closes, with what answer.
#include "http/connection_guard.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

using namespace clusterlite;
using namespace std::chrono_literals;
using Clock = ConnectionGuard::Clock;

namespace {

ConnectionLimits limits() {
  ConnectionLimits l;
  l.header_timeout = 1000ms;
  l.body_timeout = 2000ms;
  l.keepalive_timeout = 5000ms;
  l.max_connections = 3;
  return l;
}

std::shared_ptr<ConnectionGuard> make_guard() {
  return std::make_shared<ConnectionGuard>(limits(), [](int status, const std::string& detail) {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(detail.size()) +
           "\r\n\r\n" + detail;
  });
}

// One end is the node's (given to a ClientConnection), the other the client's.
struct Pair {
  Pair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0); }
  ~Pair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  int node() const { return fds[0]; }
  // What the client end reads without waiting: the bytes, then "<EOF>" if closed.
  std::string client_reads() const {
    std::string out;
    char buf[512];
    for (;;) {
      ssize_t n = ::recv(fds[1], buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) out += "<EOF>";
      return out;
    }
  }
  int fds[2] = {-1, -1};
};

// A guard with limits(), and connections to it admitted at a given time.
class ConnectionGuardTest : public ::testing::Test {
 protected:
  std::unique_ptr<ClientConnection> connect(const Pair& pair, Clock::time_point at) {
    EXPECT_TRUE(guard->admit());
    return std::make_unique<ClientConnection>(guard, active, pair.node(), at);
  }

  std::shared_ptr<ConnectionGuard> guard = make_guard();
  std::shared_ptr<ActiveConnections> active = std::make_shared<ActiveConnections>();
};

}  // namespace

TEST_F(ConnectionGuardTest, AdmitsUpToTheCapAndCountsTheRefused) {
  Pair a, b, c;
  auto now = Clock::now();
  auto ca = connect(a, now);
  auto cb = connect(b, now);
  auto cc = connect(c, now);
  EXPECT_FALSE(guard->admit());
  EXPECT_FALSE(guard->admit());
  EXPECT_EQ(guard->counts().open, 3u);
  EXPECT_EQ(guard->counts().refused, 2u);
  cb.reset();  // a connection that goes gives its slot back
  EXPECT_EQ(guard->counts().open, 2u);
  EXPECT_TRUE(guard->admit());
}

TEST_F(ConnectionGuardTest, HeadersThatDoNotArriveInTimeAre408) {
  Pair silent, slow;
  auto t0 = Clock::now();
  auto quiet = connect(silent, t0);  // connected, sent nothing
  auto talker = connect(slow, t0);
  talker->input(t0 + 500ms);  // part of a request
  guard->sweep(t0 + 900ms);
  EXPECT_EQ(silent.client_reads(), "");
  EXPECT_EQ(slow.client_reads(), "");
  guard->sweep(t0 + 1100ms);
  EXPECT_EQ(silent.client_reads(), "<EOF>");  // nothing was asked: nothing is answered
  std::string answer = slow.client_reads();
  EXPECT_EQ(answer.rfind("HTTP/1.1 408", 0), 0u) << answer;
  EXPECT_NE(answer.find("headers did not arrive within 1000 ms"), std::string::npos) << answer;
  EXPECT_NE(answer.find("<EOF>"), std::string::npos) << answer;
  EXPECT_EQ(guard->counts().header_timeouts, 2u);
}

TEST_F(ConnectionGuardTest, ABodyGetsItsOwnBoundAfterTheHeaders) {
  Pair p;
  auto t0 = Clock::now();
  auto c = connect(p, t0);
  c->input(t0);
  c->parsed(true, true, t0 + 100ms);  // headers complete, body under way
  guard->sweep(t0 + 1500ms);         // past the header bound, within the body's
  EXPECT_EQ(p.client_reads(), "");
  guard->sweep(t0 + 2200ms);
  std::string answer = p.client_reads();
  EXPECT_NE(answer.find("body did not arrive within 2000 ms"), std::string::npos) << answer;
  EXPECT_EQ(guard->counts().body_timeouts, 1u);
}

TEST_F(ConnectionGuardTest, ARequestBeingAnsweredIsNeverTimedOut) {
  Pair p;
  auto t0 = Clock::now();
  auto c = connect(p, t0);
  c->input(t0);
  c->request_taken(t0 + 10ms);
  guard->sweep(t0 + 60s);  // a write waiting for its apply, a long strong read
  EXPECT_EQ(p.client_reads(), "");
  c->answered(t0 + 60s);
  guard->sweep(t0 + 64s);  // now idle, within the keep-alive bound
  EXPECT_EQ(p.client_reads(), "");
  c->input(t0 + 64s);       // the next request starts: the header bound applies, not keep-alive
  guard->sweep(t0 + 65500ms);
  EXPECT_EQ(p.client_reads().rfind("HTTP/1.1 408", 0), 0u);
}

TEST_F(ConnectionGuardTest, AnIdleConnectionIsClosedAfterTheKeepAliveBound) {
  Pair p;
  auto t0 = Clock::now();
  auto c = connect(p, t0);
  c->input(t0);
  c->request_taken(t0);
  c->answered(t0 + 1ms);
  guard->sweep(t0 + 4900ms);
  EXPECT_EQ(p.client_reads(), "");
  guard->sweep(t0 + 5100ms);
  EXPECT_EQ(p.client_reads(), "<EOF>");
  EXPECT_EQ(guard->counts().idle_closed, 1u);
  EXPECT_EQ(guard->counts().header_timeouts, 0u);
}

TEST(ConnectionGuardThreadTest, TheThreadSweepsOnItsOwn) {
  ConnectionLimits l = limits();
  l.header_timeout = 100ms;
  auto guard = std::make_shared<ConnectionGuard>(l, [](int, const std::string&) { return std::string("408"); });
  auto active = std::make_shared<ActiveConnections>();
  Pair p;
  ASSERT_TRUE(guard->admit());
  ClientConnection c(guard, active, p.node(), Clock::now());
  c.input(Clock::now());
  guard->start();
  auto deadline = Clock::now() + 5s;
  while (guard->counts().header_timeouts == 0 && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  guard->stop();
  EXPECT_EQ(guard->counts().header_timeouts, 1u);
  EXPECT_EQ(p.client_reads(), "408<EOF>");
}
