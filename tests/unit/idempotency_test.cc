// The idempotency records of core/apply/idempotency and the key index of
// store/idempotency_keys: recording, liveness in event time, removing dead
// records, finding keys after a restart, in shared mode and through hashes
// two keys share, on a real SQLite file made by Store (the classes in
// isolation: no applier, no log).
#include "apply/idempotency.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "node_process.h"
#include "store/store.h"

using namespace clusterlite;
using clusterlite::test::TempDir;

namespace {

constexpr int64_t kSecond = 1000000;

// Records `key` as the applier does: the record, then (after the batch's
// commit) the key index's commit.
void record_in(Store& store, StatementCache& statements, const std::string& key, int64_t at_us, int64_t keep_seconds,
               const std::string& table = "users", int64_t replaces = 0) {
  DatabaseEvent e;
  e.id = "event-" + key;
  e.table_name = table;
  e.operation = Operation::kInsert;
  e.data.AddMember("id", rapidjson::Value(key.c_str(), e.data.GetAllocator()), e.data.GetAllocator());
  IdempotencyStamp stamp{key, std::string(64, 'a'), keep_seconds};
  record_outcome(store.writer(), statements, store.idempotency_keys(), e, stamp, Status::Ok(), std::string("{}"),
                 at_us, replaces);
  if (store.idempotency_keys()) store.idempotency_keys()->commit();
}

class IdempotencyRecords : public ::testing::Test {
 protected:
  TempDir dir_;
  Store store_{dir_.path() + "/node.db", 5000, 1};
  StatementCache statements_;

  IdempotencyKeys* keys() { return store_.idempotency_keys(); }

  void record(const std::string& key, int64_t at_us, int64_t keep_seconds, const std::string& table = "users",
              int64_t replaces = 0) {
    record_in(store_, statements_, key, at_us, keep_seconds, table, replaces);
  }

  std::optional<RecordedOutcome> find_live_outcome(const std::string& table, const std::string& key, int64_t at_us) {
    auto found = find_outcome(store_.writer(), statements_, keys(), table, key, at_us);
    if (!found || !found->live) return std::nullopt;
    return found->outcome;
  }

  std::optional<RecordedOutcome> read(const std::string& table, const std::string& key) {
    return read_outcome(store_.writer(), statements_, keys(), table, key);
  }

  void forget(int64_t* last_run) {
    forget_dead_outcomes(store_.writer(), statements_, keys(), "users", last_run);
    if (keys()) keys()->commit();
  }

  int count() {
    SQLite::Statement q(store_.writer(), "SELECT count(*) FROM _cl_idempotency");
    q.executeStep();
    return q.getColumn(0).getInt();
  }
};

}  // namespace

TEST_F(IdempotencyRecords, ALiveRecordIsFoundAndADeadOneIsNot) {
  record("k1", 10 * kSecond, 5);
  auto live = find_live_outcome("users", "k1", 14 * kSecond);
  ASSERT_TRUE(live);
  EXPECT_EQ(live->event_id, "event-k1");
  EXPECT_FALSE(find_live_outcome("users", "k1", 16 * kSecond));
  EXPECT_FALSE(find_live_outcome("other", "k1", 11 * kSecond));
  // A later record moves the table's clock: an event stamped earlier (another
  // producer's clock) no longer finds k1 alive.
  record("k2", 20 * kSecond, 5);
  EXPECT_FALSE(find_live_outcome("users", "k1", 11 * kSecond));
  // read_outcome answers live or not (the answer of an applied request).
  EXPECT_TRUE(read("users", "k1"));
}

TEST_F(IdempotencyRecords, DeadRecordsAreRemovedOncePerSecondOfEventTime) {
  for (int i = 0; i < 600; ++i) record("old-" + std::to_string(i), 1 * kSecond, 1);  // dead from t = 2 s
  record("young", 2 * kSecond + kSecond / 2, 3600);
  int64_t last_run = 0;
  forget(&last_run);  // W = 2.5 s: runs
  EXPECT_EQ(last_run, 2 * kSecond + kSecond / 2);
  EXPECT_EQ(count(), 1) << "600 dead records are removed in one run (chunks of 256), the live one kept";
  EXPECT_EQ(keys()->size(), 1u) << "and their keys leave the index";
  EXPECT_TRUE(read("users", "young"));

  record("short", 3 * kSecond, 1);                                          // dead from t = 4 s
  record("now", 3 * kSecond + kSecond / 2 - 1, 3600);                       // W = 3.5 s - 1 us
  forget(&last_run);    // < a second since the last run
  EXPECT_EQ(count(), 3);
  record("later", 5 * kSecond, 3600);                                       // W = 5 s
  forget(&last_run);
  EXPECT_EQ(count(), 3) << "\"short\" expired at 4 s: removed";
  EXPECT_FALSE(read("users", "short"));
  EXPECT_EQ(last_run, 5 * kSecond);
}

TEST(IdempotencyKeyIndex, KeysAreFoundThroughMemoryAndAgainAfterARestart) {
  TempDir dir;
  const std::string path = dir.path() + "/node.db";
  {
    Store store(path, 5000, 1);
    StatementCache statements;
    ASSERT_NE(store.idempotency_keys(), nullptr) << "a sole writer keeps its keys in memory";
    SQLite::Statement q(store.writer(), "SELECT count(*) FROM sqlite_master WHERE name = '_cl_idempotency_by_key'");
    q.executeStep();
    EXPECT_EQ(q.getColumn(0).getInt(), 0) << "no B-tree over random keys on a sole writer";
    for (int i = 0; i < 100; ++i) record_in(store, statements, "key-" + std::to_string(i), 10 * kSecond + i, 3600);
    record_in(store, statements, "key-0", 10 * kSecond, 3600, "orders");  // the same key in another table
    record_in(store, statements, "brief", 10 * kSecond, 5);
    record_in(store, statements, "late", 20 * kSecond, 3600);  // W of users: 20 s
    EXPECT_EQ(store.idempotency_keys()->size(), 103u);
  }
  Store reopened(path, 5000, 1);
  StatementCache statements;
  IdempotencyKeys* keys = reopened.idempotency_keys();
  ASSERT_NE(keys, nullptr);
  EXPECT_EQ(keys->size(), 103u) << "the index is built from the records at start-up";
  auto brief = find_outcome(reopened.writer(), statements, keys, "users", "brief", 11 * kSecond);
  ASSERT_TRUE(brief);
  EXPECT_FALSE(brief->live) << "W (20 s) is read back at start-up too: the record that expired at 15 s stays dead";
  auto other_table = find_outcome(reopened.writer(), statements, keys, "orders", "key-0", 11 * kSecond);
  ASSERT_TRUE(other_table);
  EXPECT_TRUE(other_table->live) << "each table has its own W";
  auto found = read_outcome(reopened.writer(), statements, keys, "users", "key-42");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->event_id, "event-key-42");
  EXPECT_TRUE(read_outcome(reopened.writer(), statements, keys, "orders", "key-0"));
  EXPECT_FALSE(read_outcome(reopened.writer(), statements, keys, "orders", "key-1"));
}

TEST_F(IdempotencyRecords, ARecordThatDiedIsReplacedByTheNextOne) {
  record("k", 1 * kSecond, 1);
  record("other", 5 * kSecond, 3600);  // W = 5 s: k is dead
  auto found = find_outcome(store_.writer(), statements_, keys(), "users", "k", 5 * kSecond);
  ASSERT_TRUE(found);
  EXPECT_FALSE(found->live);
  record("k", 5 * kSecond, 3600, "users", found->seq);
  EXPECT_EQ(count(), 2) << "the dead record of k went with the new one";
  auto now = find_live_outcome("users", "k", 5 * kSecond);
  ASSERT_TRUE(now);
  EXPECT_EQ(now->recorded_at_us, 5 * kSecond);
  EXPECT_EQ(keys()->size(), 2u);
}

TEST_F(IdempotencyRecords, UncommittedKeysAreTheWritersOnlyAndARollbackDropsThem) {
  DatabaseEvent e;
  e.id = "event-pending";
  e.table_name = "users";
  e.operation = Operation::kInsert;
  e.data.AddMember("id", "pending", e.data.GetAllocator());
  store_.writer().exec("BEGIN IMMEDIATE");
  record_outcome(store_.writer(), statements_, keys(), e, IdempotencyStamp{"pending", std::string(64, 'a'), 60},
                 Status::Ok(), std::nullopt, kSecond);
  EXPECT_TRUE(find_outcome(store_.writer(), statements_, keys(), "users", "pending", kSecond))
      << "the writer sees its own record within its transaction";
  {
    auto reader = store_.read();
    EXPECT_FALSE(read_outcome(reader.db(), store_.read_statements(), keys(), "users", "pending"))
        << "readers do not see it before the commit";
  }
  store_.writer().exec("ROLLBACK");
  keys()->rollback();
  EXPECT_FALSE(find_outcome(store_.writer(), statements_, keys(), "users", "pending", kSecond));
  EXPECT_EQ(keys()->size(), 0u);
}

TEST(IdempotencyKeyIndex, TheTableGrowsAndKeepsEveryKeyThroughRemovals) {
  IdempotencyKeys keys;
  for (int64_t seq = 1; seq <= 20000; ++seq) keys.add(IdempotencyKeys::hash("t", std::to_string(seq)), seq);
  keys.commit();
  EXPECT_EQ(keys.size(), 20000u);
  for (int64_t seq = 1; seq <= 20000; seq += 2) keys.remove(IdempotencyKeys::hash("t", std::to_string(seq)), seq);
  EXPECT_EQ(keys.candidates(IdempotencyKeys::hash("t", "1"), /*pending=*/false), std::vector<int64_t>{1})
      << "a removal is seen by readers only once committed";
  EXPECT_TRUE(keys.candidates(IdempotencyKeys::hash("t", "1"), /*pending=*/true).empty());
  keys.commit();
  EXPECT_EQ(keys.size(), 10000u);
  // Many adds over tombstones: the table is rebuilt, nothing is lost.
  for (int64_t seq = 20001; seq <= 60000; ++seq) keys.add(IdempotencyKeys::hash("t", std::to_string(seq)), seq);
  keys.rollback();
  EXPECT_EQ(keys.size(), 10000u) << "a rollback undoes the transaction's adds";
  for (int64_t seq = 20001; seq <= 30000; ++seq) keys.add(IdempotencyKeys::hash("t", std::to_string(seq)), seq);
  keys.commit();
  EXPECT_EQ(keys.size(), 20000u);
  for (int64_t seq = 1; seq <= 30000; ++seq) {
    bool kept = seq > 20000 || seq % 2 == 0;
    auto found = keys.candidates(IdempotencyKeys::hash("t", std::to_string(seq)), /*pending=*/true);
    ASSERT_EQ(found.size(), kept ? 1u : 0u) << seq;
    if (kept) ASSERT_EQ(found[0], seq);
  }
}

TEST_F(IdempotencyRecords, AHashTwoKeysShareFindsEachByItsOwnRow) {
  record("a", kSecond, 60);
  record("b", kSecond, 60);
  auto a = find_outcome(store_.writer(), statements_, keys(), "users", "a", kSecond);
  auto b = find_outcome(store_.writer(), statements_, keys(), "users", "b", kSecond);
  ASSERT_TRUE(a && b);
  // As if "a" and "c" hashed alike with b's row: each candidate is read and compared.
  keys()->add(IdempotencyKeys::hash("users", "a"), b->seq);
  keys()->add(IdempotencyKeys::hash("users", "c"), b->seq);
  keys()->add(IdempotencyKeys::hash("users", "c"), 999999);  // a row that is gone
  keys()->commit();
  auto again = find_live_outcome("users", "a", kSecond);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->event_id, "event-a");
  EXPECT_FALSE(read("users", "c"));
}

TEST(IdempotencyRecordsShared, WritersSharingAFileFindKeysThroughAUniqueIndex) {
  TempDir dir;
  Store store(dir.path() + "/shared.db", 5000, 1, 0, /*sole_writer=*/false);
  EXPECT_EQ(store.idempotency_keys(), nullptr);
  SQLite::Statement q(store.writer(), "SELECT count(*) FROM sqlite_master WHERE name = '_cl_idempotency_by_key'");
  q.executeStep();
  EXPECT_EQ(q.getColumn(0).getInt(), 1);
  StatementCache statements;
  DatabaseEvent e;
  e.id = "event-s";
  e.table_name = "users";
  e.operation = Operation::kInsert;
  e.data.AddMember("id", "s", e.data.GetAllocator());
  record_outcome(store.writer(), statements, nullptr, e, IdempotencyStamp{"s", std::string(64, 'a'), 60},
                 Status::Ok(), std::nullopt, kSecond);
  auto found = find_outcome(store.writer(), statements, nullptr, "users", "s", kSecond);
  ASSERT_TRUE(found);
  EXPECT_TRUE(found->live);
  EXPECT_EQ(found->outcome.event_id, "event-s");
  EXPECT_FALSE(read_outcome(store.writer(), statements, nullptr, "users", "t"));
}
