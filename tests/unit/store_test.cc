// Store on a real SQLite file: the background checkpointer.
#include "store.h"

#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>

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
