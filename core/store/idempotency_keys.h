// Where each Idempotency-Key's record is in _cl_idempotency, held in memory.
//
// A key is client-chosen and random, so a B-tree over the keys takes a write
// to a random page of the file for every keyed event, as many again as the
// entity's own indexes. Records are appended in the order the applier meets
// them instead, and this index finds them: per hash of (table, key), the
// seq of every record with that hash. The caller reads a candidate's row by
// its seq and compares table and key, so a hash shared by two keys, or a seq
// whose row is gone, only costs a read.
//
// Only a node that is its database's sole writer keeps one (Store builds it
// from the records at start-up: a full read of _cl_idempotency, and 32 to 64
// bytes of memory per kept record: an open-addressing table of (hash, seq)
// at most half full). Nodes sharing one file find keys through a unique SQL
// index instead, which every writer keeps up to date.
//
// The applier changes the index inside its write transaction. add() takes
// effect at once (a reader that finds the seq of a record not yet committed
// does not see its row, so it is no match); remove() only at commit(), so
// readers on other threads still find a record until its removal is
// committed; rollback() undoes the adds. The applier's own lookups see its
// pending changes.
#pragma once

#include <SQLiteCpp/Database.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace clusterlite {

class IdempotencyKeys {
 public:
  // The hash a record of `key` in `table` is found by.
  static uint64_t hash(std::string_view table, std::string_view key);

  // Replaces the index with every record of `db`'s _cl_idempotency.
  void load(SQLite::Database& db);

  // The seqs of the records that may be of (table, key) with hash `h`: the
  // committed ones, and with `pending` the writer's uncommitted changes too.
  std::vector<int64_t> candidates(uint64_t h, bool pending) const;

  // The writer's changes in its transaction.
  void add(uint64_t h, int64_t seq);
  void remove(uint64_t h, int64_t seq);
  void commit();
  void rollback();

  // Committed records indexed.
  size_t size() const;

  // W, the latest recorded_at among `table`'s records (0 when none), with
  // the writer's pending records; and a record's time, pending like add().
  // The writer's only: readers never ask.
  int64_t latest(const std::string& table) const;
  void recorded(const std::string& table, int64_t at_us);

 private:
  // An open-addressing table with linear probing. A slot is empty when its
  // seq is kEmpty and a tombstone when kRemoved (SQLite's rowids start at 1).
  struct Slot {
    uint64_t hash = 0;
    int64_t seq = 0;
  };
  static constexpr int64_t kEmpty = 0;
  static constexpr int64_t kRemoved = -1;
  // Slots for `records` kept records: a quarter full at most, a power of two.
  static size_t capacity_for(size_t records);
  void insert(uint64_t h, int64_t seq);  // with mutex_ held
  void erase(uint64_t h, int64_t seq);   // with mutex_ held
  void rebuild(size_t capacity);         // with mutex_ held

  mutable std::mutex mutex_;
  std::vector<Slot> slots_;  // guarded by mutex_; a power of two long, or empty
  size_t live_ = 0;          // guarded by mutex_: slots that hold a record
  size_t used_ = 0;          // guarded by mutex_: slots that are not empty (live and tombstones)
  // Only the writer's thread touches these: the transaction's adds (undone
  // by rollback), its removals by seq with their hash (done by commit), and
  // W per table, committed and pending.
  std::vector<std::pair<uint64_t, int64_t>> added_;
  std::unordered_map<int64_t, uint64_t> removed_;
  std::map<std::string, int64_t, std::less<>> latest_, pending_latest_;
};

}  // namespace clusterlite
