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
  std::string tables_key;                      // the same, as one string (subscribers that share chunks)
  uint64_t next_seq = 0;                       // the buffer's sequence number of the next change to look at
  // Set while the client's position is ahead of this node in some partition
  // (it resumed from a node further on): changes below it are skipped, and
  // ids carry the larger of both positions. Cleared once the node is past it.
  std::optional<Position> ahead;
  std::deque<Chunk> backlog;  // written in order, the first from `sent` on
  size_t sent = 0;
  size_t backlog_bytes = 0;
  SteadyClock::time_point last_write = SteadyClock::now();
  bool gone = false;

  void add(Chunk chunk) {
    if (chunk->empty()) return;
    backlog_bytes += chunk->size();
    backlog.push_back(std::move(chunk));
  }
};

namespace {

constexpr int kStreamSendBuffer = 32 * 1024;
// Changes reach subscribers in rounds at least this far apart: one write per
// subscriber carries all that came meanwhile.
constexpr auto kMinRound = std::chrono::milliseconds(5);

const char* event_name(Operation op) {
  switch (op) {
    case Operation::kInsert: return "insert";
    case Operation::kUpdate: return "update";
    case Operation::kDelete: return "delete";
  }
  return "change";
}

std::shared_ptr<const std::string> text_chunk(std::string text) {
  return std::make_shared<const std::string>(std::move(text));
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
    s->add(text_chunk(": the node is stopping\n\n"));
    flush(*s);
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
      write_event_fields(w, e.event_id, e.timestamp, e.partition, e.offset, e.data);
      w.EndObject();
      std::string text = "id: " + encode_position(topic_, next_) + "\nevent: " + event_name(e.operation) + "\ndata: ";
      text.append(buf.GetString(), buf.GetSize()).append("\n\n");
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
  for (auto& t : tables) s->tables_key += t + ",";
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
  std::string opening = head + "retry: 2000\n\n";
  Position resume;
  PositionToken kind = resume_token.empty() ? PositionToken::kMalformed
                                            : decode_position(resume_token, topic_, resume);
  if (kind == PositionToken::kValid && can_resume(resume)) {
    // The first buffered change at or past the position, in this node's
    // order: resumed from here, none is missed or given twice.
    uint64_t seq = first_seq_;
    auto past = [&](const Change& c) {
      auto it = resume.find(c.partition);
      return c.offset >= (it == resume.end() ? 0 : it->second);
    };
    while (seq < first_seq_ + buffer_.size() && !past(buffer_[seq - first_seq_])) ++seq;
    s->next_seq = seq;
    for (auto& [p, o] : resume)
      if (auto it = next_.find(p); o > (it == next_.end() ? 0 : it->second)) s->ahead = resume;
    // Changes after `seq` below the position (other partitions) are skipped
    // on the slow path too.
    for (uint64_t k = seq; k < first_seq_ + buffer_.size() && !s->ahead; ++k)
      if (!past(buffer_[k - first_seq_])) s->ahead = resume;
  } else {
    s->next_seq = first_seq_ + buffer_.size();
    if (!resume_token.empty()) {
      // The buffer no longer holds what follows (or the token is of another
      // log): the client must reload; the stream goes on from now.
      ++resets_;
      opening += "id: " + encode_position(topic_, next_) + "\nevent: reset\ndata: {\"reason\":\"" +
                 (kind == PositionToken::kValid ? "this node no longer holds the changes after that position"
                                                : "the position is of another log") +
                 "\"}\n\n";
    }
  }
  s->add(text_chunk(std::move(opening)));
  joining_.push_back(std::move(s));
  ++subscriber_count_;
  dirty_ = true;
  wake_.notify_one();
  return Subscribed::kOk;
}

void ChangeStream::catch_up(Subscriber& s, std::map<std::pair<std::string, uint64_t>, Chunk>& shared) {
  const uint64_t end = first_seq_ + buffer_.size();
  if (s.next_seq >= end) return;
  if (s.next_seq < first_seq_) {
    // More changes came between two rounds than the buffer holds.
    ++resets_;
    s.add(text_chunk("id: " + encode_position(topic_, next_) +
                     "\nevent: reset\ndata: {\"reason\":\"more changes came at once than this node keeps\"}\n\n"));
    s.next_seq = end;
    return;
  }
  auto wanted = [&](const Change& c) { return s.tables.empty() || s.tables.count(c.table) > 0; };
  if (s.ahead) {
    // The slow path: skip what the client had, and give ids that cover it.
    std::string text;
    for (uint64_t seq = s.next_seq; seq < end; ++seq) {
      const Change& c = buffer_[seq - first_seq_];
      auto it = s.ahead->find(c.partition);
      if (it != s.ahead->end() && c.offset < it->second) continue;
      if (!wanted(c)) continue;
      // The node's position right after c is in c's own id; merged with where
      // the client was, it names both cuts.
      Position at;
      std::string_view line(c.text);
      auto token = line.substr(4, line.find('\n') - 4);
      decode_position(token, topic_, at);
      merge_position(at, *s.ahead);
      text += "id: " + encode_position(topic_, at) + c.text.substr(c.text.find('\n'));
    }
    s.add(text_chunk(std::move(text)));
    s.next_seq = end;
    bool passed = true;
    for (auto& [p, o] : *s.ahead)
      if (auto it = next_.find(p); it == next_.end() || it->second < o) passed = false;
    if (passed) s.ahead.reset();
    return;
  }
  auto [it, added] = shared.try_emplace({s.tables_key, s.next_seq});
  if (added) {
    std::string text;
    for (uint64_t seq = s.next_seq; seq < end; ++seq) {
      const Change& c = buffer_[seq - first_seq_];
      if (wanted(c)) text += c.text;
    }
    it->second = text_chunk(std::move(text));
  }
  s.add(it->second);
  s.next_seq = end;
}

bool ChangeStream::flush(Subscriber& s) {
  while (!s.backlog.empty()) {
    const std::string& first = *s.backlog.front();
    long n = s.socket->try_send(std::string_view(first).substr(s.sent));
    if (n < 0) return false;
    if (n == 0) return true;
    s.last_write = SteadyClock::now();
    s.sent += static_cast<size_t>(n);
    s.backlog_bytes -= static_cast<size_t>(n);
    if (s.sent < first.size()) return true;  // the socket is full
    s.backlog.pop_front();
    s.sent = 0;
  }
  return true;
}

void ChangeStream::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    dirty_ = false;
    for (auto& s : joining_) subscribers_.push_back(std::move(s));
    joining_.clear();
    const auto round = SteadyClock::now();
    std::map<std::pair<std::string, uint64_t>, Chunk> shared;
    for (auto& s : subscribers_) catch_up(*s, shared);
    // Sockets are written without the lock: publish() never waits for them.
    lock.unlock();
    shared.clear();
    bool waiting_writes = false;
    for (auto& s : subscribers_) {
      if (s->backlog.empty() && round - s->last_write >= limits_.heartbeat) s->add(text_chunk(": keepalive\n\n"));
      if (s->backlog.empty()) continue;
      if (!flush(*s)) {
        s->gone = true;
        continue;
      }
      if (s->backlog_bytes > limits_.max_backlog_bytes) {
        s->gone = true;
        lock.lock();
        ++dropped_slow_;
        lock.unlock();
        log::info("changes", "a change stream's client did not read " + std::to_string(s->backlog_bytes) +
                                 " bytes (changes.max_backlog_bytes): disconnected");
        continue;
      }
      waiting_writes = waiting_writes || !s->backlog.empty();
    }
    size_t before = subscribers_.size();
    for (auto& s : subscribers_)
      if (s->gone) s->responder->end_stream();
    subscribers_.erase(std::remove_if(subscribers_.begin(), subscribers_.end(), [](auto& s) { return s->gone; }),
                       subscribers_.end());
    // Rounds at least kMinRound apart, so a subscriber gets the changes of a
    // busy moment in one write; a full socket is tried again after 20 ms;
    // otherwise the thread waits for a change, a new subscriber or the next
    // heartbeat.
    auto rest = round + kMinRound - SteadyClock::now();
    if (rest > std::chrono::nanoseconds(0)) std::this_thread::sleep_for(rest);
    lock.lock();
    subscriber_count_ -= before - subscribers_.size();
    wake_.wait_for(lock, waiting_writes ? std::chrono::milliseconds(20) : std::chrono::milliseconds(1000),
                   [this] { return stopping_ || dirty_; });
  }
}

ChangeStream::Stats ChangeStream::stats() const {
  std::lock_guard lock(mutex_);
  return {subscriber_count_.load(), dropped_slow_, resets_, buffer_.size()};
}

}  // namespace clusterlite
