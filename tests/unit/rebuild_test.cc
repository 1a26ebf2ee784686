// Unit tests of the point-in-time rebuild (core/rebuild): parsing --until,
// and rebuilds from an embedded log written by hand into a standalone node's
// database, with the real users plugin, so the bounds' exact semantics can be
// checked event by event (timestamps out of order, a malformed record).
#include "rebuild/rebuild.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "eventlog/event_codec.h"
#include "node_process.h"
#include "plugins/plugin_loader.h"
#include "store/store.h"
#include "timeutil.h"

using namespace clusterlite;
namespace fs = std::filesystem;

namespace {

TEST(RebuildUntil, ParsesATime) {
  auto u = parse_until("2026-12-07T05:00:00Z");
  ASSERT_TRUE(u.time);
  EXPECT_EQ(format_rfc3339(*u.time), "2026-12-07T05:00:00.000000Z");
  EXPECT_TRUE(u.offsets.empty());
  u = parse_until("2026-12-07T07:00:00.5+02:00");
  ASSERT_TRUE(u.time);
  EXPECT_EQ(format_rfc3339(*u.time), "2026-12-07T05:00:00.500000Z");
}

TEST(RebuildUntil, ParsesOffsets) {
  auto u = parse_until("0:1500,2:37");
  EXPECT_FALSE(u.time);
  EXPECT_EQ(u.offsets, (std::map<int32_t, int64_t>{{0, 1500}, {2, 37}}));
  EXPECT_EQ(parse_until("1:0").offsets, (std::map<int32_t, int64_t>{{1, 0}}));
  EXPECT_EQ(parse_until("0:9223372036854775807").offsets.at(0), INT64_MAX);
}

TEST(RebuildUntil, RefusesMalformedValues) {
  for (const char* bad : {"", "yesterday", "2026-12-07", "2026-12-07T05:00:00", "2026-12-07 05:00:00Z", "05:00",
                          "0:", ":5", "0:1,", ",0:1", "0:1,0:2", "0:-1", "-1:0", "0:1:2", "a:1", "0:01",
                          "0:9223372036854775808", "2147483648:0", "0:1;1:2", "0"}) {
    EXPECT_THROW(parse_until(bad), std::invalid_argument) << bad;
  }
  try {
    parse_until("0:1,0:2");
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "--until '0:1,0:2': partition 0 is named twice");
  }
}

std::string user_event(const std::string& op, const std::string& id, const std::string& ts) {
  DatabaseEvent e;
  e.id = "ev-" + id + "-" + op;
  e.operation = op == "DELETE" ? Operation::kDelete : Operation::kInsert;
  e.table_name = "users";
  e.timestamp = ts;
  auto& a = e.data.GetAllocator();
  e.data.AddMember("id", rapidjson::Value(id.c_str(), a), a);
  if (op != "DELETE") {
    e.data.AddMember("name", rapidjson::Value(("User " + id).c_str(), a), a);
    e.data.AddMember("email", rapidjson::Value((id + "@example.com").c_str(), a), a);
  }
  return encode_event(e);
}

class RebuildTest : public ::testing::Test {
 protected:
  // A standalone node's database whose embedded log holds, at offsets 0 to 6:
  //   0 INSERT a  10:00   1 INSERT b  10:01   2 DELETE a  10:03
  //   3 INSERT c  10:02 (its node's clock was behind)   4 not JSON
  //   5 INSERT d  10:04   6 DELETE x  10:05 (no such user: rejected)
  void SetUp() override {
    config_.mode = Mode::kStandalone;
    config_.node_id = "rebuild-test";
    config_.database.path = dir_.path() + "/node.db";
    config_.plugins.directory = test::plugins_directory();
    config_.plugins.load = std::vector<std::string>{"users"};
    Store store(config_.database.path, 5000, 0);
    SQLite::Statement add(store.writer(), "INSERT INTO _cl_log (offset, key, value) VALUES (?, 'users', ?)");
    const std::vector<std::string> values{
        user_event("INSERT", "a", "2026-12-07T10:00:00Z"), user_event("INSERT", "b", "2026-12-07T10:01:00Z"),
        user_event("DELETE", "a", "2026-12-07T10:03:00Z"), user_event("INSERT", "c", "2026-12-07T12:02:00+02:00"),
        "not json",                                        user_event("INSERT", "d", "2026-12-07T10:04:00Z"),
        user_event("DELETE", "x", "2026-12-07T10:05:00Z")};
    for (size_t i = 0; i < values.size(); ++i) {
      add.bind(1, static_cast<int64_t>(i));
      add.bind(2, values[i].data(), static_cast<int>(values[i].size()));
      add.exec();
      add.reset();
    }
  }

  RebuildResult run(const std::string& until, const std::string& name = "out.db") {
    RebuildOptions options;
    options.out_path = dir_.path() + "/" + name;
    options.until = parse_until(until);
    return rebuild(config_, options);
  }
  std::vector<std::string> users(const std::string& name = "out.db") {
    SQLite::Database db(dir_.path() + "/" + name, SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "SELECT id FROM users ORDER BY id");
    std::vector<std::string> ids;
    while (q.executeStep()) ids.push_back(q.getColumn(0).getString());
    return ids;
  }
  int64_t count(const std::string& sql, const std::string& name = "out.db") {
    SQLite::Database db(dir_.path() + "/" + name, SQLite::OPEN_READONLY);
    return db.execAndGet(sql).getInt64();
  }
  // The files in the test's directory, besides the node's database.
  std::vector<std::string> files() {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(dir_.path()))
      if (e.path().filename().string().rfind("node.db", 0) != 0) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  test::TempDir dir_;
  Config config_;
};

TEST_F(RebuildTest, ATimeEndsThePartitionAtItsFirstLaterEvent) {
  // 10:02:30: offset 2 (10:03) is the first event past it, so offset 3
  // (10:02, written after it in the log) is not replayed either.
  auto r = run("2026-12-07T10:02:30Z");
  EXPECT_EQ(users(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.events, 2u);
  EXPECT_EQ(r.stopped_at, (std::map<int32_t, int64_t>{{0, 2}}));
  EXPECT_EQ(count("SELECT next_offset FROM _cl_offsets WHERE topic = '_embedded'"), 2);
  // The file is complete and alone: no temporary name, no WAL beside it.
  EXPECT_EQ(files(), (std::vector<std::string>{"out.db"}));
  EXPECT_EQ(count("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'delete'"), 1);
}

TEST_F(RebuildTest, ATimeIncludesAnEventStampedExactlyThen) {
  run("2026-12-07T10:03:00Z");
  EXPECT_EQ(users(), (std::vector<std::string>{"b", "c"}));
}

TEST_F(RebuildTest, ATimeBeforeEverythingGivesEmptyTables) {
  auto r = run("2020-01-01T00:00:00Z");
  EXPECT_EQ(r.events, 0u);
  EXPECT_EQ(count("SELECT count(*) FROM users"), 0);
}

TEST_F(RebuildTest, AMalformedRecordHasNoTimeAndIsRejectedAsANodeRejectsIt) {
  auto r = run("2026-12-07T10:04:30Z");
  EXPECT_EQ(users(), (std::vector<std::string>{"b", "c", "d"}));
  EXPECT_EQ(r.events, 6u);
  EXPECT_EQ(r.rejected, 1u);
  EXPECT_EQ(count("SELECT count(*) FROM _cl_rejected WHERE offset = 4"), 1);
}

TEST_F(RebuildTest, OnlyATopLevelTimestampOfAReadableEventCounts) {
  {
    SQLite::Database db(config_.database.path, SQLite::OPEN_READWRITE);
    SQLite::Statement add(db, "INSERT INTO _cl_log (offset, key, value) VALUES (?, 'users', ?)");
    const std::vector<std::string> values{
        // 7: a later "timestamp" inside data is the entity's, not the event's
        R"({"id":"e7","operation":"INSERT","table_name":"users","data":{"id":"f","name":"F","email":"f@example.com",)"
        R"("timestamp":"2030-01-01T00:00:00Z"},"timestamp":"2026-12-07T10:06:00Z"})",
        // 8: the key written with an escape, first in the object
        R"({"timestamp":"2026-12-07T10:07:00Z","id":"e8","operation":"INSERT","table_name":"users",)"
        R"("data":{"id":"g","name":"G","email":"g@example.com"}})",
        // 9: stamped later, but not an event (unknown operation): no time, rejected
        R"({"id":"e9","operation":"UPSERT","table_name":"users","data":{"id":"x"},"timestamp":"2026-12-07T10:09:00Z"})",
        user_event("INSERT", "h", "2026-12-07T10:08:00Z"),  // 10
        user_event("INSERT", "i", "2026-12-07T10:10:00Z"),  // 11: the first later event
        user_event("INSERT", "j", "2026-12-07T10:00:00Z")};
    for (size_t i = 0; i < values.size(); ++i) {
      add.bind(1, static_cast<int64_t>(7 + i));
      add.bind(2, values[i].data(), static_cast<int>(values[i].size()));
      add.exec();
      add.reset();
    }
  }
  auto r = run("2026-12-07T10:08:30Z");
  EXPECT_EQ(users(), (std::vector<std::string>{"b", "c", "d", "f", "g", "h"}));
  EXPECT_EQ(r.stopped_at, (std::map<int32_t, int64_t>{{0, 11}}));
  EXPECT_EQ(count("SELECT count(*) FROM _cl_rejected WHERE offset IN (4, 6, 9)"), 3);
}

TEST_F(RebuildTest, AFutureTimeReplaysEverything) {
  auto r = run("2100-01-01T00:00:00Z");
  EXPECT_EQ(users(), (std::vector<std::string>{"b", "c", "d"}));
  EXPECT_EQ(r.events, 7u);
  EXPECT_EQ(r.applied, 5u);
  EXPECT_EQ(r.rejected, 2u);  // offsets 4 and 6
  EXPECT_EQ(r.stopped_at, (std::map<int32_t, int64_t>{{0, 7}}));
}

TEST_F(RebuildTest, AnOffsetReplaysTheEventsBelowIt) {
  run("0:2");
  EXPECT_EQ(users(), (std::vector<std::string>{"a", "b"}));
  run("0:4", "four.db");
  EXPECT_EQ(users("four.db"), (std::vector<std::string>{"b", "c"}));
  run("0:0", "none.db");
  EXPECT_EQ(count("SELECT count(*) FROM users", "none.db"), 0);
  run("0:7", "all.db");
  EXPECT_EQ(users("all.db"), (std::vector<std::string>{"b", "c", "d"}));
}

// A table no loaded plugin serves: its events are held in OUT.db as a node
// holds them, and the summary names the table.
TEST_F(RebuildTest, EventsOfATableWithoutAPluginAreHeld) {
  config_.plugins.load = std::vector<std::string>{};
  auto r = run("0:7");
  EXPECT_EQ(r.held, 6u);
  EXPECT_EQ(r.rejected, 1u);  // the record that is not an event
  EXPECT_EQ(count("SELECT count(*) FROM _cl_held WHERE table_name = 'users'"), 6);
  EXPECT_EQ(count("SELECT count(*) FROM sqlite_master WHERE name = 'users'"), 0);
  EXPECT_NE(r.summary.find("6 held (held: events of table(s) users, which no plugin serves here"), std::string::npos)
      << r.summary;
}

TEST_F(RebuildTest, RefusesWhatItCannotDoAndLeavesNothing) {
  auto refused = [&](const std::string& until, const std::string& out, const std::string& expected) {
    RebuildOptions options;
    options.out_path = out;
    options.until = parse_until(until);
    try {
      rebuild(config_, options);
      ADD_FAILURE() << "no refusal for " << until << " " << out;
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  };
  refused("0:8", dir_.path() + "/out.db", "ends at offset 7");
  refused("1:0", dir_.path() + "/out.db", "names partition 1, but the embedded log of");
  refused("0:1", dir_.path() + "/missing/out.db", "does not exist");
  EXPECT_TRUE(files().empty());
  std::ofstream(dir_.path() + "/taken.db") << "precious";
  refused("0:1", dir_.path() + "/taken.db", "exists; a rebuild never overwrites a file");
  std::ifstream in(dir_.path() + "/taken.db");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "precious");
  EXPECT_EQ(files(), (std::vector<std::string>{"taken.db"}));
  config_.database.path = dir_.path() + "/no-such-node.db";
  refused("0:1", dir_.path() + "/out.db", "does not exist: a standalone node's rebuild reads");
  EXPECT_FALSE(fs::exists(dir_.path() + "/no-such-node.db"));
}

}  // namespace
