// The schema plugin (plugins/schema), loaded from build/plugins/schema.so
// through the host's loader, exactly as a node loads it, against real SQLite
// files: tables declared as JSON Schema, checked with RapidJSON's validator,
// unique fields enforced at apply time, declarations refused with one line,
// and the table following its declaration from one version to the next.
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <regex>

#include "json.h"
#include "node_process.h"
#include "plugins/plugin_loader.h"

using namespace clusterlite;

namespace {

std::string schema_so() { return test::plugins_directory() + "/schema.so"; }

const char* kTimestamp = "2026-03-04T05:06:07.123456Z";
const char* kLater = "2026-03-04T05:06:09.000001Z";

// The products table of docs/entities.md and config/declared-tables.json.
const std::string kProducts = R"({"type": "object",
  "properties": {"sku": {"type": "string", "pattern": "^[A-Z0-9-]{3,32}$"},
                 "name": {"type": "string", "minLength": 1, "maxLength": 200},
                 "price_cents": {"type": "integer", "minimum": 0},
                 "stock": {"type": "integer", "minimum": 0, "default": 0}},
  "required": ["sku", "name", "price_cents"], "x-unique": ["sku"]})";

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  EXPECT_FALSE(d.HasParseError()) << text;
  return d;
}

// Loads schema.so with settings {"tables": <tables>}.
std::vector<LoadedPlugin> load_tables(const std::string& tables) {
  auto settings = parse(R"({"tables":)" + tables + "}");
  return load_plugin_file(schema_so(), settings, "n1");
}

// The loader's error for a declaration, after "plugin <path>: factory threw: ".
std::string declaration_error(const std::string& table, const std::string& declaration) {
  try {
    load_tables(R"({")" + table + R"(":)" + declaration + "}");
  } catch (const PluginError& e) {
    std::string prefix = "plugin " + schema_so() + ": factory threw: ";
    std::string what = e.what();
    if (what.rfind(prefix, 0) == 0) return what.substr(prefix.size());
    return "(another error) " + what;
  }
  return "(loaded)";
}

// One declared table in a SQLite file of its own, with helpers that go the
// way of a request: the builder, then the applier.
class Table {
 public:
  explicit Table(const std::string& declaration, const std::string& name = "products",
                 std::optional<std::string> db_path = std::nullopt)
      : db_(db_path ? *db_path : dir_.path() + "/t.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE) {
    load(declaration, name, std::nullopt);
  }

  // Loads (another version of) the declaration and prepares the table, as a
  // node does at start-up: in a transaction, rolled back when it throws.
  void load(const std::string& declaration, const std::string& name, std::optional<int> stored_version) {
    auto plugins = load_tables(R"({")" + name + R"(":)" + declaration + "}");
    EXPECT_EQ(plugins.size(), 1u);
    try {
      SQLite::Transaction tx(db_);
      plugins.at(0).table->prepare_table(db_, stored_version);
      tx.commit();
    } catch (const std::exception& e) {
      // Copied out while the plugin is loaded: the exception's own type may
      // live in the library, which goes when `plugins` does.
      throw std::runtime_error(e.what());
    }
    plugin_ = plugins.at(0);
  }

  TableOperations& ops() { return *plugin_.table; }
  const LoadedPlugin& plugin() const { return plugin_; }
  SQLite::Database& db() { return db_; }

  // POST: the builder's status, or the applier's when the builder accepts.
  Status create(const std::string& body, std::string* id = nullptr, const char* timestamp = kTimestamp) {
    DatabaseEvent e;
    auto doc = parse(body);
    Status s = ops().create_event(doc, e);
    if (!s.ok()) return s;
    if (id) *id = std::string(e.entity_id());
    last_event_ = to_json(e.data);
    return apply(e, timestamp);
  }

  Status update(const std::string& id, const std::string& body, const char* timestamp = kLater) {
    DatabaseEvent e;
    auto doc = parse(body);
    Status s = ops().update_event(id, doc, e);
    if (!s.ok()) return s;
    last_event_ = to_json(e.data);
    return apply(e, timestamp);
  }

  Status remove(const std::string& id) {
    DatabaseEvent e;
    Status s = ops().delete_event(id, e);
    if (!s.ok()) return s;
    return apply(e, kLater);
  }

  // An event as another producer (or another version) would write it, with
  // the schema fingerprint the host stamps when `fingerprint` is given.
  Status apply_event(Operation op, const std::string& data, int plugin_version = 0, std::string fingerprint = {}) {
    DatabaseEvent e;
    e.operation = op;
    e.data.Parse(data.c_str());
    e.plugin_version = plugin_version;
    e.schema_sha256 = std::move(fingerprint);
    return apply(e, kTimestamp, false);
  }

  Status apply(DatabaseEvent& e, const char* timestamp, bool stamp_version = true) {
    e.table_name = plugin_.table_name;
    e.timestamp = timestamp;
    if (stamp_version) e.plugin_version = plugin_.version;
    SQLite::Transaction tx(db_);
    Status s = e.operation == Operation::kDelete ? ops().handle_delete(db_, e) : ops().handle_upsert(db_, e);
    if (s.ok()) tx.commit();
    return s;
  }

  std::optional<std::string> get(const std::string& id) { return ops().get(db_, id); }
  const std::string& last_event() const { return last_event_; }

  int64_t count() {
    SQLite::Statement q(db_, "SELECT count(*) FROM \"" + plugin_.table_name + "\"");
    q.executeStep();
    return q.getColumn(0).getInt64();
  }

 private:
  test::TempDir dir_;
  SQLite::Database db_;
  LoadedPlugin plugin_;
  std::string last_event_;
};

std::string status_text(const Status& s) {
  static const char* kNames[] = {"ok", "invalid", "not found", "conflict", "internal"};
  return std::string(kNames[static_cast<int>(s.code())]) + ": " + s.message() + " [" + s.field() + "]";
}

}  // namespace

// --- loading -------------------------------------------------------------

TEST(SchemaPlugin, WithoutDeclaredTablesItServesNone) {
  rapidjson::Value empty(rapidjson::kObjectType);
  EXPECT_TRUE(load_plugin_file(schema_so(), empty, "n1").empty());
  EXPECT_TRUE(load_tables("{}").empty());
}

TEST(SchemaPlugin, BesideUsersInADirectoryWithoutConfigurationOnlyUsersServes) {
  test::TempDir dir;
  std::filesystem::copy_file(test::plugins_directory() + "/users.so", dir.path() + "/users.so");
  std::filesystem::copy_file(schema_so(), dir.path() + "/schema.so");
  Config c = parse_config(R"({"plugins":{"directory":")" + dir.path() + R"("}})");
  auto loaded = load_plugins(c.plugins, "n1");
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].table_name, "users");
}

TEST(SchemaPlugin, UnknownSettingIsRefused) {
  auto settings = parse(R"({"tabels": {}})");
  try {
    load_plugin_file(schema_so(), settings, "n1");
    FAIL() << "accepted";
  } catch (const PluginError& e) {
    EXPECT_EQ(std::string(e.what()), "plugin " + schema_so() +
                                         ": factory threw: unknown setting: tabels (the schema plugin takes \"tables\")");
  }
}

TEST(SchemaPlugin, ServesEachDeclaredTableWithItsVersion) {
  auto plugins = load_tables(R"({"products": )" + kProducts + R"(,
      "notes": {"properties": {"text": {"type": "string"}}, "x-version": 3}})");
  ASSERT_EQ(plugins.size(), 2u);
  std::map<std::string, int> versions;
  for (auto& p : plugins) versions[p.table_name] = p.version;
  EXPECT_EQ(versions, (std::map<std::string, int>{{"notes", 3}, {"products", 1}}));
  for (auto& p : plugins) {
    EXPECT_EQ(p.name, "schema");
    EXPECT_EQ(p.schema_sha256.size(), 16u);
  }
}

TEST(SchemaPlugin, EntitySchemaIsTheDeclarationWithTheServerFieldsInCanonicalForm) {
  auto plugins = load_tables(R"({"products": )" + kProducts + "}");
  ASSERT_EQ(plugins.size(), 1u);
  EXPECT_EQ(plugins[0].schema,
            R"({"additionalProperties":false,"properties":{)"
            R"("created_at":{"description":"Set by the server: the time of the creating event.","format":"date-time","readOnly":true,"type":"string"},)"
            R"("id":{"description":"Set by the server: a UUIDv7, so ids created later sort later.","format":"uuid","readOnly":true,"type":"string"},)"
            R"("name":{"maxLength":200,"minLength":1,"type":"string"},)"
            R"("price_cents":{"minimum":0,"type":"integer"},)"
            R"("sku":{"pattern":"^[A-Z0-9-]{3,32}$","type":"string"},)"
            R"("stock":{"default":0,"minimum":0,"type":"integer"},)"
            R"("updated_at":{"description":"Set by the server: the time of the latest event.","format":"date-time","readOnly":true,"type":"string"}},)"
            R"("required":["name","price_cents","sku"],"type":"object","x-unique":["sku"],"x-version":1})");
  // The same declaration written in another order is the same schema: the
  // fingerprint in events does not depend on how the config is laid out.
  auto reordered = load_tables(R"({"products": {"x-unique": ["sku"], "required": ["price_cents", "sku", "name"],
      "properties": {"stock": {"default": 0, "minimum": 0, "type": "integer"},
                     "price_cents": {"minimum": 0, "type": "integer"},
                     "name": {"maxLength": 200, "type": "string", "minLength": 1},
                     "sku": {"type": "string", "pattern": "^[A-Z0-9-]{3,32}$"}}, "type": "object"}})");
  EXPECT_EQ(reordered.at(0).schema, plugins[0].schema);
  EXPECT_EQ(reordered.at(0).schema_sha256, plugins[0].schema_sha256);
}

// --- requests and rows ---------------------------------------------------

TEST(SchemaTable, CreateStoresTheEntityWithIdTimestampsAndDefaults) {
  Table t(kProducts);
  std::string id;
  Status s = t.create(R"({"sku": "AB-1", "name": "Widget", "price_cents": 1250})", &id);
  ASSERT_TRUE(s.ok()) << status_text(s);
  EXPECT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << id;
  // The event carries the whole entity, the default included.
  EXPECT_EQ(t.last_event(), R"({"id":")" + id + R"(","sku":"AB-1","name":"Widget","price_cents":1250,"stock":0})");
  EXPECT_EQ(t.get(id).value_or(""), R"({"id":")" + id +
                                        R"(","name":"Widget","price_cents":1250,"sku":"AB-1","stock":0,)"
                                        R"("created_at":"2026-03-04T05:06:07.123456Z",)"
                                        R"("updated_at":"2026-03-04T05:06:07.123456Z"})");
  // A real table: a column per property, typed.
  SQLite::Statement q(t.db(), "SELECT name, type FROM pragma_table_info('products') ORDER BY name");
  std::vector<std::string> columns;
  while (q.executeStep()) columns.push_back(q.getColumn(0).getString() + " " + q.getColumn(1).getString());
  EXPECT_EQ(columns, (std::vector<std::string>{"created_at TEXT", "id TEXT", "name TEXT", "price_cents INTEGER",
                                               "sku TEXT", "stock INTEGER", "updated_at TEXT"}));
}

TEST(SchemaTable, UpdateReplacesTheEntityKeepsCreatedAtAndIgnoresTheServerFields) {
  Table t(kProducts);
  std::string id;
  ASSERT_TRUE(t.create(R"({"sku": "AB-1", "name": "Widget", "price_cents": 1250, "stock": 7})", &id).ok());
  Status s = t.update(id, R"({"id": ")" + id + R"(", "sku": "AB-1", "name": "Widget II", "price_cents": 1300,
                                "created_at": "1999-01-01T00:00:00Z", "updated_at": "1999-01-01T00:00:00Z"})");
  ASSERT_TRUE(s.ok()) << status_text(s);
  // A full update: stock was left out, so it is the default again.
  EXPECT_EQ(t.get(id).value_or(""), R"({"id":")" + id +
                                        R"(","name":"Widget II","price_cents":1300,"sku":"AB-1","stock":0,)"
                                        R"("created_at":"2026-03-04T05:06:07.123456Z",)"
                                        R"("updated_at":"2026-03-04T05:06:09.000001Z"})");
  EXPECT_EQ(status_text(t.update(id, R"({"id": "other", "sku": "AB-1", "name": "W", "price_cents": 1})")),
            "invalid: id does not match the URL [id]");
  EXPECT_EQ(status_text(t.update("0190aaaa-0000-7000-8000-000000000000",
                                 R"({"sku": "AB-2", "name": "W", "price_cents": 1})")),
            "not found: no entity with id 0190aaaa-0000-7000-8000-000000000000 in products []");
}

TEST(SchemaTable, ServerFieldsCannotBeSetAtCreate) {
  Table t(kProducts);
  for (const char* field : {"id", "created_at", "updated_at"})
    EXPECT_EQ(status_text(t.create(std::string(R"({"sku": "AB-1", "name": "W", "price_cents": 1, ")") + field +
                                   R"(": "x"})")),
              std::string("invalid: ") + field + " is set by the server [" + field + "]");
}

TEST(SchemaTable, DeleteRemovesTheRow) {
  Table t(kProducts);
  std::string id;
  ASSERT_TRUE(t.create(R"({"sku": "AB-1", "name": "W", "price_cents": 1})", &id).ok());
  EXPECT_TRUE(t.remove(id).ok());
  EXPECT_FALSE(t.get(id));
  EXPECT_EQ(status_text(t.remove(id)), "not found: no entity with id " + id + " in products []");
}

TEST(SchemaTable, GetAllPagesInIdOrder) {
  Table t(kProducts);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    std::string id;
    ASSERT_TRUE(t.create(R"({"sku": "SKU-)" + std::to_string(i) + R"(", "name": "W", "price_cents": 1})", &id).ok());
    ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  auto first = t.ops().get_all(t.db(), "", 3);
  ASSERT_EQ(first.size(), 3u);
  auto rest = t.ops().get_all(t.db(), first.back().id, 3);
  ASSERT_EQ(rest.size(), 2u);
  std::vector<std::string> seen;
  for (auto& r : first) seen.push_back(r.id);
  for (auto& r : rest) seen.push_back(r.id);
  EXPECT_EQ(seen, ids);
  EXPECT_EQ(rest[0].json, t.get(rest[0].id).value_or(""));
}

// Every supported type keeps its JSON type through the table; an optional
// property without a value (and without a default) is left out.
TEST(SchemaTable, TypesArePreserved) {
  Table t(R"({"properties": {"s": {"type": "string"}, "i": {"type": "integer"}, "n": {"type": "number"},
      "b": {"type": "boolean"}, "a": {"type": "array", "items": {"type": "integer"}},
      "o": {"type": "object", "properties": {"x": {"type": "number"}}}, "opt": {"type": "string"}}})",
          "things");
  std::string id;
  Status s = t.create(
      R"({"s": "héllo \"q\"", "i": -9223372036854775808, "n": 2.5, "b": false, "a": [3, 1, 2], "o": {"x": 1.5, "y": [true]}})",
      &id);
  ASSERT_TRUE(s.ok()) << status_text(s);
  EXPECT_EQ(t.get(id).value_or(""),
            R"({"id":")" + id + R"(","a":[3,1,2],"b":false,"i":-9223372036854775808,"n":2.5,"o":{"x":1.5,"y":[true]},)"
                R"("s":"héllo \"q\"","created_at":"2026-03-04T05:06:07.123456Z","updated_at":"2026-03-04T05:06:07.123456Z"})");
  // A whole number given for a number property is stored as a number.
  ASSERT_TRUE(t.create(R"({"n": 3, "b": true})", &id).ok());
  EXPECT_EQ(t.get(id).value_or(""), R"({"id":")" + id + R"(","b":true,"n":3.0,)"
                                        R"("created_at":"2026-03-04T05:06:07.123456Z","updated_at":"2026-03-04T05:06:07.123456Z"})");
  EXPECT_EQ(status_text(t.create(R"({"i": 9223372036854775808})")),
            "invalid: i must be from -9223372036854775808 to 9223372036854775807 [i]");
  EXPECT_EQ(status_text(t.create(R"({"s": "a\u0000b"})")), "invalid: s must not contain the NUL character (\\u0000) [s]");
}

// Property names are quoted SQL identifiers: keywords and mixed case are
// columns like any other.
TEST(SchemaTable, SqlKeywordsAndMixedCaseNamesAreColumnsLikeAnyOther) {
  Table t(R"({"properties": {"order": {"type": "integer"}, "createdBy": {"type": "string"},
              "select": {"type": "boolean"}}, "x-unique": ["order"]})",
          "orders");
  std::string id;
  ASSERT_TRUE(t.create(R"({"order": 1, "createdBy": "ann", "select": true})", &id).ok());
  EXPECT_EQ(t.get(id).value_or(""), R"({"id":")" + id + R"(","createdBy":"ann","order":1,"select":true,)"
                                        R"("created_at":"2026-03-04T05:06:07.123456Z","updated_at":"2026-03-04T05:06:07.123456Z"})");
  EXPECT_EQ(status_text(t.create(R"({"order": 1})")), "conflict: order is already in use [order]");
}

// --- validation, keyword by keyword --------------------------------------

namespace {

// One property per keyword; each case is a body and the verdict on it.
const std::string kKeywords = R"({"title": "Keywords", "description": "One property per keyword.",
  "properties": {
    "s": {"type": "string", "title": "S", "description": "a string"},
    "i": {"type": "integer"}, "n": {"type": "number"}, "b": {"type": "boolean"},
    "arr": {"type": "array"}, "obj": {"type": "object"},
    "color": {"type": "string", "enum": ["red", "green"]},
    "level": {"type": "integer", "enum": [1, 2, 3]},
    "kind": {"type": "string", "const": "gadget"},
    "code": {"type": "string", "minLength": 2, "maxLength": 4},
    "nonempty": {"type": "string", "minLength": 1},
    "sku": {"type": "string", "pattern": "^[A-Z0-9-]{3,32}$"},
    "email": {"type": "string", "format": "email"},
    "qty": {"type": "integer", "minimum": 1, "maximum": 10},
    "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    "old": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 5, "exclusiveMaximum": true},
    "step": {"type": "integer", "multipleOf": 5},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}, "minItems": 1, "maxItems": 2},
    "dims": {"type": "object", "properties": {"w": {"type": "number", "minimum": 0}}, "required": ["w"],
             "additionalProperties": false},
    "free": {"type": "object", "properties": {"a": {"type": "integer"}}},
    "must": {"type": "string"}},
  "required": ["must"]})";

struct Verdict {
  const char* body;
  const char* expected;  // status_text, or "ok"
};

class Keyword : public ::testing::TestWithParam<Verdict> {};

TEST_P(Keyword, Verdict) {
  Table t(kKeywords, "keywords");
  Status s = t.create(GetParam().body);
  EXPECT_EQ(s.ok() ? "ok" : status_text(s), GetParam().expected) << GetParam().body;
}

INSTANTIATE_TEST_SUITE_P(
    SchemaTable, Keyword,
    ::testing::Values(
        Verdict{R"({"must": "x"})", "ok"},
        // required
        Verdict{R"({})", "invalid: must is required [must]"},
        // additionalProperties: false unless declared
        Verdict{R"({"must": "x", "extra": 1})", "invalid: unknown field: extra [extra]"},
        // type
        Verdict{R"({"must": 1})", "invalid: must must be a string [must]"},
        Verdict{R"({"must": "x", "i": 1.5})", "invalid: i must be an integer (a whole number) [i]"},
        Verdict{R"({"must": "x", "i": "1"})", "invalid: i must be an integer (a whole number) [i]"},
        Verdict{R"({"must": "x", "n": "1"})", "invalid: n must be a number [n]"},
        Verdict{R"({"must": "x", "b": 0})", "invalid: b must be true or false [b]"},
        Verdict{R"({"must": "x", "arr": {}})", "invalid: arr must be an array [arr]"},
        Verdict{R"({"must": "x", "obj": []})", "invalid: obj must be an object [obj]"},
        Verdict{R"({"must": "x", "s": null})", "invalid: s must be a string [s]"},
        Verdict{R"({"must": "x", "s": "t", "i": -3, "n": 1e300, "b": true, "arr": [1, "a"], "obj": {"k": null}})",
                "ok"},
        // enum, const
        Verdict{R"({"must": "x", "color": "red"})", "ok"},
        Verdict{R"({"must": "x", "color": "blue"})", "invalid: color must be one of [\"red\",\"green\"] [color]"},
        Verdict{R"({"must": "x", "level": 2})", "ok"},
        Verdict{R"({"must": "x", "level": 4})", "invalid: level must be one of [1,2,3] [level]"},
        Verdict{R"({"must": "x", "kind": "gadget"})", "ok"},
        Verdict{R"({"must": "x", "kind": "widget"})", "invalid: kind must be \"gadget\" [kind]"},
        // minLength, maxLength (characters, not bytes)
        Verdict{R"({"must": "x", "code": "é€"})", "ok"},
        Verdict{R"({"must": "x", "code": "a"})", "invalid: code must be at least 2 characters long [code]"},
        Verdict{R"({"must": "x", "code": "abcde"})", "invalid: code must be at most 4 characters long [code]"},
        Verdict{R"({"must": "x", "nonempty": ""})", "invalid: nonempty must not be empty [nonempty]"},
        // pattern
        Verdict{R"({"must": "x", "sku": "AB-12"})", "ok"},
        Verdict{R"({"must": "x", "sku": "ab-12"})", "invalid: sku must match the pattern \"^[A-Z0-9-]{3,32}$\" [sku]"},
        Verdict{R"({"must": "x", "sku": "AB"})", "invalid: sku must match the pattern \"^[A-Z0-9-]{3,32}$\" [sku]"},
        // format: an annotation only
        Verdict{R"({"must": "x", "email": "not an address"})", "ok"},
        // minimum, maximum
        Verdict{R"({"must": "x", "qty": 1})", "ok"},
        Verdict{R"({"must": "x", "qty": 10})", "ok"},
        Verdict{R"({"must": "x", "qty": 0})", "invalid: qty must be at least 1 [qty]"},
        Verdict{R"({"must": "x", "qty": 11})", "invalid: qty must be at most 10 [qty]"},
        // exclusiveMinimum, exclusiveMaximum: as numbers, and as draft 4's booleans
        Verdict{R"({"must": "x", "ratio": 0.5})", "ok"},
        Verdict{R"({"must": "x", "ratio": 0})", "invalid: ratio must be greater than 0 [ratio]"},
        Verdict{R"({"must": "x", "ratio": 1})", "invalid: ratio must be less than 1 [ratio]"},
        Verdict{R"({"must": "x", "old": 4.9})", "ok"},
        Verdict{R"({"must": "x", "old": 0})", "invalid: old must be greater than 0 [old]"},
        Verdict{R"({"must": "x", "old": 5})", "invalid: old must be less than 5 [old]"},
        // multipleOf
        Verdict{R"({"must": "x", "step": 15})", "ok"},
        Verdict{R"({"must": "x", "step": 7})", "invalid: step must be a multiple of 5 [step]"},
        // items, minItems, maxItems
        Verdict{R"({"must": "x", "tags": ["a", "bc"]})", "ok"},
        Verdict{R"({"must": "x", "tags": []})", "invalid: tags must have at least 1 items [tags]"},
        Verdict{R"({"must": "x", "tags": ["a", "b", "c"]})", "invalid: tags must have at most 2 items [tags]"},
        Verdict{R"({"must": "x", "tags": ["a", 2]})", "invalid: tags[1] must be a string [tags]"},
        Verdict{R"({"must": "x", "tags": ["abcd"]})", "invalid: tags[0] must be at most 3 characters long [tags]"},
        // nested properties, required, additionalProperties
        Verdict{R"({"must": "x", "dims": {"w": 2}})", "ok"},
        Verdict{R"({"must": "x", "dims": {}})", "invalid: dims.w is required [dims]"},
        Verdict{R"({"must": "x", "dims": {"w": -1}})", "invalid: dims.w must be at least 0 [dims]"},
        Verdict{R"({"must": "x", "dims": {"w": 1, "h": 2}})", "invalid: unknown field: dims.h [dims]"},
        // nested objects follow JSON Schema: other keys allowed unless declared otherwise
        Verdict{R"({"must": "x", "free": {"a": 1, "b": 2}})", "ok"},
        Verdict{R"({"must": "x", "free": {"a": "1"}})", "invalid: free.a must be an integer (a whole number) [free]"},
        // not an object at all
        Verdict{R"([1])", "invalid: body must be a JSON object []"}));

}  // namespace

TEST(SchemaTable, UnknownFieldsAreKeptWhenTheSchemaAdmitsThem) {
  Table open(R"({"properties": {"name": {"type": "string"}}, "additionalProperties": true})", "open");
  std::string id;
  ASSERT_TRUE(open.create(R"({"name": "n", "color": "red", "size": {"w": 1}})", &id).ok());
  EXPECT_EQ(open.get(id).value_or(""), R"({"id":")" + id + R"(","name":"n","color":"red","size":{"w":1},)"
                                           R"("created_at":"2026-03-04T05:06:07.123456Z","updated_at":"2026-03-04T05:06:07.123456Z"})");
  ASSERT_TRUE(open.update(id, R"({"name": "m"})").ok());
  EXPECT_EQ(open.get(id).value_or(""), R"({"id":")" + id + R"(","name":"m",)"
                                           R"("created_at":"2026-03-04T05:06:07.123456Z","updated_at":"2026-03-04T05:06:09.000001Z"})");

  Table typed(R"({"properties": {"name": {"type": "string"}}, "additionalProperties": {"type": "integer"}})", "typed");
  EXPECT_TRUE(typed.create(R"({"name": "n", "a": 1})").ok());
  EXPECT_EQ(status_text(typed.create(R"({"name": "n", "a": "1"})")),
            "invalid: a must be an integer (a whole number) [a]");
}

// --- apply time ----------------------------------------------------------

TEST(SchemaTable, UniqueFieldsAreEnforcedAtApplyTime) {
  Table t(kProducts);
  std::string a, b;
  ASSERT_TRUE(t.create(R"({"sku": "AB-1", "name": "A", "price_cents": 1})", &a).ok());
  // Both requests pass their builder; the second event to be applied loses.
  DatabaseEvent e1, e2;
  auto body = parse(R"({"sku": "AB-2", "name": "B", "price_cents": 1})");
  ASSERT_TRUE(t.ops().create_event(body, e1).ok());
  ASSERT_TRUE(t.ops().create_event(body, e2).ok());
  EXPECT_TRUE(t.apply(e1, kTimestamp).ok());
  EXPECT_EQ(status_text(t.apply(e2, kTimestamp)), "conflict: sku is already in use [sku]");
  b = std::string(e1.entity_id());
  // An update may keep its own value, not take another's.
  EXPECT_TRUE(t.update(a, R"({"sku": "AB-1", "name": "A2", "price_cents": 2})").ok());
  EXPECT_EQ(status_text(t.update(a, R"({"sku": "AB-2", "name": "A2", "price_cents": 2})")),
            "conflict: sku is already in use [sku]");
  // The same id twice is a conflict on the id, even with a taken sku.
  std::string again = R"({"id": ")" + a + R"(", "sku": "AB-2", "name": "X", "price_cents": 1})";
  EXPECT_EQ(status_text(t.apply_event(Operation::kInsert, again)), "conflict: an entity with id " + a +
                                                                        " exists in products [id]");
  EXPECT_EQ(t.count(), 2);
  // The index backs the check (and reads by sku).
  SQLite::Statement plan(t.db(), "EXPLAIN QUERY PLAN SELECT id FROM products WHERE sku = 'AB-1'");
  ASSERT_TRUE(plan.executeStep());
  EXPECT_NE(plan.getColumn(3).getString().find("products.unique.sku"), std::string::npos)
      << plan.getColumn(3).getString();
}

TEST(SchemaTable, AnOmittedOptionalUniqueFieldIsNoConflict) {
  Table t(R"({"properties": {"name": {"type": "string"}, "code": {"type": "integer"}}, "x-unique": ["code", "name"]})",
          "coded");
  EXPECT_TRUE(t.create(R"({"name": "a"})").ok());
  EXPECT_TRUE(t.create(R"({"name": "b"})").ok());
  EXPECT_TRUE(t.create(R"({"name": "c", "code": 1})").ok());
  EXPECT_EQ(status_text(t.create(R"({"name": "d", "code": 1})")), "conflict: code is already in use [code]");
  EXPECT_EQ(status_text(t.create(R"({"name": "a", "code": 2})")), "conflict: name is already in use [name]");
}

TEST(SchemaTable, EventsFromOtherProducersAreCheckedAgainstTheDeclaration) {
  Table t(kProducts);
  std::string id = "0190aaaa-0000-7000-8000-000000000001";
  EXPECT_EQ(status_text(t.apply_event(Operation::kInsert, R"({"id": ")" + id +
                                                               R"(", "sku": "AB-1", "name": "A", "price_cents": "1"})")),
            "invalid: price_cents must be an integer (a whole number) [price_cents]");
  EXPECT_EQ(status_text(t.apply_event(Operation::kInsert,
                                      R"({"id": ")" + id + R"(", "sku": "AB-1", "name": "A", "price_cents": 1, "x": 1})")),
            "invalid: unknown field: x [x]");
  EXPECT_EQ(status_text(t.apply_event(Operation::kInsert, R"({"sku": "AB-1", "name": "A", "price_cents": 1})")),
            "invalid: event data.id must be a string of 1 to 256 bytes [id]");
  EXPECT_EQ(t.count(), 0);
  // A valid one, without the defaulted field: the default fills it.
  ASSERT_TRUE(t.apply_event(Operation::kInsert, R"({"id": ")" + id +
                                                    R"(", "sku": "AB-1", "name": "A", "price_cents": 1,)"
                                                    R"( "created_at": "whatever"})")
                  .ok());
  EXPECT_EQ(t.get(id).value_or(""), R"({"id":")" + id + R"(","name":"A","price_cents":1,"sku":"AB-1","stock":0,)"
                                        R"("created_at":"2026-03-04T05:06:07.123456Z","updated_at":"2026-03-04T05:06:07.123456Z"})");
}

// An event built by an older version of the table was checked by that
// version's declaration: it is applied as that version applied it, by its
// types alone, so a node that replays it after an upgrade stores what nodes
// that applied it before the upgrade stored.
TEST(SchemaTable, EventsOfAnOlderVersionAreAppliedByTheirTypesAlone) {
  Table t(R"({"properties": {"name": {"type": "string", "maxLength": 3}, "size": {"type": "integer"}},
              "required": ["name", "size"], "x-version": 2})",
          "items");
  std::string event = R"({"id": "0190aaaa-0000-7000-8000-000000000002", "name": "longer than three"})";
  EXPECT_EQ(status_text(t.apply_event(Operation::kInsert, event, 2)),
            "invalid: name must be at most 3 characters long [name]");
  EXPECT_EQ(status_text(t.apply_event(Operation::kInsert, event, 0)),
            "invalid: name must be at most 3 characters long [name]");
  EXPECT_TRUE(t.apply_event(Operation::kInsert, event, 1).ok());
  EXPECT_EQ(status_text(t.apply_event(Operation::kUpdate,
                                      R"({"id": "0190aaaa-0000-7000-8000-000000000002", "name": 5})", 1)),
            "invalid: event data.name must be a string [name]");
}

// An event that carries this declaration's fingerprint at its version was
// checked by the node that built it against the same declaration (the host
// holds those of another one): it is applied by its types, and the costly
// checks (patterns) run once per write, where the request came in.
TEST(SchemaTable, EventsCheckedByTheirBuilderWithThisDeclarationAreAppliedByTheirTypes) {
  Table t(R"({"properties": {"name": {"type": "string", "maxLength": 3}}, "required": ["name"], "x-version": 2})",
          "items");
  const std::string fingerprint = t.plugin().schema_sha256;
  ASSERT_EQ(fingerprint.size(), 16u);
  std::string event = R"({"id": "0190aaaa-0000-7000-8000-000000000003", "name": "longer than three"})";
  EXPECT_EQ(status_text(t.apply_event(Operation::kInsert, event, 2, "0123456789abcdef")),
            "invalid: name must be at most 3 characters long [name]");
  EXPECT_EQ(status_text(t.apply_event(Operation::kInsert, event, 2)),
            "invalid: name must be at most 3 characters long [name]");
  EXPECT_TRUE(t.apply_event(Operation::kInsert, event, 2, fingerprint).ok());
  // Types are still checked.
  EXPECT_EQ(status_text(t.apply_event(Operation::kUpdate, R"({"id": "0190aaaa-0000-7000-8000-000000000003", "name": 5})",
                                      2, fingerprint)),
            "invalid: event data.name must be a string [name]");
}

// --- declarations that are refused ---------------------------------------

struct Refusal {
  const char* table;
  const char* declaration;
  const char* message;  // what follows "factory threw: "
};

class BadDeclaration : public ::testing::TestWithParam<Refusal> {};

TEST_P(BadDeclaration, IsRefusedWithOneLine) {
  EXPECT_EQ(declaration_error(GetParam().table, GetParam().declaration), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    SchemaPlugin, BadDeclaration,
    ::testing::Values(
        Refusal{"products", R"({"properties": {"a": {"type": "string"}}, "oneOf": []})",
                "table products: unsupported keyword \"oneOf\""},
        Refusal{"products", R"({"properties": {"a": {"type": "string", "anyOf": []}}})",
                "table products: property a: unsupported keyword \"anyOf\""},
        Refusal{"products", R"({"properties": {"a": {"type": "array", "items": {"type": "string", "uniqueItems": true}}}})",
                "table products: property a[]: unsupported keyword \"uniqueItems\""},
        Refusal{"products", R"({"properties": {"a": {"type": "object", "properties": {"b": {"$ref": "#"}}}}})",
                "table products: property a.b: unsupported keyword \"$ref\""},
        Refusal{"products", R"([])", "table products: the declaration must be a JSON Schema object"},
        Refusal{"products", R"({"type": "array", "properties": {"a": {"type": "string"}}})",
                "table products: \"type\" must be \"object\""},
        Refusal{"products", R"({})", "table products: \"properties\" is required: an object of property schemas"},
        Refusal{"products", R"({"properties": {}})", "table products: \"properties\" must declare at least one property"},
        Refusal{"Products", R"({"properties": {"a": {"type": "string"}}})",
                "table \"Products\": a table name must match ^[a-z][a-z0-9_]{0,62}$ (and not begin with sqlite_)"},
        Refusal{"sqlite_x", R"({"properties": {"a": {"type": "string"}}})",
                "table \"sqlite_x\": a table name must match ^[a-z][a-z0-9_]{0,62}$ (and not begin with sqlite_)"},
        Refusal{"products", R"({"properties": {"id": {"type": "string"}}})",
                "table products: property \"id\" is reserved: id, created_at and updated_at are set by the server"},
        Refusal{"products", R"({"properties": {"Created_At": {"type": "string"}}})",
                "table products: property \"Created_At\" is reserved: id, created_at and updated_at are set by the "
                "server"},
        Refusal{"products", R"({"properties": {"a-b": {"type": "string"}}})",
                "table products: property name \"a-b\" must match ^[A-Za-z][A-Za-z0-9_]{0,62}$"},
        Refusal{"products", R"({"properties": {"Name": {"type": "string"}, "name": {"type": "string"}}})",
                "table products: properties \"Name\" and \"name\" differ only in case (column names ignore case)"},
        Refusal{"products", R"({"properties": {"a": {"minLength": 1}}})",
                "table products: property a: \"type\" is required: string, integer, number, boolean, array or object"},
        Refusal{"products", R"({"properties": {"a": {"type": ["string", "null"]}}})",
                "table products: property a: \"type\" must be one of string, integer, number, boolean, array, object "
                "(a single name)"},
        Refusal{"products", R"({"properties": {"a": {"type": "integer", "maxLength": 3}}})",
                "table products: property a: \"maxLength\" applies to string properties, not to integer"},
        Refusal{"products", R"({"properties": {"a": {"type": "string", "minimum": 3}}})",
                "table products: property a: \"minimum\" applies to integer and number properties, not to string"},
        Refusal{"products", R"({"properties": {"a": {"type": "string", "minLength": -1}}})",
                "table products: property a: \"minLength\" must be an integer from 0 to 4294967295"},
        Refusal{"products", R"({"properties": {"a": {"type": "number", "maximum": "9"}}})",
                "table products: property a: \"maximum\" must be a number"},
        Refusal{"products", R"({"properties": {"a": {"type": "number", "exclusiveMinimum": true}}})",
                "table products: property a: \"exclusiveMinimum\" as true or false (draft 4) needs \"minimum\"; or give "
                "the bound itself as a number"},
        Refusal{"products", R"({"properties": {"a": {"type": "number", "multipleOf": 0}}})",
                "table products: property a: \"multipleOf\" must be a number greater than 0"},
        Refusal{"products", R"({"properties": {"a": {"type": "string", "pattern": "^\\d+$"}}})",
                "table products: property a: \"pattern\" \"^\\d+$\" has an escape RapidJSON's validator does not "
                "support (at character 3); the syntax is RapidJSON's: literals, ., [a-z], [^a-z], (...), |, ?, *, +, "
                "{n,m}, ^, $ and the escapes \\. \\* \\+ \\? \\| \\^ \\$ \\( \\) \\[ \\] \\{ \\} \\\\ \\t \\n \\r \\f "
                "\\v (not \\d, \\w, \\s, \\- or \\/)"},
        // RapidJSON's engine would recurse forever on the first value it checks.
        Refusal{"products", R"({"properties": {"a": {"type": "array", "items": {"type": "string", "pattern": "^(a?)+$"}}}})",
                "table products: property a[]: \"pattern\" \"^(a?)+$\" repeats with *, + or {n,} something that can "
                "match nothing (as \"(a*)*\" or \"(a?)+\" do), which RapidJSON's validator cannot check; write it "
                "without the inner repeat (\"a*\")"},
        Refusal{"products", R"j({"properties": {"a": {"type": "string", "pattern": "x()"}}})j",
                "table products: property a: \"pattern\" \"x()\" has an empty group or alternative (at character 3); "
                "the syntax is RapidJSON's: literals, ., [a-z], [^a-z], (...), |, ?, *, +, {n,m}, ^, $ and the escapes "
                "\\. \\* \\+ \\? \\| \\^ \\$ \\( \\) \\[ \\] \\{ \\} \\\\ \\t \\n \\r \\f \\v (not \\d, \\w, \\s, \\- or "
                "\\/)"},
        Refusal{"products", R"({"properties": {"a": {"type": "string", "pattern": "(ab"}}})",
                "table products: property a: \"pattern\" \"(ab\" has a \"(\" without its \")\""},
        Refusal{"products", R"({"properties": {"a": {"type": "string", "enum": []}}})",
                "table products: property a: \"enum\" must be a non-empty array of values"},
        Refusal{"products", R"({"properties": {"a": {"type": "string", "enum": ["x"], "const": "x"}}})",
                "table products: property a: use \"enum\" or \"const\", not both"},
        Refusal{"products", R"({"properties": {"a": {"type": "string", "readOnly": true}}})",
                "table products: property a: \"readOnly\" is not supported on declared properties: only id, "
                "created_at and updated_at are read-only (set by the server)"},
        Refusal{"products", R"({"properties": {"a": {"type": "string", "x-unique": true}}})",
                "table products: property a: \"x-unique\" belongs at the top of the table's declaration"},
        Refusal{"products", R"({"properties": {"a": {"type": "array", "items": [{"type": "string"}]}}})",
                "table products: property a: \"items\" must be a schema object (one schema for every item)"},
        Refusal{"products", R"({"properties": {"a": {"type": "object", "properties": {"b": {"type": "string", "default": "x"}}}}})",
                "table products: property a.b: \"default\" is supported on top-level properties only"},
        Refusal{"products", R"({"properties": {"a": {"type": "integer", "minimum": 0, "default": -1}}})",
                "table products: property a: \"default\" does not match the property's schema: value must be at least 0"},
        Refusal{"products", R"({"properties": {"a": {"type": "string", "default": 5}}})",
                "table products: property a: \"default\" does not match the property's schema: value must be a string"},
        Refusal{"products", R"({"properties": {"a": {"type": "string"}}, "required": ["b"]})",
                "table products: \"required\" names \"b\", which is not in \"properties\""},
        Refusal{"products", R"({"properties": {"a": {"type": "string"}}, "required": "a"})",
                "table products: \"required\" must be an array of property names"},
        Refusal{"products", R"({"properties": {"a": {"type": "string"}}, "x-unique": ["b"]})",
                "table products: \"x-unique\" names \"b\", which is not in \"properties\""},
        Refusal{"products", R"({"properties": {"a": {"type": "array"}}, "x-unique": ["a"]})",
                "table products: \"x-unique\" names \"a\", an array: only string, integer, number and boolean "
                "properties can be unique"},
        Refusal{"products", R"({"properties": {"a": {"type": "string"}}, "x-unique": ["a", "a"]})",
                "table products: \"x-unique\" names \"a\" twice"},
        Refusal{"products", R"({"properties": {"a": {"type": "string"}}, "x-version": 0})",
                "table products: \"x-version\" must be an integer from 1 to 1000000"},
        Refusal{"products", R"({"properties": {"a": {"type": "string"}}, "additionalProperties": "yes"})",
                "table products: \"additionalProperties\" must be true, false or a schema object"},
        Refusal{"products", R"({"properties": {"a": {"type": "string"}}, "default": {}})",
                "table products: \"default\" is supported on properties, not on a table"}));

// --- changes of the declaration ------------------------------------------

namespace {

const std::string kV1 = R"({"properties": {"sku": {"type": "string", "maxLength": 8}, "name": {"type": "string"}},
  "required": ["sku"], "x-unique": ["sku"]})";

std::vector<std::string> indexes(SQLite::Database& db, const std::string& table) {
  SQLite::Statement q(db, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL "
                          "ORDER BY name");
  q.bind(1, table);
  std::vector<std::string> out;
  while (q.executeStep()) out.push_back(q.getColumn(0).getString());
  return out;
}

std::string prepare_error(Table& t, const std::string& declaration) {
  try {
    t.load(declaration, "products", 1);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(prepared)";
}

}  // namespace

TEST(SchemaChanges, CompatibleChangesKeepTheRowsAndMigrateTheTable) {
  Table t(kV1);
  std::string a, b;
  ASSERT_TRUE(t.create(R"({"sku": "A1", "name": "first"})", &a).ok());
  ASSERT_TRUE(t.create(R"({"sku": "B1"})", &b).ok());
  // Version 2: a new optional property, a new property with a default, a
  // relaxed maxLength, name unique too (its values are), sku no longer unique.
  t.load(R"({"properties": {"sku": {"type": "string", "maxLength": 20}, "name": {"type": "string"},
      "note": {"type": "string"}, "rank": {"type": "integer", "default": 5},
      "flags": {"type": "array", "default": ["new"]}},
      "required": ["sku", "rank"], "x-unique": ["name"], "x-version": 2})",
         "products", 1);
  EXPECT_EQ(t.plugin().version, 2);
  EXPECT_EQ(t.get(a).value_or(""), R"({"id":")" + a + R"(","flags":["new"],"name":"first","rank":5,"sku":"A1",)"
                                       R"("created_at":"2026-03-04T05:06:07.123456Z","updated_at":"2026-03-04T05:06:07.123456Z"})");
  EXPECT_EQ(indexes(t.db(), "products"), std::vector<std::string>{"products.unique.name"});
  EXPECT_TRUE(t.create(R"({"sku": "A-LONGER-THAN-8", "note": "n"})").ok());
  EXPECT_TRUE(t.create(R"({"sku": "A1"})").ok()) << "sku is no longer unique";
  EXPECT_EQ(status_text(t.create(R"({"sku": "C1", "name": "first"})")), "conflict: name is already in use [name]");
  // Preparing again (a restart) changes nothing.
  t.load(R"({"properties": {"sku": {"type": "string", "maxLength": 20}, "name": {"type": "string"},
      "note": {"type": "string"}, "rank": {"type": "integer", "default": 5},
      "flags": {"type": "array", "default": ["new"]}},
      "required": ["sku", "rank"], "x-unique": ["name"], "x-version": 2})",
         "products", 2);
  EXPECT_EQ(t.count(), 4);
}

TEST(SchemaChanges, ARemovedPropertyKeepsItsColumnAndComesBackWithIt) {
  Table t(kV1);
  std::string a;
  ASSERT_TRUE(t.create(R"({"sku": "A1", "name": "first"})", &a).ok());
  t.load(R"({"properties": {"sku": {"type": "string"}}, "x-version": 2})", "products", 1);
  EXPECT_EQ(t.get(a).value_or(""), R"({"id":")" + a + R"(","sku":"A1",)"
                                       R"("created_at":"2026-03-04T05:06:07.123456Z","updated_at":"2026-03-04T05:06:07.123456Z"})");
  EXPECT_EQ(status_text(t.create(R"({"sku": "B", "name": "x"})")), "invalid: unknown field: name [name]");
  t.load(R"({"properties": {"sku": {"type": "string"}, "name": {"type": "string"}}, "x-version": 3})", "products", 2);
  EXPECT_NE(t.get(a).value_or("").find(R"("name":"first")"), std::string::npos);
}

TEST(SchemaChanges, IncompatibleChangesAreRefusedWithOneLineAndChangeNothing) {
  Table t(kV1);
  ASSERT_TRUE(t.create(R"({"sku": "A1", "name": "same"})").ok());
  ASSERT_TRUE(t.create(R"({"sku": "B1", "name": "same"})").ok());
  EXPECT_EQ(prepare_error(t, R"({"properties": {"sku": {"type": "string"}, "name": {"type": "string"},
                                  "color": {"type": "string"}}, "required": ["color"], "x-version": 2})"),
            "table products: new required property \"color\" needs a \"default\" for the rows that exist (or declare "
            "it optional)");
  EXPECT_EQ(prepare_error(t, R"({"properties": {"sku": {"type": "string"}, "name": {"type": "integer"}}, "x-version": 2})"),
            "table products: property \"name\" is now integer (column type INTEGER) but its column holds TEXT: "
            "changing a property's type is not supported (declare a new property instead)");
  EXPECT_EQ(prepare_error(t, R"({"properties": {"sku": {"type": "string"}, "name": {"type": "object"}}, "x-version": 2})"),
            "table products: property \"name\" is now object (column type JSON_OBJECT_TEXT) but its column holds "
            "TEXT: changing a property's type is not supported (declare a new property instead)");
  EXPECT_EQ(prepare_error(t, R"({"properties": {"sku": {"type": "string"}, "name": {"type": "string"},
                                  "extra": {"type": "string", "default": "x"}}, "x-unique": ["sku", "name"], "x-version": 2})"),
            "table products: x-unique \"name\" cannot be declared: 1 value(s) are shared by several rows; make them "
            "unique first");
  // Nothing of the refused versions stayed: the table is version 1's.
  SQLite::Statement cols(t.db(), "SELECT group_concat(name, ',') FROM (SELECT name FROM pragma_table_info('products') "
                                 "ORDER BY name)");
  cols.executeStep();
  EXPECT_EQ(cols.getColumn(0).getString(), "created_at,id,name,sku,updated_at");
  EXPECT_EQ(indexes(t.db(), "products"), std::vector<std::string>{"products.unique.sku"});
  EXPECT_EQ(t.plugin().version, 1);
}

TEST(SchemaChanges, ATableMadeByAnotherPluginIsNotTakenOver) {
  test::TempDir dir;
  std::string path = dir.path() + "/t.db";
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("CREATE TABLE products (id TEXT PRIMARY KEY, sku TEXT)");
  }
  try {
    Table t(kV1, "products", path);
    FAIL() << "prepared";
  } catch (const std::exception& e) {
    EXPECT_EQ(std::string(e.what()),
              "table products: the existing table has no column created_at: it was not made by the schema plugin");
  }
}
