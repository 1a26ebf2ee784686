// The idempotency records of core/apply/idempotency: recording, liveness in
// event time, and removing dead records, on a real SQLite file made by Store
// (the class in isolation: no applier, no log).
#include "apply/idempotency.h"

#include <gtest/gtest.h>

#include <string>

#include "node_process.h"
#include "store/store.h"

using namespace clusterlite;
using clusterlite::test::TempDir;

namespace {

constexpr int64_t kSecond = 1000000;

class IdempotencyRecords : public ::testing::Test {
 protected:
  TempDir dir_;
  Store store_{dir_.path() + "/node.db", 5000, 1};
  StatementCache statements_;

  void record(const std::string& key, int64_t at_us, int64_t keep_seconds) {
    DatabaseEvent e;
    e.id = "event-" + key;
    e.table_name = "users";
    e.operation = Operation::kInsert;
    e.data.AddMember("id", rapidjson::Value(key.c_str(), e.data.GetAllocator()), e.data.GetAllocator());
    IdempotencyStamp stamp{key, std::string(64, 'a'), keep_seconds};
    record_outcome(store_.writer(), statements_, e, stamp, Status::Ok(), std::string("{}"), at_us);
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
  auto live = find_live_outcome(store_.writer(), statements_, "users", "k1", 14 * kSecond);
  ASSERT_TRUE(live);
  EXPECT_EQ(live->event_id, "event-k1");
  EXPECT_FALSE(find_live_outcome(store_.writer(), statements_, "users", "k1", 16 * kSecond));
  EXPECT_FALSE(find_live_outcome(store_.writer(), statements_, "other", "k1", 11 * kSecond));
  // A later record moves the table's clock: an event stamped earlier (another
  // producer's clock) no longer finds k1 alive.
  record("k2", 20 * kSecond, 5);
  EXPECT_FALSE(find_live_outcome(store_.writer(), statements_, "users", "k1", 11 * kSecond));
  // read_outcome answers live or not (the answer of an applied request).
  EXPECT_TRUE(read_outcome(store_.writer(), statements_, "users", "k1"));
}

TEST_F(IdempotencyRecords, DeadRecordsAreRemovedOncePerSecondOfEventTime) {
  for (int i = 0; i < 600; ++i) record("old-" + std::to_string(i), 1 * kSecond, 1);  // dead from t = 2 s
  record("young", 2 * kSecond + kSecond / 2, 3600);
  int64_t last_run = 0;
  forget_dead_outcomes(store_.writer(), statements_, "users", &last_run);  // W = 2.5 s: runs
  EXPECT_EQ(last_run, 2 * kSecond + kSecond / 2);
  EXPECT_EQ(count(), 1) << "600 dead records are removed in one run (chunks of 256), the live one kept";
  EXPECT_TRUE(read_outcome(store_.writer(), statements_, "users", "young"));

  record("short", 3 * kSecond, 1);                                          // dead from t = 4 s
  record("now", 3 * kSecond + kSecond / 2 - 1, 3600);                       // W = 3.5 s - 1 us
  forget_dead_outcomes(store_.writer(), statements_, "users", &last_run);    // < a second since the last run
  EXPECT_EQ(count(), 3);
  record("later", 5 * kSecond, 3600);                                       // W = 5 s
  forget_dead_outcomes(store_.writer(), statements_, "users", &last_run);
  EXPECT_EQ(count(), 3) << "\"short\" expired at 4 s: removed";
  EXPECT_FALSE(read_outcome(store_.writer(), statements_, "users", "short"));
  EXPECT_EQ(last_run, 5 * kSecond);
}
