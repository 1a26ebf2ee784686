#include "schema_table.h"

#include <SQLiteCpp/Statement.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <stdexcept>

namespace schema {

using clusterlite::DatabaseEvent;
using clusterlite::Operation;
using clusterlite::Status;
using rapidjson::Value;

namespace {

// The first 16 hex digits of the SHA-256 of `schema`, as the host computes
// the fingerprint it stamps on events (LoadedPlugin::schema_sha256).
std::string schema_fingerprint(const std::string& schema) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(schema.data(), schema.size(), digest, &length, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 failed");
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < 8 && i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

constexpr size_t kMaxIdLength = 256;
constexpr const char* kAdditionalColumn = "_additional";

// A new id: a UUIDv7 (RFC 9562), 48 bits of Unix time in milliseconds, then
// random bits, as the users plugin makes them: ids created close in time sort
// close together, so inserts land on the right edge of the table's B-tree.
std::string new_uuid_v7() {
  thread_local std::mt19937_64 rng{std::random_device{}() ^ (uint64_t{std::random_device{}()} << 32)};
  auto now = std::chrono::system_clock::now().time_since_epoch();
  auto ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
  uint64_t hi = (ms << 16) | 0x7000ULL | (rng() & 0x0FFFULL);
  uint64_t lo = (rng() & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

std::string quote(const std::string& identifier) { return "\"" + identifier + "\""; }

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string_view view(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

bool is_server_field(std::string_view key) { return key == "id" || key == "created_at" || key == "updated_at"; }

std::string json_text(const Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return {buf.GetString(), buf.GetSize()};
}

// Whether `v` has the JSON type the column of `p` holds.
bool fits(const Property& p, const Value& v) {
  switch (p.kind) {
    case Kind::kString: return v.IsString();
    case Kind::kInteger: return v.IsInt64();
    case Kind::kNumber: return v.IsNumber();
    case Kind::kBoolean: return v.IsBool();
    case Kind::kArray: return v.IsArray();
    case Kind::kObject: return v.IsObject();
  }
  return false;
}

void bind_value(SQLite::Statement& q, int index, const Property& p, const Value* v) {
  if (!v || v->IsNull()) {
    q.bind(index);
    return;
  }
  switch (p.kind) {
    case Kind::kString: q.bind(index, std::string(view(*v))); return;
    case Kind::kInteger: q.bind(index, static_cast<int64_t>(v->GetInt64())); return;
    case Kind::kNumber: q.bind(index, v->GetDouble()); return;
    case Kind::kBoolean: q.bind(index, v->GetBool() ? 1 : 0); return;
    case Kind::kArray:
    case Kind::kObject: q.bind(index, json_text(*v)); return;
  }
}

const Value* member(const Value& obj, const std::string& name) {
  auto it = obj.FindMember(Value(rapidjson::StringRef(name.data(), name.size())));
  return it != obj.MemberEnd() ? &it->value : nullptr;
}

constexpr size_t kRowBufferBytes = 2048;

std::string a_kind(Kind kind) {
  bool vowel = kind == Kind::kInteger || kind == Kind::kArray || kind == Kind::kObject;
  return std::string(vowel ? "an " : "a ") + kind_name(kind);
}

}  // namespace

SchemaTable::SchemaTable(Declaration declaration)
    : decl_(std::move(declaration)), validator_(*decl_.validation), fingerprint_(schema_fingerprint(decl_.entity_schema)) {
  const std::string t = quote(decl_.table);
  std::string columns = "id, created_at, updated_at";
  if (decl_.additional) columns += ", " + quote(kAdditionalColumn);
  first_property_column_ = decl_.additional ? 4 : 3;
  std::string set = "updated_at = ?";
  if (decl_.additional) set += ", " + quote(kAdditionalColumn) + " = ?";
  for (auto& p : decl_.properties) {
    columns += ", " + quote(p.name);
    set += ", " + quote(p.name) + " = ?";
  }
  int params = first_property_column_ + static_cast<int>(decl_.properties.size());
  std::string placeholders = "?";
  for (int i = 1; i < params; ++i) placeholders += ", ?";
  sql_insert_ = "INSERT INTO " + t + " (" + columns + ") VALUES (" + placeholders + ")";
  sql_update_ = "UPDATE " + t + " SET " + set + " WHERE id = ?";
  sql_delete_ = "DELETE FROM " + t + " WHERE id = ?";
  sql_get_ = "SELECT " + columns + " FROM " + t + " WHERE id = ?";
  sql_page_ = "SELECT " + columns + " FROM " + t + " WHERE id > ? ORDER BY id LIMIT ?";
  sql_exists_ = "SELECT 1 FROM " + t + " WHERE id = ?";
  for (auto& u : decl_.unique)
    sql_taken_.push_back("SELECT 1 FROM " + t + " WHERE " + quote(u) + " = ? AND id != ? LIMIT 1");
}

// --- the table and its changes -------------------------------------------

void SchemaTable::prepare_table(SQLite::Database& db, std::optional<int> stored_version) {
  const std::string t = quote(decl_.table);
  const std::string where = "table " + decl_.table + ": ";
  auto unique_index = [&](const std::string& field) { return decl_.table + ".unique." + field; };

  bool table_exists;
  {
    // Scoped: a statement left open on sqlite_master would lock DROP INDEX.
    SQLite::Statement has_table(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
    has_table.bind(1, decl_.table);
    table_exists = has_table.executeStep();
  }
  if (!table_exists) {
    std::string sql = "CREATE TABLE " + t + " (id TEXT PRIMARY KEY NOT NULL";
    for (auto& p : decl_.properties) sql += ", " + quote(p.name) + " " + p.column_type;
    if (decl_.additional) sql += ", " + quote(kAdditionalColumn) + " TEXT";
    sql += ", created_at TEXT NOT NULL, updated_at TEXT NOT NULL) WITHOUT ROWID";
    db.exec(sql);
    for (auto& u : decl_.unique)
      db.exec("CREATE UNIQUE INDEX " + quote(unique_index(u)) + " ON " + t + " (" + quote(u) + ")");
    prepare_query_indexes(db);
    return;
  }

  // The table exists: compare the declaration with what it holds, column by
  // column (PRAGMA table_info) and index by index, so that every node reaches
  // the same verdict whatever its history.
  std::map<std::string, std::string> columns;  // lower-case name -> declared type, upper case
  {
    SQLite::Statement info(db, "SELECT name, type FROM pragma_table_info(?)");
    info.bind(1, decl_.table);
    while (info.executeStep()) columns[lower(info.getColumn(0).getString())] = upper(info.getColumn(1).getString());
  }
  for (const char* server : {"id", "created_at", "updated_at"})
    if (!columns.count(server))
      throw std::runtime_error(where + "the existing table has no column " + server +
                               ": it was not made by the schema plugin");
  bool version_changed = !stored_version || *stored_version != decl_.version;
  for (auto& p : decl_.properties) {
    auto col = columns.find(lower(p.name));
    if (col != columns.end()) {
      if (col->second != p.column_type)
        throw std::runtime_error(where + "property \"" + p.name + "\" is now " + kind_name(p.kind) + " (column type " +
                                 p.column_type + ") but its column holds " + col->second +
                                 ": changing a property's type is not supported (declare a new property instead)");
      // Rows written while the property was undeclared or had no default
      // get it now, as replaying their events with this declaration would.
      if (p.has_default() && version_changed) {
        SQLite::Statement fill(db,
                               "UPDATE " + t + " SET " + quote(p.name) + " = ? WHERE " + quote(p.name) + " IS NULL");
        bind_value(fill, 1, p, p.default_value.get());
        fill.exec();
      }
      continue;
    }
    if (p.required && !p.has_default())
      throw std::runtime_error(where + "new required property \"" + p.name +
                               "\" needs a \"default\" for the rows that exist (or declare it optional)");
    db.exec("ALTER TABLE " + t + " ADD COLUMN " + quote(p.name) + " " + p.column_type);
    if (p.has_default()) {
      SQLite::Statement fill(db, "UPDATE " + t + " SET " + quote(p.name) + " = ?");
      bind_value(fill, 1, p, p.default_value.get());
      fill.exec();
    }
  }
  if (decl_.additional && !columns.count(kAdditionalColumn))
    db.exec("ALTER TABLE " + t + " ADD COLUMN " + quote(kAdditionalColumn) + " TEXT");

  // Unique indexes: the plugin's own, named <table>.unique.<field>.
  std::vector<std::string> indexes;
  {
    const std::string prefix = decl_.table + ".unique.";
    SQLite::Statement list(db, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?");
    list.bind(1, decl_.table);
    while (list.executeStep()) {
      std::string name = list.getColumn(0).getString();
      if (name.rfind(prefix, 0) == 0) indexes.push_back(name);
    }
  }
  for (auto& name : indexes) {
    bool wanted = std::any_of(decl_.unique.begin(), decl_.unique.end(),
                              [&](const std::string& u) { return unique_index(u) == name; });
    if (!wanted) db.exec("DROP INDEX " + quote(name));
  }
  for (auto& u : decl_.unique) {
    if (std::find(indexes.begin(), indexes.end(), unique_index(u)) != indexes.end()) continue;
    try {
      db.exec("CREATE UNIQUE INDEX " + quote(unique_index(u)) + " ON " + t + " (" + quote(u) + ")");
    } catch (const SQLite::Exception& e) {
      if ((e.getErrorCode() & 0xFF) != SQLITE_CONSTRAINT) throw;
      SQLite::Statement dups(db, "SELECT count(*) FROM (SELECT 1 FROM " + t + " WHERE " + quote(u) +
                                     " IS NOT NULL GROUP BY " + quote(u) + " HAVING count(*) > 1)");
      dups.executeStep();
      throw std::runtime_error(where + "x-unique \"" + u + "\" cannot be declared: " +
                               std::to_string(dups.getColumn(0).getInt64()) +
                               " value(s) are shared by several rows; make them unique first");
    }
  }
  prepare_query_indexes(db);
}

void SchemaTable::prepare_query_indexes(SQLite::Database& db) {
  const std::string t = quote(decl_.table);
  std::map<std::string, std::string> wanted;  // index name -> its column list
  for (auto* list : {&decl_.filters, &decl_.sorts})
    for (auto& f : *list) wanted[decl_.table + ".query." + f] = quote(f) + ", id";
  for (auto& f : decl_.search) wanted[decl_.table + ".search." + f] = quote(f) + " COLLATE NOCASE, id";
  std::vector<std::string> existing;
  {
    SQLite::Statement list(db, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?");
    list.bind(1, decl_.table);
    while (list.executeStep()) {
      std::string name = list.getColumn(0).getString();
      if (name.rfind(decl_.table + ".query.", 0) == 0 || name.rfind(decl_.table + ".search.", 0) == 0)
        existing.push_back(name);
    }
  }
  for (auto& name : existing)
    if (!wanted.count(name)) db.exec("DROP INDEX " + quote(name));
  // A sort field must hold a value in every row, or keyset paging would skip rows.
  for (auto& f : decl_.sorts) {
    if (f == "created_at" || f == "updated_at") continue;
    SQLite::Statement nulls(db, "SELECT count(*) FROM " + t + " WHERE " + quote(f) + " IS NULL");
    nulls.executeStep();
    if (int64_t n = nulls.getColumn(0).getInt64(); n > 0)
      throw std::runtime_error("table " + decl_.table + ": x-sort \"" + f + "\" cannot be declared: " +
                               std::to_string(n) + " row(s) have no value for it; give them one first");
  }
  for (auto& [name, columns] : wanted)
    if (std::find(existing.begin(), existing.end(), name) == existing.end())
      db.exec("CREATE INDEX " + quote(name) + " ON " + t + " (" + columns + ")");
}

// --- requests ------------------------------------------------------------

bool SchemaTable::lacks_a_default(const Value& data) const {
  for (auto& p : decl_.properties)
    if (p.has_default() && !member(data, p.name)) return true;
  return false;
}

void SchemaTable::fill_defaults(rapidjson::Document& data) const {
  auto& a = data.GetAllocator();
  for (auto& p : decl_.properties)
    if (p.has_default() && !member(data, p.name))
      data.AddMember(Value(p.name.c_str(), static_cast<rapidjson::SizeType>(p.name.size()), a),
                     Value(*p.default_value, a), a);
}

Status SchemaTable::build(const std::string& id, const Value& body, bool create, DatabaseEvent& event) const {
  if (!body.IsObject()) return Status::Invalid("body must be a JSON object");
  auto& a = event.data.GetAllocator();
  event.data.SetObject();
  event.data.AddMember("id", Value(id.c_str(), static_cast<rapidjson::SizeType>(id.size()), a), a);
  for (auto& m : body.GetObject()) {
    std::string_view key = view(m.name);
    if (is_server_field(key)) {
      if (create) return Status::Invalid(std::string(key) + " is set by the server", std::string(key));
      if (key == "id" && (!m.value.IsString() || view(m.value) != id))
        return Status::Invalid("id does not match the URL", "id");
      continue;  // created_at and updated_at of an update: the server's, ignored
    }
    event.data.AddMember(Value(m.name, a), Value(m.value, a), a);
  }
  fill_defaults(event.data);
  if (Problem p = validator_.check(event.data); !p.ok()) return Status::Invalid(p.message, p.field);
  for (auto& p : decl_.properties)
    if (const Value* v = member(event.data, p.name))
      if (std::string why = storage_problem(p, *v); !why.empty()) return Status::Invalid(why, p.name);
  event.operation = create ? Operation::kInsert : Operation::kUpdate;
  return Status::Ok();
}

Status SchemaTable::create_event(const Value& body, DatabaseEvent& event) {
  return build(new_uuid_v7(), body, true, event);
}

Status SchemaTable::update_event(const std::string& id, const Value& body, DatabaseEvent& event) {
  if (id.empty() || id.size() > kMaxIdLength) return Status::Invalid("id must be 1 to 256 bytes", "id");
  return build(id, body, false, event);
}

Status SchemaTable::delete_event(const std::string& id, DatabaseEvent& event) {
  event.operation = Operation::kDelete;
  auto& a = event.data.GetAllocator();
  event.data.SetObject();
  event.data.AddMember("id", Value(id.c_str(), static_cast<rapidjson::SizeType>(id.size()), a), a);
  return Status::Ok();
}

// --- applying events -----------------------------------------------------

int SchemaTable::bind_entity(SQLite::Statement& q, int first, const Value& data) const {
  int index = first;
  if (decl_.additional) {
    // Keys the declaration does not name, kept as one JSON object in the
    // order the event lists them; NULL when there are none.
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    bool any = false;
    for (auto& m : data.GetObject()) {
      std::string_view key = view(m.name);
      if (is_server_field(key) || decl_.find(std::string(key))) continue;
      if (!any) w.StartObject();
      any = true;
      w.Key(m.name.GetString(), m.name.GetStringLength());
      m.value.Accept(w);
    }
    if (any) {
      w.EndObject();
      q.bind(index, std::string(buf.GetString(), buf.GetSize()));
    } else {
      q.bind(index);
    }
    ++index;
  }
  for (auto& p : decl_.properties) bind_value(q, index++, p, member(data, p.name));
  return index;
}

Status SchemaTable::handle_upsert(SQLite::Database& db, const DatabaseEvent& event) {
  std::string id(event.entity_id());
  if (id.empty() || id.size() > kMaxIdLength)
    return Status::Invalid("event data.id must be a string of 1 to 256 bytes", "id");
  // Defaults fill what the event lacks (an event of another producer, or of
  // a version that did not declare them), as create_event would have.
  rapidjson::Document filled;
  const Value* data = &event.data;
  if (lacks_a_default(event.data)) {
    filled.CopyFrom(event.data, filled.GetAllocator());
    fill_defaults(filled);
    data = &filled;
  }
  // An event built by an older version of this table was checked by that
  // version's declaration when it was built, and nodes that applied it then
  // accepted it: apply it the same way here, checking only that each value
  // fits its column. Everything else (this version's events, events of other
  // producers) is checked against the declaration as strictly as a request.
  bool older_version = event.plugin_version >= 1 && event.plugin_version < decl_.version;
  // An event that carries this declaration's fingerprint at this version was
  // checked against this very declaration by the node that built it (the
  // host holds events of another declaration at the same version), so every
  // node applying it would reach that same verdict again: it is applied by
  // its types, as an older version's event is. Only events without it (other
  // producers) are checked in full here.
  bool checked_by_builder = event.plugin_version == decl_.version && !event.schema_sha256.empty() &&
                            event.schema_sha256 == fingerprint_;
  if (older_version || checked_by_builder) {
    for (auto& p : decl_.properties)
      if (const Value* v = member(*data, p.name); v && !fits(p, *v))
        return Status::Invalid("event data." + p.name + " must be " + a_kind(p.kind), p.name);
  } else if (Problem problem = validator_.check(*data); !problem.ok()) {
    return Status::Invalid(problem.message, problem.field);
  }
  for (auto& p : decl_.properties)
    if (const Value* v = member(*data, p.name))
      if (std::string why = storage_problem(p, *v); !why.empty()) return Status::Invalid(why, p.name);

  // One statement per event; the primary key and the unique indexes reach
  // the verdict on a taken id or value.
  if (event.operation == Operation::kInsert) {
    auto q = statements_.use(db, sql_insert_.c_str());
    q->bind(1, id);
    q->bind(2, event.timestamp);
    q->bind(3, event.timestamp);
    bind_entity(*q, 4, *data);
    return constraint_status(db, *q, q->tryExecuteStep(), id, *data, true);
  }
  auto q = statements_.use(db, sql_update_.c_str());
  q->bind(1, event.timestamp);
  int next = bind_entity(*q, 2, *data);
  q->bind(next, id);
  Status status = constraint_status(db, *q, q->tryExecuteStep(), id, *data, false);
  if (status.ok() && db.getChanges() == 0) return Status::NotFound("no entity with id " + id + " in " + decl_.table);
  return status;
}

Status SchemaTable::constraint_status(SQLite::Database& db, SQLite::Statement& q, int rc, const std::string& id,
                                      const Value& data, bool insert) {
  if (rc == SQLITE_DONE) return Status::Ok();
  int code = q.getExtendedErrorCode();
  if (code == SQLITE_CONSTRAINT_PRIMARYKEY)
    return Status::Conflict("an entity with id " + id + " exists in " + decl_.table, "id");
  if (code != SQLITE_CONSTRAINT_UNIQUE) throw SQLite::Exception(q.getErrorMsg(), rc);
  // SQLite may check a unique index before the key: a taken id comes first,
  // then the unique fields in name order.
  if (insert && exists(db, id)) return Status::Conflict("an entity with id " + id + " exists in " + decl_.table, "id");
  for (size_t i = 0; i < decl_.unique.size(); ++i) {
    const Property* p = decl_.find(decl_.unique[i]);
    const Value* v = member(data, decl_.unique[i]);
    if (!p || !v) continue;
    auto taken = statements_.use(db, sql_taken_[i].c_str());
    bind_value(*taken, 1, *p, v);
    taken->bind(2, id);
    if (taken->executeStep()) return Status::Conflict(p->name + " is already in use", p->name);
  }
  return Status::Conflict("a unique field is already in use");
}

bool SchemaTable::exists(SQLite::Database& db, const std::string& id) {
  auto q = statements_.use(db, sql_exists_.c_str());
  q->bind(1, id);
  return q->executeStep();
}

Status SchemaTable::handle_delete(SQLite::Database& db, const DatabaseEvent& event) {
  std::string id(event.entity_id());
  if (id.empty()) return Status::Invalid("event data.id must be a non-empty string", "id");
  auto q = statements_.use(db, sql_delete_.c_str());
  q->bind(1, id);
  if (q->exec() == 0) return Status::NotFound("no entity with id " + id + " in " + decl_.table);
  return Status::Ok();
}

// --- reads ---------------------------------------------------------------

// The row `q` stands on as the entity's JSON object: id, the properties in
// name order (a property without a value is left out), the undeclared keys
// when the schema admits them, created_at, updated_at. Integers and numbers
// come out as JSON numbers, booleans as true/false, objects and arrays as
// themselves.
void SchemaTable::write_row(SQLite::Statement& q, rapidjson::StringBuffer& buf) const {
  buf.Clear();
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto text = [&](int i) {
    auto col = q.getColumn(i);
    w.String(static_cast<const char*>(col.getText()), static_cast<rapidjson::SizeType>(col.getBytes()));
  };
  w.StartObject();
  w.Key("id");
  text(0);
  int i = first_property_column_;
  for (auto& p : decl_.properties) {
    auto col = q.getColumn(i++);
    if (col.isNull()) continue;
    w.Key(p.name.c_str(), static_cast<rapidjson::SizeType>(p.name.size()));
    switch (p.kind) {
      case Kind::kString:
        w.String(static_cast<const char*>(col.getText()), static_cast<rapidjson::SizeType>(col.getBytes()));
        break;
      case Kind::kInteger:
        if (col.isFloat())
          w.Double(col.getDouble());
        else
          w.Int64(col.getInt64());
        break;
      case Kind::kNumber: w.Double(col.getDouble()); break;
      case Kind::kBoolean: w.Bool(col.getInt64() != 0); break;
      case Kind::kArray:
      case Kind::kObject:
        w.RawValue(static_cast<const char*>(col.getText()), static_cast<size_t>(col.getBytes()),
                   p.kind == Kind::kArray ? rapidjson::kArrayType : rapidjson::kObjectType);
        break;
    }
  }
  if (decl_.additional) {
    auto col = q.getColumn(3);
    if (!col.isNull()) {
      rapidjson::Document extra;
      extra.Parse(static_cast<const char*>(col.getText()), static_cast<size_t>(col.getBytes()));
      if (!extra.HasParseError() && extra.IsObject())
        for (auto& m : extra.GetObject()) {
          // A key declared since the row was written is served from its column.
          if (is_server_field(view(m.name)) || decl_.find(std::string(view(m.name)))) continue;
          w.Key(m.name.GetString(), m.name.GetStringLength());
          m.value.Accept(w);
        }
    }
  }
  w.Key("created_at");
  text(1);
  w.Key("updated_at");
  text(2);
  w.EndObject();
}

std::optional<std::string> SchemaTable::get(SQLite::Database& db, const std::string& id) {
  auto q = statements_.use(db, sql_get_.c_str());
  q->bind(1, id);
  if (!q->executeStep()) return std::nullopt;
  rapidjson::StringBuffer buf(nullptr, kRowBufferBytes);
  write_row(*q, buf);
  return std::string(buf.GetString(), buf.GetSize());
}

std::vector<clusterlite::Row> SchemaTable::get_all(SQLite::Database& db, const std::string& after, int limit) {
  auto q = statements_.use(db, sql_page_.c_str());
  q->bind(1, after);
  q->bind(2, limit);
  std::vector<clusterlite::Row> rows;
  rows.reserve(static_cast<size_t>(std::clamp(limit, 0, 1024)));
  rapidjson::StringBuffer buf(nullptr, kRowBufferBytes);
  while (q->executeStep()) {
    write_row(*q, buf);
    rows.push_back({q->getColumn(0).getString(), std::string(buf.GetString(), buf.GetSize())});
  }
  return rows;
}

Status SchemaTable::query(SQLite::Database& db, const clusterlite::Query& query,
                          std::vector<clusterlite::QueryRow>& rows) {
  using clusterlite::SqlValue;
  auto contains = [](const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  // A parameter's text as a value of property p's column; false when it is not one.
  auto typed = [](const Property& p, const std::string& text, SqlValue& out) {
    const char* begin = text.c_str();
    char* end = nullptr;
    errno = 0;
    switch (p.kind) {
      case Kind::kString: out = text; return true;
      case Kind::kInteger: {
        long long v = std::strtoll(begin, &end, 10);
        if (text.empty() || *end != '\0' || errno == ERANGE || std::isspace(static_cast<unsigned char>(text[0])))
          return false;
        out = static_cast<int64_t>(v);
        return true;
      }
      case Kind::kNumber: {
        double v = std::strtod(begin, &end);
        if (text.empty() || *end != '\0' || !std::isfinite(v) || std::isspace(static_cast<unsigned char>(text[0])))
          return false;
        out = v;
        return true;
      }
      case Kind::kBoolean:
        if (text != "true" && text != "false") return false;
        out = static_cast<int64_t>(text == "true" ? 1 : 0);
        return true;
      default: return false;
    }
  };

  clusterlite::KeysetSelect select;
  std::string columns = "id, created_at, updated_at";
  if (decl_.additional) columns += ", " + quote(kAdditionalColumn);
  for (auto& p : decl_.properties) columns += ", " + quote(p.name);
  select.columns = columns;
  select.table = quote(decl_.table);
  for (auto& [field, value] : query.equal) {
    const Property* p = decl_.find(field);
    if (!p || !contains(decl_.filters, field)) return Status::Invalid(decl_.table + " cannot be filtered by " + field, field);
    SqlValue v;
    if (!typed(*p, value, v))
      return Status::Invalid(field + " must be " + a_kind(p->kind) +
                                 (p->kind == Kind::kBoolean ? " (true or false)" : ""),
                             field);
    select.equal.emplace_back(quote(field) + " = ?", std::move(v));
  }
  for (auto& f : decl_.search) select.search_columns.push_back(quote(f));
  select.search = query.search;

  int sort_column = -1;  // in the select list
  const Property* sort_property = nullptr;
  if (query.order == "created_at" || query.order == "updated_at") {
    sort_column = query.order == "created_at" ? 1 : 2;
  } else if (query.order != "id") {
    sort_property = decl_.find(query.order);
    if (!sort_property || !contains(decl_.sorts, query.order))
      return Status::Invalid(decl_.table + " cannot be ordered by " + query.order, "order");
    sort_column = first_property_column_ + static_cast<int>(sort_property - decl_.properties.data());
  }
  if (sort_column >= 0) select.order_column = quote(query.order);
  select.descending = query.descending;
  if (!query.after_id.empty()) {
    select.has_cursor = true;
    select.after_id = query.after_id;
    if (sort_column >= 0) {
      rapidjson::Document v;
      bool ok = !v.Parse(query.after_value.data(), query.after_value.size()).HasParseError();
      if (ok && (!sort_property || sort_property->kind == Kind::kString) && v.IsString())
        select.after_value = std::string(view(v));
      else if (ok && sort_property && sort_property->kind == Kind::kInteger && v.IsInt64())
        select.after_value = static_cast<int64_t>(v.GetInt64());
      else if (ok && sort_property && sort_property->kind != Kind::kString && v.IsNumber())
        select.after_value = v.GetDouble();
      else
        return Status::Invalid("cursor does not hold a value of " + query.order, "cursor");
    }
  }
  select.limit = query.limit;
  clusterlite::run_keyset_select(
      db, statements_, select, sort_column,
      [this](SQLite::Statement& row, rapidjson::StringBuffer& buf) { write_row(row, buf); }, rows, kRowBufferBytes);
  return Status::Ok();
}

}  // namespace schema
