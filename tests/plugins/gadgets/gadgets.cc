// gadgets: a test plugin built in two versions from this one file
// (GADGETS_VERSION 1 and 2), for the tests of rolling plugin upgrades.
//
//   version 1: a gadget is {id, name, serial}; any serial is accepted.
//   version 2: an event built by version 2 or later is refused (409) when
//              another gadget has its serial, a verdict that depends on the
//              table's content, so only the apply step can reach it. Events
//              of version 1 are still applied by version 1's rules. Version 2
//              also adds a column, migrating a table version 1 made.
//
// A third build (v3-broken, version 3) fails in prepare_table, as a bad
// migration would.
//
// A node that ran version 1 on a version 2 event would accept a duplicate
// that every version 2 node refuses: the host must hold such events instead.
#include <clusterlite/plugin.h>

#include <SQLiteCpp/Statement.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <random>

#ifndef GADGETS_VERSION
#error "build with -DGADGETS_VERSION=1 or 2"
#endif
// Two builds of one version differ only in this text (tests swap them live).
#ifndef GADGETS_BUILD_TAG
#define GADGETS_BUILD_TAG "a"
#endif

namespace {

using clusterlite::DatabaseEvent;
using clusterlite::Operation;
using clusterlite::Row;
using clusterlite::Status;

std::string random_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 32; ++i) id.push_back(kHex[rng() & 15]);
  return id;
}

std::string to_json(const std::string& id, const std::string& name, const std::string& serial) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("id");
  w.String(id.c_str());
  w.Key("name");
  w.String(name.c_str());
  w.Key("serial");
  w.String(serial.c_str());
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

// The string member `key` of `v`, or nullptr when absent, not a string or empty.
const rapidjson::Value* text(const rapidjson::Value& v, const char* key) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(key);
  if (it == v.MemberEnd() || !it->value.IsString() || it->value.GetStringLength() == 0 ||
      it->value.GetStringLength() > 100)
    return nullptr;
  return &it->value;
}

class Gadgets : public clusterlite::TableOperations {
 public:
  std::string table_name() const override { return "gadgets"; }

  void create_table(SQLite::Database& db) override { prepare_table(db, std::nullopt); }

  void prepare_table(SQLite::Database& db, std::optional<int> stored_version) override {
#ifdef GADGETS_FAIL_PREPARE
    // A build whose migration fails halfway: what it wrote must not stay.
    db.exec("CREATE TABLE IF NOT EXISTS gadgets_migration_scratch (x)");
    throw std::runtime_error("migration refused");
#endif
    db.exec("CREATE TABLE IF NOT EXISTS gadgets (id TEXT PRIMARY KEY, name TEXT NOT NULL, serial TEXT NOT NULL)");
#if GADGETS_VERSION >= 2
    // Version 2 keeps a note beside each gadget: a table made by version 1
    // (or new) gets the column once.
    if (!stored_version || *stored_version < 2) {
      SQLite::Statement has(db, "SELECT 1 FROM pragma_table_info('gadgets') WHERE name = 'note'");
      if (!has.executeStep()) db.exec("ALTER TABLE gadgets ADD COLUMN note TEXT NOT NULL DEFAULT ''");
    }
    db.exec("CREATE INDEX IF NOT EXISTS gadgets_serial ON gadgets (serial)");
#else
    (void)stored_version;
#endif
  }

  Status handle_upsert(SQLite::Database& db, const DatabaseEvent& event) override {
    auto* name = text(event.data, "name");
    auto* serial = text(event.data, "serial");
    std::string id(event.entity_id());
    if (id.empty() || !name || !serial) return Status::Invalid("a gadget needs id, name and serial");
#if GADGETS_VERSION >= 2
    // Version 2's rule, for the events version 2 built; older events keep
    // version 1's verdict.
    if (event.plugin_version >= 2) {
      SQLite::Statement dup(db, "SELECT 1 FROM gadgets WHERE serial = ? AND id != ?");
      dup.bind(1, serial->GetString());
      dup.bind(2, id);
      if (dup.executeStep()) return Status::Conflict("serial already in use", "serial");
    }
#endif
    if (event.operation == Operation::kUpdate) {
      SQLite::Statement up(db, "UPDATE gadgets SET name = ?, serial = ? WHERE id = ?");
      up.bind(1, name->GetString());
      up.bind(2, serial->GetString());
      up.bind(3, id);
      if (up.exec() == 0) return Status::NotFound("no gadget " + id);
      return Status::Ok();
    }
    SQLite::Statement in(db, "INSERT INTO gadgets (id, name, serial) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING");
    in.bind(1, id);
    in.bind(2, name->GetString());
    in.bind(3, serial->GetString());
    if (in.exec() == 0) return Status::Conflict("gadget " + id + " exists");
    return Status::Ok();
  }

  Status handle_delete(SQLite::Database& db, const DatabaseEvent& event) override {
    SQLite::Statement del(db, "DELETE FROM gadgets WHERE id = ?");
    del.bind(1, std::string(event.entity_id()));
    if (del.exec() == 0) return Status::NotFound("no gadget " + std::string(event.entity_id()));
    return Status::Ok();
  }

  std::optional<std::string> get(SQLite::Database& db, const std::string& id) override {
    SQLite::Statement q(db, "SELECT name, serial FROM gadgets WHERE id = ?");
    q.bind(1, id);
    if (!q.executeStep()) return std::nullopt;
    return to_json(id, q.getColumn(0).getString(), q.getColumn(1).getString());
  }

  std::vector<Row> get_all(SQLite::Database& db, const std::string& after, int limit) override {
    SQLite::Statement q(db, "SELECT id, name, serial FROM gadgets WHERE id > ? ORDER BY id LIMIT ?");
    q.bind(1, after);
    q.bind(2, limit);
    std::vector<Row> rows;
    while (q.executeStep()) {
      std::string id = q.getColumn(0).getString();
      rows.push_back({id, to_json(id, q.getColumn(1).getString(), q.getColumn(2).getString())});
    }
    return rows;
  }

  Status create_event(const rapidjson::Value& body, DatabaseEvent& event) override {
    return build(random_id(), Operation::kInsert, body, event);
  }

  Status update_event(const std::string& id, const rapidjson::Value& body, DatabaseEvent& event) override {
    return build(id, Operation::kUpdate, body, event);
  }

  Status delete_event(const std::string& id, DatabaseEvent& event) override {
    event.operation = Operation::kDelete;
    event.data.SetObject();
    event.data.AddMember("id", rapidjson::Value(id.c_str(), event.data.GetAllocator()), event.data.GetAllocator());
    return Status::Ok();
  }

 private:
  static Status build(const std::string& id, Operation op, const rapidjson::Value& body, DatabaseEvent& event) {
    auto* name = text(body, "name");
    if (!name) return Status::Invalid("name must be a string of 1 to 100 characters", "name");
    auto* serial = text(body, "serial");
    if (!serial) return Status::Invalid("serial must be a string of 1 to 100 characters", "serial");
    auto& a = event.data.GetAllocator();
    event.operation = op;
    event.data.SetObject();
    event.data.AddMember("id", rapidjson::Value(id.c_str(), a), a);
    event.data.AddMember("name", rapidjson::Value(*name, a), a);
    event.data.AddMember("serial", rapidjson::Value(*serial, a), a);
    return Status::Ok();
  }
};

std::unique_ptr<clusterlite::TableOperations> make_gadgets(const clusterlite::PluginContext& ctx) {
  if (ctx.settings.IsObject() && ctx.settings.MemberCount() > 0)
    throw std::invalid_argument("gadgets takes no settings");
  ctx.log(clusterlite::LogLevel::kDebug, "gadgets version " + std::to_string(GADGETS_VERSION) + ", build " +
                                             GADGETS_BUILD_TAG);
  return std::make_unique<Gadgets>();
}

}  // namespace

CLUSTERLITE_PLUGIN(make_gadgets, GADGETS_VERSION)
