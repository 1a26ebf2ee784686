#include "snapshot/bootstrap.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "log.h"
#include "sha256.h"
#include "snapshot/peer_client.h"
#include "store/store.h"
#include "timeutil.h"

namespace clusterlite {

namespace {

using Clock = std::chrono::steady_clock;

// A peer's /readyz must answer within this.
constexpr auto kReadyTimeout = std::chrono::seconds(5);

// A refusal: the reason, for the log line and the error of a node that
// finds no usable snapshot.
struct Refused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A file descriptor closed on scope exit.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error("cannot write the snapshot file: " + std::string(std::strerror(errno)));
    data += n;
    size -= static_cast<size_t>(n);
  }
}

// Everything but the download itself: the file at `path` as a database.
void check_contents(const std::string& path, const SnapshotInfo& announced, const SnapshotRequirements& wanted) {
  std::string topic;
  std::map<int32_t, int64_t> offsets;
  try {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    SQLite::Statement check(db, "PRAGMA integrity_check");
    std::string verdict = check.executeStep() ? check.getColumn(0).getString() : "no answer";
    if (verdict != "ok") throw Refused("the file fails SQLite's integrity check (" + verdict.substr(0, 200) + ")");
    for (const char* core : {"_cl_offsets", "_cl_rejected", "_cl_held", "_cl_plugins"}) {
      SQLite::Statement q(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
      q.bind(1, core);
      if (!q.executeStep()) throw Refused(std::string("it is not a ClusterLite database (no table ") + core + ")");
    }
    // A table the peer prepared must be in the copy; one it never prepared
    // (no plugin there) has its events, if any, in _cl_held, which this
    // node applies as it would any held event.
    for (auto& [table, version] : wanted.tables) {
      SQLite::Statement prepared(db, "SELECT version FROM _cl_plugins WHERE table_name = ?");
      prepared.bind(1, table);
      if (!prepared.executeStep()) continue;
      int theirs = prepared.getColumn(0).getInt();
      SQLite::Statement exists(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
      exists.bind(1, table);
      if (!exists.executeStep()) throw Refused("table " + table + " is missing although the peer prepared it");
      if (theirs > version)
        throw Refused("table " + table + " was prepared by plugin version " + std::to_string(theirs) +
                      ", newer than this node's version " + std::to_string(version));
    }
  } catch (const Refused&) {
    throw;
  } catch (const std::exception& e) {
    throw Refused(std::string("the file is not a usable database: ") + e.what());
  }
  try {
    read_recorded_log(path, topic, offsets);
  } catch (const std::exception& e) {
    throw Refused(std::string("the file's offsets cannot be read: ") + e.what());
  }
  if (offsets.empty()) throw std::runtime_error("the peer has not applied any event yet");
  if (topic != wanted.topic)
    throw Refused("its rows were applied from topic '" + (topic.empty() ? "(none)" : topic) +
                  "', not from this node's topic '" + wanted.topic + "'");
  if (offsets != announced.offsets)
    throw Refused("its offsets (" + format_offsets(offsets) + ") differ from the announced ones (" +
                  format_offsets(announced.offsets) + ")");
  std::map<int32_t, std::pair<int64_t, int64_t>> log;
  try {
    log = wanted.log_bounds();
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("cannot check the snapshot's offsets against the log: ") + e.what());
  }
  for (auto& [p, o] : offsets)
    if (!log.count(p)) throw Refused("it names partition " + std::to_string(p) + ", which the log does not have");
  for (auto& [p, range] : log) {
    int64_t o = offsets.count(p) ? offsets.at(p) : 0;
    if (o < range.first)
      throw Refused("its offset of partition " + std::to_string(p) + " (" + std::to_string(o) +
                    ") is no longer in the log, which starts at " + std::to_string(range.first));
    if (o > range.second)
      throw Refused("its offset of partition " + std::to_string(p) + " (" + std::to_string(o) +
                    ") is past the end of the log (" + std::to_string(range.second) + ")");
  }
}

// Downloads and checks the snapshot of one peer into `path`. Throws Refused
// or std::runtime_error (the peer cannot be reached).
SnapshotInfo fetch_one(const std::string& peer, const Config::Bootstrap& bootstrap, const std::string& path,
                       const SnapshotRequirements& wanted) {
  {
    PeerResponse ready(peer, "/readyz", {}, Clock::now() + kReadyTimeout);
    if (ready.status() != 200)
      throw std::runtime_error("not ready (GET /readyz answered " + std::to_string(ready.status()) + ")");
  }
  PeerResponse r(peer, "/_cluster/snapshot", bootstrap.token,
                 Clock::now() + std::chrono::milliseconds(bootstrap.timeout_ms));
  if (r.status() != 200) {
    // The problem's detail, as far as its Content-Length says (the peer may
    // keep the connection open after it).
    uint64_t length = 0;
    try {
      length = std::stoull(r.header("Content-Length").value_or("0"));
    } catch (const std::exception&) {
    }
    std::string body;
    r.read_body([&](const char* d, size_t n) { body.append(d, n); }, std::min<uint64_t>(length, 300));
    for (char& c : body)
      if (c == '\n' || c == '\r') c = ' ';
    throw std::runtime_error("GET /_cluster/snapshot answered " + std::to_string(r.status()) +
                             (body.empty() ? "" : ": " + body));
  }
  SnapshotInfo info;
  if (r.header("Content-Type").value_or("") != kSnapshotContentType)
    throw Refused("Content-Type is '" + r.header("Content-Type").value_or("") + "', not " + kSnapshotContentType);
  auto length = r.header("Content-Length");
  try {
    size_t used = 0;
    if (!length || length->empty()) throw std::invalid_argument("none");
    info.bytes = std::stoull(*length, &used);
    if (used != length->size()) throw std::invalid_argument("junk");
  } catch (const std::exception&) {
    throw Refused("no valid Content-Length");
  }
  auto digest = parse_repr_digest(r.header("Repr-Digest").value_or(""));
  if (!digest) throw Refused("no SHA-256 in a Repr-Digest header");
  info.sha256 = *digest;
  info.topic = r.header(kSnapshotTopicHeader).value_or("");
  if (info.topic != wanted.topic)
    throw Refused("it is a snapshot of topic '" + info.topic + "', not of this node's topic '" + wanted.topic + "'");
  auto offsets = parse_offsets(r.header(kSnapshotOffsetsHeader).value_or(""));
  if (!offsets) throw Refused(std::string("no valid ") + kSnapshotOffsetsHeader + " header");
  info.offsets = *offsets;
  info.taken_at = r.header(kSnapshotTakenAtHeader).value_or("");

  Fd out{::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  if (out.fd < 0) throw std::runtime_error("cannot create " + path + ": " + std::strerror(errno));
  Sha256 sha;
  uint64_t got = r.read_body(
      [&](const char* d, size_t n) {
        sha.update(d, n);
        write_all(out.fd, d, n);
      },
      info.bytes);
  if (got != info.bytes)
    throw Refused("the download is truncated: " + std::to_string(got) + " of " + std::to_string(info.bytes) +
                  " bytes");
  if (sha.finish() != info.sha256) throw Refused("its SHA-256 differs from the Repr-Digest the peer sent");
  if (::fsync(out.fd) != 0) throw std::runtime_error("cannot sync " + path + ": " + std::strerror(errno));
  check_contents(path, info, wanted);
  return info;
}

}  // namespace

std::optional<FetchedSnapshot> fetch_snapshot(const Config::Bootstrap& bootstrap, const std::string& db_path,
                                              const SnapshotRequirements& wanted, std::vector<std::string>& refusals) {
  const std::string path = bootstrap_download_path(db_path);
  for (const auto& peer : bootstrap.peers) {
    auto started = Clock::now();
    std::error_code ignored;
    try {
      log::info("bootstrap", "asking " + peer + " for a snapshot");
      SnapshotInfo info = fetch_one(peer, bootstrap, path, wanted);
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
      log::info("bootstrap", "fetched and checked the snapshot of " + peer + ": " + std::to_string(info.bytes) +
                                 " bytes, topic " + info.topic + ", offsets " + format_offsets(info.offsets) +
                                 ", taken at " + info.taken_at + ", in " + std::to_string(ms) + " ms");
      return FetchedSnapshot{peer, std::move(info), path};
    } catch (const Refused& e) {
      std::filesystem::remove(path, ignored);
      log::error("bootstrap", "refused the snapshot of " + peer + ": " + e.what());
      refusals.push_back(peer + ": refused, " + e.what());
    } catch (const std::exception& e) {
      std::filesystem::remove(path, ignored);
      log::warn("bootstrap", "no snapshot from " + peer + ": " + e.what());
      refusals.push_back(peer + ": " + e.what());
    }
  }
  return std::nullopt;
}

void install_snapshot(const FetchedSnapshot& fetched, const std::string& db_path, const std::string& reason) {
  namespace fs = std::filesystem;
  {
    SQLite::Database db(fetched.path, SQLite::OPEN_READWRITE);
    create_snapshot_origin_table(db);
    SQLite::Transaction tx(db);
    db.exec("DELETE FROM _cl_snapshot_origin");
    SQLite::Statement q(db,
                        "INSERT INTO _cl_snapshot_origin (id, peer, topic, offsets, sha256, bytes, taken_at, "
                        "installed_at, reason) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)");
    q.bind(1, fetched.peer);
    q.bind(2, fetched.info.topic);
    q.bind(3, format_offsets(fetched.info.offsets));
    q.bind(4, to_hex(fetched.info.sha256));
    q.bind(5, static_cast<int64_t>(fetched.info.bytes));
    q.bind(6, fetched.info.taken_at);
    q.bind(7, format_rfc3339(std::chrono::system_clock::now()));
    q.bind(8, reason);
    q.exec();
    tx.commit();
  }
  // The old database's WAL belongs to the old file: a WAL left beside the
  // new file would be applied to it. The database is closed, so what its
  // last connection did not remove is stale.
  std::error_code ignored;
  fs::remove(db_path + "-wal", ignored);
  fs::remove(db_path + "-shm", ignored);
  if (std::rename(fetched.path.c_str(), db_path.c_str()) != 0)
    throw std::runtime_error("cannot move the snapshot to " + db_path + ": " + std::strerror(errno));
  // The rename is durable once the folder is synced.
  fs::path dir = fs::path(db_path).parent_path();
  Fd d{::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd >= 0) ::fsync(d.fd);
  log::info("bootstrap", "installed the snapshot of " + fetched.peer + " as " + db_path + " (" + reason +
                             "); applying the log from offsets " + format_offsets(fetched.info.offsets));
}

}  // namespace clusterlite
