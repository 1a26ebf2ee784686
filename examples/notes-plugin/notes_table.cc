#include "notes_table.h"

#include <SQLiteCpp/Statement.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <random>

namespace notes {

using clusterlite::DatabaseEvent;
using clusterlite::Operation;
using clusterlite::Status;

namespace {

std::string new_uuid_v4() {
  thread_local std::mt19937_64 rng{std::random_device{}() ^ (uint64_t{std::random_device{}()} << 32)};
  uint64_t hi = (rng() & 0xFFFFFFFFFFFF0FFFULL) | 0x4000ULL;
  uint64_t lo = (rng() & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

// UTF-8 characters in `s` (continuation bytes are not counted).
size_t count_chars(const rapidjson::Value& s) {
  size_t n = 0;
  for (rapidjson::SizeType i = 0; i < s.GetStringLength(); ++i)
    if ((static_cast<unsigned char>(s.GetString()[i]) & 0xC0) != 0x80) ++n;
  return n;
}

std::string row_json(SQLite::Statement& q) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  static const char* kNames[] = {"id", "title", "body", "created_at", "updated_at"};
  for (int i = 0; i < 5; ++i) {
    w.Key(kNames[i]);
    auto col = q.getColumn(i);
    w.String(static_cast<const char*>(col.getText()), static_cast<rapidjson::SizeType>(col.getBytes()));
  }
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

std::string string_member(const rapidjson::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

}  // namespace

void NotesTable::create_table(SQLite::Database& db) {
  db.exec(R"sql(
    CREATE TABLE IF NOT EXISTS notes (
      id TEXT PRIMARY KEY,
      title TEXT NOT NULL,
      body TEXT NOT NULL,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )
  )sql");
}

Status NotesTable::fill(const rapidjson::Value& request, const std::string& id, DatabaseEvent& event) const {
  if (!request.IsObject()) return Status::Invalid("body must be a JSON object");
  for (auto& m : request.GetObject()) {
    std::string key(m.name.GetString(), m.name.GetStringLength());
    if (key == "title" || key == "body") continue;
    if (key == "id" && m.value.IsString() && m.value.GetString() == id) continue;
    return Status::Invalid("unknown field: " + key.substr(0, 64), key.substr(0, 64));
  }
  auto title = request.FindMember("title");
  if (title == request.MemberEnd() || !title->value.IsString())
    return Status::Invalid("title must be a string", "title");
  size_t chars = count_chars(title->value);
  if (chars == 0 || chars > max_title_length_)
    return Status::Invalid("title must be 1 to " + std::to_string(max_title_length_) + " characters", "title");
  auto body = request.FindMember("body");
  if (body != request.MemberEnd() && !body->value.IsString()) return Status::Invalid("body must be a string", "body");

  auto& a = event.data.GetAllocator();
  event.data.SetObject();
  event.data.AddMember("id", rapidjson::Value(id.c_str(), static_cast<rapidjson::SizeType>(id.size()), a), a);
  event.data.AddMember("title", rapidjson::Value(title->value, a), a);
  event.data.AddMember("body", body == request.MemberEnd() ? rapidjson::Value("", a) : rapidjson::Value(body->value, a),
                       a);
  return Status::Ok();
}

Status NotesTable::create_event(const rapidjson::Value& body, DatabaseEvent& event) {
  event.operation = Operation::kInsert;
  return fill(body, new_uuid_v4(), event);
}

Status NotesTable::update_event(const std::string& id, const rapidjson::Value& body, DatabaseEvent& event) {
  event.operation = Operation::kUpdate;
  return fill(body, id, event);
}

Status NotesTable::delete_event(const std::string& id, DatabaseEvent& event) {
  event.operation = Operation::kDelete;
  auto& a = event.data.GetAllocator();
  event.data.SetObject();
  event.data.AddMember("id", rapidjson::Value(id.c_str(), static_cast<rapidjson::SizeType>(id.size()), a), a);
  return Status::Ok();
}

// Deterministic: the verdict depends only on the event and the table, and the
// times stored come from the event, never from this node's clock. The title
// length is checked when the event is built, not here, so nodes configured
// with different limits still apply the same events.
Status NotesTable::handle_upsert(SQLite::Database& db, const DatabaseEvent& event) {
  std::string id(event.entity_id());
  auto title = event.data.FindMember("title");
  if (id.empty()) return Status::Invalid("event data.id must be a non-empty string", "id");
  if (title == event.data.MemberEnd() || !title->value.IsString())
    return Status::Invalid("event data.title must be a string", "title");

  SQLite::Statement exists(db, "SELECT 1 FROM notes WHERE id = ?");
  exists.bind(1, id);
  bool present = exists.executeStep();
  if (event.operation == Operation::kInsert && present) return Status::Conflict("a note with this id exists", "id");
  if (event.operation == Operation::kUpdate && !present) return Status::NotFound("no note with id " + id);

  SQLite::Statement q(
      db, present ? "UPDATE notes SET title = ?2, body = ?3, updated_at = ?4 WHERE id = ?1"
                  : "INSERT INTO notes (id, title, body, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)");
  q.bind(1, id);
  q.bind(2, std::string(title->value.GetString(), title->value.GetStringLength()));
  q.bind(3, string_member(event.data, "body"));
  q.bind(4, event.timestamp);
  q.exec();
  return Status::Ok();
}

Status NotesTable::handle_delete(SQLite::Database& db, const DatabaseEvent& event) {
  SQLite::Statement q(db, "DELETE FROM notes WHERE id = ?");
  q.bind(1, std::string(event.entity_id()));
  if (q.exec() == 0) return Status::NotFound("no note with id " + std::string(event.entity_id()));
  return Status::Ok();
}

std::optional<std::string> NotesTable::get(SQLite::Database& db, const std::string& id) {
  SQLite::Statement q(db, "SELECT id, title, body, created_at, updated_at FROM notes WHERE id = ?");
  q.bind(1, id);
  if (!q.executeStep()) return std::nullopt;
  return row_json(q);
}

std::vector<clusterlite::Row> NotesTable::get_all(SQLite::Database& db, const std::string& after, int limit) {
  SQLite::Statement q(db, "SELECT id, title, body, created_at, updated_at FROM notes WHERE id > ? ORDER BY id LIMIT ?");
  q.bind(1, after);
  q.bind(2, limit);
  std::vector<clusterlite::Row> rows;
  while (q.executeStep()) rows.push_back({q.getColumn(0).getString(), row_json(q)});
  return rows;
}

}  // namespace notes
