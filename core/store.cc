#include "store.h"

#include <filesystem>

namespace clusterlite {

namespace {

// Pages the WAL may hold before the writer copies them back into the
// database file (SQLite's default is 1,000). Each checkpoint syncs both files;
// fewer, larger checkpoints write a page changed by many transactions once.
constexpr int kWalCheckpointPages = 10000;

}  // namespace

std::unique_ptr<SQLite::Database> open_connection(const std::string& path, bool read_only, int busy_timeout_ms,
                                                  int cache_mb) {
  int flags = read_only ? SQLite::OPEN_READONLY : (SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  flags |= SQLite::OPEN_NOMUTEX;
  auto db = std::make_unique<SQLite::Database>(path, flags, busy_timeout_ms);
  if (!read_only) {
    db->exec("PRAGMA journal_mode=WAL");
    db->exec("PRAGMA synchronous=NORMAL");
    db->exec("PRAGMA wal_autocheckpoint=" + std::to_string(kWalCheckpointPages));
  }
  // A negative cache_size is a size in KiB; pages are allocated as they are used.
  if (cache_mb > 0) db->exec("PRAGMA cache_size=-" + std::to_string(cache_mb * 1024));
  db->exec("PRAGMA foreign_keys=ON");
  return db;
}

Store::Store(std::string path, int busy_timeout_ms, int read_connections, int writer_cache_mb)
    : path_(std::move(path)), busy_timeout_ms_(busy_timeout_ms) {
  auto parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  writer_ = open_connection(path_, false, busy_timeout_ms_, writer_cache_mb);
  writer_->exec(R"sql(
    CREATE TABLE IF NOT EXISTS _cl_offsets (
      topic TEXT NOT NULL,
      partition INTEGER NOT NULL,
      next_offset INTEGER NOT NULL,
      PRIMARY KEY (topic, partition)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS _cl_rejected (
      topic TEXT NOT NULL,
      partition INTEGER NOT NULL,
      offset INTEGER NOT NULL,
      event_id TEXT,
      table_name TEXT,
      status INTEGER NOT NULL,
      reason TEXT NOT NULL,
      field TEXT NOT NULL DEFAULT '',
      payload BLOB,
      rejected_at TEXT NOT NULL,
      PRIMARY KEY (topic, partition, offset)
    );
    CREATE TABLE IF NOT EXISTS _cl_log (
      offset INTEGER PRIMARY KEY,
      key TEXT NOT NULL,
      value BLOB NOT NULL
    );
  )sql");
  for (int i = 0; i < read_connections; ++i) idle_.push_back(open_connection(path_, true, busy_timeout_ms_));
}

Store::~Store() = default;

Store::Reader Store::read() {
  std::unique_lock lock(mutex_);
  available_.wait(lock, [&] { return !idle_.empty(); });
  auto db = std::move(idle_.back());
  idle_.pop_back();
  return Reader(*this, std::move(db));
}

Store::Reader::~Reader() {
  if (!db_) return;
  std::lock_guard lock(store_.mutex_);
  store_.idle_.push_back(std::move(db_));
  store_.available_.notify_one();
}

}  // namespace clusterlite
