// Queries of the users plugin (users_table.cc compiled in) and of a table
// declared for the schema plugin (schema.so, loaded as a node loads it), on
// real SQLite files: each filter, search and order returns what it should,
// keyset pages cover every row exactly once, and EXPLAIN QUERY PLAN of the
// very statements query() runs (captured with sqlite3_trace_v2) shows that
// each is answered from an index, never by scanning the table.
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "json.h"
#include "node_process.h"
#include "plugins/plugin_loader.h"
#include "users_table.h"

using namespace clusterlite;

namespace {

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  EXPECT_FALSE(d.HasParseError()) << text;
  return d;
}

std::string timestamp(int i) {
  char buf[40];
  // Several rows share a time, so ties are broken by id.
  std::snprintf(buf, sizeof buf, "2026-01-01T00:%02d:%02dZ", (i / 3) / 60 % 60, (i / 3) % 60);
  return buf;
}

// Records the SQL text of every statement run on `db` while it lives.
class StatementLog {
 public:
  explicit StatementLog(SQLite::Database& db) : db_(db) {
    sqlite3_trace_v2(db_.getHandle(), SQLITE_TRACE_STMT, &StatementLog::trace, this);
  }
  ~StatementLog() { sqlite3_trace_v2(db_.getHandle(), 0, nullptr, nullptr); }
  std::vector<std::string> texts;

 private:
  static int trace(unsigned, void* self, void* stmt, void*) {
    const char* sql = sqlite3_sql(static_cast<sqlite3_stmt*>(stmt));
    if (sql) static_cast<StatementLog*>(self)->texts.emplace_back(sql);
    return 0;
  }
  SQLite::Database& db_;
};

// The plan's lines (EXPLAIN QUERY PLAN's detail column).
std::vector<std::string> plan_of(SQLite::Database& db, const std::string& sql) {
  SQLite::Statement q(db, "EXPLAIN QUERY PLAN " + sql);
  std::vector<std::string> lines;
  while (q.executeStep()) lines.push_back(q.getColumn(3).getString());
  return lines;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (auto& l : lines) out += l + "\n";
  return out;
}

// Whether a plan answers from an index. A query with a filter or search
// must SEARCH an index and never SCAN. A query without (an order only) may
// walk its order's index from one end ("SCAN t USING ... INDEX"), as LIMIT
// stops it, and must not sort: a bare "SCAN t" or a temporary B-tree there
// means the table is read whole.
void expect_indexed(const std::vector<std::string>& plan, bool has_predicate, const std::string& what) {
  ASSERT_FALSE(plan.empty()) << what;
  bool searched = false;
  for (auto& line : plan) {
    if (line.rfind("SEARCH ", 0) == 0) searched = true;
    if (line.rfind("SCAN ", 0) == 0) {
      EXPECT_FALSE(has_predicate) << what << ": scans\n" << joined(plan);
      EXPECT_NE(line.find(" USING "), std::string::npos) << what << ": full table scan\n" << joined(plan);
    }
    if (!has_predicate)
      EXPECT_EQ(line.find("TEMP B-TREE"), std::string::npos) << what << ": sorts the whole table\n" << joined(plan);
  }
  if (has_predicate) EXPECT_TRUE(searched) << what << "\n" << joined(plan);
}

// Pages through `query` (limit rows a page) as the host does, returning the ids.
std::vector<std::string> all_pages(TableOperations& table, SQLite::Database& db, Query query, int limit,
                                   int* pages = nullptr) {
  std::vector<std::string> ids;
  query.limit = limit;
  for (int n = 0;; ++n) {
    std::vector<QueryRow> rows;
    Status s = table.query(db, query, rows);
    EXPECT_TRUE(s.ok()) << s.message();
    for (auto& r : rows) ids.push_back(r.id);
    if (static_cast<int>(rows.size()) < limit || n > 100000) {
      if (pages) *pages = n + 1;
      return ids;
    }
    query.after_id = rows.back().id;
    query.after_value = rows.back().sort_value;
  }
}

// --- users ---------------------------------------------------------------

class UsersQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::make_unique<SQLite::Database>(dir_.path() + "/users.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    table_.create_table(*db_);
    SQLite::Transaction tx(*db_);
    for (int i = 0; i < kRows; ++i) {
      char id[40];
      std::snprintf(id, sizeof id, "0190%04d-0000-7000-8000-000000000000", (i * 7919) % kRows);  // not in time order
      std::string name = (i % 10 == 0 ? "Ada " : "Bob ") + std::to_string(i);
      std::string email = (i % 4 == 0 ? "ADA" : "zed") + std::to_string(i) + "@example.org";
      insert(id, name, email, timestamp(i));
    }
    tx.commit();
  }

  void insert(const std::string& id, const std::string& name, const std::string& email, const std::string& time) {
    DatabaseEvent e;
    e.operation = Operation::kInsert;
    e.data = parse(R"({"id":")" + id + R"(","name":")" + name + R"(","email":")" + email + R"("})");
    e.timestamp = time;
    Status s = table_.handle_upsert(*db_, e);
    ASSERT_TRUE(s.ok()) << s.message();
  }

  // Ids in the order SQL gives them for `where` and `order`.
  std::vector<std::string> expected(const std::string& where, const std::string& order) {
    SQLite::Statement q(*db_, "SELECT id FROM users" + (where.empty() ? "" : " WHERE " + where) + " ORDER BY " + order);
    std::vector<std::string> ids;
    while (q.executeStep()) ids.push_back(q.getColumn(0).getString());
    return ids;
  }

  static constexpr int kRows = 500;
  test::TempDir dir_;
  std::unique_ptr<SQLite::Database> db_;
  users::UsersTable table_;
};

TEST_F(UsersQueryTest, DescribesItsFields) {
  auto f = table_.query_fields();
  EXPECT_EQ(f.filters, (std::vector<std::string>{"email", "name"}));
  EXPECT_EQ(f.search, (std::vector<std::string>{"name", "email"}));
  EXPECT_EQ(f.sorts, (std::vector<std::string>{"created_at", "updated_at"}));
}

TEST_F(UsersQueryTest, EqualityIgnoresCase) {
  Query q;
  q.equal = {{"email", "ada8@EXAMPLE.org"}};
  std::vector<QueryRow> rows;
  ASSERT_TRUE(table_.query(*db_, q, rows).ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_NE(rows[0].json.find(R"("email":"ADA8@example.org")"), std::string::npos) << rows[0].json;
  q.equal = {{"name", "ada 10"}};
  rows.clear();
  ASSERT_TRUE(table_.query(*db_, q, rows).ok());
  ASSERT_EQ(rows.size(), 1u);
  q.equal = {{"name", "Ada 10"}, {"email", "zed10@example.org"}};
  rows.clear();
  ASSERT_TRUE(table_.query(*db_, q, rows).ok());
  EXPECT_EQ(rows.size(), 1u);
  q.equal = {{"name", "Ada 10"}, {"email", "ada8@example.org"}};
  rows.clear();
  ASSERT_TRUE(table_.query(*db_, q, rows).ok());
  EXPECT_EQ(rows.size(), 0u);
}

TEST_F(UsersQueryTest, SearchIsACaseInsensitivePrefixOfNameOrEmail) {
  Query q;
  q.search = "ada";
  // Names "Ada ..." (i % 10 == 0) or emails "ADA..." (i % 4 == 0).
  auto ids = all_pages(table_, *db_, q, 7);
  EXPECT_EQ(ids, expected("name LIKE 'ada%' OR email LIKE 'ada%'", "id"));
  EXPECT_EQ(ids.size(), 50u + 125u - 25u);
  q.search = "Ada 1";
  ids = all_pages(table_, *db_, q, 1000);
  EXPECT_EQ(ids, expected("name LIKE 'ada 1%'", "id"));
  q.search = "nobody";
  EXPECT_TRUE(all_pages(table_, *db_, q, 10).empty());
}

TEST_F(UsersQueryTest, EveryOrderPagesOverEveryRowOnce) {
  struct Case {
    std::string order;
    bool descending;
    std::string sql;
  };
  for (const Case& c : {Case{"id", false, "id"}, Case{"id", true, "id DESC"},
                        Case{"created_at", false, "created_at, id"}, Case{"created_at", true, "created_at DESC, id DESC"},
                        Case{"updated_at", false, "updated_at, id"}, Case{"updated_at", true, "updated_at DESC, id DESC"}}) {
    Query q;
    q.order = c.order;
    q.descending = c.descending;
    int pages = 0;
    auto ids = all_pages(table_, *db_, q, 33, &pages);
    EXPECT_EQ(ids, expected("", c.sql)) << c.sql;
    EXPECT_EQ(pages, kRows / 33 + 1) << c.sql;
    // With a search and a filter too.
    q.search = "bob 1";
    EXPECT_EQ(all_pages(table_, *db_, q, 9), expected("name LIKE 'bob 1%'", c.sql)) << c.sql;
    q.search.clear();
    q.equal = {{"name", "Bob 11"}};
    EXPECT_EQ(all_pages(table_, *db_, q, 9), expected("name = 'Bob 11'", c.sql)) << c.sql;
  }
}

TEST_F(UsersQueryTest, RefusesWhatDoesNotFit) {
  Query q;
  q.order = "created_at";
  q.after_id = "x";
  q.after_value = "12";  // a number where a time belongs
  std::vector<QueryRow> rows;
  Status s = table_.query(*db_, q, rows);
  EXPECT_EQ(s.code(), StatusCode::kInvalid);
  EXPECT_EQ(s.field(), "cursor");
}

TEST_F(UsersQueryTest, EveryDocumentedQueryUsesAnIndex) {
  struct Case {
    std::string what;
    Query query;
    bool predicate;
  };
  auto make = [](std::vector<std::pair<std::string, std::string>> equal, std::string search, std::string order,
                 bool desc, bool cursor) {
    Query q;
    q.equal = std::move(equal);
    q.search = std::move(search);
    q.order = std::move(order);
    q.descending = desc;
    if (cursor) {
      q.after_id = "0190";
      if (q.order != "id") q.after_value = R"("2026-01-01T00:00:00Z")";
    }
    return q;
  };
  std::vector<Case> cases;
  for (bool cursor : {false, true})
    for (bool desc : {false, true})
      for (std::string order : {"id", "created_at", "updated_at"}) {
        std::string tag = std::string(desc ? "-" : "") + order + (cursor ? " after a cursor" : "");
        cases.push_back({"order=" + tag, make({}, "", order, desc, cursor), false});
        cases.push_back({"email=, order=" + tag, make({{"email", "a@b.org"}}, "", order, desc, cursor), true});
        cases.push_back({"name=, order=" + tag, make({{"name", "Ada"}}, "", order, desc, cursor), true});
        cases.push_back({"q=, order=" + tag, make({}, "ad", order, desc, cursor), true});
        cases.push_back(
            {"name= and q=, order=" + tag, make({{"name", "Ada"}}, "ad", order, desc, cursor), true});
      }
  for (auto& c : cases) {
    std::vector<std::string> texts;
    {
      StatementLog log(*db_);
      std::vector<QueryRow> rows;
      Status s = table_.query(*db_, c.query, rows);
      ASSERT_TRUE(s.ok()) << c.what << ": " << s.message();
      texts = log.texts;
    }
    ASSERT_EQ(texts.size(), 1u) << c.what;
    expect_indexed(plan_of(*db_, texts[0]), c.predicate, c.what + " [" + texts[0] + "]");
  }
}

TEST(UsersQueryMigration, ADatabaseWithoutTheIndexesGetsThemWhenPrepared) {
  test::TempDir dir;
  SQLite::Database db(dir.path() + "/old.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  db.exec(
      "CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL COLLATE NOCASE UNIQUE, "
      "created_at TEXT NOT NULL, updated_at TEXT NOT NULL) WITHOUT ROWID");
  users::UsersTable table;
  table.prepare_table(db, 1);
  SQLite::Statement q(db, "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'users.%' ORDER BY name");
  std::vector<std::string> names;
  while (q.executeStep()) names.push_back(q.getColumn(0).getString());
  EXPECT_EQ(names, (std::vector<std::string>{"users.order.created_at", "users.order.updated_at", "users.search.email",
                                             "users.search.name"}));
}

// --- a declared table (schema.so) ------------------------------------------

const std::string kTickets = R"({"tickets": {"type": "object",
  "properties": {"title": {"type": "string", "minLength": 1},
                 "status": {"type": "string", "enum": ["open", "closed"]},
                 "priority": {"type": "integer", "minimum": 0},
                 "score": {"type": "number"},
                 "urgent": {"type": "boolean"},
                 "owner": {"type": "string"}},
  "required": ["title", "status", "priority", "score"],
  "x-filter": ["status", "priority", "urgent", "owner"],
  "x-search": ["title", "owner"],
  "x-sort": ["priority", "score", "created_at", "updated_at"]}})";

class DeclaredQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto settings = parse(R"({"tables":)" + kTickets + "}");
    auto loaded = load_plugin_file(test::plugins_directory() + "/schema.so", settings, "n1");
    ASSERT_EQ(loaded.size(), 1u);
    plugin_ = std::move(loaded[0]);
    db_ = std::make_unique<SQLite::Database>(dir_.path() + "/t.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    SQLite::Transaction tx(*db_);
    plugin_.table->prepare_table(*db_, std::nullopt);
    for (int i = 0; i < kRows; ++i) {
      char id[40];
      std::snprintf(id, sizeof id, "0190%04d-0000-7000-8000-000000000000", (i * 7919) % kRows);
      std::string data = R"({"id":")" + std::string(id) + R"(","title":")" + (i % 5 == 0 ? "Printer " : "Network ") +
                         std::to_string(i) + R"(","status":")" + (i % 3 == 0 ? "open" : "closed") +
                         R"(","priority":)" + std::to_string(i % 7) + R"(,"score":)" + std::to_string(i % 11) +
                         ".5" + R"(,"urgent":)" + (i % 2 ? "true" : "false") +
                         (i % 4 == 0 ? R"(,"owner":"Grace")" : "") + "}";
      DatabaseEvent e;
      e.operation = Operation::kInsert;
      e.data = parse(data);
      e.timestamp = timestamp(i);
      Status s = plugin_.table->handle_upsert(*db_, e);
      ASSERT_TRUE(s.ok()) << s.message() << " " << data;
    }
    tx.commit();
  }

  std::vector<std::string> expected(const std::string& where, const std::string& order) {
    SQLite::Statement q(*db_,
                        "SELECT id FROM tickets" + (where.empty() ? "" : " WHERE " + where) + " ORDER BY " + order);
    std::vector<std::string> ids;
    while (q.executeStep()) ids.push_back(q.getColumn(0).getString());
    return ids;
  }

  static constexpr int kRows = 400;
  test::TempDir dir_;
  std::unique_ptr<SQLite::Database> db_;
  LoadedPlugin plugin_;  // after db_: its prepared statements go before the connection closes
};

TEST_F(DeclaredQueryTest, TheDeclarationNamesItsFields) {
  EXPECT_EQ(plugin_.fields.filters, (std::vector<std::string>{"status", "priority", "urgent", "owner"}));
  EXPECT_EQ(plugin_.fields.search, (std::vector<std::string>{"title", "owner"}));
  EXPECT_EQ(plugin_.fields.sorts, (std::vector<std::string>{"priority", "score", "created_at", "updated_at"}));
  // Not in the entity schema, whose fingerprint the events carry.
  EXPECT_EQ(plugin_.schema.find("x-filter"), std::string::npos);
}

TEST_F(DeclaredQueryTest, FiltersOfEachType) {
  auto& t = *plugin_.table;
  Query q;
  q.equal = {{"status", "open"}, {"urgent", "true"}};
  EXPECT_EQ(all_pages(t, *db_, q, 10), expected("status = 'open' AND urgent = 1", "id"));
  q.equal = {{"priority", "3"}};
  EXPECT_EQ(all_pages(t, *db_, q, 10), expected("priority = 3", "id"));
  q.equal = {{"owner", "Grace"}};
  EXPECT_EQ(all_pages(t, *db_, q, 10).size(), 100u);
  for (auto [field, bad] : std::vector<std::pair<std::string, std::string>>{
           {"priority", "three"}, {"priority", "1.5"}, {"urgent", "yes"}, {"priority", ""}}) {
    Query b;
    b.equal = {{field, bad}};
    std::vector<QueryRow> rows;
    Status s = t.query(*db_, b, rows);
    EXPECT_EQ(s.code(), StatusCode::kInvalid) << field << "=" << bad;
    EXPECT_EQ(s.field(), field);
  }
}

TEST_F(DeclaredQueryTest, SearchAndEveryOrderPageOverEveryRowOnce) {
  auto& t = *plugin_.table;
  Query s;
  s.search = "PRINTER 1";
  EXPECT_EQ(all_pages(t, *db_, s, 4), expected("title LIKE 'printer 1%'", "id"));
  s.search = "gra";
  EXPECT_EQ(all_pages(t, *db_, s, 30).size(), 100u);
  for (std::string order : {"id", "priority", "score", "created_at", "updated_at"})
    for (bool desc : {false, true}) {
      Query q;
      q.order = order;
      q.descending = desc;
      std::string sql = order == "id" ? (desc ? "id DESC" : "id")
                                      : order + (desc ? " DESC, id DESC" : ", id");
      EXPECT_EQ(all_pages(t, *db_, q, 27), expected("", sql)) << sql;
      q.equal = {{"status", "open"}};
      EXPECT_EQ(all_pages(t, *db_, q, 8), expected("status = 'open'", sql)) << sql;
      q.equal.clear();
      q.search = "network 2";
      EXPECT_EQ(all_pages(t, *db_, q, 8), expected("title LIKE 'network 2%'", sql)) << sql;
    }
}

TEST_F(DeclaredQueryTest, EveryDeclaredQueryUsesAnIndex) {
  auto& t = *plugin_.table;
  for (bool cursor : {false, true})
    for (bool desc : {false, true})
      for (std::string order : {"id", "priority", "score", "created_at"})
        for (int shape = 0; shape < 6; ++shape) {
          Query q;
          q.order = order;
          q.descending = desc;
          if (shape == 1) q.equal = {{"status", "open"}};
          if (shape == 2) q.equal = {{"priority", "2"}, {"urgent", "false"}};
          if (shape == 3) q.equal = {{"owner", "Grace"}};
          if (shape == 4) q.search = "pri";
          if (shape == 5) {
            q.search = "pri";
            q.equal = {{"status", "open"}};
          }
          if (cursor) {
            q.after_id = "0190";
            if (order == "created_at") q.after_value = R"("2026-01-01T00:00:00Z")";
            if (order == "priority") q.after_value = "3";
            if (order == "score") q.after_value = "2.5";
          }
          std::string what = "shape " + std::to_string(shape) + " order " + (desc ? "-" : "") + order +
                             (cursor ? " after a cursor" : "");
          std::vector<std::string> texts;
          {
            StatementLog log(*db_);
            std::vector<QueryRow> rows;
            Status s = t.query(*db_, q, rows);
            ASSERT_TRUE(s.ok()) << what << ": " << s.message();
            texts = log.texts;
          }
          ASSERT_EQ(texts.size(), 1u) << what;
          expect_indexed(plan_of(*db_, texts[0]), shape != 0, what + " [" + texts[0] + "]");
        }
}

TEST(DeclaredQueryDeclaration, RefusesFieldsItCannotIndex) {
  auto error = [](const std::string& extra) {
    std::string decl = R"({"t": {"type": "object", "properties": {"a": {"type": "string"}, "n": {"type": "integer"},
      "o": {"type": "object"}, "b": {"type": "boolean"}}, "required": ["a"], )" + extra + "}}";
    try {
      load_plugin_file(test::plugins_directory() + "/schema.so", parse(R"({"tables":)" + decl + "}"), "n1");
    } catch (const PluginError& e) {
      std::string what = e.what();
      return what.substr(what.find("factory threw: ") + 15);
    }
    return std::string("(loaded)");
  };
  EXPECT_EQ(error(R"("x-filter": ["o"])"),
            "table t: \"x-filter\" names \"o\", an object: only string, integer, number and boolean properties can be "
            "filters");
  EXPECT_EQ(error(R"("x-filter": ["nope"])"), "table t: \"x-filter\" names \"nope\", which is not in \"properties\"");
  EXPECT_EQ(error(R"("x-search": ["n"])"), "table t: \"x-search\" names \"n\": only string properties can be searched");
  EXPECT_EQ(error(R"("x-sort": ["n"])"),
            "table t: \"x-sort\" names \"n\", which is not required: a sort field must always have a value");
  EXPECT_EQ(error(R"("x-sort": ["b"])"),
            "table t: \"x-sort\" names \"b\", a boolean: only string, integer and number properties can be sorted by");
  EXPECT_EQ(error(R"("x-sort": "a")"), "table t: \"x-sort\" must be an array of property names");
  EXPECT_EQ(error(R"("x-sort": ["a", "created_at"], "x-filter": ["a", "b", "n"], "x-search": ["a"])"), "(loaded)");
}

TEST(DeclaredQueryDeclaration, IndexesFollowTheDeclaration) {
  test::TempDir dir;
  SQLite::Database db(dir.path() + "/t.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  std::vector<LoadedPlugin> keep;  // destroyed before db
  auto prepare = [&](const std::string& extra, std::optional<int> stored) {
    std::string decl = R"({"t": {"type": "object", "properties": {"a": {"type": "string"}, "n": {"type": "integer"}},
      "required": ["a"])" + extra + "}}";
    auto loaded = load_plugin_file(test::plugins_directory() + "/schema.so", parse(R"({"tables":)" + decl + "}"), "n1");
    loaded[0].table->prepare_table(db, stored);
    keep.push_back(loaded[0]);
    SQLite::Statement q(db, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 't' ORDER BY name");
    std::vector<std::string> names;
    while (q.executeStep()) names.push_back(q.getColumn(0).getString());
    return names;
  };
  EXPECT_EQ(prepare("", std::nullopt), (std::vector<std::string>{}));
  EXPECT_EQ(prepare(R"(, "x-filter": ["n"], "x-search": ["a"], "x-sort": ["a"])", 1),
            (std::vector<std::string>{"t.query.a", "t.query.n", "t.search.a"}));
  EXPECT_EQ(prepare(R"(, "x-search": ["a"])", 1), (std::vector<std::string>{"t.search.a"}));
}

}  // namespace
