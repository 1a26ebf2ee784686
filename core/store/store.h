// Store: the node's SQLite database. One writer connection (owned by the
// applier thread) and a pool of read-only connections for requests; WAL lets
// readers run beside the writer. A checkpointer thread with its own
// connection copies the WAL back into the database file once it is long, so
// the writer's commits never wait for a checkpoint. The core's own tables live beside the
// plugins' tables; their names start with "_cl_", which no plugin table can.
//
//   _cl_offsets(topic, partition, next_offset)  next offset to apply per partition
//   _cl_rejected(topic, partition, offset, event_id, table_name, status, reason, field, payload, rejected_at)
//   _cl_log(offset, key, value)                 the embedded log (standalone mode)
//   _cl_held(seq, topic, partition, offset, table_name, plugin_version, event_id, payload, reason)
//                                               events kept for a table this node cannot serve yet, in log order
//   _cl_plugins(table_name, plugin, version, sha256, prepared_at)
//                                               the plugin that last prepared each table here
//   _cl_idempotency(seq, table_name, key, event_id, request_sha256, operation, status, message, field,
//                   entity_id, entity, recorded_at, expires_at)
//                                               the outcome of each Idempotency-Key (apply/idempotency.h),
//                                               in the order recorded; found by key through memory
//                                               (store/idempotency_keys.h), or in shared mode through the
//                                               unique index _cl_idempotency_by_key
//   _cl_history(seq, table_name, entity_id, event_id, operation, timestamp, partition, offset, data)
//                                               the events that changed each entity, for tables that keep history
//   _cl_snapshot_origin(id, peer, topic, offsets, sha256, bytes, taken_at, installed_at, reason)
//                                               the peer's snapshot the database started from, if any
#pragma once

#include <SQLiteCpp/Database.h>
#include <clusterlite/statement_cache.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/idempotency_keys.h"

struct sqlite3;

namespace clusterlite {

// Opens a connection with the node's pragmas (WAL, synchronous=NORMAL, busy
// timeout); `cache_mb` > 0 sets its page cache size, 0 keeps SQLite's default (2 MiB);
// `mmap_mb` > 0 maps up to that much of the file into memory for reading
// (SQLite caps it at its build's limit, 2 GiB on Debian).
std::unique_ptr<SQLite::Database> open_connection(const std::string& path, bool read_only, int busy_timeout_ms,
                                                  int cache_mb = 0, int mmap_mb = 0);

// Creates _cl_snapshot_origin if it is missing (Store does at start-up, so a
// database of an earlier release gets it too; bootstrap in a fetched file).
void create_snapshot_origin_table(SQLite::Database& db);

// Sole use of a database file by one process: an exclusive flock on
// "<path>.lock", held until destruction (the kernel drops it when the process
// dies, so a crash leaves nothing to clean up). A replica's or a standalone
// node's database is written by its own applier alone; a second node on the
// same file would apply the log a second time beside the first.
class DatabaseLock {
 public:
  // Throws std::runtime_error naming the holder's pid when another process holds it.
  explicit DatabaseLock(const std::string& db_path);
  ~DatabaseLock();
  DatabaseLock(const DatabaseLock&) = delete;
  DatabaseLock& operator=(const DatabaseLock&) = delete;

 private:
  int fd_ = -1;
};

class Store {
 public:
  // Opens (creating if needed) the database file and the core tables. The
  // writer's page cache holds `writer_cache_mb` MiB: the applier touches index
  // pages all over the file, and every miss is a read system call.
  // `sole_writer`: no other process writes the file (every mode but shared),
  // so pooled readers may keep their snapshot until this writer commits.
  // Pooled readers map up to `read_mmap_mb` MiB of the file (0: they read
  // with system calls into SQLite's page cache of 2 MiB each).
  Store(std::string path, int busy_timeout_ms, int read_connections, int writer_cache_mb = 0, bool sole_writer = true,
        int read_mmap_mb = 0);
  ~Store();

  const std::string& path() const { return path_; }
  // Whether this process is the only writer of the file (every mode but shared).
  bool sole_writer() const { return sole_writer_; }

  // The single writer connection. Only the thread that owns writing
  // (start-up, then the applier) may use it.
  SQLite::Database& writer() { return *writer_; }

  // A read-only connection borrowed from the pool; returned on destruction.
  // It is inside a read transaction whose snapshot holds every commit
  // finished when read() was called. When this process's writer is the only
  // one, a pooled connection keeps its transaction while the writer commits
  // nothing, so reads of an unchanging database do not begin and end one each
  // (SQLite's shared-memory locks, a fifth of a GET's time in the node); the
  // writer ends idle ones before it writes (end_idle_reads()).
  class Reader {
   public:
    Reader(Store& store, std::unique_ptr<SQLite::Database> db, uint64_t snapshot)
        : store_(store), db_(std::move(db)), snapshot_(snapshot) {}
    ~Reader();
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;
    Reader(Reader&& other) noexcept : store_(other.store_), db_(std::move(other.db_)), snapshot_(other.snapshot_) {}
    SQLite::Database& db() { return *db_; }

   private:
    friend class Store;
    Store& store_;
    std::unique_ptr<SQLite::Database> db_;
    uint64_t snapshot_;  // commits_ when its read transaction began
  };
  // Blocks while every pooled connection is in use.
  Reader read();

  // Where each Idempotency-Key's record is; none when other processes write
  // the file too (then a unique index on (table_name, key) finds them).
  IdempotencyKeys* idempotency_keys() { return keys_.get(); }

  // Prepared statements of the host's own queries on the pooled connections
  // (idempotency records, history), kept as long as the connections are.
  StatementCache& read_statements() { return read_statements_; }

  // Ends the read transactions of the pooled connections nobody borrows. The
  // writer calls it before each write transaction: an idle transaction's
  // snapshot would keep checkpoints from copying what was committed after it
  // and the WAL from starting over, so it would grow while writes go on.
  void end_idle_reads();

  // Checkpoints the background checkpointer has run.
  uint64_t checkpoints() const { return checkpoints_.load(std::memory_order_relaxed); }

 private:
  std::string path_;
  int busy_timeout_ms_;
  bool sole_writer_;
  std::unique_ptr<SQLite::Database> writer_;
  std::unique_ptr<IdempotencyKeys> keys_;
  std::mutex mutex_;
  std::condition_variable available_;
  struct Idle {
    std::unique_ptr<SQLite::Database> db;
    uint64_t snapshot;
  };
  std::vector<Idle> idle_;  // guarded by mutex_
  // Declared after the connections: destroyed (its statements finalized) first.
  StatementCache read_statements_;
  // Commits of the writer so far, counted by its WAL hook once each is done.
  std::atomic<uint64_t> commits_{0};

  // The checkpointer: woken by the writer's WAL hook once the WAL is long.
  static int on_wal_commit(void* self, sqlite3* db, const char* schema, int wal_pages);
  void checkpoint_loop();
  std::unique_ptr<SQLite::Database> checkpoint_db_;
  std::mutex checkpoint_mutex_;
  std::condition_variable checkpoint_wake_;
  bool checkpoint_wanted_ = false;  // guarded by checkpoint_mutex_
  bool closing_ = false;            // guarded by checkpoint_mutex_
  std::atomic<uint64_t> checkpoints_{0};
  std::thread checkpointer_;
};

}  // namespace clusterlite
