// EventLog: the shared, ordered log of events that every node applies.
// Two implementations: KafkaLog (Kafka or Redpanda) and EmbeddedLog (a SQLite
// table, standalone mode). The HTTP layer appends; the Applier consumes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace clusterlite {

struct AppendResult {
  bool ok = false;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string error;  // when !ok: why the log did not confirm the event
  // When !ok: the event may be in the log all the same (the broker may have
  // written it before the timeout, and an idempotent producer's retry may
  // still land). false only when the log certainly did not take it.
  bool possibly_persisted = false;
};
using AppendCallback = std::function<void(const AppendResult&)>;

struct LogRecord {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
};

// Next offset to read per partition, as stored in the node's database;
// std::nullopt when nothing of that partition was applied yet.
using StoredOffsets = std::function<std::optional<int64_t>(int32_t partition)>;

class EventLog {
 public:
  virtual ~EventLog() = default;

  // The log's name in the offsets table: the Kafka topic, or "_embedded".
  virtual const std::string& topic() const = 0;

  // Appends one record. Any thread. `done` runs exactly once, on a log
  // thread, when the log acknowledged or definitively refused the record
  // (within the configured timeout); it must not block.
  virtual void append(const std::string& key, std::string value, AppendCallback done) = 0;

  // A hint from the caller, right after an append: every client that could
  // append is now waiting for an acknowledgement, so no further append will
  // come until one arrives. A log that holds appends to batch them sends what
  // waits as soon as it can instead of waiting for more. Any thread.
  virtual void nothing_more_coming() {}

  // Where the events of a key already are: the partition of the earlier
  // events of a table, as this node applied them; std::nullopt when it has
  // applied none.
  using KnownPartition = std::function<std::optional<int32_t>(const std::string& key)>;

  // A log of several partitions appends a key to the partition `known` names
  // for it, and a key it does not know to the partition its hash picks over
  // the current partition count: a table stays on one partition also when
  // partitions are added to the log. Set once, before the first append.
  virtual void keep_keys_where_they_are(KnownPartition known) { (void)known; }

  // Consumer side, called only by the applier thread. `start` positions the
  // consumer on the partitions this node applies, reading start offsets from
  // `stored` (also on later reassignment in shared mode).
  virtual void start(StoredOffsets stored) = 0;

  // Appends to `out` up to `max` records in log order per partition, waiting
  // up to `wait` for the first one.
  virtual void poll(std::vector<LogRecord>& out, size_t max, std::chrono::milliseconds wait) = 0;

  // The end of the log (next offset to be written) per partition, from the
  // source of truth. Any thread. std::nullopt when not known within `timeout`.
  virtual std::optional<std::map<int32_t, int64_t>> end_offsets(std::chrono::milliseconds timeout) = 0;

  // Whether the log's service answered recently (always true when embedded).
  virtual bool reachable() const = 0;

  // Flushes pending appends and releases the log's resources. Idempotent.
  virtual void close() = 0;
};

}  // namespace clusterlite
