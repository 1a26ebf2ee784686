// Applier: the one writer of a node's database. Reads events from the
// EventLog in order, applies each through its plugin (a refused event is
// undone by a savepoint and recorded in _cl_rejected), and commits a whole
// batch together with the next offset of every partition it touched. A crash
// therefore never applies an event twice or skips one.
//
// An event this node cannot apply as every other node would is held, never
// guessed at: an event of a table no loaded plugin serves, or built by a newer
// version of the table's plugin than this node runs, goes to _cl_held (in the
// batch's transaction), and so does every later event of that table. The
// table is pending until a plugin that can apply them is installed
// (install(): a reload); the held events are then applied first, in log
// order, before any later event of the table. Each table's rows depend only
// on its own events in order, so the result equals that of a node that had
// the plugin all along.
//
// An event carrying an Idempotency-Key already recorded for its table is not
// applied again (a retry); its outcome and the history of each entity are
// recorded in the same transaction (apply/idempotency.h).
#pragma once

#include <clusterlite/event.h>
#include <clusterlite/statement_cache.h>
#include <clusterlite/status.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "apply/idempotency.h"
#include "apply/rejection_log.h"
#include "apply/table_partitions.h"
#include "eventlog/event_codec.h"
#include "eventlog/event_log.h"
#include "metrics.h"
#include "plugins/registry.h"
#include "store/store.h"

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
  // Held for a plugin this node lacks (status is then ok and says nothing).
  bool held = false;
  // The outcome recorded for the event's Idempotency-Key by an earlier event,
  // when the key was live: the event was not applied (a retry), or refused
  // (another request with the key).
  std::shared_ptr<const RecordedOutcome> earlier;
  // Reported by the SharedProgressWatcher: only the verdict is known.
  bool from_shared_file = false;
  // The event's table; and, when the listener wants_changes(), its
  // operation, data (JSON text) and timestamp (for the change stream).
  std::string table;
  Operation operation = Operation::kInsert;
  std::string data;
  std::string timestamp;
};

// A table whose events this node holds (see above).
struct PendingTable {
  std::string table;
  uint64_t held_events = 0;
  int needs_version = 0;  // the newest plugin version among its held events
  std::string reason;     // why its first held event was held
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
  // Whether each applied event's operation, data and timestamp are wanted in
  // its AppliedEvent (GET /_changes).
  virtual bool wants_changes() const { return false; }
};

struct ApplierStats {
  uint64_t applied = 0;
  uint64_t rejected = 0;
  uint64_t batches = 0;
  uint64_t failed_commits = 0;
  uint64_t fenced_batches = 0;  // applied again with a savepoint per event, after a refusal
  uint64_t read_by_applier = 0;  // with read-ahead: batches the applier read itself (caught up)
  uint64_t held = 0;             // events held for a plugin this node lacks
  uint64_t released = 0;         // held events applied (or rejected) once a plugin could
  uint64_t replayed = 0;         // retries (an Idempotency-Key seen before) not applied again
};

// Records read from the log and their events, decoded before the batch's
// transaction begins (and once only, also when a refused event has the batch
// applied again). Every event's JSON lives in the batch's one pool.
struct DecodedBatch {
  std::vector<LogRecord> records;
  std::vector<DatabaseEvent> events;  // events[i] decoded from records[i]
  std::vector<std::string> errors;    // "" or why records[i] is not an event
  std::vector<std::chrono::system_clock::time_point> written_at;  // events[i]'s timestamp; the epoch if none
  std::vector<IdempotencyStamp> idempotency;                       // events[i]'s Idempotency-Key, if any
  // For a batch of held events being released: their _cl_held rows (else empty).
  std::vector<int64_t> held_seq;
  rapidjson::MemoryPoolAllocator<> pool;

  DecodedBatch() = default;
  DecodedBatch(const DecodedBatch&) = delete;
  DecodedBatch& operator=(const DecodedBatch&) = delete;
  // Decodes `records` into events and errors.
  void decode();
  // Empties the batch for reuse (its vectors keep their capacity).
  void clear();
};

class Applier {
 public:
  // `listener` and `metrics` may be null. With `read_ahead`, a second thread
  // reads and decodes the next batch while this one is applied; only for a
  // log whose poll() may run on another thread than the applier's and whose
  // partitions are never taken away (replica mode).
  // `registry`'s set is put in force by start() and replaced by install().
  Applier(Store& store, PluginRegistry& registry, EventLog& log, int max_batch, ApplyListener* listener,
          Metrics* metrics = nullptr, bool read_ahead = false);
  ~Applier();

  // Prepares every plugin's table (one transaction), applies held events the
  // plugins can serve now, positions the log at the stored offsets and starts
  // the applier thread. Throws if a table cannot be made.
  void start();

  // Puts `plugins` in force, on the applier thread between two batches:
  // prepares their tables (one transaction), publishes the set to the
  // registry, then applies the held events it can serve. Returns "" once
  // published, or the one-line reason it was refused (nothing changed then);
  // also when the applier is not running or does not get to it in `timeout`.
  std::string install(std::shared_ptr<const PluginSet> plugins, std::chrono::milliseconds timeout);

  // The tables this node holds events for, by name.
  std::vector<PendingTable> pending() const;
  // Whether `table` is pending here (and how, into `out` when given); cheap
  // when nothing is.
  bool is_pending(std::string_view table, PendingTable* out = nullptr) const;

  // Stops after the batch in progress is committed; joins the thread.
  void stop();

  // Next offset to apply per partition, as committed.
  std::map<int32_t, int64_t> applied() const;
  // Tables whose events arrived on more than one partition (TablePartitions).
  std::vector<MisroutedTable> misrouted() const { return table_partitions_.misrouted(); }
  // The partition the events of `table` applied here are in (the first one,
  // if it is misrouted); std::nullopt when none was applied yet.
  std::optional<int32_t> partition_of(const std::string& table) const {
    return table_partitions_.first_partition(table);
  }
  ApplierStats stats() const;

  // Applies `records` in one transaction; the applier thread's unit of work,
  // public so tests can drive it without a thread. Retries are the caller's job:
  // throws if the transaction could not be committed (nothing was applied).
  std::vector<AppliedEvent> apply_batch(const std::vector<LogRecord>& records);
  // The same for a batch decoded already.
  std::vector<AppliedEvent> apply_batch(const DecodedBatch& batch);

 private:
  void run();
  // Reads the log into `batch` and decodes it; false when nothing came.
  bool read(DecodedBatch& batch);
  // Applies `batch`, retrying until it commits or the applier stops; tells the listener.
  void apply_and_publish(const DecodedBatch& batch);
  // The read-ahead thread: fills batches for run().
  void read_ahead_loop();
  // One attempt at a batch; nullopt when `fenced` is false and the plugin
  // refused an event (the transaction was rolled back).
  std::optional<std::vector<AppliedEvent>> try_batch(const DecodedBatch& batch, const PluginSet& plugins, bool fenced);
  std::optional<int64_t> stored_offset(int32_t partition);
  // Creates or migrates the tables of `plugins` and records them in
  // _cl_plugins, in one transaction; throws naming the plugin (nothing changed).
  void prepare_tables(const PluginSet& plugins);
  // Moves events that an earlier release rejected for want of a plugin into
  // _cl_held, for tables this node never created (so none of their events
  // was applied here): they are applied once the plugin comes.
  void hold_rejected_for_want_of_plugin();
  // Reads _cl_held's summary into held_.
  void load_held();
  // The tables this node prepared (_cl_plugins) that `plugins` does not
  // serve, into unserved_: pending until a plugin for them is loaded again.
  void find_unserved(const PluginSet& plugins);
  // Applies the held events that the plugins in force can apply, table by
  // table, in log order; stops early when the applier is stopping.
  void release_held();
  // Runs a pending install() request, if any (applier thread).
  void run_install();

  Store& store_;
  PluginRegistry& registry_;
  EventLog& log_;
  int max_batch_;
  ApplyListener* listener_;
  Metrics* metrics_;
  StatementCache statements_;  // on the writer connection; used by the applier thread only
  // Per table, the latest idempotency record time when its dead records were
  // last removed (forget_dead_outcomes); applier thread only.
  std::map<std::string, int64_t> forgotten_at_;
  RejectionLog rejection_log_;  // the applier thread's
  std::atomic<bool> stopping_{false};
  std::thread thread_;

  // Read-ahead: batches travel reader -> ready_ -> applier -> free_ -> reader.
  // After this many reads in a row of less than half of max_batch, the
  // read-ahead thread leaves reading to the applier (run()).
  static constexpr int kShortReadsToHandBack = 8;
  const bool read_ahead_;
  bool reader_ahead_ = true;  // guarded by queue_mutex_: the read-ahead thread reads (else the applier)
  std::thread reader_;
  std::mutex queue_mutex_;
  std::condition_variable queue_changed_;
  std::deque<std::unique_ptr<DecodedBatch>> ready_;  // guarded by queue_mutex_, in log order
  std::vector<std::unique_ptr<DecodedBatch>> free_;  // guarded by queue_mutex_
  mutable std::mutex mutex_;
  std::map<int32_t, int64_t> applied_;  // guarded by mutex_
  ApplierStats stats_;                  // guarded by mutex_
  std::map<std::string, PendingTable, std::less<>> held_;  // guarded by mutex_; written by the applier thread
  std::atomic<bool> any_held_{false};                        // !held_.empty()
  std::set<std::string, std::less<>> unserved_;              // guarded by mutex_
  TablePartitions table_partitions_;  // applier thread writes, any thread reads
  std::atomic<bool> any_unserved_{false};                    // !unserved_.empty()

  // install() requests, run by the applier thread (guarded by queue_mutex_).
  struct InstallRequest {
    std::shared_ptr<const PluginSet> plugins;
    std::string result;
    bool taken = false;  // the applier thread began it
    bool done = false;
  };
  std::shared_ptr<InstallRequest> install_;
  std::condition_variable install_done_;
  bool running_ = false;  // guarded by queue_mutex_
};

}  // namespace clusterlite
