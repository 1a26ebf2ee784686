// clusterlite-limit-sqlite: how fast SQLite on this machine can do the writes
// a ClusterLite applier does, with no ClusterLite code in the way.
//
// Opens a fresh database file with the node's connection settings
// (core/store.cc: journal_mode=WAL, synchronous=NORMAL, foreign_keys=ON), the
// users table of plugins/users and the node's _cl_offsets table. Each event is
// what the users plugin does for an INSERT event (UsersTable::handle_upsert:
// id lookup, email-in-use lookup, INSERT of a new row) plus the applier's
// offset upsert (INSERT ... ON CONFLICT DO UPDATE on _cl_offsets). Statements
// are prepared once; every transaction is BEGIN IMMEDIATE ... COMMIT like the
// applier's. For each batch size B it measures events per second with B events
// per transaction, on fresh tables.
//
//   clusterlite-limit-sqlite DB_PATH [--seconds S | --events N]
//       [--batch-sizes 1,100,1000] [--offsets event|transaction] [--savepoint]
//       [--cache-size N] [--remove-after]
//
// --offsets transaction writes the offset row once per transaction (as the
// applier does per batch) instead of once per event; --savepoint wraps each
// event in SAVEPOINT/RELEASE as the applier does; --cache-size sets
// PRAGMA cache_size (pages, or KiB when negative) for a node that sets it too.
// Prints one line per measure:
//   RESULT measure=single_txn batch=1 events=.. transactions=.. seconds=.. rate=.. txn_rate=..
// (measure=batch_<B> for B > 1; rate is events per second).

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

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

[[noreturn]] void usage(const std::string& msg) {
  if (!msg.empty()) std::cerr << "clusterlite-limit-sqlite: " << msg << "\n";
  std::cerr << "usage: clusterlite-limit-sqlite DB_PATH [--seconds S | --events N] [--batch-sizes 1,100,1000]\n"
               "                                [--offsets event|transaction] [--savepoint] [--cache-size N]\n"
               "                                [--remove-after]\n";
  std::exit(2);
}

long number(const std::string& s, long lo, long hi, const std::string& what) {
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end || v < lo || v > hi) usage(what + " must be an integer from " + std::to_string(lo) + " to " +
                                                   std::to_string(hi));
  return v;
}

// A random UUID v4, like the ids the users plugin creates (random keys spread
// the inserts over the primary-key B-tree as in production).
std::string uuid_v4(std::mt19937_64& rng) {
  uint64_t hi = (rng() & 0xFFFFFFFFFFFF0FFFULL) | 0x4000ULL;
  uint64_t lo = (rng() & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

std::string now_rfc3339() {
  auto now = std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(ms));
  return buf;
}

struct Options {
  std::string path;
  double seconds = 3;
  long events = 0;  // > 0: a fixed number of events per measure instead of a fixed time
  std::vector<long> batches{1, 100, 1000};
  bool offset_per_event = true;
  bool savepoint = false;
  bool remove_after = false;
  std::string cache_size;  // empty: SQLite's default
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
    )
  )sql");
  // core/store.cc
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

Result measure(SQLite::Database& db, const Options& o, long batch, uint64_t run_id) {
  fresh_tables(db);
  // The statements of UsersTable::handle_upsert and Applier::apply_batch.
  SQLite::Statement exists(db, "SELECT 1 FROM users WHERE id = ?");
  SQLite::Statement email_taken(db, "SELECT 1 FROM users WHERE email = ? AND id <> ?");
  SQLite::Statement insert(db, "INSERT INTO users (id, name, email, created_at, updated_at) VALUES (?, ?, ?, ?, ?)");
  SQLite::Statement save(db,
                         "INSERT INTO _cl_offsets (topic, partition, next_offset) VALUES (?, ?, ?) "
                         "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset");
  SQLite::Statement begin(db, "BEGIN IMMEDIATE");
  SQLite::Statement commit(db, "COMMIT");
  SQLite::Statement sp(db, "SAVEPOINT apply_event");
  SQLite::Statement release(db, "RELEASE apply_event");
  const std::string topic = "db_events";
  std::mt19937_64 rng{run_id ^ static_cast<uint64_t>(batch)};

  auto run = [](SQLite::Statement& s) {
    s.exec();
    s.reset();
  };
  auto write_offset = [&](long offset) {
    save.bind(1, topic);
    save.bind(2, 0);
    save.bind(3, static_cast<int64_t>(offset + 1));
    run(save);
  };

  Result r;
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  auto started = Clock::now();
  while (o.events > 0 ? r.events < o.events : Clock::now() < deadline) {
    long n = o.events > 0 ? std::min(batch, o.events - r.events) : batch;
    std::string ts = now_rfc3339();
    run(begin);
    for (long i = 0; i < n; ++i) {
      long offset = r.events + i;
      std::string id = uuid_v4(rng);
      std::string email = "user" + std::to_string(offset) + "." + std::to_string(run_id % 100000) + "@example.com";
      std::string name = "User " + std::to_string(offset);
      if (o.savepoint) run(sp);
      exists.bind(1, id);
      if (exists.executeStep()) throw std::runtime_error("id exists: " + id);
      exists.reset();
      email_taken.bind(1, email);
      email_taken.bind(2, id);
      if (email_taken.executeStep()) throw std::runtime_error("email in use: " + email);
      email_taken.reset();
      insert.bind(1, id);
      insert.bind(2, name);
      insert.bind(3, email);
      insert.bind(4, ts);
      insert.bind(5, ts);
      run(insert);
      if (o.savepoint) run(release);
      if (o.offset_per_event) write_offset(offset);
    }
    if (!o.offset_per_event) write_offset(r.events + n - 1);
    run(commit);
    r.events += n;
    r.transactions += 1;
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - started).count();

  SQLite::Statement count(db, "SELECT count(*) FROM users");
  count.executeStep();
  if (count.getColumn(0).getInt64() != r.events)
    throw std::runtime_error("users table has " + std::to_string(count.getColumn(0).getInt64()) + " rows, expected " +
                             std::to_string(r.events));
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
    } else if (a == "--offsets") {
      std::string v = value();
      if (v == "event") o.offset_per_event = true;
      else if (v == "transaction") o.offset_per_event = false;
      else usage("--offsets must be event or transaction");
    } else if (a == "--savepoint") {
      o.savepoint = true;
    } else if (a == "--cache-size") {
      o.cache_size = std::to_string(number(value(), -(1L << 30), 1L << 30, "--cache-size"));
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
    // core/store.cc: open_connection for the writer.
    SQLite::Database db(o.path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX, 5000);
    db.exec("PRAGMA journal_mode=WAL");
    db.exec("PRAGMA synchronous=NORMAL");
    db.exec("PRAGMA foreign_keys=ON");
    if (!o.cache_size.empty()) db.exec("PRAGMA cache_size=" + o.cache_size);
    long cache_size = db.execAndGet("PRAGMA cache_size").getInt();
    uint64_t run_id = std::random_device{}();
    std::printf("INFO sqlite=%s path=%s offsets=%s savepoint=%s cache_size=%ld\n", SQLite::VERSION, o.path.c_str(),
                o.offset_per_event ? "event" : "transaction", o.savepoint ? "on" : "off", cache_size);
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
