// Snapshot helpers (core/snapshot, core/sha256): the offsets header, the
// Repr-Digest header, and a snapshot file taken from a real database.
#include <gtest/gtest.h>
#include <unistd.h>

#include <SQLiteCpp/Database.h>

#include <filesystem>

#include "node_process.h"
#include "sha256.h"
#include "snapshot/snapshot_file.h"
#include "store/store.h"

using namespace clusterlite;
using clusterlite::test::TempDir;

TEST(Snapshot, OffsetsRoundTrip) {
  std::map<int32_t, int64_t> offsets{{0, 120}, {1, 0}, {2, 9007199254740993}};
  EXPECT_EQ(format_offsets(offsets), "0:120,1:0,2:9007199254740993");
  EXPECT_EQ(parse_offsets(format_offsets(offsets)), offsets);
  EXPECT_EQ(parse_offsets(""), (std::map<int32_t, int64_t>{}));
}

TEST(Snapshot, MalformedOffsetsAreRefused) {
  for (const char* bad : {"0", "0:", ":5", "0:1,", ",0:1", "0:1,0:2", "-1:5", "0:-5", "0:1x", "a:b", "0:1;1:2",
                          " 0:1", "0:99999999999999999999"})
    EXPECT_FALSE(parse_offsets(bad).has_value()) << bad;
}

TEST(Snapshot, ReprDigestRoundTrip) {
  Sha256 sha;
  sha.update("ab", 2);
  sha.update("c", 1);
  auto digest = sha.finish();
  EXPECT_EQ(to_hex(digest), sha256_hex("abc"));
  EXPECT_EQ(repr_digest(digest), "sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:");
  EXPECT_EQ(parse_repr_digest(repr_digest(digest)), digest);
  EXPECT_EQ(parse_repr_digest("md5=:abc:, " + repr_digest(digest)), digest);
  for (const char* bad : {"", "sha-256=:short:", "sha-256=ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
                          "sha-512=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:",
                          "sha-256=:!!!Wv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:"})
    EXPECT_FALSE(parse_repr_digest(bad).has_value()) << bad;
}

TEST(Snapshot, TakesAConsistentCopyAndLeavesNoFile) {
  TempDir dir;
  const std::string db_path = dir.path() + "/node.db";
  {
    Store store(db_path, 1000, 1);
    store.writer().exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    store.writer().exec("INSERT INTO t (v) VALUES ('a'), ('b')");
    store.writer().exec("INSERT INTO _cl_offsets VALUES ('topic_a', 0, 7), ('topic_a', 2, 3)");
    auto snapshot = SnapshotFile::take(db_path, 1000);
    EXPECT_EQ(snapshot->info().topic, "topic_a");
    EXPECT_EQ(snapshot->info().offsets, (std::map<int32_t, int64_t>{{0, 7}, {2, 3}}));
    EXPECT_GT(snapshot->info().bytes, 0u);
    // The copy is already unlinked: nothing but the database and its WAL is in the folder.
    for (auto& e : std::filesystem::directory_iterator(dir.path()))
      EXPECT_EQ(e.path().filename().string().find(".snapshot-"), std::string::npos) << e.path();
    // The descriptor still reads the whole copy, and its digest is the one announced.
    std::string bytes(snapshot->info().bytes, '\0');
    ASSERT_EQ(pread(snapshot->fd(), bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
    EXPECT_EQ(sha256_hex(bytes), to_hex(snapshot->info().sha256));
    std::string copy = dir.path() + "/copy.db";
    std::FILE* f = std::fopen(copy.c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
    SQLite::Database db(copy, SQLite::OPEN_READONLY);
    EXPECT_EQ(db.execAndGet("SELECT group_concat(v) FROM t").getString(), "a,b");
    EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
  }
}

TEST(Snapshot, StaleFilesOfAnEarlierRunAreRemoved) {
  TempDir dir;
  const std::string db_path = dir.path() + "/node.db";
  for (const char* name : {"node.db.snapshot-1-0.tmp", "node.db.bootstrap.tmp", "other.db.snapshot-1-0.tmp", "node.db"})
    std::fclose(std::fopen((dir.path() + "/" + name).c_str(), "w"));
  remove_stale_snapshot_files(db_path);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/node.db.snapshot-1-0.tmp"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/node.db.bootstrap.tmp"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/other.db.snapshot-1-0.tmp"));
  EXPECT_TRUE(std::filesystem::exists(db_path));
}
