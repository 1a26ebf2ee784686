// ConnectionGuard and ClientConnection: what a client connection may hold.
//
// A node takes at most http.max_connections client connections at once and
// refuses more at the door (503), so clients cannot exhaust its descriptors.
// Each connection is timed from the first byte of a request: its headers must
// arrive within http.header_timeout_ms and its body within
// http.body_timeout_ms after them, else it is answered 408 and closed; a
// connection idle between requests is closed after
// http.keepalive_timeout_ms. A new connection counts as a request begun: it
// must send its headers in time. A connection waiting for its answer is never
// timed out here (the node's write and strong-read bounds apply to that).
//
// Pistache 0.0.5 times a request from the end of the previous one, gives a
// request that starts on a kept-alive connection the keep-alive timeout, and
// answers 408 to a request whose answer is still being made, so the node
// serves through its own transport (GuardedTransport, which tells each
// ClientConnection when bytes arrive) and this guard decides, on a thread of
// its own that checks every connection a few times a second.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>

#include "http/active_connections.h"
#include "http/response_socket.h"

namespace clusterlite {

struct ConnectionLimits {
  std::chrono::milliseconds header_timeout{5000};
  std::chrono::milliseconds body_timeout{10000};
  std::chrono::milliseconds keepalive_timeout{75000};
  int max_connections = 4096;
};

// The most client connections, up to `wanted`, that the process's descriptor
// limit holds at two descriptors each beside `reserved` others. Raises the
// soft limit towards the hard one first when it is too low; when it returns
// less than `wanted`, `note` says why.
int fit_to_descriptor_limit(int wanted, int reserved, std::string& note);

class ClientConnection;

class ConnectionGuard {
 public:
  using Clock = std::chrono::steady_clock;
  // The whole response (status line to body) sent before closing a
  // connection whose request timed out, for a status and a detail.
  using Answer = std::function<std::string(int status, const std::string& detail)>;

  ConnectionGuard(ConnectionLimits limits, Answer answer);
  ~ConnectionGuard();
  ConnectionGuard(const ConnectionGuard&) = delete;
  ConnectionGuard& operator=(const ConnectionGuard&) = delete;

  // Starts and stops the thread that checks the connections.
  void start();
  void stop();

  // Takes a slot for a new connection: false, counted as refused, when
  // max_connections are open. A ClientConnection made after a true answer
  // gives the slot back when it goes.
  bool admit();

  // Checks every connection now (the guard's thread calls it periodically).
  void sweep(Clock::time_point now);

  struct Counts {
    uint64_t open = 0;              // connections holding a slot
    uint64_t refused = 0;           // refused at max_connections
    uint64_t header_timeouts = 0;   // closed: headers not complete in time
    uint64_t body_timeouts = 0;     // closed: body not complete in time
    uint64_t idle_closed = 0;       // closed: idle past the keep-alive timeout
  };
  Counts counts() const;
  const ConnectionLimits& limits() const { return limits_; }

 private:
  friend class ClientConnection;
  void add(ClientConnection* c);
  void remove(ClientConnection* c);  // and gives its slot back

  const ConnectionLimits limits_;
  const Answer answer_;
  std::atomic<int> open_{0};
  std::atomic<uint64_t> refused_{0}, header_timeouts_{0}, body_timeouts_{0}, idle_closed_{0};

  std::mutex mutex_;  // guards connections_; held while a sweep looks at them
  std::unordered_set<ClientConnection*> connections_;

  std::mutex thread_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

// What ClusterLite keeps with each admitted client connection, in its
// Pistache peer's data (so it goes when the connection closes and no answer
// in the making holds it): its slot in the guard, its timing, its entry in
// ActiveConnections, and the socket that answers made on other threads are
// written to.
class ClientConnection {
 public:
  using Clock = ConnectionGuard::Clock;

  // Takes over a slot that `guard` admitted.
  ClientConnection(std::shared_ptr<ConnectionGuard> guard, std::shared_ptr<ActiveConnections> active, int fd,
                   Clock::time_point now);
  ~ClientConnection();
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  // The reactor thread, as bytes of a request arrive, and after Pistache
  // parsed them: `in_request` (part of a request is held), `in_body` (its
  // headers are complete).
  void input(Clock::time_point now);
  void parsed(bool in_request, bool in_body, Clock::time_point now);
  // The reactor thread: a whole request was taken and goes to the router.
  void request_taken(Clock::time_point now);
  // Any thread: a request taken was answered.
  void answered(Clock::time_point now);

  ResponseSocket& socket() { return socket_; }

  // The reactor thread's own note of the request being received: the bytes
  // that arrived since it started, the size of its head when its first read
  // held the whole head (else 0), and the ClusterLite-Position value read
  // from that head before Pistache parsed it (request_head.h).
  struct Receiving {
    size_t received = 0;
    size_t head = 0;
    bool has_position = false;
    std::string position;  // its capacity is kept from request to request
    std::optional<std::string_view> lifted_position() const {
      if (!has_position) return std::nullopt;
      return position;
    }
    void clear() {
      received = head = 0;
      has_position = false;
    }
  };
  Receiving& receiving() { return receiving_; }

 private:
  friend class ConnectionGuard;
  static int64_t ticks(Clock::time_point t) { return t.time_since_epoch().count(); }

  std::shared_ptr<ConnectionGuard> guard_;
  std::shared_ptr<ActiveConnections> active_;
  ActiveConnections::Mark mark_;
  ResponseSocket socket_;
  std::atomic<int> in_flight_{0};         // requests taken and not yet answered
  std::atomic<int64_t> request_since_{0};  // first byte of the request being received; 0: none
  std::atomic<int64_t> body_since_{0};     // its headers were complete; 0: not yet
  std::atomic<int64_t> idle_since_{0};     // the latest answer (or the connection's start)
  std::atomic<bool> received_{false};      // a byte of the current request arrived
  std::atomic<bool> closing_{false};       // the guard closed it
  Receiving receiving_;                    // the reactor thread's alone
};

}  // namespace clusterlite
