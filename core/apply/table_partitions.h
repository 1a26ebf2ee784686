// TablePartitions: which partitions of the log each table's events arrived
// on, as this node applied them (table _cl_table_partitions, written in the
// applier's transactions).
//
// Per-table order holds only while a table's events share one partition: the
// node applies each partition in order but interleaves partitions as they
// arrive, so a table spread over two partitions is applied in an order that
// differs from node to node. ClusterLite's own producers key events by table
// name; a producer that spreads one table over several partitions (a
// round-robin partitioner, another partition count) is detected here: the
// table is "misrouted", its events on any partition after the first one it
// was seen on are counted, and a warning is logged once per table.
#pragma once

#include <SQLiteCpp/Database.h>
#include <clusterlite/statement_cache.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace clusterlite {

struct MisroutedTable {
  std::string table;
  std::vector<int32_t> partitions;  // in the order this node first saw them
  uint64_t misrouted_events = 0;    // events on partitions after the first
};

class TablePartitions {
 public:
  explicit TablePartitions(std::string topic) : topic_(std::move(topic)) {}

  // Reads what earlier runs recorded, and logs a warning for each table that
  // is misrouted already. Applier thread, before the first batch.
  void load(SQLite::Database& db);

  // Inside a batch's transaction: an event of `table` at partition/offset.
  // Collected in `delta` (one per attempt at the batch) until save().
  struct Delta {
    struct Seen {
      int64_t first_offset = 0;
      uint64_t events = 0;
    };
    std::map<std::pair<std::string, int32_t>, Seen> seen;
  };
  static void observe(Delta& delta, const std::string& table, int32_t partition, int64_t offset);

  // Inside the batch's transaction: writes `delta` to _cl_table_partitions.
  void save(SQLite::Database& db, StatementCache& statements, const Delta& delta) const;

  // After the commit: takes `delta` into the in-memory view and logs a
  // warning for each table it makes misrouted for the first time.
  void committed(const Delta& delta);

  // Tables whose events arrived on more than one partition. Any thread.
  std::vector<MisroutedTable> misrouted() const;

  // The partition this node first saw `table`'s events on, if any. Any thread.
  std::optional<int32_t> first_partition(const std::string& table) const;

 private:
  struct Table {
    std::vector<int32_t> partitions;   // first-seen order
    std::vector<uint64_t> events;      // per entry of `partitions`
  };
  static uint64_t misrouted_events(const Table& t);
  void warn(const std::string& table, const Table& t) const;

  const std::string topic_;
  mutable std::mutex mutex_;
  std::map<std::string, Table, std::less<>> tables_;  // guarded by mutex_
};

}  // namespace clusterlite
