#include "store/store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <filesystem>
#include <mutex>

#include "log.h"
#include "thread_name.h"

namespace clusterlite {

namespace {

// Pages in the WAL after which the checkpointer copies them back into the
// database file (SQLite checkpoints at 1,000 by default, in the committing
// thread). Each checkpoint syncs both files; fewer, larger checkpoints write a
// page that many transactions changed once.
constexpr int kWalCheckpointPages = 10000;

// SQLite counts every allocation it makes for sqlite3_memory_used() under one
// process-wide mutex, which the request threads then contend for on every
// statement; ClusterLite reads none of those counters. This must run before
// SQLite initialises itself (the first connection opened in the process);
// later it is refused and changes nothing.
void configure_sqlite_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
      log::debug("store", "SQLite was initialised before the first connection; its memory statistics stay on");
  });
}

// Ends a pooled connection's read transaction. A failure is logged; the
// transaction then stays open until read() ends it before the next read.
void end_read(SQLite::Database& db) {
  try {
    db.exec("COMMIT");
  } catch (const std::exception& e) {
    log::warn("store", std::string("cannot end a read transaction: ") + e.what());
  }
}

}  // namespace

std::unique_ptr<SQLite::Database> open_connection(const std::string& path, bool read_only, int busy_timeout_ms,
                                                  int cache_mb, int mmap_mb) {
  configure_sqlite_once();
  int flags = read_only ? SQLite::OPEN_READONLY : (SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  flags |= SQLite::OPEN_NOMUTEX;
  auto db = std::make_unique<SQLite::Database>(path, flags, busy_timeout_ms);
  if (!read_only) {
    db->exec("PRAGMA journal_mode=WAL");
    db->exec("PRAGMA synchronous=NORMAL");
  }
  // A negative cache_size is a size in KiB; pages are allocated as they are used.
  if (cache_mb > 0) db->exec("PRAGMA cache_size=-" + std::to_string(cache_mb * 1024));
  // Pages of the mapped part of the file are read from memory (the kernel's
  // page cache), not copied by a read system call each time they are missed.
  if (mmap_mb > 0) db->exec("PRAGMA mmap_size=" + std::to_string(static_cast<int64_t>(mmap_mb) << 20));
  db->exec("PRAGMA foreign_keys=ON");
  return db;
}

void create_snapshot_origin_table(SQLite::Database& db) {
  db.exec(R"sql(
    CREATE TABLE IF NOT EXISTS _cl_snapshot_origin (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      peer TEXT NOT NULL,
      topic TEXT NOT NULL,
      offsets TEXT NOT NULL,
      sha256 TEXT NOT NULL,
      bytes INTEGER NOT NULL,
      taken_at TEXT NOT NULL,
      installed_at TEXT NOT NULL,
      reason TEXT NOT NULL
    );
  )sql");
}

Store::Store(std::string path, int busy_timeout_ms, int read_connections, int writer_cache_mb, bool sole_writer,
             int read_mmap_mb)
    : path_(std::move(path)), busy_timeout_ms_(busy_timeout_ms), sole_writer_(sole_writer) {
  auto parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  writer_ = open_connection(path_, false, busy_timeout_ms_, writer_cache_mb);
  // Readers run beside the writer only in WAL mode, and the WAL hook is what
  // tells pooled readers that their snapshot is out of date (read()).
  if (auto mode = writer_->execAndGet("PRAGMA journal_mode").getString(); mode != "wal")
    throw std::runtime_error("database " + path_ + " cannot use WAL mode (journal mode is " + mode +
                             "); ClusterLite needs a file system with shared memory and file locks");
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
    CREATE TABLE IF NOT EXISTS _cl_held (
      seq INTEGER PRIMARY KEY,
      topic TEXT NOT NULL,
      partition INTEGER NOT NULL,
      offset INTEGER NOT NULL,
      table_name TEXT NOT NULL,
      plugin_version INTEGER NOT NULL,
      event_id TEXT NOT NULL,
      payload BLOB NOT NULL,
      reason TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS _cl_held_by_table ON _cl_held (table_name, seq);
    CREATE TABLE IF NOT EXISTS _cl_plugins (
      table_name TEXT PRIMARY KEY,
      plugin TEXT NOT NULL,
      version INTEGER NOT NULL,
      sha256 TEXT NOT NULL,
      prepared_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS _cl_idempotency (
      seq INTEGER PRIMARY KEY,
      table_name TEXT NOT NULL,
      key TEXT NOT NULL,
      event_id TEXT NOT NULL,
      request_sha256 TEXT NOT NULL,
      operation TEXT NOT NULL,
      status INTEGER NOT NULL,
      message TEXT NOT NULL,
      field TEXT NOT NULL,
      entity_id TEXT NOT NULL,
      entity TEXT,
      recorded_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS _cl_idempotency_by_time ON _cl_idempotency (table_name, recorded_at);
    CREATE TABLE IF NOT EXISTS _cl_history (
      seq INTEGER PRIMARY KEY,
      table_name TEXT NOT NULL,
      entity_id TEXT NOT NULL,
      event_id TEXT NOT NULL,
      operation TEXT NOT NULL,
      timestamp TEXT NOT NULL,
      partition INTEGER NOT NULL,
      offset INTEGER NOT NULL,
      data TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS _cl_history_by_entity ON _cl_history (table_name, entity_id, seq);
    CREATE TABLE IF NOT EXISTS _cl_table_partitions (
      topic TEXT NOT NULL,
      table_name TEXT NOT NULL,
      partition INTEGER NOT NULL,
      first_offset INTEGER NOT NULL,
      events INTEGER NOT NULL,
      seq INTEGER NOT NULL,
      PRIMARY KEY (topic, table_name, partition)
    ) WITHOUT ROWID;
  )sql");
  create_snapshot_origin_table(*writer_);
  // Keys are found through memory on a sole writer (store/idempotency_keys.h);
  // writers sharing the file need an index every one of them keeps.
  if (sole_writer_) {
    writer_->exec("DROP INDEX IF EXISTS _cl_idempotency_by_key");
    keys_ = std::make_unique<IdempotencyKeys>();
    keys_->load(*writer_);
  } else {
    writer_->exec("CREATE UNIQUE INDEX IF NOT EXISTS _cl_idempotency_by_key ON _cl_idempotency (table_name, key)");
  }
  for (int i = 0; i < read_connections; ++i)
    idle_.push_back({open_connection(path_, true, busy_timeout_ms_, 0, read_mmap_mb), 0});
  // Checkpoints run on their own thread and connection, so a commit never
  // waits for one: SQLite's automatic checkpoint would copy up to
  // kWalCheckpointPages pages and sync the files inside the applier's commit.
  // The hook replaces that automatic checkpoint.
  checkpoint_db_ = open_connection(path_, false, busy_timeout_ms_);
  sqlite3_wal_hook(writer_->getHandle(), &Store::on_wal_commit, this);
  checkpointer_ = std::thread([this] {
    name_this_thread("cl-checkpoint");
    checkpoint_loop();
  });
}

Store::~Store() {
  {
    std::lock_guard lock(checkpoint_mutex_);
    closing_ = true;
  }
  checkpoint_wake_.notify_one();
  if (checkpointer_.joinable()) checkpointer_.join();
  sqlite3_wal_hook(writer_->getHandle(), nullptr, nullptr);
}

int Store::on_wal_commit(void* self, sqlite3* /*db*/, const char* /*schema*/, int wal_pages) {
  auto* store = static_cast<Store*>(self);
  store->commits_.fetch_add(1, std::memory_order_release);
  if (wal_pages >= kWalCheckpointPages) {
    {
      std::lock_guard lock(store->checkpoint_mutex_);
      store->checkpoint_wanted_ = true;
    }
    store->checkpoint_wake_.notify_one();
  }
  return SQLITE_OK;
}

void Store::checkpoint_loop() {
  std::unique_lock lock(checkpoint_mutex_);
  for (;;) {
    checkpoint_wake_.wait(lock, [&] { return closing_ || checkpoint_wanted_; });
    if (closing_) return;
    checkpoint_wanted_ = false;
    lock.unlock();
    // PASSIVE: copies what no reader still needs, never waits for a lock and
    // never blocks the writer, which goes on appending meanwhile.
    int wal_frames = 0, copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(checkpoint_db_->getHandle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &wal_frames,
                                       &copied);
    checkpoints_.fetch_add(1, std::memory_order_relaxed);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
      log::warn("store", std::string("checkpoint failed: ") + sqlite3_errstr(rc));
    lock.lock();
  }
}

Store::Reader Store::read() {
  std::unique_lock lock(mutex_);
  available_.wait(lock, [&] { return !idle_.empty(); });
  Reader reader(*this, std::move(idle_.back().db), idle_.back().snapshot);
  idle_.pop_back();
  lock.unlock();
  // Loaded before the snapshot is taken (by the transaction's first read), so
  // the snapshot holds at least these commits.
  uint64_t commits = commits_.load(std::memory_order_acquire);
  sqlite3* handle = reader.db_->getHandle();
  bool in_transaction = !sqlite3_get_autocommit(handle);
  if (in_transaction && sole_writer_ && reader.snapshot_ == commits) return reader;
  if (in_transaction) reader.db_->exec("COMMIT");
  reader.db_->exec("BEGIN");
  reader.snapshot_ = commits;
  return reader;
}

void Store::end_idle_reads() {
  std::lock_guard lock(mutex_);
  for (auto& idle : idle_)
    if (!sqlite3_get_autocommit(idle.db->getHandle())) end_read(*idle.db);
}

DatabaseLock::DatabaseLock(const std::string& db_path) {
  const std::string path = db_path + ".lock";
  auto parent = std::filesystem::path(db_path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char holder[32] = {};
    ssize_t n = ::pread(fd_, holder, sizeof holder - 1, 0);
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK) throw std::runtime_error("cannot lock " + path + ": " + std::strerror(err));
    std::string pid = n > 0 ? std::string(holder, static_cast<size_t>(n)) : "";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    throw std::runtime_error("database " + db_path + " is in use by another ClusterLite node" +
                             (pid.empty() ? "" : " (pid " + pid + ")") +
                             "; every replica or standalone node needs a database file of its own");
  }
  // The holder's pid, for the message above; the lock, not the file, is what counts.
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0)
    log::warn("store", "cannot write the pid into " + path + ": " + std::strerror(errno));
}

DatabaseLock::~DatabaseLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

Store::Reader::~Reader() {
  if (!db_) return;
  // Other processes' commits are not counted, so the snapshot ends here.
  if (!store_.sole_writer_ && !sqlite3_get_autocommit(db_->getHandle())) end_read(*db_);
  std::lock_guard lock(store_.mutex_);
  store_.idle_.push_back({std::move(db_), snapshot_});
  store_.available_.notify_one();
}

}  // namespace clusterlite
