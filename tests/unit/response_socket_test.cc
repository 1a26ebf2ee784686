// ResponseSocket on a real socket pair, isolated from Pistache: `queue` is a
// function of the test that collects what would go to Pistache's queue.
#include "http/response_socket.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

using clusterlite::ResponseSocket;

namespace {

struct SocketPair {
  int server = -1;  // the node's end
  int client = -1;
  SocketPair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) throw std::runtime_error("socketpair");
    server = fds[0];
    client = fds[1];
  }
  ~SocketPair() {
    if (server >= 0) ::close(server);
    if (client >= 0) ::close(client);
  }
  // Everything the client can read now, without blocking.
  std::string read_available() const {
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(client, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }
};

std::string pattern(size_t size) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + (i * 7919) % 26);
  return s;
}

TEST(ResponseSocketTest, AResponseTheSocketTakesGoesStraightThrough) {
  SocketPair p;
  ResponseSocket socket(p.server);
  std::string queued;
  auto queue = [&](std::string_view rest) { queued.append(rest); };
  socket.send("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}", queue);
  EXPECT_EQ(p.read_available(), "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_TRUE(queued.empty());
  EXPECT_TRUE(socket.direct());
}

TEST(ResponseSocketTest, WhatAFullSocketDoesNotTakeIsQueuedAndLaterResponsesFollowIt) {
  SocketPair p;
  int small = 4096;
  ASSERT_EQ(::setsockopt(p.server, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  ResponseSocket socket(p.server);
  std::string queued;
  int queue_calls = 0;
  auto queue = [&](std::string_view rest) {
    queued.append(rest);
    ++queue_calls;
  };
  const std::string big = pattern(4 * 1024 * 1024);
  socket.send(big, queue);
  ASSERT_EQ(queue_calls, 1);
  ASSERT_FALSE(queued.empty());
  ASSERT_LT(queued.size(), big.size()) << "some of it should have gone straight through";
  EXPECT_FALSE(socket.direct());
  // What the client read, then what was queued, is the response unchanged.
  std::string got = p.read_available();
  EXPECT_EQ(got.size() + queued.size(), big.size());
  EXPECT_TRUE(got + queued == big);
  // The socket has room again, yet the next response goes behind the queued rest.
  socket.send("next", queue);
  EXPECT_EQ(queue_calls, 2);
  EXPECT_EQ(queued.substr(queued.size() - 4), "next");
  EXPECT_TRUE(p.read_available().empty());
}

TEST(ResponseSocketTest, AResponseToAClientThatIsGoneIsDropped) {
  SocketPair p;
  ResponseSocket socket(p.server);
  ::close(p.client);
  p.client = -1;
  int queue_calls = 0;
  socket.send("HTTP/1.1 200 OK\r\n\r\n", [&](std::string_view) { ++queue_calls; });  // no SIGPIPE either
  EXPECT_EQ(queue_calls, 0);
}

TEST(ResponseSocketTest, ItWritesToItsOwnSocketAfterTheOriginalDescriptorIsClosedAndReused) {
  SocketPair first;
  int number = first.server;
  ResponseSocket socket(first.server);
  // Pistache closes its descriptor; the next socket opened gets the number.
  ::close(first.server);
  first.server = -1;
  SocketPair second;
  ASSERT_EQ(second.server, number) << "the kernel hands out the lowest free number";
  std::string queued;
  socket.send("for the first client", [&](std::string_view rest) { queued.append(rest); });
  EXPECT_TRUE(queued.empty());
  EXPECT_EQ(first.read_available(), "for the first client");
  EXPECT_TRUE(second.read_available().empty()) << "the response reached another connection";
}

TEST(ResponseSocketTest, WithoutADuplicateEveryResponseIsQueued) {
  ResponseSocket socket(-1);  // fcntl fails as it would with no descriptors left
  EXPECT_FALSE(socket.direct());
  std::string queued;
  socket.send("whole", [&](std::string_view rest) { queued.append(rest); });
  EXPECT_EQ(queued, "whole");
}

}  // namespace
