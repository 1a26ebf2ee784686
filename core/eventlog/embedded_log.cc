#include "eventlog/embedded_log.h"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include "log.h"
#include "store/store.h"
#include "thread_name.h"

namespace clusterlite {

EmbeddedLog::EmbeddedLog(const std::string& db_path, int busy_timeout_ms) {
  write_db_ = open_connection(db_path, false, busy_timeout_ms);
  read_db_ = open_connection(db_path, true, busy_timeout_ms);
  SQLite::Statement q(*write_db_, "SELECT COALESCE(MAX(offset) + 1, 0) FROM _cl_log");
  q.executeStep();
  end_ = q.getColumn(0).getInt64();
  writer_ = std::thread([this] {
    name_this_thread("cl-log-writer");
    writer_loop();
  });
}

EmbeddedLog::~EmbeddedLog() { close(); }

void EmbeddedLog::append(const std::string& key, std::string value, AppendCallback done) {
  {
    std::lock_guard lock(mutex_);
    if (!closing_) {
      queue_.push_back({key, std::move(value), std::move(done)});
      wake_writer_.notify_one();
      return;
    }
  }
  done({false, -1, -1, "the node is shutting down"});
}

void EmbeddedLog::writer_loop() {
  SQLite::Statement insert(*write_db_, "INSERT INTO _cl_log (offset, key, value) VALUES (?, ?, ?)");
  std::deque<Pending> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_writer_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing and drained
      batch.swap(queue_);
    }
    int64_t first;
    {
      std::lock_guard lock(mutex_);
      first = end_;
    }
    AppendResult failure;
    try {
      SQLite::Transaction tx(*write_db_, SQLite::TransactionBehavior::IMMEDIATE);
      int64_t offset = first;
      for (auto& p : batch) {
        insert.bind(1, static_cast<int64_t>(offset++));
        insert.bind(2, p.key);
        insert.bind(3, p.value.data(), static_cast<int>(p.value.size()));
        insert.exec();
        insert.reset();
      }
      tx.commit();
    } catch (const std::exception& e) {
      insert.reset();
      failure = {false, -1, -1, std::string("embedded log write failed: ") + e.what()};
      log::error("embedded-log", failure.error);
    }
    if (failure.error.empty()) {
      std::lock_guard lock(mutex_);
      end_ = first + static_cast<int64_t>(batch.size());
      appended_.notify_all();
    }
    int64_t offset = first;
    for (auto& p : batch) {
      if (failure.error.empty())
        p.done({true, 0, offset++, {}});
      else
        p.done(failure);
    }
    batch.clear();
  }
}

void EmbeddedLog::start(StoredOffsets stored) { next_read_ = stored(0).value_or(0); }

void EmbeddedLog::poll(std::vector<LogRecord>& out, size_t max, std::chrono::milliseconds wait) {
  {
    std::unique_lock lock(mutex_);
    appended_.wait_for(lock, wait, [&] { return closing_ || end_ > next_read_; });
    if (end_ <= next_read_) return;
  }
  SQLite::Statement q(*read_db_, "SELECT offset, key, value FROM _cl_log WHERE offset >= ? ORDER BY offset LIMIT ?");
  q.bind(1, static_cast<int64_t>(next_read_));
  q.bind(2, static_cast<int64_t>(max));
  while (q.executeStep()) {
    LogRecord r;
    r.partition = 0;
    r.offset = q.getColumn(0).getInt64();
    r.key = q.getColumn(1).getString();
    auto blob = q.getColumn(2);
    r.value.assign(static_cast<const char*>(blob.getBlob()), blob.getBytes());
    next_read_ = r.offset + 1;
    out.push_back(std::move(r));
  }
}

std::optional<std::map<int32_t, int64_t>> EmbeddedLog::end_offsets(std::chrono::milliseconds) {
  std::lock_guard lock(mutex_);
  return std::map<int32_t, int64_t>{{0, end_}};
}

void EmbeddedLog::close() {
  {
    std::lock_guard lock(mutex_);
    if (closing_ && !writer_.joinable()) return;
    closing_ = true;
    wake_writer_.notify_all();
    appended_.notify_all();
  }
  if (writer_.joinable()) writer_.join();
}

}  // namespace clusterlite
