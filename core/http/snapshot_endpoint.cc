#include "http/snapshot_endpoint.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "log.h"
#include "sha256.h"
#include "snapshot/snapshot_file.h"

namespace clusterlite {

void serve_snapshot(const NodeServices& services, Responder& r, const std::function<bool()>& cancelled) {
  using Clock = std::chrono::steady_clock;
  // The copy and its digest take CPU the applier and the request threads
  // need to keep writes going: this thread (one of the snapshot pool's)
  // yields to them. Raising one's own nice value needs no privilege.
  static thread_local bool lowered = [] {
    return setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kSnapshotNice) == 0;
  }();
  (void)lowered;
  auto started = Clock::now();
  std::unique_ptr<SnapshotFile> file;
  try {
    file = SnapshotFile::take(services.store.path(), services.config.database.busy_timeout_ms);
  } catch (const std::exception& e) {
    log::error("snapshot", e.what());
    return r.problem(500, "cannot take a snapshot of this node's database; see its log");
  }
  const SnapshotInfo& info = file->info();
  auto taken_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  // A database that has applied nothing names no topic in its offsets; the
  // header names the node's log all the same.
  r.add_header(kSnapshotTopicHeader, info.topic.empty() ? services.log.topic() : info.topic);
  r.add_header(kSnapshotOffsetsHeader, format_offsets(info.offsets));
  r.add_header(kSnapshotTakenAtHeader, info.taken_at);
  r.add_header("Repr-Digest", repr_digest(info.sha256));
  r.add_header("Cache-Control", "no-store");
  bool whole = r.send_file(200, file->fd(), info.bytes, kSnapshotContentType,
                           std::chrono::duration_cast<std::chrono::milliseconds>(kSnapshotStall), cancelled);
  auto total_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  std::string what = "snapshot of " + std::to_string(info.bytes) + " bytes at offsets " +
                     format_offsets(info.offsets) + " of " + info.topic + " (taken in " + std::to_string(taken_ms) +
                     " ms)";
  if (whole)
    log::info("snapshot", "sent a " + what + " in " + std::to_string(total_ms) + " ms");
  else
    log::warn("snapshot", "a " + what + " was not sent whole: the client went away, took nothing for " +
                              std::to_string(kSnapshotStall.count()) + " s, or the node is stopping");
}

}  // namespace clusterlite
