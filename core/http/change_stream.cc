#include "http/change_stream.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

#include "http/responder.h"
#include "http/response_socket.h"
#include "log.h"
#include "thread_name.h"

namespace clusterlite {

using SteadyClock = std::chrono::steady_clock;

struct ChangeStream::Subscriber {
  std::shared_ptr<Responder> responder;
  ResponseSocket* socket = nullptr;
  std::set<std::string, std::less<>> tables;  // empty: every table
  Position position;                           // per partition, the offset after the last change looked at
  uint64_t next_seq = 0;                       // the buffer's sequence number of the next change to look at
  std::string backlog;                         // written as the socket takes it
  SteadyClock::time_point last_write = SteadyClock::now();
  bool gone = false;
};

namespace {

constexpr int kStreamSendBuffer = 32 * 1024;

const char* event_name(Operation op) {
  switch (op) {
    case Operation::kInsert: return "insert";
    case Operation::kUpdate: return "update";
    case Operation::kDelete: return "delete";
  }
  return "change";
}

}  // namespace

ChangeStream::ChangeStream(std::string topic, ChangeStreamLimits limits)
    : topic_(std::move(topic)), limits_(limits) {}

ChangeStream::~ChangeStream() { stop(); }

void ChangeStream::seed(const Position& applied) {
  std::lock_guard lock(mutex_);
  for (auto& [p, o] : applied) {
    next_[p] = std::max(next_[p], o);
    evicted_[p] = std::max(evicted_[p], o);
  }
}

void ChangeStream::start() {
  std::lock_guard lock(mutex_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] {
    name_this_thread("cl-changes");
    run();
  });
}

void ChangeStream::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  // The thread is gone: the subscribers are this thread's now.
  for (auto& s : joining_) subscribers_.push_back(std::move(s));
  joining_.clear();
  for (auto& s : subscribers_) {
    if (s->gone) continue;
    s->socket->try_send(s->backlog + ": the node is stopping\n\n");
    s->responder->end_stream();
  }
  subscribers_.clear();
  subscriber_count_ = 0;
}

void ChangeStream::publish(const std::vector<AppliedEvent>& batch) {
  {
    std::lock_guard lock(mutex_);
    for (const AppliedEvent& e : batch) {
      if (e.event_id.empty() || e.table.empty()) continue;
      auto& next = next_[e.partition];
      next = std::max(next, e.offset + 1);
      // Only what changed a table: not a refused event, a held one or a retry.
      if (!e.status.ok() || e.held || e.earlier) continue;
      rapidjson::StringBuffer buf;
      rapidjson::Writer<rapidjson::StringBuffer> w(buf);
      w.StartObject();
      w.Key("table");
      w.String(e.table.data(), e.table.size());
      w.Key("data");
      w.RawValue(e.data.data(), e.data.size(), rapidjson::kObjectType);
      w.Key("event_id");
      w.String(e.event_id.data(), e.event_id.size());
      w.Key("timestamp");
      w.String(e.timestamp.data(), e.timestamp.size());
      w.Key("partition");
      w.Int(e.partition);
      w.Key("offset");
      w.Int64(e.offset);
      w.EndObject();
      std::string text = std::string("event: ") + event_name(e.operation) + "\ndata: ";
      text.append(buf.GetString(), buf.GetSize()).append("\n");
      buffer_.push_back({e.partition, e.offset, e.table, std::move(text)});
    }
    while (buffer_.size() > limits_.buffer_events) {
      const Change& old = buffer_.front();
      auto& evicted = evicted_[old.partition];
      evicted = std::max(evicted, old.offset + 1);
      buffer_.pop_front();
      ++first_seq_;
    }
    dirty_ = true;
  }
  wake_.notify_one();
}

bool ChangeStream::can_resume(const Position& position) const {
  for (auto& [p, evicted] : evicted_) {
    auto it = position.find(p);
    if ((it == position.end() ? 0 : it->second) < evicted) return false;
  }
  return true;
}

ChangeStream::Subscribed ChangeStream::subscribe(std::shared_ptr<Responder> responder,
                                                 std::set<std::string, std::less<>> tables,
                                                 const std::string& resume_token) {
  auto s = std::make_unique<Subscriber>();
  s->tables = std::move(tables);
  std::lock_guard lock(mutex_);
  if (stopping_ || !started_) return Subscribed::kStopped;
  if (subscriber_count_ >= limits_.max_subscribers) return Subscribed::kFull;
  std::string head = responder->stream_head("text/event-stream");
  if (head.empty()) return Subscribed::kNoSocket;
  s->socket = responder->stream_socket();
  // What a client has not read waits in the stream's own backlog, which is
  // bounded and counted, not in kernel buffers of up to megabytes each.
  s->socket->limit_send_buffer(kStreamSendBuffer);
  s->responder = std::move(responder);
  s->backlog = head + "retry: 2000\n\n";
  Position resume;
  PositionToken kind = resume_token.empty() ? PositionToken::kMalformed
                                            : decode_position(resume_token, topic_, resume);
  if (kind == PositionToken::kValid && can_resume(resume)) {
    s->position = std::move(resume);
    s->next_seq = first_seq_;
  } else {
    s->position = next_;
    s->next_seq = first_seq_ + buffer_.size();
    if (!resume_token.empty()) {
      // The buffer no longer holds what follows (or the token is of another
      // log): the client must reload; the stream goes on from now.
      ++resets_;
      s->backlog += "id: " + encode_position(topic_, s->position) +
                    "\nevent: reset\ndata: {\"reason\":\"" +
                    (kind == PositionToken::kValid ? "this node no longer holds the changes after that position"
                                                   : "the position is of another log") +
                    "\"}\n\n";
    }
  }
  joining_.push_back(std::move(s));
  ++subscriber_count_;
  dirty_ = true;
  wake_.notify_one();
  return Subscribed::kOk;
}

void ChangeStream::catch_up(Subscriber& s) {
  uint64_t end = first_seq_ + buffer_.size();
  for (uint64_t seq = std::max(s.next_seq, first_seq_); seq < end; ++seq) {
    const Change& c = buffer_[seq - first_seq_];
    auto& at = s.position[c.partition];
    if (c.offset < at) continue;  // given already (or before the position the client resumed from)
    at = c.offset + 1;
    if (!s.tables.empty() && !s.tables.count(c.table)) continue;
    s.backlog.append("id: ").append(encode_position(topic_, s.position)).append("\n").append(c.text).append("\n");
  }
  s.next_seq = end;
}

void ChangeStream::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    dirty_ = false;
    for (auto& s : joining_) subscribers_.push_back(std::move(s));
    joining_.clear();
    auto now = SteadyClock::now();
    bool waiting_writes = false;
    for (auto& s : subscribers_) {
      catch_up(*s);
      if (s->backlog.empty() && now - s->last_write >= limits_.heartbeat) s->backlog = ": keepalive\n\n";
    }
    // Sockets are written without the lock: publish() never waits for them.
    lock.unlock();
    for (auto& s : subscribers_) {
      if (s->backlog.empty()) continue;
      if (s->backlog.size() > limits_.max_backlog_bytes) {
        s->gone = true;
        lock.lock();
        ++dropped_slow_;
        lock.unlock();
        log::info("changes", "a change stream's client did not read " + std::to_string(s->backlog.size()) +
                                 " bytes (changes.max_backlog_bytes): disconnected");
        continue;
      }
      ssize_t n = s->socket->try_send(s->backlog);
      if (n < 0) {
        s->gone = true;
        continue;
      }
      if (n > 0) {
        s->backlog.erase(0, static_cast<size_t>(n));
        s->last_write = now;
      }
      waiting_writes = waiting_writes || !s->backlog.empty();
    }
    for (auto& s : subscribers_)
      if (s->gone) s->responder->end_stream();
    size_t before = subscribers_.size();
    subscribers_.erase(std::remove_if(subscribers_.begin(), subscribers_.end(), [](auto& s) { return s->gone; }),
                       subscribers_.end());
    lock.lock();
    subscriber_count_ -= before - subscribers_.size();
    // A full socket is tried again soon; otherwise wake for a change, a new
    // subscriber or the next heartbeat.
    wake_.wait_for(lock, waiting_writes ? std::chrono::milliseconds(20) : std::chrono::milliseconds(1000),
                   [this] { return stopping_ || dirty_; });
  }
}

ChangeStream::Stats ChangeStream::stats() const {
  std::lock_guard lock(mutex_);
  return {subscriber_count_.load(), dropped_slow_, resets_, buffer_.size()};
}

}  // namespace clusterlite
