// GET /_cluster/snapshot: a consistent copy of the node's database
// (snapshot/snapshot_file.h) streamed to the client with Content-Length,
// Content-Type application/vnd.sqlite3, Repr-Digest (SHA-256), and the topic
// and offsets it reflects. The copy is taken on a read connection of its
// own, so the applier keeps writing while it is made and sent.
#pragma once

#include <chrono>
#include <functional>

#include "http/http_api.h"
#include "http/responder.h"

namespace clusterlite {

// Snapshots a node makes at once; a request beyond them is answered 503
// with Retry-After. Each copy costs a read of the whole database, disk space
// for the copy and one thread while the client downloads it.
inline constexpr int kMaxSnapshotsAtOnce = 2;
// A client that takes nothing of the body for this long is dropped (and its
// copy deleted).
inline constexpr std::chrono::seconds kSnapshotStall{30};

// The nice value of the threads that take and send snapshots.
inline constexpr int kSnapshotNice = 10;

// Takes the copy and sends it; blocks until the client has it, went away or
// `cancelled()` (the node is stopping). Run it off the reactor threads.
void serve_snapshot(const NodeServices& services, Responder& r, const std::function<bool()>& cancelled);

}  // namespace clusterlite
