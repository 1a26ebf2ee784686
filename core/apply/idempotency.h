// Idempotency-Key and history: what the applier records beside a change, in
// the same transaction, so that every node decides retries alike and keeps
// the same history (docs/design.md, "Retries and history").
//
// _cl_idempotency holds, per (table, key), the first event that carried the
// key (records appended in the order met, found through
// store/idempotency_keys.h), the request it came from (SHA-256 of method, path and body) and its
// outcome. A later event with the same key is not applied while the record
// is live. Liveness is counted in event time, never a node's clock: with W
// the latest recorded_at of the table's records, an event at time t finds a
// record live when its expires_at >= max(W, t). W only grows, so a record
// found dead once stays dead, and removing dead records (done as records are
// added) never changes a later decision.
#pragma once

#include <SQLiteCpp/Database.h>
#include <clusterlite/event.h>
#include <clusterlite/statement_cache.h>
#include <clusterlite/status.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eventlog/event_codec.h"
#include "store/idempotency_keys.h"

namespace clusterlite {

// The outcome of the first event that carried a key.
struct RecordedOutcome {
  std::string event_id;
  std::string request_sha256;
  Operation operation = Operation::kInsert;
  Status status;                      // Ok, or why the event was refused
  std::string entity_id;
  std::optional<std::string> entity;  // the entity as the event left it; none after a delete or a refusal
  int64_t recorded_at_us = 0;         // the event's time, microseconds since 1970
  int64_t expires_at_us = 0;
};

// The record of `key` in `table` as the applier's transaction sees it (with
// its uncommitted changes), and whether it is live for an event at
// `event_time_us`; none when there is none. `keys`: the store's index of
// keys (Store::idempotency_keys()), or null when a unique index finds them.
struct FoundOutcome {
  int64_t seq = 0;
  bool live = false;
  RecordedOutcome outcome;
};
std::optional<FoundOutcome> find_outcome(SQLite::Database& db, StatementCache& statements, const IdempotencyKeys* keys,
                                         const std::string& table, const std::string& key, int64_t event_time_us);

// Records the outcome of `event`, the first with its key or the first after
// the key's record died; `replaces_seq` is that dead record (0: none), which
// goes.
void record_outcome(SQLite::Database& db, StatementCache& statements, IdempotencyKeys* keys,
                    const DatabaseEvent& event, const IdempotencyStamp& stamp, const Status& status,
                    const std::optional<std::string>& entity, int64_t event_time_us, int64_t replaces_seq = 0);

// Removes `table`'s dead records, oldest first, in chunks of 256 (at most
// 64 chunks a run), once the table's latest record time W has moved a second
// past `*last_run_us` (W at the previous run, updated here): a run looks at
// the oldest records even when none is dead, so it does not run for every
// batch. Which records are dead follows from the records alone, so when this
// runs changes no decision; the applier calls it after each batch that
// recorded a key, keeping `*last_run_us` per table in memory.
void forget_dead_outcomes(SQLite::Database& db, StatementCache& statements, IdempotencyKeys* keys,
                          const std::string& table, int64_t* last_run_us);

// The record of `key` in `table`, live or not (for the answer of a request
// whose event was applied); none when there is none. `statements`: the
// cache of the connections `db` is one of (Store::read_statements()); `keys`
// as for find_outcome (committed records only).
std::optional<RecordedOutcome> read_outcome(SQLite::Database& db, StatementCache& statements,
                                            const IdempotencyKeys* keys, const std::string& table,
                                            const std::string& key);

// Appends `event`'s entry to the history of its entity.
void record_history(SQLite::Database& db, StatementCache& statements, const DatabaseEvent& event, int32_t partition,
                    int64_t offset);

// One entry of an entity's history.
struct HistoryEntry {
  int64_t seq = 0;
  std::string event_id;
  std::string operation;
  std::string timestamp;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string data;  // JSON
};

// The fields a history entry and a change event (GET /_changes) share:
// "event_id", "timestamp", "partition", "offset" and "data" (`data_json`, an
// object's JSON text), written into the object `w` is inside.
template <typename Writer>
void write_event_fields(Writer& w, std::string_view event_id, std::string_view timestamp, int32_t partition,
                        int64_t offset, std::string_view data_json) {
  w.Key("event_id");
  w.String(event_id.data(), static_cast<rapidjson::SizeType>(event_id.size()));
  w.Key("timestamp");
  w.String(timestamp.data(), static_cast<rapidjson::SizeType>(timestamp.size()));
  w.Key("partition");
  w.Int(partition);
  w.Key("offset");
  w.Int64(offset);
  w.Key("data");
  w.RawValue(data_json.data(), data_json.size(), rapidjson::kObjectType);
}

// Up to `limit` entries of the history of `entity_id` in `table`, oldest
// first, after the entry of event `after_event_id` ("" from the first). False
// when `after_event_id` is not an entry of this entity's history.
bool read_history(SQLite::Database& db, StatementCache& statements, const std::string& table,
                  const std::string& entity_id, const std::string& after_event_id, int limit,
                  std::vector<HistoryEntry>& out);

}  // namespace clusterlite
