#include "apply/idempotency.h"

#include <SQLiteCpp/Statement.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <vector>

namespace clusterlite {

namespace {

constexpr const char* kLatest = "SELECT max(recorded_at) FROM _cl_idempotency WHERE table_name = ?";
constexpr const char* kFindBySeq =
    "SELECT event_id, request_sha256, operation, status, message, field, entity_id, entity, recorded_at, expires_at, "
    "seq, table_name, key FROM _cl_idempotency WHERE seq = ?";
constexpr const char* kFindByKey =
    "SELECT event_id, request_sha256, operation, status, message, field, entity_id, entity, recorded_at, expires_at, "
    "seq, table_name, key FROM _cl_idempotency WHERE table_name = ? AND key = ?";
constexpr const char* kRecord =
    "INSERT INTO _cl_idempotency (table_name, key, event_id, request_sha256, operation, status, message, "
    "field, entity_id, entity, recorded_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr const char* kForget = "DELETE FROM _cl_idempotency WHERE seq = ?";
// Dead records among the table's oldest: a record expires at least a second
// after it was recorded, so one recorded since W - 1 s is live.
constexpr const char* kForgetDead =
    "DELETE FROM _cl_idempotency WHERE seq IN (SELECT seq FROM _cl_idempotency WHERE table_name = ?1 AND "
    "recorded_at < ?2 - 1000000 ORDER BY recorded_at LIMIT 256) AND expires_at < ?2 RETURNING seq, key";
constexpr const char* kHistory =
    "INSERT INTO _cl_history (table_name, entity_id, event_id, operation, timestamp, partition, offset, data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
constexpr const char* kHistorySeq = "SELECT seq FROM _cl_history WHERE table_name = ? AND entity_id = ? AND event_id = ?";
constexpr const char* kHistoryPage =
    "SELECT seq, event_id, operation, timestamp, partition, offset, data FROM _cl_history "
    "WHERE table_name = ? AND entity_id = ? AND seq > ? ORDER BY seq LIMIT ?";

Operation operation_of(const std::string& text) {
  if (text == "UPDATE") return Operation::kUpdate;
  if (text == "DELETE") return Operation::kDelete;
  return Operation::kInsert;
}

Status status_of(int code, std::string message, std::string field) {
  switch (static_cast<StatusCode>(code)) {
    case StatusCode::kOk: return Status::Ok();
    case StatusCode::kInvalid: return Status::Invalid(std::move(message), std::move(field));
    case StatusCode::kNotFound: return Status::NotFound(std::move(message));
    case StatusCode::kConflict: return Status::Conflict(std::move(message), std::move(field));
    default: return Status::Internal(std::move(message));
  }
}

RecordedOutcome outcome_from(SQLite::Statement& q) {
  RecordedOutcome r;
  r.event_id = q.getColumn(0).getString();
  r.request_sha256 = q.getColumn(1).getString();
  r.operation = operation_of(q.getColumn(2).getString());
  r.status = status_of(q.getColumn(3).getInt(), q.getColumn(4).getString(), q.getColumn(5).getString());
  r.entity_id = q.getColumn(6).getString();
  if (!q.getColumn(7).isNull()) r.entity = q.getColumn(7).getString();
  r.recorded_at_us = q.getColumn(8).getInt64();
  r.expires_at_us = q.getColumn(9).getInt64();
  return r;
}

// W: the latest recorded_at of the table's records (0 when none); kept by
// `keys` when there is one.
int64_t latest_recorded(SQLite::Database& db, StatementCache& statements, const IdempotencyKeys* keys,
                        const std::string& table) {
  if (keys) return keys->latest(table);
  auto q = statements.use(db, kLatest);
  q->bind(1, table);
  q->executeStep();
  return q->getColumn(0).isNull() ? 0 : q->getColumn(0).getInt64();
}

// The record of (table, key): through `keys` (its candidates read by seq
// and compared, `pending`: with the writer's uncommitted changes), or
// through the unique index when there is no `keys`.
std::optional<FoundOutcome> find_record(SQLite::Database& db, StatementCache& statements, const IdempotencyKeys* keys,
                                        bool pending, const std::string& table, const std::string& key) {
  auto found = [](SQLite::Statement& q) { return FoundOutcome{q.getColumn(10).getInt64(), false, outcome_from(q)}; };
  if (!keys) {
    auto q = statements.use(db, kFindByKey);
    q->bind(1, table);
    q->bind(2, key);
    if (q->executeStep()) return found(*q);
    return std::nullopt;
  }
  for (int64_t seq : keys->candidates(IdempotencyKeys::hash(table, key), pending)) {
    auto q = statements.use(db, kFindBySeq);
    q->bind(1, seq);
    if (q->executeStep() && q->getColumn(11).getString() == table && q->getColumn(12).getString() == key)
      return found(*q);
  }
  return std::nullopt;
}

}  // namespace

std::optional<FoundOutcome> find_outcome(SQLite::Database& db, StatementCache& statements, const IdempotencyKeys* keys,
                                         const std::string& table, const std::string& key, int64_t event_time_us) {
  auto found = find_record(db, statements, keys, /*pending=*/true, table, key);
  if (found)
    found->live = found->outcome.expires_at_us >= std::max(latest_recorded(db, statements, keys, table), event_time_us);
  return found;
}

void record_outcome(SQLite::Database& db, StatementCache& statements, IdempotencyKeys* keys,
                    const DatabaseEvent& event, const IdempotencyStamp& stamp, const Status& status,
                    const std::optional<std::string>& entity, int64_t event_time_us, int64_t replaces_seq) {
  const uint64_t h = keys ? IdempotencyKeys::hash(event.table_name, stamp.key) : 0;
  if (replaces_seq != 0) {
    auto forget = statements.use(db, kForget);
    forget->bind(1, replaces_seq);
    forget->exec();
    if (keys) keys->remove(h, replaces_seq);
  }
  auto q = statements.use(db, kRecord);
  q->bind(1, event.table_name);
  q->bind(2, stamp.key);
  q->bind(3, event.id);
  q->bind(4, stamp.request_sha256);
  q->bind(5, to_string(event.operation));
  q->bind(6, static_cast<int>(status.code()));
  q->bind(7, status.message());
  q->bind(8, status.field());
  q->bind(9, std::string(event.entity_id()));
  if (entity)
    q->bind(10, *entity);
  else
    q->bind(10);
  q->bind(11, event_time_us);
  q->bind(12, event_time_us + stamp.keep_seconds * 1000000);
  q->exec();
  if (keys) {
    keys->add(h, db.getLastInsertRowid());
    keys->recorded(event.table_name, event_time_us);
  }
}

void forget_dead_outcomes(SQLite::Database& db, StatementCache& statements, IdempotencyKeys* keys,
                          const std::string& table, int64_t* last_run_us) {
  const int64_t latest = latest_recorded(db, statements, keys, table);
  if (latest < *last_run_us + 1000000) return;
  *last_run_us = latest;
  for (int chunk = 0; chunk < 64; ++chunk) {
    auto forget = statements.use(db, kForgetDead);
    forget->bind(1, table);
    forget->bind(2, latest);
    int removed = 0;
    while (forget->executeStep()) {
      ++removed;
      if (keys)
        keys->remove(IdempotencyKeys::hash(table, forget->getColumn(1).getString()), forget->getColumn(0).getInt64());
    }
    if (removed < 256) break;
  }
}

std::optional<RecordedOutcome> read_outcome(SQLite::Database& db, StatementCache& statements,
                                            const IdempotencyKeys* keys, const std::string& table,
                                            const std::string& key) {
  auto found = find_record(db, statements, keys, /*pending=*/false, table, key);
  if (!found) return std::nullopt;
  return std::move(found->outcome);
}

void record_history(SQLite::Database& db, StatementCache& statements, const DatabaseEvent& event, int32_t partition,
                    int64_t offset) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  event.data.Accept(w);
  auto q = statements.use(db, kHistory);
  q->bind(1, event.table_name);
  q->bind(2, std::string(event.entity_id()));
  q->bind(3, event.id);
  q->bind(4, to_string(event.operation));
  q->bind(5, event.timestamp);
  q->bind(6, partition);
  q->bind(7, offset);
  q->bind(8, buf.GetString(), static_cast<int>(buf.GetSize()));
  q->exec();
}

bool read_history(SQLite::Database& db, StatementCache& statements, const std::string& table,
                  const std::string& entity_id, const std::string& after_event_id, int limit,
                  std::vector<HistoryEntry>& out) {
  int64_t after = 0;
  if (!after_event_id.empty()) {
    auto q = statements.use(db, kHistorySeq);
    q->bind(1, table);
    q->bind(2, entity_id);
    q->bind(3, after_event_id);
    if (!q->executeStep()) return false;
    after = q->getColumn(0).getInt64();
  }
  auto q = statements.use(db, kHistoryPage);
  q->bind(1, table);
  q->bind(2, entity_id);
  q->bind(3, after);
  q->bind(4, limit);
  while (q->executeStep())
    out.push_back({q->getColumn(0).getInt64(), q->getColumn(1).getString(), q->getColumn(2).getString(),
                   q->getColumn(3).getString(), q->getColumn(4).getInt(), q->getColumn(5).getInt64(),
                   q->getColumn(6).getString()});
  return true;
}

}  // namespace clusterlite
