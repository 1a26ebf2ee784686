#include "notes_table.h"

#include <SQLiteCpp/Statement.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <random>

namespace notes {

using clusterlite::DatabaseEvent;
using clusterlite::Operation;
using clusterlite::Status;

namespace {

// A new id: a UUIDv7 (RFC 9562), 48 bits of Unix time in milliseconds, then
// random bits. New rows land at the right edge of the table's B-tree instead
// of on random pages, and listings come out in creation order. Generated when
// the event is built (never when it is applied), so every node stores the same.
std::string new_uuid_v7() {
  thread_local std::mt19937_64 rng{std::random_device{}() ^ (uint64_t{std::random_device{}()} << 32)};
  auto ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  uint64_t hi = (ms << 16) | 0x7000ULL | (rng() & 0x0FFFULL);
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

// Every statement, prepared once per connection by the StatementCache (keyed
// by these pointers).
constexpr const char* kInsert =
    "INSERT INTO notes (id, title, body, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)";
constexpr const char* kUpdate = "UPDATE notes SET title = ?2, body = ?3, updated_at = ?4 WHERE id = ?1";
constexpr const char* kDelete = "DELETE FROM notes WHERE id = ?";
constexpr const char* kGet = "SELECT id, title, body, created_at, updated_at FROM notes WHERE id = ?";
constexpr const char* kPage =
    "SELECT id, title, body, created_at, updated_at FROM notes WHERE id > ? ORDER BY id LIMIT ?";

}  // namespace

void NotesTable::create_table(SQLite::Database& db) {
  db.exec(R"sql(
    CREATE TABLE IF NOT EXISTS notes (
      id TEXT PRIMARY KEY,
      title TEXT NOT NULL,
      body TEXT NOT NULL,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    ) WITHOUT ROWID
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
  return fill(body, new_uuid_v7(), event);
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
//
// One statement per event: the INSERT itself finds a taken id (the primary
// key), and an UPDATE that changes no row finds a missing one; no lookup runs
// first. A failed statement changes nothing.
Status NotesTable::handle_upsert(SQLite::Database& db, const DatabaseEvent& event) {
  std::string id(event.entity_id());
  auto title = event.data.FindMember("title");
  if (id.empty()) return Status::Invalid("event data.id must be a non-empty string", "id");
  if (title == event.data.MemberEnd() || !title->value.IsString())
    return Status::Invalid("event data.title must be a string", "title");
  std::string title_s(title->value.GetString(), title->value.GetStringLength());
  std::string body_s = string_member(event.data, "body");

  // The strings outlive the statement's use (`q` is reset first), so SQLite
  // need not copy them.
  bool insert = event.operation == Operation::kInsert;
  auto q = statements_.use(db, insert ? kInsert : kUpdate);
  q->bindNoCopy(1, id);
  q->bindNoCopy(2, title_s);
  q->bindNoCopy(3, body_s);
  q->bindNoCopy(4, event.timestamp);
  int rc = q->tryExecuteStep();
  if (rc != SQLITE_DONE) {
    if (q->getExtendedErrorCode() == SQLITE_CONSTRAINT_PRIMARYKEY)
      return Status::Conflict("a note with this id exists", "id");
    // Anything else is the database's failure: throw, and the applier retries.
    throw SQLite::Exception(q->getErrorMsg(), rc);
  }
  if (!insert && db.getChanges() == 0) return Status::NotFound("no note with id " + id);
  return Status::Ok();
}

Status NotesTable::handle_delete(SQLite::Database& db, const DatabaseEvent& event) {
  std::string id(event.entity_id());
  auto q = statements_.use(db, kDelete);
  q->bindNoCopy(1, id);
  if (q->exec() == 0) return Status::NotFound("no note with id " + id);
  return Status::Ok();
}

// get also runs on the applier's connection (the answer to a write this node
// took): the cache keys statements by connection, and nothing here writes.
std::optional<std::string> NotesTable::get(SQLite::Database& db, const std::string& id) {
  auto q = statements_.use(db, kGet);
  q->bind(1, id);
  if (!q->executeStep()) return std::nullopt;
  return row_json(*q);
}

std::vector<clusterlite::Row> NotesTable::get_all(SQLite::Database& db, const std::string& after, int limit) {
  auto q = statements_.use(db, kPage);
  q->bind(1, after);
  q->bind(2, limit);
  std::vector<clusterlite::Row> rows;
  while (q->executeStep()) rows.push_back({q->getColumn(0).getString(), row_json(*q)});
  return rows;
}

}  // namespace notes
