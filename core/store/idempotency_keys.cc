#include "store/idempotency_keys.h"

#include <SQLiteCpp/Statement.h>

#include <algorithm>

namespace clusterlite {

namespace {

size_t slot_of(uint64_t h, size_t capacity) { return static_cast<size_t>(h ^ (h >> 29)) & (capacity - 1); }

// Keeps the later of `at_us` and W of `table` in `w`.
void raise(std::map<std::string, int64_t, std::less<>>& w, std::string_view table, int64_t at_us) {
  auto it = w.find(table);
  if (it == w.end())
    w.emplace(std::string(table), at_us);
  else
    it->second = std::max(it->second, at_us);
}

}  // namespace

uint64_t IdempotencyKeys::hash(std::string_view table, std::string_view key) {
  // FNV-1a over the table's name, a NUL (no table name holds one) and the key.
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::string_view bytes) {
    for (unsigned char c : bytes) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  mix(table);
  mix(std::string_view("\0", 1));
  mix(key);
  return h;
}

void IdempotencyKeys::load(SQLite::Database& db) {
  std::vector<std::pair<uint64_t, int64_t>> records;
  std::map<std::string, int64_t, std::less<>> latest;
  SQLite::Statement q(db, "SELECT seq, table_name, key, recorded_at FROM _cl_idempotency");
  while (q.executeStep()) {
    auto table_column = q.getColumn(1);
    auto key = q.getColumn(2);
    std::string_view table(static_cast<const char*>(table_column.getBlob()), table_column.getBytes());
    records.emplace_back(hash(table, std::string_view(static_cast<const char*>(key.getBlob()), key.getBytes())),
                         q.getColumn(0).getInt64());
    raise(latest, table, q.getColumn(3).getInt64());
  }
  latest_ = std::move(latest);
  pending_latest_.clear();
  added_.clear();
  removed_.clear();
  std::lock_guard lock(mutex_);
  slots_.assign(capacity_for(records.size()), Slot{});
  live_ = used_ = 0;
  for (const auto& [h, seq] : records) insert(h, seq);
}

std::vector<int64_t> IdempotencyKeys::candidates(uint64_t h, bool pending) const {
  std::vector<int64_t> out;
  std::lock_guard lock(mutex_);
  if (slots_.empty()) return out;
  const size_t mask = slots_.size() - 1;
  for (size_t i = slot_of(h, slots_.size());; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.seq == kEmpty) break;
    if (s.seq == kRemoved || s.hash != h) continue;
    // Readers on other threads do not see the writer's uncommitted records
    // anyway (their rows are not in their snapshot).
    if (pending && removed_.count(s.seq)) continue;
    out.push_back(s.seq);
  }
  return out;
}

void IdempotencyKeys::add(uint64_t h, int64_t seq) {
  std::lock_guard lock(mutex_);
  insert(h, seq);
  added_.emplace_back(h, seq);
}

void IdempotencyKeys::remove(uint64_t h, int64_t seq) { removed_.emplace(seq, h); }

int64_t IdempotencyKeys::latest(const std::string& table) const {
  int64_t w = 0;
  if (auto it = latest_.find(table); it != latest_.end()) w = it->second;
  if (auto it = pending_latest_.find(table); it != pending_latest_.end()) w = std::max(w, it->second);
  return w;
}

void IdempotencyKeys::recorded(const std::string& table, int64_t at_us) { raise(pending_latest_, table, at_us); }

void IdempotencyKeys::commit() {
  for (const auto& [table, at] : pending_latest_) raise(latest_, table, at);
  pending_latest_.clear();
  added_.clear();
  if (removed_.empty()) return;
  std::lock_guard lock(mutex_);
  for (const auto& [seq, h] : removed_) erase(h, seq);
  removed_.clear();
}

void IdempotencyKeys::rollback() {
  pending_latest_.clear();
  removed_.clear();
  std::lock_guard lock(mutex_);
  for (const auto& [h, seq] : added_) erase(h, seq);
  added_.clear();
}

size_t IdempotencyKeys::size() const {
  std::lock_guard lock(mutex_);
  return live_;
}

size_t IdempotencyKeys::capacity_for(size_t records) {
  size_t capacity = 16;
  while (capacity < (records + 1) * 4) capacity *= 2;
  return capacity;
}

void IdempotencyKeys::insert(uint64_t h, int64_t seq) {
  // Past half full (tombstones count), tombstones go and the table is a
  // quarter full again at most.
  if ((used_ + 1) * 2 > slots_.size()) rebuild(capacity_for(live_));
  const size_t mask = slots_.size() - 1;
  size_t i = slot_of(h, slots_.size());
  while (slots_[i].seq > 0) i = (i + 1) & mask;
  if (slots_[i].seq == kEmpty) ++used_;
  slots_[i] = {h, seq};
  ++live_;
}

void IdempotencyKeys::erase(uint64_t h, int64_t seq) {
  if (slots_.empty()) return;
  const size_t mask = slots_.size() - 1;
  for (size_t i = slot_of(h, slots_.size()); slots_[i].seq != kEmpty; i = (i + 1) & mask)
    if (slots_[i].seq == seq && slots_[i].hash == h) {
      slots_[i].seq = kRemoved;
      --live_;
      return;
    }
}

void IdempotencyKeys::rebuild(size_t capacity) {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(capacity, Slot{});
  live_ = used_ = 0;
  for (const Slot& s : old)
    if (s.seq > 0) insert(s.hash, s.seq);
}

}  // namespace clusterlite
