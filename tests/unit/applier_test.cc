// Unit tests of the Applier (core/applier) on a temporary SQLite file, with the
// real Store, EmbeddedLog and users plugin (loaded from the built .so): the
// offset commits with the change, a failing event is recorded and does not
// block the next one, and a restart resumes at the stored offset.
#include "apply/applier.h"

#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <functional>
#include <future>
#include <thread>

#include "eventlog/embedded_log.h"
#include "eventlog/event_codec.h"
#include "node_process.h"
#include "store/store.h"

using namespace clusterlite;
using namespace std::chrono_literals;

namespace {

std::string event_json(Operation op, const std::string& entity_id, const std::string& name, const std::string& email,
                       const std::string& table = "users",
                       const std::string& ts = "2024-11-30T15:04:05.123456789+01:00") {
  DatabaseEvent e;
  e.id = "ev-" + entity_id + "-" + to_string(op);
  e.operation = op;
  e.table_name = table;
  e.timestamp = ts;
  auto& a = e.data.GetAllocator();
  e.data.AddMember("id", rapidjson::Value(entity_id.c_str(), a), a);
  if (op != Operation::kDelete) {
    e.data.AddMember("name", rapidjson::Value(name.c_str(), a), a);
    e.data.AddMember("email", rapidjson::Value(email.c_str(), a), a);
  }
  return encode_event(e);
}

std::string insert(const std::string& id, const std::string& email) {
  return event_json(Operation::kInsert, id, "User " + id, email);
}

// An event of the gadgets test plugin (tests/plugins/gadgets) built by `version`.
std::string gadget_event(Operation op, const std::string& id, const std::string& name, const std::string& serial,
                         int version = 1) {
  DatabaseEvent e;
  e.id = "ev-" + id + "-" + name + "-" + to_string(op);
  e.operation = op;
  e.table_name = "gadgets";
  e.timestamp = "2026-12-07T10:00:00Z";
  e.plugin_version = version;
  auto& a = e.data.GetAllocator();
  e.data.AddMember("id", rapidjson::Value(id.c_str(), a), a);
  if (op != Operation::kDelete) {
    e.data.AddMember("name", rapidjson::Value(name.c_str(), a), a);
    e.data.AddMember("serial", rapidjson::Value(serial.c_str(), a), a);
  }
  return encode_event(e);
}

class ApplierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() + "/applier.db";
    open();
  }
  void TearDown() override { close(); }

  // Opens the store, log, registry and applier on path_, and creates the plugin tables.
  void open(int busy_timeout_ms = 5000, bool read_ahead = false, int max_batch = 1000) {
    store_ = std::make_unique<Store>(path_, busy_timeout_ms, 2);
    log_ = std::make_unique<EmbeddedLog>(path_, busy_timeout_ms);
    registry_ = std::make_unique<PluginRegistry>(plugins({test::plugins_directory() + "/users.so"}));
    applier_ = std::make_unique<Applier>(*store_, *registry_, *log_, max_batch, nullptr, nullptr, read_ahead);
    registry_->current()->find("users")->table->create_table(store_->writer());
  }
  // Opens as open() does with the plugins of `paths`, and starts the applier
  // (which prepares their tables and applies held events they can serve).
  void start_with(const std::vector<std::string>& paths) {
    close();
    store_ = std::make_unique<Store>(path_, 5000, 2);
    log_ = std::make_unique<EmbeddedLog>(path_, 5000);
    registry_ = std::make_unique<PluginRegistry>(plugins(paths));
    applier_ = std::make_unique<Applier>(*store_, *registry_, *log_, 1000, nullptr, nullptr, false);
    applier_->start();
  }
  static std::vector<LoadedPlugin> plugins(const std::vector<std::string>& paths) {
    static const rapidjson::Value kNoSettings(rapidjson::kObjectType);
    std::vector<LoadedPlugin> out;
    for (auto& p : paths) out.push_back(load_plugin(p, kNoSettings, "test-node"));
    return out;
  }
  static std::string users_so() { return test::plugins_directory() + "/users.so"; }
  // gadgets.so of a build of tests/plugins/gadgets: "v1", "v2", "v2b", "v3-broken".
  static std::string gadgets_so(const std::string& build) {
    return test::plugins_directory() + "/../test-plugins/gadgets-" + build + "/gadgets.so";
  }
  void close() {
    applier_.reset();
    if (log_) log_->close();
    log_.reset();
    registry_.reset();
    store_.reset();
  }

  // A separate connection, as another process would see the file.
  std::unique_ptr<SQLite::Database> inspect() { return open_connection(path_, true, 1000); }
  int64_t count(const std::string& sql) {
    auto db = inspect();
    SQLite::Statement q(*db, sql);
    q.executeStep();
    return q.getColumn(0).getInt64();
  }
  std::optional<int64_t> stored_offset() {
    auto db = inspect();
    SQLite::Statement q(*db, "SELECT next_offset FROM _cl_offsets WHERE topic = '_embedded' AND partition = 0");
    if (!q.executeStep()) return std::nullopt;
    return q.getColumn(0).getInt64();
  }

  static std::vector<LogRecord> records(int64_t first_offset, const std::vector<std::string>& values) {
    std::vector<LogRecord> out;
    for (auto& v : values) out.push_back({0, first_offset++, "users", v});
    return out;
  }

  void append(const std::string& value) {
    std::promise<AppendResult> done;
    log_->append("users", value, [&done](const AppendResult& r) { done.set_value(r); });
    auto f = done.get_future();
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    ASSERT_TRUE(f.get().ok);
  }

  // Waits (bounded) until the applier's committed offset of partition 0 reaches `offset`.
  bool wait_applied(int64_t offset) {
    return wait_for([&] {
      auto applied = applier_->applied();
      return applied.count(0) && applied[0] >= offset;
    });
  }
  // Waits (bounded) until `done()` holds: held events apply after install() returns.
  bool wait_for(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  test::TempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<EmbeddedLog> log_;
  std::unique_ptr<PluginRegistry> registry_;
  std::unique_ptr<Applier> applier_;
};

}  // namespace

TEST_F(ApplierTest, CommitsTheChangeAndTheOffsetTogether) {
  auto out = applier_->apply_batch(records(0, {insert("u1", "ann@example.com"), insert("u2", "bob@example.com")}));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].status.ok()) << out[0].status.message();
  EXPECT_TRUE(out[1].status.ok()) << out[1].status.message();
  EXPECT_EQ(out[0].event_id, "ev-u1-INSERT");
  EXPECT_EQ(out[1].offset, 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM users"), 2);
  EXPECT_EQ(stored_offset(), 2);
  EXPECT_EQ(applier_->applied().at(0), 2);
  EXPECT_EQ(applier_->stats().applied, 2u);
  EXPECT_EQ(applier_->stats().batches, 1u);
}

TEST_F(ApplierTest, AnIdleReaderDoesNotKeepLaterBatchesFromBeingCheckpointed) {
  applier_->apply_batch(records(0, {insert("u1", "ann@example.com")}));
  {
    // Back in the pool afterwards, still inside its read transaction.
    auto reader = store_->read();
    EXPECT_TRUE(registry_->current()->find("users")->table->get(reader.db(), "u1").has_value());
  }
  applier_->apply_batch(records(1, {insert("u2", "bob@example.com")}));
  auto db = open_connection(path_, false, 1000);
  int frames = -1, copied = -1;
  ASSERT_EQ(sqlite3_wal_checkpoint_v2(db->getHandle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied),
            SQLITE_OK);
  EXPECT_GT(frames, 0);
  EXPECT_EQ(copied, frames) << "a snapshot from before the second batch held its frames in the WAL";
  auto reader = store_->read();
  EXPECT_TRUE(registry_->current()->find("users")->table->get(reader.db(), "u2").has_value());
}

TEST_F(ApplierTest, BatchThatCannotTakeTheWriteLockAppliesNothing) {
  applier_->apply_batch(records(0, {insert("u1", "ann@example.com")}));
  close();
  open(/*busy_timeout_ms=*/50);
  auto other = open_connection(path_, false, 0);
  other->exec("BEGIN IMMEDIATE");
  EXPECT_THROW(applier_->apply_batch(records(1, {insert("u2", "bob@example.com")})), SQLite::Exception);
  other->exec("ROLLBACK");
  EXPECT_EQ(count("SELECT COUNT(*) FROM users"), 1);
  EXPECT_EQ(stored_offset(), 1);
  EXPECT_EQ(applier_->applied().count(0), 0u) << "a failed batch must not advance the applied offset";

  // The applier's retry of the same batch then succeeds.
  auto out = applier_->apply_batch(records(1, {insert("u2", "bob@example.com")}));
  ASSERT_TRUE(out[0].status.ok()) << out[0].status.message();
  EXPECT_EQ(count("SELECT COUNT(*) FROM users"), 2);
  EXPECT_EQ(stored_offset(), 2);
}

TEST_F(ApplierTest, BatchWhoseCommitFailsLeavesNeitherChangeNorOffset) {
  applier_->apply_batch(records(0, {insert("u1", "ann@example.com")}));
  // A deferred foreign key is checked at COMMIT: a trigger makes every new
  // user violate one, so the plugin's insert succeeds and the COMMIT fails.
  store_->writer().exec(R"sql(
    CREATE TABLE parent (id TEXT PRIMARY KEY);
    CREATE TABLE child (parent_id TEXT REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
    CREATE TRIGGER users_orphan AFTER INSERT ON users BEGIN INSERT INTO child VALUES ('missing'); END;
  )sql");
  try {
    applier_->apply_batch(records(1, {insert("u2", "bob@example.com"), insert("u3", "cy@example.com")}));
    FAIL() << "the commit was expected to fail";
  } catch (const SQLite::Exception& e) {
    EXPECT_NE(std::string(e.what()).find("FOREIGN KEY"), std::string::npos) << e.what();
  }
  EXPECT_EQ(count("SELECT COUNT(*) FROM users"), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM child"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM _cl_rejected"), 0);
  EXPECT_EQ(stored_offset(), 1);
  EXPECT_EQ(applier_->applied().at(0), 1);
  EXPECT_EQ(applier_->stats().applied, 1u);

  // The writer connection is usable again once the cause is gone.
  store_->writer().exec("DROP TRIGGER users_orphan");
  auto out = applier_->apply_batch(records(1, {insert("u2", "bob@example.com")}));
  EXPECT_TRUE(out[0].status.ok()) << out[0].status.message();
  EXPECT_EQ(stored_offset(), 2);
}

TEST_F(ApplierTest, FailingEventsAreRecordedAndDoNotBlockTheNext) {
  std::vector<std::string> values = {
      insert("u1", "ann@example.com"),
      insert("u2", "ANN@example.com"),                                        // duplicate email
      "{not json",                                                            // malformed
      event_json(Operation::kInsert, "w1", "W", "w@example.com", "widgets"),  // no plugin here: held
      event_json(Operation::kInsert, "u3", "", "cy@example.com"),             // plugin: empty name
      event_json(Operation::kUpdate, "nobody", "N", "n@example.com"),         // plugin: missing id
      event_json(Operation::kDelete, "nobody", "", ""),                       // plugin: missing id
      R"({"id":"e9","operation":"INSERT","table_name":"users","data":{"id":"u9","name":7,"email":"x@example.com"},"timestamp":"2024-11-30T15:04:05Z"})",
      insert("u4", "dee@example.com"),
  };
  auto out = applier_->apply_batch(records(0, values));
  ASSERT_EQ(out.size(), values.size());
  const StatusCode expected[] = {StatusCode::kOk,       StatusCode::kConflict, StatusCode::kInvalid,
                                 StatusCode::kOk,       StatusCode::kInvalid,  StatusCode::kNotFound,
                                 StatusCode::kNotFound, StatusCode::kInvalid,  StatusCode::kOk};
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(out[i].status.code(), expected[i]) << i << ": " << out[i].status.message();
    EXPECT_EQ(out[i].held, i == 3) << i;
  }
  EXPECT_EQ(out[1].status.field(), "email");

  EXPECT_EQ(count("SELECT COUNT(*) FROM users"), 2);
  EXPECT_EQ(count("SELECT COUNT(*) FROM users WHERE id IN ('u1', 'u4')"), 2);
  EXPECT_EQ(stored_offset(), 9);
  EXPECT_EQ(applier_->stats().applied, 2u);
  EXPECT_EQ(applier_->stats().rejected, 6u);
  EXPECT_EQ(applier_->stats().held, 1u);
  EXPECT_EQ(applier_->stats().fenced_batches, 1u) << "plugin refusals: applied again with savepoints";
  EXPECT_EQ(count("SELECT COUNT(*) FROM _cl_held WHERE table_name = 'widgets' AND offset = 3"), 1);

  auto db = inspect();
  SQLite::Statement q(*db,
                      "SELECT offset, event_id, table_name, status, reason, payload, rejected_at, topic, partition "
                      "FROM _cl_rejected ORDER BY offset");
  std::vector<int64_t> offsets;
  std::map<int64_t, std::string> reasons;
  while (q.executeStep()) {
    int64_t offset = q.getColumn(0).getInt64();
    offsets.push_back(offset);
    reasons[offset] = q.getColumn(4).getString();
    EXPECT_EQ(q.getColumn(3).getInt(), static_cast<int>(expected[offset])) << offset;
    EXPECT_EQ(q.getColumn(5).getString(), values[offset]) << "payload kept as received";
    EXPECT_EQ(q.getColumn(7).getString(), "_embedded");
    EXPECT_EQ(q.getColumn(8).getInt(), 0);
    if (offset == 1) {
      EXPECT_EQ(q.getColumn(1).getString(), "ev-u2-INSERT");
      EXPECT_EQ(q.getColumn(2).getString(), "users");
      // The event's own time, in UTC (the payload keeps the offset it was written with).
      EXPECT_EQ(q.getColumn(6).getString(), "2024-11-30T14:04:05.123456789Z");
    }
  }
  EXPECT_EQ(offsets, (std::vector<int64_t>{1, 2, 4, 5, 6, 7}));
  EXPECT_NE(reasons[1].find("email"), std::string::npos) << reasons[1];
  EXPECT_NE(reasons[2].find("malformed event"), std::string::npos) << reasons[2];
  EXPECT_NE(reasons[4].find("name"), std::string::npos) << reasons[4];
  EXPECT_NE(reasons[5].find("nobody"), std::string::npos) << reasons[5];
  EXPECT_NE(reasons[7].find("name"), std::string::npos) << reasons[7];
}

TEST_F(ApplierTest, OnlyPluginRefusalsMakeABatchRunAgainWithSavepoints) {
  // Events no plugin saw (malformed; held for a table without a plugin) wrote nothing.
  auto out = applier_->apply_batch(records(0, {insert("u1", "ann@example.com"), "{not json",
                                               event_json(Operation::kInsert, "w1", "W", "w@example.com", "widgets")}));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].status.ok());
  EXPECT_EQ(applier_->stats().fenced_batches, 0u);
  EXPECT_EQ(applier_->stats().rejected, 1u);
  EXPECT_EQ(applier_->stats().held, 1u);
  // A refusal in the middle of a batch: the events before and after it are
  // applied once, the refused one not at all.
  out = applier_->apply_batch(records(3, {insert("u2", "bob@example.com"), insert("u3", "ANN@example.com"),
                                          insert("u4", "cy@example.com")}));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].status.ok()) << out[0].status.message();
  EXPECT_EQ(out[1].status.code(), StatusCode::kConflict);
  EXPECT_TRUE(out[2].status.ok()) << out[2].status.message();
  EXPECT_EQ(applier_->stats().fenced_batches, 1u);
  EXPECT_EQ(count("SELECT COUNT(*) FROM users"), 3);
  EXPECT_EQ(count("SELECT COUNT(*) FROM _cl_rejected"), 2);
  EXPECT_EQ(stored_offset(), 6);
  EXPECT_EQ(applier_->stats().applied, 3u);
  EXPECT_EQ(applier_->stats().batches, 2u);
}

TEST_F(ApplierTest, RejectedEventLeavesNoPartialWrite) {
  // RAISE(FAIL) keeps what the failing statement already wrote: the user row
  // and the trigger's audit row. Only the applier's savepoint can undo them.
  store_->writer().exec(R"sql(
    CREATE TABLE audit (user_id TEXT);
    CREATE TRIGGER users_fail AFTER INSERT ON users WHEN new.email LIKE 'fail%' BEGIN
      INSERT INTO audit VALUES (new.id);
      SELECT RAISE(FAIL, 'refused by trigger');
    END;
  )sql");
  auto out = applier_->apply_batch(
      records(0, {insert("u1", "ann@example.com"), insert("u2", "fail@example.com"), insert("u3", "cy@example.com")}));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].status.ok());
  EXPECT_EQ(out[1].status.code(), StatusCode::kInternal);
  EXPECT_NE(out[1].status.message().find("refused by trigger"), std::string::npos) << out[1].status.message();
  EXPECT_TRUE(out[2].status.ok());
  EXPECT_EQ(count("SELECT COUNT(*) FROM users WHERE id = 'u2'"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM audit"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM users"), 2);
  EXPECT_EQ(count("SELECT COUNT(*) FROM _cl_rejected WHERE offset = 1"), 1);
  EXPECT_EQ(stored_offset(), 3);
}

TEST_F(ApplierTest, RestartResumesAtTheStoredOffset) {
  append(insert("u1", "ann@example.com"));
  append(insert("u2", "bob@example.com"));
  append(insert("u3", "cy@example.com"));
  applier_->start();
  ASSERT_TRUE(wait_applied(3));
  applier_->stop();
  EXPECT_EQ(applier_->stats().applied, 3u);
  close();

  open();
  applier_->start();
  // Nothing new in the log yet, so nothing can have moved it on.
  EXPECT_EQ(applier_->applied().at(0), 3) << "start() reports the stored offset";
  append(insert("u4", "dee@example.com"));
  append(event_json(Operation::kDelete, "u1", "", ""));
  ASSERT_TRUE(wait_applied(5));
  applier_->stop();
  // Re-applying u1..u3 would have been rejected (duplicate ids) and counted.
  EXPECT_EQ(applier_->stats().applied, 2u);
  EXPECT_EQ(applier_->stats().rejected, 0u);
  EXPECT_EQ(count("SELECT COUNT(*) FROM _cl_rejected"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM users"), 3);
  EXPECT_EQ(count("SELECT COUNT(*) FROM users WHERE id = 'u1'"), 0);
  EXPECT_EQ(stored_offset(), 5);
}

// With read-ahead a second thread reads and decodes batches while the applier
// applies earlier ones: every batch must still be applied once, in log order
// (an update or delete applied before its insert would be rejected).
TEST_F(ApplierTest, ReadAheadAppliesEveryBatchOnceInLogOrder) {
  close();
  open(5000, /*read_ahead=*/true, /*max_batch=*/7);
  int64_t events = 0;
  for (int i = 0; i < 60; ++i) {
    std::string id = "u" + std::to_string(i);
    append(insert(id, id + "@example.com"));
    ++events;
    if (i % 3 == 0) {
      append(event_json(Operation::kUpdate, id, "Renamed " + id, id + "@renamed.example.com"));
      ++events;
    }
    if (i % 5 == 0) {
      append(event_json(Operation::kDelete, id, "", ""));
      ++events;
    }
  }
  applier_->start();
  ASSERT_TRUE(wait_applied(events));
  applier_->stop();
  auto stats = applier_->stats();
  EXPECT_EQ(stats.applied, static_cast<uint64_t>(events));
  EXPECT_EQ(stats.rejected, 0u);
  EXPECT_GE(stats.batches, static_cast<uint64_t>((events + 6) / 7));
  EXPECT_EQ(count("SELECT COUNT(*) FROM _cl_rejected"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM users"), 60 - 12);
  EXPECT_EQ(count("SELECT COUNT(*) FROM users WHERE email LIKE '%@renamed.example.com'"), 20 - 4);
  EXPECT_EQ(stored_offset(), events);
}

// Once the read-ahead thread's reads come back short (caught up), the applier
// reads for itself; a full batch hands reading back (here likely when four
// writers append at once). Either way every event is applied once, in log
// order.
TEST_F(ApplierTest, ReadingMovesToTheApplierWhenCaughtUpAndEveryEventIsAppliedOnceInOrder) {
  close();
  open(5000, /*read_ahead=*/true, /*max_batch=*/7);
  applier_->start();
  int64_t events = 0;
  // One event at a time: every read is short.
  for (int i = 0; i < 16; ++i) {
    append(insert("t" + std::to_string(i), "t" + std::to_string(i) + "@example.com"));
    ASSERT_TRUE(wait_applied(++events));
  }
  EXPECT_GT(applier_->stats().read_by_applier, 0u) << "the applier never read for itself";
  // Four writers at once, each inserting, updating and deleting its own rows
  // in order: an update or delete applied before its insert would be rejected.
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w)
    writers.emplace_back([this, w] {
      for (int i = 0; i < 10; ++i) {
        std::string id = "b" + std::to_string(w) + "_" + std::to_string(i);
        append(insert(id, id + "@example.com"));
        if (i % 2 == 0) append(event_json(Operation::kUpdate, id, "Renamed " + id, id + "@renamed.example.com"));
        if (i % 5 == 0) append(event_json(Operation::kDelete, id, "", ""));
      }
    });
  for (auto& t : writers) t.join();
  events += 4 * (10 + 5 + 2);
  ASSERT_TRUE(wait_applied(events));
  // Caught up again: one event at a time once more.
  for (int i = 0; i < 12; ++i) {
    append(insert("c" + std::to_string(i), "c" + std::to_string(i) + "@example.com"));
    ASSERT_TRUE(wait_applied(++events));
  }
  applier_->stop();
  auto stats = applier_->stats();
  EXPECT_EQ(stats.applied, static_cast<uint64_t>(events));
  EXPECT_EQ(stats.rejected, 0u);
  EXPECT_EQ(count("SELECT COUNT(*) FROM _cl_rejected"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM users"), 16 + 4 * (10 - 2) + 12);
  EXPECT_EQ(count("SELECT COUNT(*) FROM users WHERE email LIKE '%@renamed.example.com'"), 4 * (5 - 1));
  EXPECT_EQ(stored_offset(), events);
}

// ---- Events held for a plugin this node lacks -----------------------------

TEST_F(ApplierTest, EventsOfATableWithoutAPluginAreHeldAndAppliedInLogOrderOnceItComes) {
  auto out = applier_->apply_batch(records(0, {
      gadget_event(Operation::kInsert, "g1", "first", "s1"),
      insert("u1", "ann@example.com"),
      gadget_event(Operation::kUpdate, "g1", "renamed", "s1"),
      gadget_event(Operation::kInsert, "g2", "second", "s2"),
      gadget_event(Operation::kDelete, "g2", "", ""),
      insert("u2", "bob@example.com"),
  }));
  ASSERT_EQ(out.size(), 6u);
  for (int i : {0, 2, 3, 4}) EXPECT_TRUE(out[i].held && out[i].status.ok()) << i;
  EXPECT_FALSE(out[1].held);
  EXPECT_EQ(count("SELECT COUNT(*) FROM users"), 2);
  EXPECT_EQ(count("SELECT COUNT(*) FROM _cl_held WHERE table_name = 'gadgets'"), 4);
  EXPECT_EQ(count("SELECT COUNT(*) FROM _cl_rejected"), 0);
  EXPECT_EQ(stored_offset(), 6) << "held events are past, like applied ones";
  PendingTable pending;
  ASSERT_TRUE(applier_->is_pending("gadgets", &pending));
  EXPECT_EQ(pending.held_events, 4u);
  EXPECT_NE(pending.reason.find("no plugin serves table gadgets"), std::string::npos) << pending.reason;
  EXPECT_FALSE(applier_->is_pending("users"));

  // With the plugin, the node applies them first, in order: the update after
  // the insert, the delete after its insert.
  start_with({users_so(), gadgets_so("v1")});
  EXPECT_FALSE(applier_->is_pending("gadgets"));
  EXPECT_EQ(count("SELECT COUNT(*) FROM _cl_held"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM gadgets WHERE id = 'g1' AND name = 'renamed'"), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM gadgets"), 1);
  EXPECT_EQ(applier_->stats().released, 4u);
  EXPECT_EQ(stored_offset(), 6);
}

TEST_F(ApplierTest, AReloadInstallsAPluginLiveAndItsHeldEventsApplyBeforeLaterOnes) {
  start_with({users_so()});
  append(gadget_event(Operation::kInsert, "g1", "first", "s1"));
  append(gadget_event(Operation::kUpdate, "g1", "second", "s1"));
  ASSERT_TRUE(wait_applied(2));
  EXPECT_TRUE(applier_->is_pending("gadgets"));
  EXPECT_EQ(applier_->install(std::make_shared<const PluginSet>(plugins({users_so(), gadgets_so("v1")})), 10s), "");
  EXPECT_TRUE(wait_for([&] { return !applier_->is_pending("gadgets"); }));
  ASSERT_NE(registry_->current()->find("gadgets"), nullptr);
  append(gadget_event(Operation::kUpdate, "g1", "third", "s1"));
  ASSERT_TRUE(wait_applied(3));
  EXPECT_EQ(count("SELECT COUNT(*) FROM gadgets WHERE id = 'g1' AND name = 'third'"), 1);
  EXPECT_EQ(count("SELECT version FROM _cl_plugins WHERE table_name = 'gadgets'"), 1);
}

TEST_F(ApplierTest, EventsOfANewerPluginVersionAreHeldUntilTheNodeIsUpgraded) {
  start_with({users_so(), gadgets_so("v1")});
  append(gadget_event(Operation::kInsert, "g1", "one", "dup", 1));
  append(gadget_event(Operation::kInsert, "g2", "two", "dup", 2));  // version 2 refuses the duplicate
  append(gadget_event(Operation::kInsert, "g3", "three", "x", 1));  // behind a held event of its table
  ASSERT_TRUE(wait_applied(3));
  PendingTable pending;
  ASSERT_TRUE(applier_->is_pending("gadgets", &pending));
  EXPECT_EQ(pending.held_events, 2u);
  EXPECT_EQ(pending.needs_version, 2);
  EXPECT_NE(pending.reason.find("built by version 2"), std::string::npos) << pending.reason;
  EXPECT_EQ(count("SELECT COUNT(*) FROM gadgets"), 1) << "version 1 must not apply a version 2 event";

  // Upgraded: version 2 refuses g2 as every version 2 node does, and applies g3 after it.
  EXPECT_EQ(applier_->install(std::make_shared<const PluginSet>(plugins({users_so(), gadgets_so("v2")})), 10s), "");
  EXPECT_TRUE(wait_for([&] { return !applier_->is_pending("gadgets"); }));
  EXPECT_EQ(count("SELECT COUNT(*) FROM gadgets WHERE id IN ('g1', 'g3')"), 2);
  EXPECT_EQ(count("SELECT COUNT(*) FROM gadgets WHERE id = 'g2'"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM _cl_rejected WHERE offset = 1 AND reason = 'serial already in use'"), 1);
  // Version 2 migrated the table version 1 made.
  EXPECT_EQ(count("SELECT COUNT(*) FROM pragma_table_info('gadgets') WHERE name = 'note'"), 1);
  EXPECT_EQ(count("SELECT version FROM _cl_plugins WHERE table_name = 'gadgets'"), 2);
}

TEST_F(ApplierTest, AnInstallWhosePreparationFailsChangesNothing) {
  start_with({users_so(), gadgets_so("v1")});
  auto before = registry_->current();
  std::string error =
      applier_->install(std::make_shared<const PluginSet>(plugins({users_so(), gadgets_so("v3-broken")})), 10s);
  EXPECT_NE(error.find("preparing table gadgets failed: migration refused"), std::string::npos) << error;
  EXPECT_EQ(registry_->current(), before);
  EXPECT_EQ(count("SELECT COUNT(*) FROM sqlite_master WHERE name = 'gadgets_migration_scratch'"), 0);
  EXPECT_EQ(count("SELECT version FROM _cl_plugins WHERE table_name = 'gadgets'"), 1);
}

TEST_F(ApplierTest, EventsAnEarlierReleaseRejectedForWantOfAPluginAreHeldAtStartUp) {
  // What a node of the previous release recorded for a table it had no plugin for.
  std::string payload = gadget_event(Operation::kInsert, "g1", "kept", "s1", 0);
  {
    SQLite::Statement q(store_->writer(),
                        "INSERT INTO _cl_rejected (topic, partition, offset, event_id, table_name, status, reason, "
                        "field, payload, rejected_at) VALUES ('_embedded', 0, 0, 'ev-g1', 'gadgets', 2, "
                        "'no plugin serves table gadgets', '', ?, '2026-12-01T00:00:00Z')");
    q.bind(1, payload.data(), static_cast<int>(payload.size()));
    q.exec();
  }
  start_with({users_so(), gadgets_so("v1")});
  EXPECT_EQ(count("SELECT COUNT(*) FROM gadgets WHERE id = 'g1'"), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM _cl_rejected"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM _cl_held"), 0);
}

TEST_F(ApplierTest, SharedModeANodeWithThePluginAppliesWhatAnotherNodeHeld) {
  close();
  // Two nodes on one file (shared mode): A has the gadgets plugin and runs;
  // B has none and holds the gadgets events of the partition it applies.
  Store store_a(path_, 5000, 2, 0, /*sole_writer=*/false);
  EmbeddedLog log_a(path_, 5000);
  PluginRegistry registry_a(plugins({users_so(), gadgets_so("v1")}));
  Applier a(store_a, registry_a, log_a, 1000, nullptr, nullptr, false);
  a.start();
  Store store_b(path_, 5000, 2, 0, /*sole_writer=*/false);
  EmbeddedLog log_b(path_, 5000);
  PluginRegistry registry_b(plugins({users_so()}));
  Applier b(store_b, registry_b, log_b, 1000, nullptr, nullptr, false);
  auto out = b.apply_batch(records(0, {gadget_event(Operation::kInsert, "g1", "one", "s1"),
                                       gadget_event(Operation::kUpdate, "g1", "two", "s1")}));
  ASSERT_TRUE(out[0].held && out[1].held);
  // A, running, finds them in the shared file and applies them in order.
  EXPECT_TRUE(wait_for([&] { return count("SELECT COUNT(*) FROM gadgets WHERE name = 'two'") == 1; }));
  EXPECT_EQ(count("SELECT COUNT(*) FROM _cl_held"), 0);
  EXPECT_TRUE(wait_for([&] { return !a.is_pending("gadgets"); }));
  a.stop();
  log_a.close();
  log_b.close();
}

TEST_F(ApplierTest, AnEventOfTheSameVersionBuiltWithAnotherSchemaIsHeld) {
  // users describes its entity: its events carry the schema's fingerprint. A
  // node that declares the table otherwise at the same version holds them.
  const LoadedPlugin& users = *registry_->current()->find("users");
  ASSERT_EQ(users.schema_sha256.size(), 16u);
  DatabaseEvent e;
  e.id = "ev-other-schema";
  e.operation = Operation::kInsert;
  e.table_name = "users";
  e.timestamp = "2026-12-07T10:00:00Z";
  e.plugin_version = users.version;
  e.schema_sha256 = users.schema_sha256 == "0123456789abcdef" ? "fedcba9876543210" : "0123456789abcdef";
  auto& a = e.data.GetAllocator();
  e.data.AddMember("id", "u1", a);
  e.data.AddMember("name", "Ann", a);
  e.data.AddMember("email", "ann@example.com", a);
  DatabaseEvent same;
  same.id = "ev-same-schema";
  same.operation = Operation::kInsert;
  same.table_name = "users";
  same.timestamp = e.timestamp;
  same.plugin_version = users.version;
  same.schema_sha256 = users.schema_sha256;
  same.data.AddMember("id", "u2", same.data.GetAllocator());
  same.data.AddMember("name", "Bob", same.data.GetAllocator());
  same.data.AddMember("email", "bob@example.com", same.data.GetAllocator());
  // The same schema applies; another one is held (and what follows it).
  auto out = applier_->apply_batch(records(0, {encode_event(same), encode_event(e), insert("u3", "cy@example.com")}));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_FALSE(out[0].held);
  EXPECT_TRUE(out[1].held);
  EXPECT_TRUE(out[2].held);
  PendingTable pending;
  ASSERT_TRUE(applier_->is_pending("users", &pending));
  EXPECT_NE(pending.reason.find("another schema of table users at the same version"), std::string::npos)
      << pending.reason;
}

// A table whose events arrive on a second partition is misrouted: recorded in
// the batch's transaction, counted from its second partition on, and read
// back by the next start. A table on one partition is never listed.
TEST_F(ApplierTest, ATableOnTwoPartitionsIsReportedAsMisrouted) {
  std::vector<LogRecord> batch = records(0, {insert("u1", "ann@example.com"), insert("u2", "bob@example.com")});
  applier_->apply_batch(batch);
  EXPECT_TRUE(applier_->misrouted().empty());
  EXPECT_EQ(applier_->partition_of("users"), 0);
  EXPECT_EQ(applier_->partition_of("gadgets"), std::nullopt);

  // Two more on partition 1 (as a round-robin producer would put them), one
  // more on partition 0: only those on the table's second partition count.
  applier_->apply_batch({{1, 0, "users", insert("u3", "cy@example.com")},
                         {1, 1, "users", insert("u4", "dee@example.com")},
                         {0, 2, "users", insert("u5", "eve@example.com")}});
  auto misrouted = applier_->misrouted();
  ASSERT_EQ(misrouted.size(), 1u);
  EXPECT_EQ(misrouted[0].table, "users");
  EXPECT_EQ(misrouted[0].partitions, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(misrouted[0].misrouted_events, 2u);
  EXPECT_EQ(applier_->partition_of("users"), 0) << "appends keep to the table's first partition";
  EXPECT_EQ(count("SELECT events FROM _cl_table_partitions WHERE table_name = 'users' AND partition = 0"), 3);
  EXPECT_EQ(count("SELECT events FROM _cl_table_partitions WHERE table_name = 'users' AND partition = 1"), 2);

  // What the next start reads.
  TablePartitions reloaded("_embedded");
  reloaded.load(*inspect());
  auto again = reloaded.misrouted();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].partitions, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(again[0].misrouted_events, 2u);
}

// A batch the plugin refuses is applied again with savepoints; the events of
// its first attempt are not counted twice.
TEST_F(ApplierTest, AFencedBatchCountsItsEventsOnce) {
  applier_->apply_batch({{0, 0, "users", insert("u1", "ann@example.com")},
                         {0, 1, "users", insert("u1", "ann@example.com")},
                         {1, 0, "users", insert("u2", "bob@example.com")}});
  EXPECT_EQ(applier_->stats().fenced_batches, 1u);
  EXPECT_EQ(count("SELECT events FROM _cl_table_partitions WHERE table_name = 'users' AND partition = 0"), 2);
  ASSERT_EQ(applier_->misrouted().size(), 1u);
  EXPECT_EQ(applier_->misrouted()[0].misrouted_events, 1u);
}
