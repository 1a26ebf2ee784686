#include "apply/applier.h"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <sqlite3.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "apply/idempotency.h"
#include "eventlog/event_codec.h"
#include "log.h"
#include "thread_name.h"
#include "timeutil.h"

namespace clusterlite {

Applier::Applier(Store& store, PluginRegistry& registry, EventLog& log, int max_batch, ApplyListener* listener,
                 Metrics* metrics, bool read_ahead)
    : store_(store),
      registry_(registry),
      log_(log),
      max_batch_(max_batch),
      listener_(listener),
      metrics_(metrics),
      read_ahead_(read_ahead),
      table_partitions_(log.topic()) {}

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
  // Before any table is made: it tells which tables never had a plugin here.
  hold_rejected_for_want_of_plugin();
  prepare_tables(*registry_.current());
  find_unserved(*registry_.current());
  load_held();
  release_held();
  table_partitions_.load(db);
  {
    SQLite::Statement q(db, "SELECT partition, next_offset FROM _cl_offsets WHERE topic = ?");
    q.bind(1, log_.topic());
    std::lock_guard lock(mutex_);
    while (q.executeStep()) applied_[q.getColumn(0).getInt()] = q.getColumn(1).getInt64();
  }
  log_.start([this](int32_t partition) { return stored_offset(partition); });
  {
    std::lock_guard lock(queue_mutex_);
    running_ = true;
  }
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
    running_ = false;
    if (install_ && !install_->taken) {
      install_->result = "the node is stopping; nothing changed";
      install_->done = true;
      install_.reset();
    }
  }
  queue_changed_.notify_all();
  install_done_.notify_all();
  if (reader_.joinable()) reader_.join();
  if (thread_.joinable()) thread_.join();
  rejection_log_.flush(RejectionLog::Clock::now(), /*all=*/true);
}

std::string Applier::install(std::shared_ptr<const PluginSet> plugins, std::chrono::milliseconds timeout) {
  auto request = std::make_shared<InstallRequest>();
  request->plugins = std::move(plugins);
  std::unique_lock lock(queue_mutex_);
  if (!running_) return "the applier is not running";
  if (install_) return "another plugin reload is in progress";
  install_ = request;
  queue_changed_.notify_all();
  if (!install_done_.wait_for(lock, timeout, [&] { return request->taken || request->done; })) {
    install_.reset();  // not begun: nothing changed
    return "the applier did not take the new plugins within " + std::to_string(timeout.count()) +
           " ms; nothing changed";
  }
  // Begun: preparing tables is one transaction, so it ends either way.
  install_done_.wait(lock, [&] { return request->done; });
  return request->result;
}

void Applier::run_install() {
  std::shared_ptr<InstallRequest> request;
  {
    std::lock_guard lock(queue_mutex_);
    if (!install_ || install_->taken) return;
    request = install_;
    request->taken = true;
  }
  install_done_.notify_all();
  std::string result;
  try {
    prepare_tables(*request->plugins);
    find_unserved(*request->plugins);
    registry_.replace(request->plugins);
  } catch (const std::exception& e) {
    result = e.what();
  }
  {
    std::lock_guard lock(queue_mutex_);
    request->result = result;
    request->done = true;
    install_.reset();
  }
  install_done_.notify_all();
  if (result.empty()) release_held();
}

namespace {

PendingTable unserved_table(const std::string& table) {
  return {table, 0, 0, "no plugin serves table " + table + " on this node (its plugin was removed; its rows are kept)"};
}

}  // namespace

std::vector<PendingTable> Applier::pending() const {
  std::lock_guard lock(mutex_);
  std::vector<PendingTable> out;
  for (auto& [_, t] : held_) out.push_back(t);
  for (auto& table : unserved_)
    if (!held_.count(table)) out.push_back(unserved_table(table));
  return out;
}

bool Applier::is_pending(std::string_view table, PendingTable* out) const {
  if (!any_held_.load(std::memory_order_acquire) && !any_unserved_.load(std::memory_order_acquire)) return false;
  std::lock_guard lock(mutex_);
  if (auto it = held_.find(table); it != held_.end()) {
    if (out) *out = it->second;
    return true;
  }
  auto it = unserved_.find(table);
  if (it == unserved_.end()) return false;
  if (out) *out = unserved_table(*it);
  return true;
}

void Applier::find_unserved(const PluginSet& plugins) {
  std::set<std::string, std::less<>> unserved;
  SQLite::Statement q(store_.writer(), "SELECT table_name FROM _cl_plugins");
  while (q.executeStep()) {
    std::string table = q.getColumn(0).getString();
    if (!plugins.find(table)) unserved.insert(std::move(table));
  }
  std::lock_guard lock(mutex_);
  unserved_ = std::move(unserved);
  any_unserved_.store(!unserved_.empty(), std::memory_order_release);
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
constexpr const char* kHold =
    "INSERT INTO _cl_held (topic, partition, offset, table_name, plugin_version, event_id, payload, reason) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
constexpr const char* kReleased = "DELETE FROM _cl_held WHERE table_name = ? AND seq <= ?";
constexpr const char* kHeldCount = "SELECT count(*) FROM _cl_held WHERE table_name = ?";
constexpr const char* kSaveOffset =
    "INSERT INTO _cl_offsets (topic, partition, next_offset) VALUES (?, ?, ?) "
    "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset";

void exec(StatementCache& statements, SQLite::Database& db, const char* sql) { statements.use(db, sql)->exec(); }

// Applies one event through `plugin`; never throws. With `fenced`, the event
// runs inside a savepoint, so a refused event leaves nothing behind.
Status apply_one(SQLite::Database& db, StatementCache& statements, TableOperations& plugin, const DatabaseEvent& event,
                 bool fenced) {
  if (fenced) exec(statements, db, kSavepoint);
  Status status;
  try {
    status = event.operation == Operation::kDelete ? plugin.handle_delete(db, event) : plugin.handle_upsert(db, event);
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

// Why `event` must be held rather than applied with `plugins` (nullopt: apply
// it), given the tables held already.
std::optional<std::string> hold_reason(const DatabaseEvent& event, const PluginSet& plugins,
                                       const std::map<std::string, PendingTable, std::less<>>& held) {
  if (auto it = held.find(event.table_name); it != held.end())
    return "held behind earlier events of table " + event.table_name + ": " + it->second.reason;
  const LoadedPlugin* plugin = plugins.find(event.table_name);
  if (!plugin) return "no plugin serves table " + event.table_name + " on this node";
  if (event.plugin_version > plugin->version)
    return "built by version " + std::to_string(event.plugin_version) + " of the plugin for table " +
           event.table_name + "; this node runs version " + std::to_string(plugin->version) + " (" + plugin->name +
           ".so)";
  // One version, two schemas: the nodes declare the table differently. Either
  // could decide the event otherwise than the node that built it.
  if (event.plugin_version == plugin->version && !event.schema_sha256.empty() && !plugin->schema_sha256.empty() &&
      event.schema_sha256 != plugin->schema_sha256)
    return "built with another schema of table " + event.table_name + " at the same version " +
           std::to_string(plugin->version) + " (schema " + event.schema_sha256 + "; this node's is " +
           plugin->schema_sha256 + "): raise the version of the table whose schema changed";
  return std::nullopt;
}

const char* status_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalid: return "invalid";
    case StatusCode::kNotFound: return "not found";
    case StatusCode::kConflict: return "conflict";
    case StatusCode::kInternal: return "plugin failure";
  }
  return "?";
}

// Names `event`'s table in `applied`, and with `changes` (the listener wants
// them) what the change stream tells of an applied event.
void describe_change(AppliedEvent& applied, const DatabaseEvent& event, bool changes) {
  applied.table = event.table_name;
  if (!changes || !applied.status.ok()) return;
  applied.operation = event.operation;
  applied.timestamp = event.timestamp;
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  event.data.Accept(w);
  applied.data.assign(buf.GetString(), buf.GetSize());
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
  idempotency.resize(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    events[i].data = rapidjson::Document(&pool);
    errors[i] = decode_event(records[i].value, events[i], &written_at[i], &idempotency[i]);
  }
}

void DecodedBatch::clear() {
  records.clear();
  held_seq.clear();
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
  // The plugins in force for the whole batch (a reload replaces them between
  // batches, on this thread).
  auto plugins = registry_.current();
  // Most batches have no refused event: they run without a savepoint per
  // event, which would cost two more statements each. When the plugin refuses
  // one, whatever it wrote before refusing may be in the transaction, so the
  // batch is rolled back and applied again with every event in its own
  // savepoint. Plugins are deterministic, so the second pass decides the same.
  if (auto out = try_batch(batch, *plugins, /*fenced=*/false)) return std::move(*out);
  {
    std::lock_guard lock(mutex_);
    stats_.fenced_batches += 1;
  }
  return std::move(*try_batch(batch, *plugins, /*fenced=*/true));
}

std::optional<std::vector<AppliedEvent>> Applier::try_batch(const DecodedBatch& batch, const PluginSet& plugins,
                                                            bool fenced) {
  const auto& records = batch.records;
  const bool releasing = !batch.held_seq.empty();
  auto& db = store_.writer();
  std::vector<AppliedEvent> out;
  out.reserve(records.size());
  std::map<int32_t, int64_t> next;
  uint64_t rejected = 0, held_now = 0, replayed = 0;
  const bool changes = listener_ && listener_->wants_changes();
  std::set<std::string> keyed_tables;  // tables that recorded an Idempotency-Key in this batch
  TablePartitions::Delta seen;        // the partitions each table's events came on
  IdempotencyKeys* keys = store_.idempotency_keys();
  auto rollback = [&] {
    if (keys) keys->rollback();
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
  // The held tables as this transaction sees them: other nodes on a shared
  // file hold and release too.
  std::map<std::string, PendingTable, std::less<>> held;
  if (!store_.sole_writer() && !releasing) {
    load_held();
  }
  if (!releasing) {
    std::lock_guard lock(mutex_);
    held = held_;
  }
  try {
    for (size_t i = 0; i < records.size(); ++i) {
      const LogRecord& record = records[i];
      const DatabaseEvent& event = batch.events[i];
      Status status;
      TableOperations* plugin = nullptr;
      std::optional<std::string> keyed_row;  // read back to record a keyed event's outcome
      std::shared_ptr<const RecordedOutcome> earlier;
      // Held events released now were counted when they were held.
      if (batch.errors[i].empty() && !releasing)
        TablePartitions::observe(seen, event.table_name, record.partition, record.offset);
      if (!batch.errors[i].empty()) {
        status = Status::Invalid("malformed event: " + batch.errors[i]);
      } else if (auto why = releasing ? std::nullopt : hold_reason(event, plugins, held)) {
        auto hold = statements_.use(db, kHold);
        hold->bind(1, log_.topic());
        hold->bind(2, record.partition);
        hold->bind(3, static_cast<int64_t>(record.offset));
        hold->bind(4, event.table_name);
        hold->bind(5, event.plugin_version);
        hold->bind(6, event.id);
        hold->bind(7, record.value.data(), static_cast<int>(record.value.size()));
        hold->bind(8, *why);
        hold->exec();
        auto& table = held[event.table_name];
        if (table.held_events == 0) {
          table.table = event.table_name;
          table.reason = *why;
          log::warn("applier", "holding the events of table " + event.table_name + " from " +
                                   std::to_string(record.partition) + "/" + std::to_string(record.offset) + ": " +
                                   *why);
        }
        table.held_events += 1;
        table.needs_version = std::max(table.needs_version, event.plugin_version);
        ++held_now;
        next[record.partition] = record.offset + 1;
        AppliedEvent e{event.id, record.partition, record.offset, Status::Ok(), std::nullopt, batch.written_at[i]};
        e.held = true;
        e.table = event.table_name;
        out.push_back(std::move(e));
        continue;
      } else {
        const LoadedPlugin& loaded = *plugins.find(event.table_name);
        plugin = loaded.table.get();
        const IdempotencyStamp& stamp = batch.idempotency[i];
        const int64_t event_us =
            std::chrono::duration_cast<std::chrono::microseconds>(batch.written_at[i].time_since_epoch()).count();
        std::optional<FoundOutcome> found;
        if (stamp.present()) found = find_outcome(db, statements_, keys, event.table_name, stamp.key, event_us);
        std::optional<RecordedOutcome> prior;
        if (found && found->live) prior = std::move(found->outcome);
        if (prior && prior->request_sha256 == stamp.request_sha256) {
          // A retry of a request whose event came earlier: not applied again;
          // the request is answered with the first one's outcome.
          ++replayed;
          next[record.partition] = record.offset + 1;
          AppliedEvent e{event.id, record.partition, record.offset, Status::Ok(), std::nullopt, batch.written_at[i]};
          e.earlier = std::make_shared<const RecordedOutcome>(std::move(*prior));
          e.table = event.table_name;
          out.push_back(std::move(e));
          continue;
        }
        if (prior) {
          earlier = std::make_shared<const RecordedOutcome>(*prior);
          status = Status::Invalid("Idempotency-Key \"" + stamp.key.substr(0, 64) +
                                       "\" was used for another request (event " + prior->event_id + ")",
                                   "Idempotency-Key");
        } else {
          status = apply_one(db, statements_, *plugin, event, fenced);
          if (!status.ok() && !fenced) {
            rollback();
            return std::nullopt;
          }
          if (status.ok() && loaded.history) record_history(db, statements_, event, record.partition, record.offset);
          if (stamp.present()) {
            if (status.ok() && event.operation != Operation::kDelete) keyed_row = read_back(db, *plugin, event);
            record_outcome(db, statements_, keys, event, stamp, status, keyed_row, event_us,
                           found ? found->seq : 0);
            keyed_tables.insert(event.table_name);
          }
        }
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
        rejection_log_.note(event.table_name.empty() ? "?" : event.table_name, status_name(status.code()),
                            record.partition, record.offset, status.message());
      }
      next[record.partition] = record.offset + 1;
      std::optional<std::string> row = std::move(keyed_row);
      if (!row && status.ok() && event.operation != Operation::kDelete && listener_ && !releasing &&
          listener_->awaits(event.id))
        row = read_back(db, *plugin, event);
      out.push_back(
          {event.id, record.partition, record.offset, std::move(status), std::move(row), batch.written_at[i]});
      out.back().earlier = std::move(earlier);
      describe_change(out.back(), event, changes);
    }
    for (const std::string& table : keyed_tables)
      forget_dead_outcomes(db, statements_, keys, table, &forgotten_at_[table]);
    table_partitions_.save(db, statements_, seen);
    if (releasing) {
      // Released events keep their place in the log; the offsets are past them already.
      const std::string& table = batch.events.front().table_name;
      auto done = statements_.use(db, kReleased);
      done->bind(1, table);
      done->bind(2, batch.held_seq.back());
      done->exec();
      auto left = statements_.use(db, kHeldCount);
      left->bind(1, table);
      left->executeStep();
      uint64_t remaining = static_cast<uint64_t>(left->getColumn(0).getInt64());
      std::lock_guard lock(mutex_);
      held = held_;
      if (remaining == 0)
        held.erase(table);
      else if (auto it = held.find(table); it != held.end())
        it->second.held_events = remaining;
    } else {
      for (auto& [partition, offset] : next) {
        auto save = statements_.use(db, kSaveOffset);
        save->bind(1, log_.topic());
        save->bind(2, partition);
        save->bind(3, static_cast<int64_t>(offset));
        save->exec();
      }
    }
    exec(statements_, db, kCommit);
  } catch (...) {
    // Nothing of the batch stays; the caller retries it.
    rollback();
    throw;
  }
  if (keys) keys->commit();
  table_partitions_.committed(seen);
  std::lock_guard lock(mutex_);
  if (!releasing)
    for (auto& [partition, offset] : next) applied_[partition] = offset;
  held_ = std::move(held);
  any_held_.store(!held_.empty(), std::memory_order_release);
  stats_.applied += records.size() - rejected - held_now - replayed;
  stats_.rejected += rejected;
  stats_.replayed += replayed;
  stats_.held += held_now;
  if (releasing) stats_.released += records.size();
  stats_.batches += 1;
  rejection_log_.flush();
  return out;
}

void Applier::prepare_tables(const PluginSet& plugins) {
  auto& db = store_.writer();
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  for (auto& p : plugins.plugins()) {
    std::optional<int> stored;
    {
      SQLite::Statement q(db, "SELECT version FROM _cl_plugins WHERE table_name = ?");
      q.bind(1, p.table_name);
      if (q.executeStep()) {
        stored = q.getColumn(0).getInt();
      } else {
        // Made before versions were recorded: by a plugin of version 0.
        SQLite::Statement t(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
        t.bind(1, p.table_name);
        if (t.executeStep()) stored = 0;
      }
    }
    try {
      if (p.abi >= 2)
        p.table->prepare_table(db, stored);
      else
        p.table->create_table(db);
    } catch (const std::exception& e) {
      throw std::runtime_error("plugin " + p.path + ": preparing table " + p.table_name + " failed: " + e.what());
    }
    SQLite::Statement record(db,
                             "INSERT INTO _cl_plugins (table_name, plugin, version, sha256, prepared_at) "
                             "VALUES (?, ?, ?, ?, ?) ON CONFLICT (table_name) DO UPDATE SET plugin = excluded.plugin, "
                             "version = excluded.version, sha256 = excluded.sha256, prepared_at = excluded.prepared_at "
                             "WHERE version != excluded.version OR sha256 != excluded.sha256");
    record.bind(1, p.table_name);
    record.bind(2, p.name);
    record.bind(3, p.version);
    record.bind(4, p.sha256);
    record.bind(5, format_rfc3339(std::chrono::system_clock::now()));
    record.exec();
    if (stored && *stored != p.version)
      log::info("applier", "table " + p.table_name + " prepared by " + p.name + " version " +
                               std::to_string(p.version) + " (was version " + std::to_string(*stored) + ")");
  }
  tx.commit();
}

void Applier::hold_rejected_for_want_of_plugin() {
  auto& db = store_.writer();
  // Only a database of a release before 0.2.0 can hold such rejections, and
  // such a database has recorded no plugin yet: once a table is prepared (at
  // the end of the first start-up), the scan of _cl_rejected is not made again.
  if (SQLite::Statement any(db, "SELECT 1 FROM _cl_plugins LIMIT 1"); any.executeStep()) return;
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  SQLite::Statement q(db,
                      "SELECT partition, offset, table_name, event_id, payload FROM _cl_rejected "
                      "WHERE topic = ? AND reason = 'no plugin serves table ' || table_name "
                      "AND table_name NOT IN (SELECT name FROM sqlite_master WHERE type = 'table') "
                      "ORDER BY partition, offset");
  q.bind(1, log_.topic());
  uint64_t moved = 0;
  DatabaseEvent event;
  while (q.executeStep()) {
    std::string payload = q.getColumn(4).getString();
    if (!decode_event(payload, event).empty()) continue;
    SQLite::Statement hold(db, kHold);
    hold.bind(1, log_.topic());
    hold.bind(2, q.getColumn(0).getInt());
    hold.bind(3, q.getColumn(1).getInt64());
    hold.bind(4, q.getColumn(2).getString());
    hold.bind(5, event.plugin_version);
    hold.bind(6, q.getColumn(3).getString());
    hold.bind(7, payload.data(), static_cast<int>(payload.size()));
    hold.bind(8, "no plugin serves table " + q.getColumn(2).getString() + " on this node");
    hold.exec();
    ++moved;
  }
  if (moved == 0) return;
  SQLite::Statement drop(db,
                         "DELETE FROM _cl_rejected WHERE topic = ? AND reason = 'no plugin serves table ' || "
                         "table_name AND table_name NOT IN (SELECT name FROM sqlite_master WHERE type = 'table') "
                         "AND event_id IN (SELECT event_id FROM _cl_held)");
  drop.bind(1, log_.topic());
  drop.exec();
  tx.commit();
  log::info("applier", "holding " + std::to_string(moved) +
                           " events that an earlier release rejected for want of a plugin; they apply once it is "
                           "installed");
}

void Applier::load_held() {
  SQLite::Statement q(store_.writer(),
                      "SELECT h.table_name, count(*), max(h.plugin_version), "
                      "(SELECT reason FROM _cl_held f WHERE f.table_name = h.table_name ORDER BY seq LIMIT 1) "
                      "FROM _cl_held h GROUP BY h.table_name");
  std::map<std::string, PendingTable, std::less<>> held;
  while (q.executeStep()) {
    PendingTable t;
    t.table = q.getColumn(0).getString();
    t.held_events = static_cast<uint64_t>(q.getColumn(1).getInt64());
    t.needs_version = q.getColumn(2).getInt();
    t.reason = q.getColumn(3).getString();
    held.emplace(t.table, std::move(t));
  }
  std::lock_guard lock(mutex_);
  held_ = std::move(held);
  any_held_.store(!held_.empty(), std::memory_order_release);
}

void Applier::release_held() {
  auto plugins = registry_.current();
  for (const auto& pending : this->pending()) {
    const LoadedPlugin* plugin = plugins->find(pending.table);
    if (!plugin) continue;
    auto started = std::chrono::steady_clock::now();
    uint64_t released = 0;
    DecodedBatch batch;
    for (;;) {
      if (stopping_) return;
      batch.clear();
      batch.held_seq.clear();
      {
        // The table's held events in log order, up to the first this plugin
        // is too old for (that one and the rest stay held).
        SQLite::Statement q(store_.writer(),
                            "SELECT seq, partition, offset, plugin_version, payload FROM _cl_held "
                            "WHERE table_name = ? ORDER BY seq LIMIT ?");
        q.bind(1, pending.table);
        q.bind(2, std::max(max_batch_, 1000));
        while (q.executeStep()) {
          if (q.getColumn(3).getInt() > plugin->version) break;
          batch.held_seq.push_back(q.getColumn(0).getInt64());
          LogRecord record;
          record.partition = q.getColumn(1).getInt();
          record.offset = q.getColumn(2).getInt64();
          record.value = q.getColumn(4).getString();
          batch.records.push_back(std::move(record));
        }
      }
      if (batch.records.empty()) break;
      batch.decode();
      try {
        auto applied = apply_batch(batch);
        released += applied.size();
      } catch (const std::exception& e) {
        log::error("applier", "applying held events of table " + pending.table + " failed (retried later): " +
                                  e.what());
        return;
      }
    }
    if (released > 0) {
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      log::info("applier", "applied " + std::to_string(released) + " held events of table " + pending.table +
                               " with " + plugin->name + " version " + std::to_string(plugin->version) + " in " +
                               std::to_string(static_cast<int>(seconds * 1000)) + " ms" +
                               (is_pending(pending.table) ? "; newer ones stay held" : ""));
    }
  }
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
    while (!stopping_) {
      run_install();
      bool applied = read(own);
      if (applied) apply_and_publish(own);
      if (!store_.sole_writer()) {
        // Shared mode: other nodes on the file hold and release events too.
        // This node applies what it can of what any of them held, and does
        // not refuse a table another node released. A batch just applied
        // read the held events in its own transaction.
        try {
          if (!applied) load_held();
          if (any_held_.load(std::memory_order_acquire)) release_held();
        } catch (const std::exception& e) {
          log::error("applier", std::string("reading the held events failed: ") + e.what());
        }
      }
    }
    return;
  }
  // The read-ahead thread reads while the log is far ahead of the database
  // (start-up, catching up): it decodes the next batches while this thread
  // applies. Once its reads come back short, the applier reads itself, which
  // saves every batch a hand-over between the two threads; a full batch
  // hands reading back. Only one of them reads at a time, in log order: each
  // hands over right after its last read.
  while (!stopping_) {
    run_install();
    std::unique_ptr<DecodedBatch> batch;
    bool read_here = false;
    {
      std::unique_lock lock(queue_mutex_);
      queue_changed_.wait_for(lock, std::chrono::milliseconds(100), [&] {
        return stopping_ || !ready_.empty() || !reader_ahead_ || (install_ && !install_->taken);
      });
      if (install_ && !install_->taken) continue;
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
