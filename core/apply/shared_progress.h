// SharedProgressWatcher: in shared mode several nodes apply one database
// file, each the partitions its consumer group gave it. A write taken by this
// node may be applied by another node, so this node's applier never reports
// it. While the CompletionHub has waiters, the watcher reads the shared
// _cl_offsets every few milliseconds and reports what other nodes applied:
// the offsets (for strong reads) and the verdict of each armed write they
// covered, from _cl_rejected (no row there means it applied cleanly) and
// _cl_held (a node without the table's plugin holds it).
#pragma once

#include <SQLiteCpp/Database.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "apply/completion_hub.h"

namespace clusterlite {

class SharedProgressWatcher {
 public:
  // Opens its own read connection to `db_path` and starts its thread.
  SharedProgressWatcher(const std::string& db_path, int busy_timeout_ms, std::string topic, CompletionHub& hub);
  ~SharedProgressWatcher();

  // Stops and joins the thread. Idempotent.
  void stop();

 private:
  void run();
  void scan();

  std::unique_ptr<SQLite::Database> db_;
  const std::string topic_;
  CompletionHub& hub_;
  // Offsets read one scan earlier. A write counts as applied elsewhere once
  // these cover it, so when this node applied it itself, its own applier
  // (which reports right after committing) answers first, with the full verdict.
  std::map<int32_t, int64_t> previous_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace clusterlite
