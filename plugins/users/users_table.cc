#include "users_table.h"

#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>
#include <random>

namespace users {

using clusterlite::DatabaseEvent;
using clusterlite::Operation;
using clusterlite::Status;

namespace {

constexpr size_t kMaxIdLength = 256;
constexpr size_t kMaxEmailLength = 254;

// A new id: a UUIDv7 (RFC 9562), 48 bits of Unix time in milliseconds, then
// random bits. Ids created close in time sort close together, so inserts land
// on the last pages of the table's B-tree instead of on random ones all over
// the file, and listings come out in creation order.
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

// Number of code points, or -1 if `s` contains a control character.
long count_chars(std::string_view s) {
  long n = 0;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7F) return -1;
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

bool blank(std::string_view s) { return s.find_first_not_of(" \t") == std::string_view::npos; }

std::string_view str(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

// Writes the row `q` stands on as one JSON object into `buf`, cleared first.
// RapidJSON reserves six bytes per character of a string before escaping it,
// so a buffer that starts small grows several times per row; a buffer reused
// across rows (get_all) grows once.
void write_row(SQLite::Statement& q, rapidjson::StringBuffer& buf) {
  buf.Clear();
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  static const char* kNames[] = {"id", "name", "email", "created_at", "updated_at"};
  for (int i = 0; i < 5; ++i) {
    w.Key(kNames[i]);
    auto col = q.getColumn(i);
    w.String(static_cast<const char*>(col.getText()), static_cast<rapidjson::SizeType>(col.getBytes()));
  }
  w.EndObject();
}

constexpr size_t kRowBufferBytes = 2048;

std::string row_json(SQLite::Statement& q) {
  rapidjson::StringBuffer buf(nullptr, kRowBufferBytes);
  write_row(q, buf);
  return {buf.GetString(), buf.GetSize()};
}

constexpr const char* kExists = "SELECT 1 FROM users WHERE id = ?";
constexpr const char* kUpdate = "UPDATE users SET name = ?, email = ?, updated_at = ? WHERE id = ?";
constexpr const char* kInsert = "INSERT INTO users (id, name, email, created_at, updated_at) VALUES (?, ?, ?, ?, ?)";
constexpr const char* kDelete = "DELETE FROM users WHERE id = ?";
constexpr const char* kGet = "SELECT id, name, email, created_at, updated_at FROM users WHERE id = ?";
constexpr const char* kPage =
    "SELECT id, name, email, created_at, updated_at FROM users WHERE id > ? ORDER BY id LIMIT ?";

// The verdict on an INSERT or UPDATE that stepped with result `rc`: a
// violated constraint is the caller's conflict; anything else is the
// database's failure and throws, so the applier retries the batch.
Status constraint_status(SQLite::Statement& q, int rc) {
  if (rc == SQLITE_DONE) return Status::Ok();
  switch (q.getExtendedErrorCode()) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return Status::Conflict("a user with this id exists", "id");
    case SQLITE_CONSTRAINT_UNIQUE:
      return Status::Conflict("email is already in use", "email");
    default:
      throw SQLite::Exception(q.getErrorMsg(), rc);
  }
}

}  // namespace

bool is_valid_email(std::string_view email) {
  if (email.size() < 3 || email.size() > kMaxEmailLength) return false;
  auto at = email.rfind('@');
  if (at == std::string_view::npos || at == 0 || at > 64) return false;
  std::string_view local = email.substr(0, at), domain = email.substr(at + 1);
  static const std::string_view kLocalExtra = ".!#$%&'*+/=?^_`{|}~-";
  for (char c : local)
    if (!std::isalnum(static_cast<unsigned char>(c)) && kLocalExtra.find(c) == std::string_view::npos) return false;
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) return false;
  // Domain: dot-separated labels of letters, digits and inner hyphens; at least two labels.
  if (domain.empty() || domain.size() > 253) return false;
  size_t labels = 0, start = 0;
  for (;;) {
    size_t dot = domain.find('.', start);
    std::string_view label = domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    ++labels;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return labels >= 2;
}

Status UsersTable::check_fields(const rapidjson::Value& obj, bool allow_read_only, const std::string* path_id) const {
  if (!obj.IsObject()) return Status::Invalid("body must be a JSON object");
  for (auto& m : obj.GetObject()) {
    std::string_view key = str(m.name);
    if (key == "name" || key == "email") continue;
    if (key == "id" && path_id) {
      if (!m.value.IsString() || str(m.value) != *path_id) return Status::Invalid("id does not match the URL", "id");
      continue;
    }
    if (allow_read_only && (key == "created_at" || key == "updated_at")) continue;
    return Status::Invalid("unknown field: " + std::string(key.substr(0, 64)), std::string(key.substr(0, 64)));
  }
  auto name = obj.FindMember("name");
  if (name == obj.MemberEnd()) return Status::Invalid("name is required", "name");
  if (!name->value.IsString()) return Status::Invalid("name must be a string", "name");
  long chars = count_chars(str(name->value));
  if (chars < 0) return Status::Invalid("name must not contain control characters", "name");
  if (chars == 0 || blank(str(name->value))) return Status::Invalid("name must not be empty", "name");
  if (static_cast<size_t>(chars) > max_name_length_)
    return Status::Invalid("name must be at most " + std::to_string(max_name_length_) + " characters", "name");
  auto email = obj.FindMember("email");
  if (email == obj.MemberEnd()) return Status::Invalid("email is required", "email");
  if (!email->value.IsString()) return Status::Invalid("email must be a string", "email");
  if (!is_valid_email(str(email->value))) return Status::Invalid("email is not a valid address", "email");
  return Status::Ok();
}

std::string UsersTable::entity_schema() const {
  // What check_fields() and the table enforce, as JSON Schema. The name's
  // length follows the max_name_length setting.
  return R"({"type":"object","title":"User","description":"A user of the sample users plugin.",)"
         R"("properties":{)"
         R"("id":{"type":"string","format":"uuid","readOnly":true,)"
         R"("description":"Generated UUIDv7: ids created later sort later."},)"
         R"("name":{"type":"string","minLength":1,"maxLength":)" +
         std::to_string(max_name_length_) +
         R"(,"description":"Not blank, no control characters."},)"
         R"("email":{"type":"string","format":"email","maxLength":254,)"
         R"("description":"Unique across the table, compared without regard to case."},)"
         R"("created_at":{"type":"string","format":"date-time","readOnly":true,)"
         R"("description":"RFC 3339 time of the creating event."},)"
         R"("updated_at":{"type":"string","format":"date-time","readOnly":true,)"
         R"("description":"RFC 3339 time of the latest event."}},)"
         R"("required":["name","email"],"additionalProperties":false,"x-unique":["email"]})";
}

void UsersTable::create_table(SQLite::Database& db) {
  db.exec(R"sql(
    CREATE TABLE IF NOT EXISTS users (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      email TEXT NOT NULL COLLATE NOCASE UNIQUE,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    ) WITHOUT ROWID
  )sql");
  // The indexes queries use (query()). IF NOT EXISTS: create_table runs at
  // every start-up (prepare_table's default), so a database made before
  // queries existed gets them then. They change no row and no verdict, so
  // the plugin's version stays.
  db.exec(R"sql(CREATE INDEX IF NOT EXISTS "users.search.name" ON users (name COLLATE NOCASE, id))sql");
  // The unique index on email holds each row's id too, but SQLite does not
  // answer `SELECT id` from it, so a search would read every match's row.
  db.exec(R"sql(CREATE INDEX IF NOT EXISTS "users.search.email" ON users (email COLLATE NOCASE, id))sql");
  db.exec(R"sql(CREATE INDEX IF NOT EXISTS "users.order.created_at" ON users (created_at, id))sql");
  db.exec(R"sql(CREATE INDEX IF NOT EXISTS "users.order.updated_at" ON users (updated_at, id))sql");
}

clusterlite::QueryFields UsersTable::query_fields() const {
  return {{"email", "name"}, {"name", "email"}, {"created_at", "updated_at"}};
}

Status UsersTable::query(SQLite::Database& db, const clusterlite::Query& query,
                         std::vector<clusterlite::QueryRow>& rows) {
  clusterlite::KeysetSelect select;
  select.columns = "id, name, email, created_at, updated_at";
  select.table = "users";
  for (auto& [field, value] : query.equal) {
    // email's column compares without regard to case (its collation); name's index does too.
    if (field == "email")
      select.equal.emplace_back("email = ?", value);
    else if (field == "name")
      select.equal.emplace_back("name = ? COLLATE NOCASE", value);
    else
      return Status::Invalid("users cannot be filtered by " + field, field);
  }
  select.search_columns = {"name", "email"};
  select.search = query.search;
  int sort_column = -1;
  if (query.order == "created_at" || query.order == "updated_at") {
    select.order_column = query.order;
    sort_column = query.order == "created_at" ? 3 : 4;
  } else if (query.order != "id") {
    return Status::Invalid("users cannot be ordered by " + query.order, "order");
  }
  select.descending = query.descending;
  if (!query.after_id.empty()) {
    select.has_cursor = true;
    select.after_id = query.after_id;
    if (sort_column >= 0) {
      rapidjson::Document v;
      if (v.Parse(query.after_value.data(), query.after_value.size()).HasParseError() || !v.IsString())
        return Status::Invalid("cursor does not hold a time for order " + query.order, "cursor");
      select.after_value = std::string(str(v));
    }
  }
  select.limit = query.limit;
  clusterlite::run_keyset_select(db, statements_, select, sort_column, write_row, rows, kRowBufferBytes);
  return Status::Ok();
}

Status UsersTable::create_event(const rapidjson::Value& body, DatabaseEvent& event) {
  if (Status s = check_fields(body, false, nullptr); !s.ok()) return s;
  event.operation = Operation::kInsert;
  auto& a = event.data.GetAllocator();
  event.data.SetObject();
  event.data.AddMember("id", rapidjson::Value(new_uuid_v7().c_str(), a), a);
  event.data.AddMember("name", rapidjson::Value(body["name"], a), a);
  event.data.AddMember("email", rapidjson::Value(body["email"], a), a);
  return Status::Ok();
}

Status UsersTable::update_event(const std::string& id, const rapidjson::Value& body, DatabaseEvent& event) {
  if (Status s = check_fields(body, true, &id); !s.ok()) return s;
  event.operation = Operation::kUpdate;
  auto& a = event.data.GetAllocator();
  event.data.SetObject();
  event.data.AddMember("id", rapidjson::Value(id.c_str(), static_cast<rapidjson::SizeType>(id.size()), a), a);
  event.data.AddMember("name", rapidjson::Value(body["name"], a), a);
  event.data.AddMember("email", rapidjson::Value(body["email"], a), a);
  return Status::Ok();
}

Status UsersTable::delete_event(const std::string& id, DatabaseEvent& event) {
  event.operation = Operation::kDelete;
  auto& a = event.data.GetAllocator();
  event.data.SetObject();
  event.data.AddMember("id", rapidjson::Value(id.c_str(), static_cast<rapidjson::SizeType>(id.size()), a), a);
  return Status::Ok();
}

Status UsersTable::handle_upsert(SQLite::Database& db, const DatabaseEvent& event) {
  std::string id(event.entity_id());
  if (id.empty() || id.size() > kMaxIdLength) return Status::Invalid("event data.id must be a non-empty string", "id");
  // Events may come from any Kafka producer: check them as strictly as requests,
  // but ignore fields this version does not know.
  auto name = event.data.FindMember("name"), email = event.data.FindMember("email");
  if (name == event.data.MemberEnd() || !name->value.IsString())
    return Status::Invalid("event data.name must be a string", "name");
  if (email == event.data.MemberEnd() || !email->value.IsString())
    return Status::Invalid("event data.email must be a string", "email");
  long chars = count_chars(str(name->value));
  if (chars <= 0 || blank(str(name->value)) || static_cast<size_t>(chars) > max_name_length_)
    return Status::Invalid("event data.name is empty, too long or has control characters", "name");
  if (!is_valid_email(str(email->value))) return Status::Invalid("email is not a valid address", "email");
  std::string name_s(str(name->value)), email_s(str(email->value));

  // One statement per event: the table's constraints find a taken id or
  // email, so the common case costs no extra lookups. The strings outlive the
  // statement's use (`q` is reset first), so SQLite need not copy them.
  if (event.operation == Operation::kInsert) {
    auto q = statements_.use(db, kInsert);
    q->bindNoCopy(1, id);
    q->bindNoCopy(2, name_s);
    q->bindNoCopy(3, email_s);
    q->bindNoCopy(4, event.timestamp);
    q->bindNoCopy(5, event.timestamp);
    Status status = constraint_status(*q, q->tryExecuteStep());
    // SQLite may check the email index before the key: a taken id comes first.
    if (status.field() == "email" && exists(db, id)) return Status::Conflict("a user with this id exists", "id");
    return status;
  }
  // UPDATE: the user must exist.
  auto q = statements_.use(db, kUpdate);
  q->bindNoCopy(1, name_s);
  q->bindNoCopy(2, email_s);
  q->bindNoCopy(3, event.timestamp);
  q->bindNoCopy(4, id);
  Status status = constraint_status(*q, q->tryExecuteStep());
  if (status.ok() && db.getChanges() == 0) return Status::NotFound("no user with id " + id);
  return status;
}

bool UsersTable::exists(SQLite::Database& db, const std::string& id) {
  auto q = statements_.use(db, kExists);
  q->bind(1, id);
  return q->executeStep();
}

Status UsersTable::handle_delete(SQLite::Database& db, const DatabaseEvent& event) {
  std::string id(event.entity_id());
  if (id.empty()) return Status::Invalid("event data.id must be a non-empty string", "id");
  auto q = statements_.use(db, kDelete);
  q->bind(1, id);
  if (q->exec() == 0) return Status::NotFound("no user with id " + id);
  return Status::Ok();
}

std::optional<std::string> UsersTable::get(SQLite::Database& db, const std::string& id) {
  auto q = statements_.use(db, kGet);
  q->bind(1, id);
  if (!q->executeStep()) return std::nullopt;
  return row_json(*q);
}

std::vector<clusterlite::Row> UsersTable::get_all(SQLite::Database& db, const std::string& after, int limit) {
  auto q = statements_.use(db, kPage);
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

}  // namespace users
