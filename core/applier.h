// Applier: the one writer of a node's database. Reads events from the
// EventLog in order, applies each through its plugin (a refused event is
// undone by a savepoint and recorded in _cl_rejected), and commits a whole
// batch together with the next offset of every partition it touched. A crash
// therefore never applies an event twice or skips one.
#pragma once

#include <clusterlite/statement_cache.h>
#include <clusterlite/status.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "event_log.h"
#include "metrics.h"
#include "registry.h"
#include "store.h"

namespace clusterlite {

struct AppliedEvent {
  std::string event_id;  // "" when the record was not a decodable event
  int32_t partition = 0;
  int64_t offset = 0;
  Status status;  // ok, or why the event was rejected
  // The entity as the event left it (the plugin's get() in the applying
  // transaction), read only for events the listener awaits; empty otherwise
  // and after a DELETE.
  std::optional<std::string> row;
  // The event's timestamp (when its node accepted the write); the epoch when
  // the record was not a decodable event.
  std::chrono::system_clock::time_point written_at{};
};

// Told about each committed batch, on the applier thread; must not block.
class ApplyListener {
 public:
  virtual ~ApplyListener() = default;
  virtual void on_applied(std::vector<AppliedEvent> batch, const std::map<int32_t, int64_t>& next_offsets) = 0;
  // Whether a request waits for event `event_id`: the applier then reads the
  // entity back while its pages are in the writer's cache, which is cheaper
  // than a read transaction on another connection after the commit.
  virtual bool awaits(const std::string& event_id) const {
    (void)event_id;
    return false;
  }
};

struct ApplierStats {
  uint64_t applied = 0;
  uint64_t rejected = 0;
  uint64_t batches = 0;
  uint64_t failed_commits = 0;
  uint64_t fenced_batches = 0;  // applied again with a savepoint per event, after a refusal
};

class Applier {
 public:
  // `listener` and `metrics` may be null.
  Applier(Store& store, const PluginRegistry& registry, EventLog& log, int max_batch, ApplyListener* listener,
          Metrics* metrics = nullptr);
  ~Applier();

  // Creates every plugin's table (one transaction), positions the log at the
  // stored offsets and starts the applier thread. Throws if a table cannot be made.
  void start();

  // Stops after the batch in progress is committed; joins the thread.
  void stop();

  // Next offset to apply per partition, as committed.
  std::map<int32_t, int64_t> applied() const;
  ApplierStats stats() const;

  // Applies `records` in one transaction; the applier thread's unit of work,
  // public so tests can drive it without a thread. Retries are the caller's job:
  // throws if the transaction could not be committed (nothing was applied).
  std::vector<AppliedEvent> apply_batch(const std::vector<LogRecord>& records);

 private:
  void run();
  // One attempt at a batch; nullopt when `fenced` is false and the plugin
  // refused an event (the transaction was rolled back).
  std::optional<std::vector<AppliedEvent>> try_batch(const std::vector<LogRecord>& records, bool fenced);
  std::optional<int64_t> stored_offset(int32_t partition);

  Store& store_;
  const PluginRegistry& registry_;
  EventLog& log_;
  int max_batch_;
  ApplyListener* listener_;
  Metrics* metrics_;
  StatementCache statements_;  // on the writer connection; used by the applier thread only
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::map<int32_t, int64_t> applied_;  // guarded by mutex_
  ApplierStats stats_;                  // guarded by mutex_
};

}  // namespace clusterlite
