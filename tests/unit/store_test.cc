// Store on a real SQLite file: the background checkpointer, and the pooled
// readers' transactions.
#include "store/store.h"

#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "node_process.h"

using namespace clusterlite;
using namespace std::chrono_literals;

TEST(StoreTest, TheCheckpointerCopiesALongWalIntoTheDatabaseFile) {
  test::TempDir dir;
  std::string path = dir.path() + "/store.db";
  Store store(path, 5000, 1);
  auto& db = store.writer();
  db.exec("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)");
  EXPECT_EQ(store.checkpoints(), 0u);
  // 12 commits of ~4 MiB each: past 10,000 pages of WAL after about ten.
  SQLite::Statement insert(db, "INSERT INTO blobs (data) VALUES (zeroblob(4 * 1024 * 1024))");
  for (int i = 0; i < 12; ++i) {
    insert.exec();
    insert.reset();
  }
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (store.checkpoints() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  ASSERT_GE(store.checkpoints(), 1u) << "no checkpoint after the WAL passed 10,000 pages";
  // The pages reached the database file itself (it was a few KiB before).
  EXPECT_GT(std::filesystem::file_size(path), 30u * 1024 * 1024);
  // Writing goes on while and after the checkpoint runs.
  insert.exec();
  SQLite::Statement count(db, "SELECT COUNT(*) FROM blobs");
  ASSERT_TRUE(count.executeStep());
  EXPECT_EQ(count.getColumn(0).getInt(), 13);
}

TEST(StoreTest, ShortWalsAreLeftToTheNextCheckpoint) {
  test::TempDir dir;
  Store store(dir.path() + "/store.db", 5000, 1);
  store.writer().exec("CREATE TABLE t (x INTEGER)");
  for (int i = 0; i < 100; ++i) store.writer().exec("INSERT INTO t VALUES (1)");
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(store.checkpoints(), 0u);
}

namespace {

int64_t read_value(Store& store) {
  auto reader = store.read();
  SQLite::Statement q(reader.db(), "SELECT v FROM t");
  EXPECT_TRUE(q.executeStep());
  return q.getColumn(0).getInt64();
}

// A PASSIVE checkpoint from a connection of its own: {frames in the WAL, frames copied}.
std::pair<int, int> checkpoint(const std::string& path) {
  auto db = open_connection(path, false, 1000);
  int frames = -1, copied = -1;
  EXPECT_EQ(sqlite3_wal_checkpoint_v2(db->getHandle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied),
            SQLITE_OK);
  return {frames, copied};
}

}  // namespace

TEST(StoreTest, AReaderSeesEveryCommitFinishedBeforeItWasBorrowed) {
  test::TempDir dir;
  Store store(dir.path() + "/store.db", 5000, 1);  // one pooled connection: every read reuses it
  store.writer().exec("CREATE TABLE t (v INTEGER)");
  store.writer().exec("INSERT INTO t VALUES (1)");
  EXPECT_EQ(read_value(store), 1);
  for (int v = 2; v <= 5; ++v) {
    store.writer().exec("UPDATE t SET v = " + std::to_string(v));
    EXPECT_EQ(read_value(store), v) << "a read after the commit of " << v << " saw an older snapshot";
    EXPECT_EQ(read_value(store), v);
  }
}

TEST(StoreTest, AReaderKeepsOneSnapshotWhileBorrowed) {
  test::TempDir dir;
  Store store(dir.path() + "/store.db", 5000, 1);
  store.writer().exec("CREATE TABLE t (v INTEGER)");
  store.writer().exec("INSERT INTO t VALUES (1)");
  auto reader = store.read();
  EXPECT_FALSE(sqlite3_get_autocommit(reader.db().getHandle())) << "not inside a read transaction";
  SQLite::Statement q(reader.db(), "SELECT v FROM t");
  ASSERT_TRUE(q.executeStep());
  EXPECT_EQ(q.getColumn(0).getInt64(), 1);
  q.reset();
  store.writer().exec("UPDATE t SET v = 2");
  ASSERT_TRUE(q.executeStep());
  EXPECT_EQ(q.getColumn(0).getInt64(), 1);
}

TEST(StoreTest, IdleReadTransactionsEndSoCheckpointsCopyEverything) {
  test::TempDir dir;
  std::string path = dir.path() + "/store.db";
  Store store(path, 5000, 2);
  store.writer().exec("CREATE TABLE t (v INTEGER)");
  store.writer().exec("INSERT INTO t VALUES (1)");
  EXPECT_EQ(read_value(store), 1);  // the connection goes back to the pool inside its transaction
  store.writer().exec("UPDATE t SET v = 2");
  // The idle snapshot predates the update: its frames cannot be copied yet.
  auto [frames, copied] = checkpoint(path);
  EXPECT_GT(frames, 0);
  EXPECT_LT(copied, frames);
  store.end_idle_reads();
  std::tie(frames, copied) = checkpoint(path);
  EXPECT_GT(frames, 0);
  EXPECT_EQ(copied, frames);
  EXPECT_EQ(read_value(store), 2);
}

TEST(StoreTest, WithOtherWritersOnTheFileEveryReadTakesAFreshSnapshot) {
  test::TempDir dir;
  std::string path = dir.path() + "/store.db";
  Store mine(path, 5000, 1, 0, /*sole_writer=*/false);
  Store other(path, 5000, 1, 0, /*sole_writer=*/false);  // another process in shared mode
  mine.writer().exec("CREATE TABLE t (v INTEGER)");
  mine.writer().exec("INSERT INTO t VALUES (1)");
  EXPECT_EQ(read_value(mine), 1);
  other.writer().exec("UPDATE t SET v = 2");
  EXPECT_EQ(read_value(mine), 2) << "a commit of another writer was not seen";
  // Nothing of the earlier read stays open to hold the WAL back.
  auto [frames, copied] = checkpoint(path);
  EXPECT_GT(frames, 0);
  EXPECT_EQ(copied, frames);
}
