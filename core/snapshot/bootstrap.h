// Bootstrap: a replica-mode node that has no data of its own, or (with
// bootstrap.when_behind) whose next offsets are no longer in the log, takes a
// snapshot from a peer (GET /_cluster/snapshot), checks it, and replaces its
// database with it; the applier then continues from the snapshot's offsets.
//
// What makes a snapshot usable is the same on every node: its digest and
// length match what the peer announced, SQLite finds the file intact, it was
// built from this node's topic, its offsets lie within the log as the broker
// has it now, and it holds every table this node serves that the peer
// prepared. Anything else is refused with one log line and never installed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "snapshot/snapshot_file.h"

namespace clusterlite {

// What a snapshot must satisfy to be installed on this node.
struct SnapshotRequirements {
  std::string topic;
  // The tables this node's plugins serve, with their versions.
  std::map<std::string, int> tables;
  // Per partition of the log: its first kept offset and its end, asked of
  // the broker once a snapshot is downloaded (writes go on meanwhile). A
  // snapshot's offset of each partition must lie between them (a partition
  // it does not name counts as offset 0).
  std::function<std::map<int32_t, std::pair<int64_t, int64_t>>()> log_bounds;
};

struct FetchedSnapshot {
  std::string peer;  // the URL it came from
  SnapshotInfo info;
  std::string path;  // the checked file, bootstrap_download_path(db)
};

// Asks each of `bootstrap.peers` in order: one that is not ready (/readyz) is
// skipped, one whose snapshot fails a check is refused (a log line each, and
// the reason appended to `refusals`). Returns the first snapshot that passes
// every check, downloaded beside `db_path`; nullopt when no peer gave one.
std::optional<FetchedSnapshot> fetch_snapshot(const Config::Bootstrap& bootstrap, const std::string& db_path,
                                              const SnapshotRequirements& wanted, std::vector<std::string>& refusals);

// Records in the fetched file where it came from (_cl_snapshot_origin, with
// `reason`), then moves it over `db_path` in one rename, so the database is
// either the old one or the whole snapshot. The database must be closed.
// Throws std::runtime_error.
void install_snapshot(const FetchedSnapshot& fetched, const std::string& db_path, const std::string& reason);

}  // namespace clusterlite
