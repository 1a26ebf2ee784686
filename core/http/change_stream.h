// ChangeStream: GET /_changes, the node's applied changes as Server-Sent
// Events (docs/design.md, "The change stream").
//
// The applier publishes every change it applied (table, operation, the
// event's data and id, its place in the log) into a bounded buffer of the
// latest changes.buffer_events, whether or not anyone listens, so a client
// that lost its connection resumes where it was. Each subscriber has a
// position in the log (per partition, the offset after the last change it
// was given); its stream's `id:` fields carry it as a position token, which
// `Last-Event-ID` (or `?after=`) brings back. A resumed stream gives every
// buffered change at or past that position, in the order this node applied
// them: no gap and no repeat. When the buffer no longer holds what follows
// the position (it was evicted, or the token is of another log), the stream
// starts with `event: reset`: the client reloads what it shows.
//
// One thread (cl-changes) writes to every subscriber's socket without
// blocking, from a backlog of its own per subscriber: the applier only adds
// to the buffer and never waits for a client. A subscriber whose backlog
// passes changes.max_backlog_bytes (it does not read) is disconnected; past
// changes.max_subscribers a new one is answered 503. A comment every
// changes.heartbeat_ms keeps idle connections (and proxies) open.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "apply/applier.h"
#include "http/session_position.h"

namespace clusterlite {

class Responder;
class ResponseSocket;

struct ChangeStreamLimits {
  size_t buffer_events = 10000;
  size_t max_subscribers = 1000;
  size_t max_backlog_bytes = 1 << 20;
  std::chrono::milliseconds heartbeat{15000};
};

class ChangeStream {
 public:
  ChangeStream(std::string topic, ChangeStreamLimits limits);
  ~ChangeStream();
  ChangeStream(const ChangeStream&) = delete;
  ChangeStream& operator=(const ChangeStream&) = delete;

  // The offsets applied before the node started serving (nothing before
  // them is in the buffer). Call once, before start().
  void seed(const Position& applied);
  void start();
  // Ends every stream (a last comment, then the connection closes) and stops
  // the thread; later subscribe() calls are refused. Idempotent.
  void stop();

  // The applier thread, after each commit: adds the batch's applied changes.
  void publish(const std::vector<AppliedEvent>& batch);

  enum class Subscribed { kOk, kFull, kStopped, kNoSocket };
  // Takes over `responder` (a GET /_changes that passed its checks) and
  // starts its stream at `resume_token` ("" for now) for `tables`.
  Subscribed subscribe(std::shared_ptr<Responder> responder, std::set<std::string, std::less<>> tables,
                       const std::string& resume_token);

  struct Stats {
    uint64_t subscribers = 0;
    uint64_t dropped_slow = 0;   // disconnected: backlog past max_backlog_bytes
    uint64_t resets = 0;         // streams that began with `event: reset`
    uint64_t buffered = 0;       // changes in the buffer
  };
  Stats stats() const;

 private:
  struct Change {
    int32_t partition;
    int64_t offset;
    std::string table;
    // "id: <token>\nevent: ...\ndata: {...}\n\n". The id is this node's
    // position right after the change: every change it applied before has a
    // lower offset in its partition, every later one a higher or equal one,
    // so resuming from it gives exactly what followed.
    std::string text;
  };
  using Chunk = std::shared_ptr<const std::string>;
  struct Subscriber;

  void run();
  // Adds to `s`'s backlog what it has not been given yet, under mutex_.
  // Subscribers with the same tables at the same place share one chunk
  // (`shared`, keyed by tables and sequence number).
  void catch_up(Subscriber& s, std::map<std::pair<std::string, uint64_t>, Chunk>& shared);
  // Whether the buffer holds every change past `position`.
  bool can_resume(const Position& position) const;
  // Writes what `s` has waiting; false when the client is gone.
  bool flush(Subscriber& s);

  const std::string topic_;
  const ChangeStreamLimits limits_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Change> buffer_;
  uint64_t first_seq_ = 0;   // sequence number of buffer_.front()
  Position next_;            // per partition: the offset after the latest change seen
  Position evicted_;         // per partition: the offset after the latest change no longer buffered
  std::vector<std::unique_ptr<Subscriber>> joining_;      // subscribed, not yet taken by the thread
  std::vector<std::unique_ptr<Subscriber>> subscribers_;  // the thread's own (no lock)
  std::atomic<size_t> subscriber_count_{0};
  bool dirty_ = false;  // a change or a subscriber arrived since the thread last looked
  bool stopping_ = false;
  bool started_ = false;
  uint64_t dropped_slow_ = 0, resets_ = 0;
  std::thread thread_;
};

}  // namespace clusterlite
