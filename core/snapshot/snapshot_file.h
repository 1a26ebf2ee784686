// Snapshots: a consistent copy of a node's database, and what it reflects.
//
// A snapshot is one SQLite file copied with SQLite's online backup inside one
// read transaction, so its rows and its _cl_offsets (the next offset of each
// partition) belong to the same moment of the log: a node that installs it
// continues from those offsets and ends up with what every other node has.
// GET /_cluster/snapshot serves one; bootstrap (snapshot/bootstrap.h) fetches,
// checks and installs one.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace clusterlite {

// The response headers of GET /_cluster/snapshot besides Content-Length,
// Content-Type (kSnapshotContentType) and Repr-Digest (its SHA-256).
inline constexpr const char* kSnapshotContentType = "application/vnd.sqlite3";
inline constexpr const char* kSnapshotTopicHeader = "ClusterLite-Snapshot-Topic";
inline constexpr const char* kSnapshotOffsetsHeader = "ClusterLite-Snapshot-Offsets";
inline constexpr const char* kSnapshotTakenAtHeader = "ClusterLite-Snapshot-Taken-At";

// What a snapshot reflects.
struct SnapshotInfo {
  std::string topic;                  // the log its rows were applied from
  std::map<int32_t, int64_t> offsets;  // next offset to apply, per partition
  uint64_t bytes = 0;
  std::array<unsigned char, 32> sha256{};
  std::string taken_at;  // RFC 3339
};

// "0:120,1:98,2:133": partition:next_offset, in partition order.
std::string format_offsets(const std::map<int32_t, int64_t>& offsets);
// The inverse ("" is no offsets); nullopt for anything malformed (negative
// or repeated partitions, junk).
std::optional<std::map<int32_t, int64_t>> parse_offsets(std::string_view text);

// The topic and offsets recorded in the database file at `path` (its
// _cl_offsets), opened read-only. Throws std::runtime_error when the file is
// not a ClusterLite database or records more than one topic.
void read_recorded_log(const std::string& path, std::string& topic, std::map<int32_t, int64_t>& offsets);

// A snapshot taken into a temporary file beside the database. The file is
// unlinked as soon as it is open, so it disappears when this object closes
// it, whatever happens to the request that asked for it, and a crash leaves
// at most a file of an unfinished copy (remove_stale_snapshot_files()).
class SnapshotFile {
 public:
  // Takes the copy on a read-only connection of its own: the applier keeps
  // writing meanwhile. Throws std::runtime_error (disk full, I/O error).
  static std::unique_ptr<SnapshotFile> take(const std::string& db_path, int busy_timeout_ms);
  ~SnapshotFile();
  SnapshotFile(const SnapshotFile&) = delete;
  SnapshotFile& operator=(const SnapshotFile&) = delete;

  int fd() const { return fd_; }
  const SnapshotInfo& info() const { return info_; }

 private:
  SnapshotFile(int fd, SnapshotInfo info) : fd_(fd), info_(std::move(info)) {}
  int fd_;
  SnapshotInfo info_;
};

// Removes what a node that died while taking or fetching a snapshot left
// beside its database: "<db>.snapshot-*.tmp" and "<db>.bootstrap.tmp".
void remove_stale_snapshot_files(const std::string& db_path);

// The file a bootstrap downloads into before it replaces the database.
std::string bootstrap_download_path(const std::string& db_path);

}  // namespace clusterlite
