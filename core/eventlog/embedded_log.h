// EmbeddedLog: a durable single-partition log in the node's own SQLite
// database (table _cl_log), for standalone mode. Appends are group-committed
// by one writer thread; the applier reads them in offset order.
#pragma once

#include <SQLiteCpp/Database.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "eventlog/event_log.h"

namespace clusterlite {

class EmbeddedLog : public EventLog {
 public:
  // The log's name in the offsets table.
  static constexpr const char* kTopic = "_embedded";

  EmbeddedLog(const std::string& db_path, int busy_timeout_ms);
  ~EmbeddedLog() override;

  const std::string& topic() const override { return topic_; }
  void append(const std::string& key, std::string value, AppendCallback done) override;
  void start(StoredOffsets stored) override;
  void poll(std::vector<LogRecord>& out, size_t max, std::chrono::milliseconds wait) override;
  std::optional<std::map<int32_t, int64_t>> end_offsets(std::chrono::milliseconds timeout) override;
  bool reachable() const override { return true; }
  void close() override;

 private:
  struct Pending {
    std::string key;
    std::string value;
    AppendCallback done;
  };
  void writer_loop();

  const std::string topic_ = kTopic;
  std::unique_ptr<SQLite::Database> write_db_;
  std::unique_ptr<SQLite::Database> read_db_;  // applier thread only
  std::mutex mutex_;
  std::condition_variable wake_writer_;
  std::condition_variable appended_;
  std::deque<Pending> queue_;
  bool closing_ = false;
  int64_t end_ = 0;        // next offset to assign; guarded by mutex_
  int64_t next_read_ = 0;  // applier thread only
  std::thread writer_;
};

}  // namespace clusterlite
