// ResponseSocket: a client connection's own duplicate of its socket
// descriptor, through which any thread writes whole HTTP responses.
//
// Pistache 0.0.5 queues every response for the connection's reactor thread:
// an eventfd write, then in the reactor a wake-up, two eventfd reads, two
// epoll_ctl calls and the send. A write's answer is ready on the applier or on
// cl-completions, so each one cost a hand-over to the reactor; through this
// socket it costs one send() on the thread that has it (docs/design.md, "An
// answer").
//
// The duplicate keeps the socket itself open: once Pistache closes its own
// descriptor, the number may be given to another connection, while this one
// still names the socket the response belongs to. It closes with the object.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>

namespace clusterlite {

// Writes `last_words` to socket `fd` as far as it takes them without
// blocking, then shuts the socket down both ways, so Pistache's reactor sees
// the end and closes its descriptor.
void close_socket(int fd, std::string_view last_words);

class ResponseSocket {
 public:
  // Duplicates `fd`; when that fails (no descriptors left), every send() goes
  // to its `queue`.
  explicit ResponseSocket(int fd);
  ~ResponseSocket();
  ResponseSocket(const ResponseSocket&) = delete;
  ResponseSocket& operator=(const ResponseSocket&) = delete;

  // Writes `response` as far as the socket takes it without blocking, and
  // hands what is left to `queue` (Pistache's queue of the connection), still
  // in order: from then on every later response of this socket goes to its
  // `queue` whole, so none can overtake it. Nothing is queued when the client
  // is gone (the connection was reset or closed).
  void send(std::string_view response, const std::function<void(std::string_view rest)>& queue);

  // Writes as much of `data` as the socket takes without blocking and never
  // queues: the number of bytes taken (0 when its buffer is full), or -1 when
  // the client is gone (or answers were queued: the socket is not this
  // caller's to write to). For streamed answers, which keep their own backlog.
  long try_send(std::string_view data);

  // Bounds the kernel's send buffer of the socket (a stream keeps its own
  // backlog instead, which it can bound and count).
  void limit_send_buffer(int bytes);
  // Writes a response too large to hold in memory: `head` (status line and
  // headers), then `length` bytes of the file `file_fd` from its start. Waits
  // while the socket is full, but gives up once the client took nothing for
  // `stall`, or when `cancelled()` says so (checked at least once a second).
  // Blocks the calling thread: never a reactor's. Only when direct() (no
  // response of this socket is queued). Returns false when the response
  // could not be written whole: the client went away, stalled, or it was
  // cancelled; the caller then closes the connection.
  bool send_file(std::string_view head, int file_fd, uint64_t length, std::chrono::milliseconds stall,
                 const std::function<bool()>& cancelled);

  // False when the descriptor could not be duplicated (no descriptors left).
  bool owns_descriptor() const { return fd_ >= 0; }

  // False once a response had to be queued (or the descriptor could not be
  // duplicated).
  bool direct() const;

  // Ends the connection: writes `last_words` (a final answer, or nothing) as
  // far as the socket takes it, then shuts the socket down both ways, so
  // Pistache's reactor sees the end and closes its side. False when the
  // descriptor could not be duplicated (nothing was done).
  bool close(std::string_view last_words);

 private:
  const int fd_;
  mutable std::mutex mutex_;
  bool queued_ = false;
};

}  // namespace clusterlite
