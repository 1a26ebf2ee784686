#include "apply/applier.h"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <sqlite3.h>

#include "eventlog/event_codec.h"
#include "log.h"
#include "thread_name.h"
#include "timeutil.h"

namespace clusterlite {

Applier::Applier(Store& store, const PluginRegistry& registry, EventLog& log, int max_batch, ApplyListener* listener,
                 Metrics* metrics, bool read_ahead)
    : store_(store),
      registry_(registry),
      log_(log),
      max_batch_(max_batch),
      listener_(listener),
      metrics_(metrics),
      read_ahead_(read_ahead) {}

Applier::~Applier() { stop(); }

std::optional<int64_t> Applier::stored_offset(int32_t partition) {
  SQLite::Statement q(store_.writer(), "SELECT next_offset FROM _cl_offsets WHERE topic = ? AND partition = ?");
  q.bind(1, log_.topic());
  q.bind(2, partition);
  if (!q.executeStep()) return std::nullopt;
  return q.getColumn(0).getInt64();
}

void Applier::start() {
  auto& db = store_.writer();
  {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    for (auto& p : registry_.plugins()) {
      try {
        p.table->create_table(db);
      } catch (const std::exception& e) {
        throw std::runtime_error("plugin " + p.path + ": create_table failed: " + e.what());
      }
    }
    tx.commit();
  }
  {
    SQLite::Statement q(db, "SELECT partition, next_offset FROM _cl_offsets WHERE topic = ?");
    q.bind(1, log_.topic());
    std::lock_guard lock(mutex_);
    while (q.executeStep()) applied_[q.getColumn(0).getInt()] = q.getColumn(1).getInt64();
  }
  log_.start([this](int32_t partition) { return stored_offset(partition); });
  if (read_ahead_)
    reader_ = std::thread([this] {
      name_this_thread("cl-read-ahead");
      read_ahead_loop();
    });
  thread_ = std::thread([this] {
    name_this_thread("cl-applier");
    run();
  });
}

void Applier::stop() {
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_changed_.notify_all();
  if (reader_.joinable()) reader_.join();
  if (thread_.joinable()) thread_.join();
}

std::map<int32_t, int64_t> Applier::applied() const {
  std::lock_guard lock(mutex_);
  return applied_;
}

ApplierStats Applier::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

namespace {

// Every statement the applier runs, prepared once on the writer connection
// (clusterlite::StatementCache): batches in live traffic hold a few events,
// so parsing SQL per batch would cost about as much as applying them.
constexpr const char* kBegin = "BEGIN IMMEDIATE";
constexpr const char* kCommit = "COMMIT";
constexpr const char* kRollback = "ROLLBACK";
constexpr const char* kSavepoint = "SAVEPOINT apply_event";
constexpr const char* kRelease = "RELEASE apply_event";
constexpr const char* kRollbackTo = "ROLLBACK TO apply_event";
constexpr const char* kReject =
    "INSERT OR REPLACE INTO _cl_rejected (topic, partition, offset, event_id, table_name, status, reason, field, "
    "payload, rejected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr const char* kSaveOffset =
    "INSERT INTO _cl_offsets (topic, partition, next_offset) VALUES (?, ?, ?) "
    "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset";

void exec(StatementCache& statements, SQLite::Database& db, const char* sql) { statements.use(db, sql)->exec(); }

// Applies one event through its plugin; never throws. With `fenced`, the
// event runs inside a savepoint, so a refused event leaves nothing behind.
// `plugin` is set to the plugin that ran (and may have written), or null when
// the event never reached one.
Status apply_one(SQLite::Database& db, StatementCache& statements, const PluginRegistry& registry,
                 const DatabaseEvent& event, const std::string& decode_error, bool fenced, TableOperations*& plugin) {
  plugin = nullptr;
  if (!decode_error.empty()) return Status::Invalid("malformed event: " + decode_error);
  plugin = registry.find(event.table_name);
  if (!plugin) return Status::NotFound("no plugin serves table " + event.table_name);
  if (fenced) exec(statements, db, kSavepoint);
  Status status;
  try {
    status = event.operation == Operation::kDelete ? plugin->handle_delete(db, event) : plugin->handle_upsert(db, event);
  } catch (const std::exception& e) {
    status = Status::Internal(std::string("plugin threw: ") + e.what());
  } catch (...) {
    status = Status::Internal("plugin threw a non-standard exception");
  }
  if (fenced) {
    if (!status.ok()) exec(statements, db, kRollbackTo);
    exec(statements, db, kRelease);
  }
  return status;
}

// The entity `event` just wrote, or nothing if the plugin cannot read it (the
// waiting request then reads it itself).
std::optional<std::string> read_back(SQLite::Database& db, TableOperations& plugin, const DatabaseEvent& event) {
  try {
    return plugin.get(db, std::string(event.entity_id()));
  } catch (const std::exception& e) {
    log::warn("applier", std::string("reading back an applied entity failed: ") + e.what());
  }
  return std::nullopt;
}

}  // namespace

void DecodedBatch::decode() {
  pool.Clear();
  events.resize(records.size());
  errors.resize(records.size());
  written_at.assign(records.size(), {});
  for (size_t i = 0; i < records.size(); ++i) {
    events[i].data = rapidjson::Document(&pool);
    errors[i] = decode_event(records[i].value, events[i], &written_at[i]);
  }
}

void DecodedBatch::clear() {
  records.clear();
  for (auto& e : events) e.data = rapidjson::Document(&pool);  // before the pool's memory goes
  pool.Clear();
}

std::vector<AppliedEvent> Applier::apply_batch(const std::vector<LogRecord>& records) {
  DecodedBatch batch;
  batch.records = records;
  batch.decode();
  return apply_batch(batch);
}

std::vector<AppliedEvent> Applier::apply_batch(const DecodedBatch& batch) {
  // Most batches have no refused event: they run without a savepoint per
  // event, which would cost two more statements each. When the plugin refuses
  // one, whatever it wrote before refusing may be in the transaction, so the
  // batch is rolled back and applied again with every event in its own
  // savepoint. Plugins are deterministic, so the second pass decides the same.
  if (auto out = try_batch(batch, /*fenced=*/false)) return std::move(*out);
  {
    std::lock_guard lock(mutex_);
    stats_.fenced_batches += 1;
  }
  return std::move(*try_batch(batch, /*fenced=*/true));
}

std::optional<std::vector<AppliedEvent>> Applier::try_batch(const DecodedBatch& batch, bool fenced) {
  const auto& records = batch.records;
  auto& db = store_.writer();
  std::vector<AppliedEvent> out;
  out.reserve(records.size());
  std::map<int32_t, int64_t> next;
  uint64_t rejected = 0;
  auto rollback = [&] {
    // Unless SQLite already rolled back (a failed COMMIT can).
    if (sqlite3_get_autocommit(db.getHandle())) return;
    try {
      exec(statements_, db, kRollback);
    } catch (const std::exception& e) {
      log::error("applier", std::string("rollback failed: ") + e.what());
    }
  };
  store_.end_idle_reads();
  exec(statements_, db, kBegin);
  try {
    for (size_t i = 0; i < records.size(); ++i) {
      const LogRecord& record = records[i];
      const DatabaseEvent& event = batch.events[i];
      TableOperations* plugin = nullptr;
      Status status = apply_one(db, statements_, registry_, event, batch.errors[i], fenced, plugin);
      if (!status.ok() && plugin && !fenced) {
        rollback();
        return std::nullopt;
      }
      if (!status.ok()) {
        ++rejected;
        auto reject = statements_.use(db, kReject);
        reject->bind(1, log_.topic());
        reject->bind(2, record.partition);
        reject->bind(3, static_cast<int64_t>(record.offset));
        reject->bind(4, event.id);
        reject->bind(5, event.table_name);
        reject->bind(6, static_cast<int>(status.code()));
        reject->bind(7, status.message());
        reject->bind(8, status.field());
        reject->bind(9, record.value.data(), static_cast<int>(record.value.size()));
        // The event's own time keeps the row identical on every node.
        reject->bind(10, event.timestamp);
        reject->exec();
        log::warn("applier", "rejected event at " + std::to_string(record.partition) + "/" +
                                 std::to_string(record.offset) + ": " + status.message());
      }
      next[record.partition] = record.offset + 1;
      std::optional<std::string> row;
      if (status.ok() && event.operation != Operation::kDelete && listener_ && listener_->awaits(event.id))
        row = read_back(db, *plugin, event);
      out.push_back(
          {event.id, record.partition, record.offset, std::move(status), std::move(row), batch.written_at[i]});
    }
    for (auto& [partition, offset] : next) {
      auto save = statements_.use(db, kSaveOffset);
      save->bind(1, log_.topic());
      save->bind(2, partition);
      save->bind(3, static_cast<int64_t>(offset));
      save->exec();
    }
    exec(statements_, db, kCommit);
  } catch (...) {
    // Nothing of the batch stays; the caller retries it.
    rollback();
    throw;
  }
  std::lock_guard lock(mutex_);
  for (auto& [partition, offset] : next) applied_[partition] = offset;
  stats_.applied += records.size() - rejected;
  stats_.rejected += rejected;
  stats_.batches += 1;
  return out;
}

bool Applier::read(DecodedBatch& batch) {
  batch.clear();
  try {
    log_.poll(batch.records, static_cast<size_t>(max_batch_), std::chrono::milliseconds(100));
  } catch (const std::exception& e) {
    log::error("applier", std::string("reading the log failed: ") + e.what());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return false;
  }
  if (batch.records.empty()) return false;
  batch.decode();
  return true;
}

void Applier::apply_and_publish(const DecodedBatch& batch) {
  std::vector<AppliedEvent> applied;
  auto started = std::chrono::steady_clock::now();
  for (;;) {
    try {
      applied = apply_batch(batch);
      break;
    } catch (const std::exception& e) {
      // Nothing of the batch was committed: try it again.
      {
        std::lock_guard lock(mutex_);
        stats_.failed_commits += 1;
      }
      log::error("applier", std::string("commit failed, retrying the batch: ") + e.what());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (stopping_) return;
    }
  }
  if (metrics_) {
    metrics_->batch(batch.records.size(),
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    auto committed = std::chrono::system_clock::now();
    for (const auto& e : applied)
      if (e.written_at != std::chrono::system_clock::time_point{})
        metrics_->apply_delay(std::chrono::duration<double>(committed - e.written_at).count());
  }
  if (listener_) listener_->on_applied(std::move(applied), this->applied());
}

void Applier::read_ahead_loop() {
  // At most two decoded batches wait for the applier (besides the one it applies).
  constexpr size_t kAhead = 2;
  std::unique_ptr<DecodedBatch> batch;
  int short_reads = 0;
  while (!stopping_) {
    {
      std::unique_lock lock(queue_mutex_);
      queue_changed_.wait(lock, [&] { return stopping_ || (reader_ahead_ && ready_.size() < kAhead); });
      if (stopping_) return;
      if (!batch && !free_.empty()) {
        batch = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (!batch) batch = std::make_unique<DecodedBatch>();
    if (!read(*batch)) continue;
    short_reads = batch->records.size() * 2 < static_cast<size_t>(max_batch_) ? short_reads + 1 : 0;
    {
      std::lock_guard lock(queue_mutex_);
      ready_.push_back(std::move(batch));
      // Caught up: the applier reads for itself from now on (see run()).
      if (short_reads >= kShortReadsToHandBack) {
        reader_ahead_ = false;
        short_reads = 0;
      }
    }
    queue_changed_.notify_all();
  }
}

void Applier::run() {
  DecodedBatch own;  // what the applier reads itself
  if (!read_ahead_) {
    while (!stopping_)
      if (read(own)) apply_and_publish(own);
    return;
  }
  // The read-ahead thread reads while the log is far ahead of the database
  // (start-up, catching up): it decodes the next batches while this thread
  // applies. Once its reads come back short, the applier reads itself, which
  // saves every batch a hand-over between the two threads; a full batch
  // hands reading back. Only one of them reads at a time, in log order: each
  // hands over right after its last read.
  while (!stopping_) {
    std::unique_ptr<DecodedBatch> batch;
    bool read_here = false;
    {
      std::unique_lock lock(queue_mutex_);
      queue_changed_.wait_for(lock, std::chrono::milliseconds(100),
                              [&] { return stopping_ || !ready_.empty() || !reader_ahead_; });
      if (!ready_.empty()) {
        batch = std::move(ready_.front());
        ready_.pop_front();
      } else {
        read_here = !reader_ahead_;
      }
    }
    if (batch) {
      queue_changed_.notify_all();
      apply_and_publish(*batch);
      std::lock_guard lock(queue_mutex_);
      free_.push_back(std::move(batch));
      continue;
    }
    if (!read_here || !read(own)) continue;
    {
      std::lock_guard lock(mutex_);
      stats_.read_by_applier += 1;
    }
    apply_and_publish(own);
    if (own.records.size() >= static_cast<size_t>(max_batch_)) {
      {
        std::lock_guard lock(queue_mutex_);
        reader_ahead_ = true;
      }
      queue_changed_.notify_all();
    }
  }
}

}  // namespace clusterlite
