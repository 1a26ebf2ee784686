// Unit tests of the users plugin's table logic (plugins/users/users_table)
// against a temporary SQLite file. users_table.cc is compiled into this test
// so the class is tested on its own, without the plugin's factory and export.
#include "users_table.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>

#include <chrono>
#include <regex>

#include "json.h"
#include "node_process.h"

using namespace clusterlite;
using users::UsersTable;

namespace {

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  EXPECT_FALSE(d.HasParseError()) << text;
  return d;
}

std::string quoted(const std::string& s) {
  rapidjson::Value v(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
  return to_json(v);
}

std::string body(const std::string& name_json, const std::string& email_json = R"("ann@example.com")") {
  return R"({"name":)" + name_json + R"(,"email":)" + email_json + "}";
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

class UsersTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::make_unique<SQLite::Database>(dir_.path() + "/users.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    table_.create_table(*db_);
  }

  Status create(const std::string& json, DatabaseEvent* out = nullptr) {
    DatabaseEvent e;
    auto doc = parse(json);
    Status s = table_.create_event(doc, e);
    if (out) {
      out->operation = e.operation;
      out->data.CopyFrom(e.data, out->data.GetAllocator());
    }
    return s;
  }

  DatabaseEvent event(Operation op, const std::string& id, const std::string& name, const std::string& email,
                      const std::string& ts = "2026-11-27T05:23:00.000001Z") {
    DatabaseEvent e;
    e.id = "ev";
    e.operation = op;
    e.table_name = "users";
    e.timestamp = ts;
    auto& a = e.data.GetAllocator();
    e.data.AddMember("id", rapidjson::Value(id.c_str(), a), a);
    if (op != Operation::kDelete) {
      e.data.AddMember("name", rapidjson::Value(name.c_str(), a), a);
      e.data.AddMember("email", rapidjson::Value(email.c_str(), a), a);
    }
    return e;
  }
  Status insert(const std::string& id, const std::string& email, const std::string& ts = "2026-11-27T05:23:00Z") {
    return table_.handle_upsert(*db_, event(Operation::kInsert, id, "User " + id, email, ts));
  }
  int64_t rows() { return db_->execAndGet("SELECT COUNT(*) FROM users").getInt64(); }

  test::TempDir dir_;
  std::unique_ptr<SQLite::Database> db_;
  UsersTable table_;
};

}  // namespace

TEST_F(UsersTableTest, CreateEventBuildsAnInsertWithANewTimeOrderedUuid) {
  DatabaseEvent e1, e2;
  auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  ASSERT_TRUE(create(body(R"("Ann")"), &e1).ok());
  ASSERT_TRUE(create(body(R"("Ann")"), &e2).ok());
  EXPECT_EQ(e1.operation, Operation::kInsert);
  std::string id(e1.entity_id());
  EXPECT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << id;
  // UUIDv7: the first 48 bits are the creation time in Unix milliseconds.
  long long ms = std::stoll(id.substr(0, 8) + id.substr(9, 4), nullptr, 16);
  EXPECT_GE(ms, before);
  EXPECT_LE(ms, before + 60000);
  EXPECT_NE(e1.entity_id(), e2.entity_id());
  EXPECT_STREQ(e1.data["name"].GetString(), "Ann");
  EXPECT_STREQ(e1.data["email"].GetString(), "ann@example.com");
  EXPECT_EQ(e1.data.MemberCount(), 3u);
}

TEST_F(UsersTableTest, ValidatesTheName) {
  struct Case {
    std::string body;
    bool ok;
  };
  const Case cases[] = {
      {R"({"email":"ann@example.com"})", false},
      {body(R"("")"), false},
      {body(R"("   ")"), false},
      {body(R"(" \t ")"), false},
      {body(quoted(std::string(200, 'n'))), true},
      {body(quoted(std::string(201, 'n'))), false},
      {body(quoted(std::string(10000, 'n'))), false},
      {body(quoted(repeat("\xc3\xa9", 200))), true},  // 200 characters, 400 bytes
      {body(quoted(repeat("\xc3\xa9", 201))), false},
      {body("7"), false},
      {body("null"), false},
      {body("true"), false},
      {body(R"(["Ann"])"), false},
      {body(R"({"first":"Ann"})"), false},
      {body(R"("Ann\nB")"), false},
      {body(R"("Ann\u0000")"), false},
      {body(R"("Ann\u007f")"), false},
      {body(R"("Ann\tB")"), false},
      {body(R"(" Ann O'Brien-Smith ")"), true},
      {body(R"("李小龍")"), true},
  };
  for (const auto& c : cases) {
    Status s = create(c.body);
    EXPECT_EQ(s.ok(), c.ok) << c.body.substr(0, 80) << ": " << s.message();
    if (!c.ok) {
      EXPECT_EQ(s.code(), StatusCode::kInvalid) << c.body.substr(0, 80);
      EXPECT_EQ(s.field(), "name") << c.body.substr(0, 80);
    }
  }
}

TEST_F(UsersTableTest, NameLimitComesFromTheSetting) {
  UsersTable short_names(5);
  DatabaseEvent e;
  EXPECT_TRUE(short_names.create_event(parse(body(R"("Ann B")")), e).ok());
  EXPECT_FALSE(short_names.create_event(parse(body(R"("Ann Bo")")), e).ok());
}

TEST_F(UsersTableTest, ValidatesTheEmail) {
  for (const char* ok : {"a@b.co", "ann@example.com", "first.last+tag@sub.example.org", "x_y@ex-ample.com",
                         "o'brien@example.ie", "ANN@EXAMPLE.COM", "1@2.3"}) {
    EXPECT_TRUE(users::is_valid_email(ok)) << ok;
    EXPECT_TRUE(create(body(R"("Ann")", quoted(ok))).ok()) << ok;
  }
  std::string long_local = std::string(65, 'a') + "@example.com";
  std::string long_total = "a@" + repeat(std::string(60, 'b') + ".", 5) + "com";  // 310 bytes
  for (const std::string& bad : {std::string(""),
                                 std::string("plain"),
                                 std::string("@example.com"),
                                 std::string("ann@"),
                                 std::string("ann@example"),
                                 std::string("ann@@example.com"),
                                 std::string("ann example@example.com"),
                                 std::string("ann@exa mple.com"),
                                 std::string(".ann@example.com"),
                                 std::string("ann.@example.com"),
                                 std::string("an..n@example.com"),
                                 std::string("ann@-example.com"),
                                 std::string("ann@example-.com"),
                                 std::string("ann@example..com"),
                                 std::string("ann@.example.com"),
                                 std::string("ann@example.com."),
                                 std::string("ann@example.com\n"),
                                 std::string("ann@exam_ple.com"),
                                 std::string("<ann@example.com>"),
                                 std::string("ann\"@example.com"),
                                 std::string("ann@ex\xc3\xa4mple.com"),
                                 long_local,
                                 long_total,
                                 std::string("ann@example.com' OR '1'='1")}) {
    EXPECT_FALSE(users::is_valid_email(bad)) << bad;
    Status s = create(body(R"("Ann")", quoted(bad)));
    EXPECT_EQ(s.code(), StatusCode::kInvalid) << bad;
    EXPECT_EQ(s.field(), "email") << bad;
  }
  for (const char* bad_type : {R"({"name":"Ann"})", R"({"name":"Ann","email":5})", R"({"name":"Ann","email":null})",
                               R"({"name":"Ann","email":["a@b.co"]})"}) {
    Status s = create(bad_type);
    EXPECT_EQ(s.code(), StatusCode::kInvalid) << bad_type;
    EXPECT_EQ(s.field(), "email") << bad_type;
  }
}

TEST_F(UsersTableTest, RejectsUnknownFieldsAndNonObjects) {
  for (const char* extra : {"id", "created_at", "updated_at", "admin", "Name"}) {
    std::string json = std::string(R"({"name":"Ann","email":"ann@example.com",")") + extra + R"(":"x"})";
    Status s = create(json);
    EXPECT_EQ(s.code(), StatusCode::kInvalid) << json;
    EXPECT_EQ(s.field(), extra) << json;
    EXPECT_NE(s.message().find("unknown field"), std::string::npos) << s.message();
  }
  for (const char* not_object : {"[]", R"(["Ann","ann@example.com"])", R"("Ann")", "null", "42", "{}"}) {
    Status s = create(not_object);
    EXPECT_EQ(s.code(), StatusCode::kInvalid) << not_object;
  }
}

TEST_F(UsersTableTest, UpdateEventChecksTheBodyAgainstThePath) {
  DatabaseEvent e;
  EXPECT_TRUE(table_.update_event("u1", parse(body(R"("Ann")")), e).ok());
  EXPECT_EQ(e.operation, Operation::kUpdate);
  EXPECT_EQ(e.entity_id(), "u1");
  EXPECT_TRUE(table_
                  .update_event("u1",
                                parse(R"({"id":"u1","name":"Ann","email":"ann@example.com",)"
                                      R"("created_at":"x","updated_at":"y"})"),
                                e)
                  .ok());
  Status s = table_.update_event("u1", parse(R"({"id":"u2","name":"Ann","email":"ann@example.com"})"), e);
  EXPECT_EQ(s.code(), StatusCode::kInvalid);
  EXPECT_EQ(s.field(), "id");
  s = table_.update_event("u1", parse(R"({"name":"","email":"ann@example.com"})"), e);
  EXPECT_EQ(s.field(), "name");
  EXPECT_TRUE(table_.delete_event("u1", e).ok());
  EXPECT_EQ(e.operation, Operation::kDelete);
  EXPECT_EQ(e.entity_id(), "u1");
}

TEST_F(UsersTableTest, EmailIsUniqueIgnoringCaseAtApplyTime) {
  ASSERT_TRUE(insert("u1", "ann@example.com").ok());
  for (const char* dup : {"ann@example.com", "ANN@example.com", "Ann@Example.Com"}) {
    Status s = insert("u2", dup);
    EXPECT_EQ(s.code(), StatusCode::kConflict) << dup;
    EXPECT_EQ(s.field(), "email") << dup;
  }
  EXPECT_EQ(rows(), 1);
  // Another user may not take the address by update either.
  ASSERT_TRUE(insert("u2", "bob@example.com").ok());
  Status s = table_.handle_upsert(*db_, event(Operation::kUpdate, "u2", "Bob", "ANN@EXAMPLE.COM"));
  EXPECT_EQ(s.code(), StatusCode::kConflict);
  EXPECT_EQ(s.field(), "email");
  // A user may keep or re-case its own address.
  EXPECT_TRUE(table_.handle_upsert(*db_, event(Operation::kUpdate, "u1", "Ann", "Ann@Example.com")).ok());
}

TEST_F(UsersTableTest, InsertOfAnExistingIdConflicts) {
  ASSERT_TRUE(insert("u1", "ann@example.com").ok());
  Status s = insert("u1", "other@example.com");
  EXPECT_EQ(s.code(), StatusCode::kConflict);
  EXPECT_EQ(s.field(), "id");
  // Both taken: the id is reported.
  s = insert("u1", "ann@example.com");
  EXPECT_EQ(s.code(), StatusCode::kConflict);
  EXPECT_EQ(s.field(), "id");
  EXPECT_EQ(rows(), 1);
}

TEST_F(UsersTableTest, ConflictsAreFoundInATableOfTheEarlierRowidLayout) {
  // Databases created before the table became WITHOUT ROWID keep their layout.
  db_->exec("DROP TABLE users");
  db_->exec("CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL COLLATE NOCASE UNIQUE, "
            "created_at TEXT NOT NULL, updated_at TEXT NOT NULL)");
  ASSERT_TRUE(insert("u1", "ann@example.com").ok());
  EXPECT_EQ(insert("u1", "other@example.com").field(), "id");
  EXPECT_EQ(insert("u2", "ANN@example.com").field(), "email");
  EXPECT_EQ(rows(), 1);
}

TEST_F(UsersTableTest, UpdateAndDeleteOfAMissingIdAreNotFound) {
  ASSERT_TRUE(insert("u1", "ann@example.com").ok());
  EXPECT_EQ(table_.handle_upsert(*db_, event(Operation::kUpdate, "nobody", "N", "n@example.com")).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(table_.handle_delete(*db_, event(Operation::kDelete, "nobody", "", "")).code(), StatusCode::kNotFound);
  EXPECT_TRUE(table_.handle_delete(*db_, event(Operation::kDelete, "u1", "", "")).ok());
  EXPECT_FALSE(table_.get(*db_, "u1"));
  EXPECT_EQ(table_.handle_delete(*db_, event(Operation::kDelete, "u1", "", "")).code(), StatusCode::kNotFound);
  EXPECT_EQ(rows(), 0);
}

TEST_F(UsersTableTest, TimestampsComeFromTheEvent) {
  ASSERT_TRUE(insert("u1", "ann@example.com", "2024-11-30T15:04:05.123456789+01:00").ok());
  ASSERT_TRUE(
      table_.handle_upsert(*db_, event(Operation::kUpdate, "u1", "Ann B", "ann@example.com", "2026-01-02T03:04:05Z"))
          .ok());
  auto row = table_.get(*db_, "u1");
  ASSERT_TRUE(row);
  auto doc = parse(*row);
  EXPECT_STREQ(doc["id"].GetString(), "u1");
  EXPECT_STREQ(doc["name"].GetString(), "Ann B");
  EXPECT_STREQ(doc["email"].GetString(), "ann@example.com");
  EXPECT_STREQ(doc["created_at"].GetString(), "2024-11-30T15:04:05.123456789+01:00");
  EXPECT_STREQ(doc["updated_at"].GetString(), "2026-01-02T03:04:05Z");
}

TEST_F(UsersTableTest, ApplyRejectsMalformedEventData) {
  DatabaseEvent e = event(Operation::kInsert, "u1", "Ann", "ann@example.com");
  e.data.RemoveMember("email");
  EXPECT_EQ(table_.handle_upsert(*db_, e).code(), StatusCode::kInvalid);
  e = event(Operation::kInsert, "u1", "Ann", "ann@example.com");
  e.data["name"].SetInt(7);
  EXPECT_EQ(table_.handle_upsert(*db_, e).code(), StatusCode::kInvalid);
  EXPECT_EQ(table_.handle_upsert(*db_, event(Operation::kInsert, "", "Ann", "ann@example.com")).code(),
            StatusCode::kInvalid);
  EXPECT_EQ(
      table_.handle_upsert(*db_, event(Operation::kInsert, "u1", std::string(201, 'n'), "ann@example.com")).code(),
      StatusCode::kInvalid);
  EXPECT_EQ(table_.handle_upsert(*db_, event(Operation::kInsert, "u1", "Ann", "not-an-email")).code(),
            StatusCode::kInvalid);
  // Fields this version does not know are ignored on events from other producers.
  e = event(Operation::kInsert, "u1", "Ann", "ann@example.com");
  e.data.AddMember("nickname", "annie", e.data.GetAllocator());
  EXPECT_TRUE(table_.handle_upsert(*db_, e).ok());
  EXPECT_EQ(rows(), 1);
}

TEST_F(UsersTableTest, GetAllPagesInIdOrder) {
  for (const char* id : {"c", "a", "e", "b", "d"}) ASSERT_TRUE(insert(id, std::string(id) + "@example.com").ok());
  auto ids = [](const std::vector<Row>& rows) {
    std::string out;
    for (auto& r : rows) out += r.id;
    return out;
  };
  EXPECT_EQ(ids(table_.get_all(*db_, "", 2)), "ab");
  EXPECT_EQ(ids(table_.get_all(*db_, "b", 2)), "cd");
  EXPECT_EQ(ids(table_.get_all(*db_, "d", 2)), "e");
  EXPECT_EQ(ids(table_.get_all(*db_, "e", 2)), "");
  EXPECT_EQ(ids(table_.get_all(*db_, "", 100)), "abcde");
  EXPECT_EQ(ids(table_.get_all(*db_, "bb", 100)), "cde");
  auto rows = table_.get_all(*db_, "", 1);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].json, *table_.get(*db_, "a"));
}

TEST_F(UsersTableTest, IdsAreBoundNotSpliced) {
  const std::string nasty = "x' OR '1'='1";
  ASSERT_TRUE(insert("u1", "ann@example.com").ok());
  EXPECT_FALSE(table_.get(*db_, nasty));
  EXPECT_EQ(table_.handle_delete(*db_, event(Operation::kDelete, nasty, "", "")).code(), StatusCode::kNotFound);
  ASSERT_TRUE(insert(nasty, "bob@example.com").ok());
  EXPECT_TRUE(table_.get(*db_, nasty));
  EXPECT_EQ(rows(), 2);
}
