#include "snapshot/snapshot_file.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "log.h"
#include "sha256.h"
#include "store/store.h"
#include "timeutil.h"

namespace clusterlite {

namespace {

std::atomic<uint64_t> g_snapshot_counter{0};

// Copies the database at `from` into the new file `to` with SQLite's online
// backup in a single step: one read transaction on a read-only connection of
// its own, so the copy holds exactly the commits finished when it began
// (_cl_offsets included) while the applier keeps committing beside it. Pages
// are copied as they are, which costs far less than VACUUM INTO rebuilding
// every table and index. The copy is unlinked as soon as it is made and only
// read back, so it is written without journal or fsync.
void copy_database(const std::string& from, const std::string& to, int busy_timeout_ms) {
  {
    auto source = open_connection(from, /*read_only=*/true, busy_timeout_ms);
    SQLite::Database target(to, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    target.exec("PRAGMA journal_mode=OFF");
    target.exec("PRAGMA synchronous=OFF");
    sqlite3_backup* backup = sqlite3_backup_init(target.getHandle(), "main", source->getHandle(), "main");
    if (!backup) throw std::runtime_error(sqlite3_errmsg(target.getHandle()));
    int rc = sqlite3_backup_step(backup, -1);
    sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE) throw std::runtime_error(std::string("backup failed: ") + sqlite3_errstr(rc));
  }
  // The pages came with the source's WAL mode in their header. A snapshot is
  // one self-contained file: in rollback-journal mode it opens read-only
  // without -wal and -shm files beside it (SQLite removes the ones this
  // switch makes).
  SQLite::Database copy(to, SQLite::OPEN_READWRITE);
  copy.exec("PRAGMA synchronous=OFF");
  if (auto mode = copy.execAndGet("PRAGMA journal_mode=DELETE").getString(); mode != "delete")
    throw std::runtime_error("the copy stays in journal mode " + mode);
}

}  // namespace

std::string format_offsets(const std::map<int32_t, int64_t>& offsets) {
  std::string out;
  for (auto [p, o] : offsets) out += (out.empty() ? "" : ",") + std::to_string(p) + ":" + std::to_string(o);
  return out;
}

std::optional<std::map<int32_t, int64_t>> parse_offsets(std::string_view text) {
  std::map<int32_t, int64_t> out;
  if (text.empty()) return out;  // a database that has applied nothing yet
  if (text.size() > 100000) return std::nullopt;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(pos, end - pos);
    size_t colon = item.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    int32_t p = -1;
    int64_t o = -1;
    auto r1 = std::from_chars(item.data(), item.data() + colon, p);
    auto r2 = std::from_chars(item.data() + colon + 1, item.data() + item.size(), o);
    if (r1.ec != std::errc() || r1.ptr != item.data() + colon || r2.ec != std::errc() ||
        r2.ptr != item.data() + item.size() || p < 0 || o < 0 || out.count(p))
      return std::nullopt;
    out[p] = o;
    pos = end + 1;
  }
  return out;
}

void read_recorded_log(const std::string& path, std::string& topic, std::map<int32_t, int64_t>& offsets) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT topic, partition, next_offset FROM _cl_offsets ORDER BY topic, partition");
  topic.clear();
  offsets.clear();
  while (q.executeStep()) {
    std::string t = q.getColumn(0).getString();
    if (!topic.empty() && t != topic)
      throw std::runtime_error("it records more than one log (" + topic + ", " + t + ")");
    topic = t;
    offsets[q.getColumn(1).getInt()] = q.getColumn(2).getInt64();
  }
}

std::unique_ptr<SnapshotFile> SnapshotFile::take(const std::string& db_path, int busy_timeout_ms) {
  const std::string tmp = db_path + ".snapshot-" + std::to_string(::getpid()) + "-" +
                          std::to_string(g_snapshot_counter.fetch_add(1)) + ".tmp";
  std::error_code ignored;
  std::filesystem::remove(tmp, ignored);
  SnapshotInfo info;
  try {
    copy_database(db_path, tmp, busy_timeout_ms);
    info.taken_at = format_rfc3339(std::chrono::system_clock::now());
    read_recorded_log(tmp, info.topic, info.offsets);
  } catch (const std::exception& e) {
    std::filesystem::remove(tmp, ignored);
    throw std::runtime_error(std::string("cannot take a snapshot: ") + e.what());
  }
  int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  int open_errno = errno;
  std::filesystem::remove(tmp, ignored);
  if (fd < 0) throw std::runtime_error("cannot open the snapshot file: " + std::string(std::strerror(open_errno)));
  // The digest is sent before the body, so it is computed first.
  Sha256 sha;
  std::vector<char> buf(1 << 20);
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(total));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      throw std::runtime_error("cannot read the snapshot file: " + std::string(std::strerror(err)));
    }
    if (n == 0) break;
    sha.update(buf.data(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
  }
  info.bytes = total;
  info.sha256 = sha.finish();
  return std::unique_ptr<SnapshotFile>(new SnapshotFile(fd, std::move(info)));
}

SnapshotFile::~SnapshotFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::string bootstrap_download_path(const std::string& db_path) { return db_path + ".bootstrap.tmp"; }

void remove_stale_snapshot_files(const std::string& db_path) {
  namespace fs = std::filesystem;
  fs::path db(db_path);
  fs::path dir = db.parent_path().empty() ? fs::path(".") : db.parent_path();
  const std::string prefix = db.filename().string() + ".snapshot-";
  std::error_code ec;
  for (auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    bool stale = (name.rfind(prefix, 0) == 0 && name.size() > 4 && name.ends_with(".tmp")) ||
                 entry.path() == fs::path(bootstrap_download_path(db_path)) ||
                 name == fs::path(bootstrap_download_path(db_path)).filename().string() + "-journal";
    if (!stale) continue;
    std::error_code rm;
    if (fs::remove(entry.path(), rm))
      log::info("snapshot", "removed " + entry.path().string() + " left by an earlier run");
  }
}

}  // namespace clusterlite
