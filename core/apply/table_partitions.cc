#include "apply/table_partitions.h"

#include <SQLiteCpp/Statement.h>

#include <algorithm>

#include "log.h"

namespace clusterlite {
namespace {

// `seq` orders a table's partitions as this node first saw them.
constexpr const char* kSave =
    "INSERT INTO _cl_table_partitions (topic, table_name, partition, first_offset, events, seq) "
    "VALUES (?1, ?2, ?3, ?4, ?5, "
    "(SELECT count(*) FROM _cl_table_partitions WHERE topic = ?1 AND table_name = ?2)) "
    "ON CONFLICT (topic, table_name, partition) DO UPDATE SET events = events + excluded.events";

}  // namespace

void TablePartitions::load(SQLite::Database& db) {
  SQLite::Statement q(db,
                      "SELECT table_name, partition, events FROM _cl_table_partitions WHERE topic = ? "
                      "ORDER BY table_name, seq");
  q.bind(1, topic_);
  std::map<std::string, Table, std::less<>> tables;
  while (q.executeStep()) {
    Table& t = tables[q.getColumn(0).getString()];
    t.partitions.push_back(q.getColumn(1).getInt());
    t.events.push_back(static_cast<uint64_t>(q.getColumn(2).getInt64()));
  }
  for (auto& [name, t] : tables)
    if (t.partitions.size() > 1) warn(name, t);
  std::lock_guard lock(mutex_);
  tables_ = std::move(tables);
}

void TablePartitions::observe(Delta& delta, const std::string& table, int32_t partition, int64_t offset) {
  auto [it, inserted] = delta.seen.try_emplace({table, partition});
  if (inserted) it->second.first_offset = offset;
  it->second.events += 1;
}

void TablePartitions::save(SQLite::Database& db, StatementCache& statements, const Delta& delta) const {
  // A batch holds events of each partition in log order, so the first
  // event of a (table, partition) pair within the batch is also the pair's
  // first overall when the row is new. Pairs are saved in the order of their
  // first offsets per partition; between partitions the order is this node's.
  for (auto& [key, seen] : delta.seen) {
    auto save = statements.use(db, kSave);
    save->bind(1, topic_);
    save->bind(2, key.first);
    save->bind(3, key.second);
    save->bind(4, static_cast<int64_t>(seen.first_offset));
    save->bind(5, static_cast<int64_t>(seen.events));
    save->exec();
  }
}

void TablePartitions::committed(const Delta& delta) {
  std::vector<std::pair<std::string, Table>> newly_misrouted;
  {
    std::lock_guard lock(mutex_);
    for (auto& [key, seen] : delta.seen) {
      Table& t = tables_[key.first];
      auto it = std::find(t.partitions.begin(), t.partitions.end(), key.second);
      if (it != t.partitions.end()) {
        t.events[static_cast<size_t>(it - t.partitions.begin())] += seen.events;
        continue;
      }
      t.partitions.push_back(key.second);
      t.events.push_back(seen.events);
      if (t.partitions.size() == 2) newly_misrouted.emplace_back(key.first, t);
    }
  }
  for (auto& [name, t] : newly_misrouted) warn(name, t);
}

uint64_t TablePartitions::misrouted_events(const Table& t) {
  uint64_t n = 0;
  for (size_t i = 1; i < t.events.size(); ++i) n += t.events[i];
  return n;
}

void TablePartitions::warn(const std::string& table, const Table& t) const {
  std::string parts;
  for (int32_t p : t.partitions) parts += (parts.empty() ? "" : ", ") + std::to_string(p);
  log::warn("applier", "table " + table + " has events on partitions " + parts + " of " + topic_ +
                           ": its events are no longer in one order, and nodes may apply them differently. A "
                           "producer does not key the table's events by its name (a round-robin partitioner?), "
                           "or the topic's partitions changed; see docs/events.md, \"Misrouted events\"");
}

std::vector<MisroutedTable> TablePartitions::misrouted() const {
  std::lock_guard lock(mutex_);
  std::vector<MisroutedTable> out;
  for (auto& [name, t] : tables_)
    if (t.partitions.size() > 1) out.push_back({name, t.partitions, misrouted_events(t)});
  return out;
}

std::optional<int32_t> TablePartitions::first_partition(const std::string& table) const {
  std::lock_guard lock(mutex_);
  auto it = tables_.find(table);
  if (it == tables_.end() || it->second.partitions.empty()) return std::nullopt;
  return it->second.partitions.front();
}

}  // namespace clusterlite
