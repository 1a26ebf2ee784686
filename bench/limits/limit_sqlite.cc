// clusterlite-limit-sqlite: how fast SQLite on this machine can do the writes
// a ClusterLite applier does, with no ClusterLite code in the way.
//
// Opens a fresh database file with the settings of the node's writer
// connection (core/store/store.cc: journal_mode=WAL, synchronous=NORMAL,
// wal_autocheckpoint=10000, cache_size=-16384 — the default 16 MiB of
// database.cache_mb — and foreign_keys=ON), then creates the users table of
// plugins/users (WITHOUT ROWID, email COLLATE NOCASE UNIQUE) and the node's
// _cl_offsets table. A transaction is what Applier::apply_batch does with B
// users INSERT events that all apply (no savepoint per event: the applier
// adds those only when it runs a batch again after a refusal): BEGIN
// IMMEDIATE; per event the users plugin's one INSERT (UsersTable::
// handle_upsert: no lookups, a conflict would be the constraint error); then
// the offset upsert on _cl_offsets once; COMMIT. Every statement is prepared once
// and reset with its bindings cleared after each use, as StatementCache does.
// Ids are UUIDv7 made like the plugin's new_uuid_v7() (48 bits of Unix
// milliseconds, then random bits: time-ordered keys); --random-ids uses
// random UUIDv4 ids instead, to show what random keys cost. Emails are unique
// per event. For each batch size B it measures events per second with B
// events per transaction, on freshly created tables.
//
//   clusterlite-limit-sqlite DB_PATH [--seconds S | --events N]
//       [--batch-sizes 1,100,1000] [--random-ids] [--cache-size N]
//       [--remove-after]
//
// --cache-size sets PRAGMA cache_size (pages, or KiB when negative) instead
// of the node's default -16384; --remove-after deletes the database files at
// the end. Prints one line per measure:
//   RESULT measure=single_txn batch=1 events=.. transactions=.. seconds=.. rate=.. txn_rate=..
// (measure=batch_<B> for B > 1; rate is events per second).

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// The node's writer connection (core/store/store.cc, core/config.h).
constexpr int kWalCheckpointPages = 10000;
constexpr long kDefaultCacheSize = -16L * 1024;  // database.cache_mb = 16, in KiB

[[noreturn]] void usage(const std::string& msg) {
  if (!msg.empty()) std::cerr << "clusterlite-limit-sqlite: " << msg << "\n";
  std::cerr << "usage: clusterlite-limit-sqlite DB_PATH [--seconds S | --events N] [--batch-sizes 1,100,1000]\n"
               "                                [--random-ids] [--cache-size N] [--remove-after]\n"
               "  DB_PATH         a new file (it must not exist)\n"
               "  --seconds S     seconds per measure (default 3)\n"
               "  --events N      N events per measure instead of a fixed time\n"
               "  --batch-sizes   events per transaction, one measure each (default 1,100,1000)\n"
               "  --random-ids    random UUIDv4 ids instead of the users plugin's time-ordered UUIDv7\n"
               "  --cache-size N  PRAGMA cache_size, pages or KiB if negative (default -16384, the node's)\n"
               "  --remove-after  delete the database files at the end\n";
  std::exit(2);
}

long number(const std::string& s, long lo, long hi, const std::string& what) {
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end || v < lo || v > hi) usage(what + " must be an integer from " + std::to_string(lo) + " to " +
                                                   std::to_string(hi));
  return v;
}

std::string uuid_text(uint64_t hi, uint64_t lo) {
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

// As plugins/users new_uuid_v7(): 48 bits of Unix time in milliseconds, the
// version, 12 random bits, the variant, 62 random bits.
std::string uuid_v7(std::mt19937_64& rng) {
  auto ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  uint64_t hi = (ms << 16) | 0x7000ULL | (rng() & 0x0FFFULL);
  uint64_t lo = (rng() & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
  return uuid_text(hi, lo);
}

// A random UUIDv4: keys spread over the whole primary-key B-tree.
std::string uuid_v4(std::mt19937_64& rng) {
  uint64_t hi = (rng() & 0xFFFFFFFFFFFF0FFFULL) | 0x4000ULL;
  uint64_t lo = (rng() & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
  return uuid_text(hi, lo);
}

// An event timestamp as core/timeutil.cc writes it: "2026-11-27T05:23:00.123456Z".
std::string now_rfc3339() {
  auto now = std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(us));
  return buf;
}

struct Options {
  std::string path;
  double seconds = 3;
  long events = 0;  // > 0: a fixed number of events per measure instead of a fixed time
  std::vector<long> batches{1, 100, 1000};
  bool random_ids = false;
  long cache_size = kDefaultCacheSize;
  bool remove_after = false;
};

// Drops and recreates the tables so every measure starts from empty ones.
void fresh_tables(SQLite::Database& db) {
  db.exec("DROP TABLE IF EXISTS users");
  db.exec("DROP TABLE IF EXISTS _cl_offsets");
  // plugins/users (UsersTable::create_table)
  db.exec(R"sql(
    CREATE TABLE users (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      email TEXT NOT NULL COLLATE NOCASE UNIQUE,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    ) WITHOUT ROWID
  )sql");
  // core/store/store.cc
  db.exec(R"sql(
    CREATE TABLE _cl_offsets (
      topic TEXT NOT NULL,
      partition INTEGER NOT NULL,
      next_offset INTEGER NOT NULL,
      PRIMARY KEY (topic, partition)
    ) WITHOUT ROWID
  )sql");
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

struct Result {
  long events = 0;
  long transactions = 0;
  double seconds = 0;
};

// After a use, as StatementCache::Use does.
void done(SQLite::Statement& s) {
  s.reset();
  s.clearBindings();
}

void run(SQLite::Statement& s) {
  s.exec();
  done(s);
}

Result measure(SQLite::Database& db, const Options& o, long batch, uint64_t run_id) {
  fresh_tables(db);
  // The statements of Applier::apply_batch and UsersTable::handle_upsert.
  SQLite::Statement begin(db, "BEGIN IMMEDIATE");
  SQLite::Statement insert(db, "INSERT INTO users (id, name, email, created_at, updated_at) VALUES (?, ?, ?, ?, ?)");
  SQLite::Statement save_offset(db,
                                "INSERT INTO _cl_offsets (topic, partition, next_offset) VALUES (?, ?, ?) "
                                "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset");
  SQLite::Statement commit(db, "COMMIT");
  const std::string topic = "db_events";
  const std::string run_tag = std::to_string(run_id % 100000);
  std::mt19937_64 rng{run_id ^ static_cast<uint64_t>(batch)};

  Result r;
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  auto started = Clock::now();
  while (o.events > 0 ? r.events < o.events : Clock::now() < deadline) {
    long n = o.events > 0 ? std::min(batch, o.events - r.events) : batch;
    std::string ts = now_rfc3339();  // the events' timestamp (set by their producer, not the applier)
    run(begin);
    for (long i = 0; i < n; ++i) {
      long offset = r.events + i;
      // What an INSERT event carries: a new user's id, name and email.
      std::string id = o.random_ids ? uuid_v4(rng) : uuid_v7(rng);
      std::string name = "User " + std::to_string(offset);
      std::string email = "user" + std::to_string(offset) + "." + run_tag + "@example.com";
      insert.bindNoCopy(1, id);
      insert.bindNoCopy(2, name);
      insert.bindNoCopy(3, email);
      insert.bindNoCopy(4, ts);
      insert.bindNoCopy(5, ts);
      int rc = insert.tryExecuteStep();
      if (rc != SQLITE_DONE)
        throw std::runtime_error("INSERT of " + id + " failed: " + insert.getErrorMsg());
      done(insert);
    }
    // Once per transaction, as the applier does per batch and partition.
    save_offset.bind(1, topic);
    save_offset.bind(2, 0);
    save_offset.bind(3, static_cast<int64_t>(r.events + n));
    run(save_offset);
    run(commit);
    r.events += n;
    r.transactions += 1;
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - started).count();

  long long rows = db.execAndGet("SELECT count(*) FROM users").getInt64();
  if (rows != r.events)
    throw std::runtime_error("users table has " + std::to_string(rows) + " rows, expected " + std::to_string(r.events));
  long long next = db.execAndGet("SELECT next_offset FROM _cl_offsets WHERE topic = 'db_events' AND partition = 0")
                       .getInt64();
  if (next != r.events)
    throw std::runtime_error("_cl_offsets holds " + std::to_string(next) + ", expected " + std::to_string(r.events));
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool have_seconds = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value for " + a);
      return argv[++i];
    };
    if (a == "--seconds") {
      char* end = nullptr;
      std::string v = value();
      o.seconds = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || !(o.seconds > 0) || o.seconds > 3600) usage("--seconds must be > 0 and <= 3600");
      have_seconds = true;
    } else if (a == "--events") {
      o.events = number(value(), 1, 1000000000L, "--events");
    } else if (a == "--batch-sizes") {
      o.batches.clear();
      std::stringstream ss(value());
      std::string item;
      while (std::getline(ss, item, ',')) o.batches.push_back(number(item, 1, 1000000, "a batch size"));
      if (o.batches.empty()) usage("--batch-sizes needs at least one size");
    } else if (a == "--random-ids") {
      o.random_ids = true;
    } else if (a == "--cache-size") {
      o.cache_size = number(value(), -(1L << 30), 1L << 30, "--cache-size");
    } else if (a == "--remove-after") {
      o.remove_after = true;
    } else if (a == "-h" || a == "--help") {
      usage("");
    } else if (!a.empty() && a[0] == '-') {
      usage("unknown option " + a);
    } else if (o.path.empty()) {
      o.path = a;
    } else {
      usage("more than one database path");
    }
  }
  if (o.path.empty()) usage("a database path is required");
  if (have_seconds && o.events > 0) usage("give --seconds or --events, not both");

  namespace fs = std::filesystem;
  if (fs::exists(o.path) || fs::exists(o.path + "-wal"))
    usage(o.path + " exists; give the path of a new file (the measure needs a fresh database)");

  int rc = 0;
  try {
    // core/store/store.cc: open_connection for the writer.
    SQLite::Database db(o.path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX, 5000);
    db.exec("PRAGMA journal_mode=WAL");
    db.exec("PRAGMA synchronous=NORMAL");
    db.exec("PRAGMA wal_autocheckpoint=" + std::to_string(kWalCheckpointPages));
    db.exec("PRAGMA cache_size=" + std::to_string(o.cache_size));
    db.exec("PRAGMA foreign_keys=ON");
    std::string journal = db.execAndGet("PRAGMA journal_mode").getString();
    int synchronous = db.execAndGet("PRAGMA synchronous").getInt();
    int checkpoint = db.execAndGet("PRAGMA wal_autocheckpoint").getInt();
    long cache_size = db.execAndGet("PRAGMA cache_size").getInt();
    uint64_t run_id = std::random_device{}();
    std::printf("INFO sqlite=%s path=%s journal_mode=%s synchronous=%d wal_autocheckpoint=%d cache_size=%ld "
                "ids=%s per_event=insert offsets=per_transaction\n",
                SQLite::VERSION, o.path.c_str(), journal.c_str(), synchronous, checkpoint, cache_size,
                o.random_ids ? "uuidv4" : "uuidv7");
    std::fflush(stdout);
    for (long batch : o.batches) {
      Result r = measure(db, o, batch, run_id);
      std::string name = batch == 1 ? "single_txn" : "batch_" + std::to_string(batch);
      std::printf("RESULT measure=%s batch=%ld events=%ld transactions=%ld seconds=%.3f rate=%.0f txn_rate=%.0f\n",
                  name.c_str(), batch, r.events, r.transactions, r.seconds, r.events / r.seconds,
                  r.transactions / r.seconds);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "clusterlite-limit-sqlite: %s\n", e.what());
    rc = 1;
  }
  if (o.remove_after) {
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(o.path + suffix, ec);
  }
  return rc;
}
