// products: a test plugin that describes its entity with a JSON Schema, for
// the browser tests of the web UI's schema-driven views (tests/e2e). It
// stands in for a table declared in the configuration: a product is
//
//   id           string, generated (UUIDv7, so listings come out in creation order), read-only
//   sku          string, required, ^[A-Z]{3}-[0-9]{4}$, unique (409 with field "sku")
//   name         string, required, 1..120 characters, not blank, no control characters
//   price_cents  integer, required, 0..100000000
//   stock        integer, 0..1000000, default 0
//   category     "hardware" | "software" | "service", default "hardware"
//   active       boolean, default true
//   description  string, at most 2000 characters (line breaks allowed), default ""
//   created_at, updated_at   RFC 3339 times of the events, read-only
//
// Every rule the schema states is enforced here, with the problem's `field`
// naming the input it concerns, so the UI's checks and the server's agree.
#include <clusterlite/plugin.h>

#include <SQLiteCpp/Statement.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <regex>

namespace {

using clusterlite::DatabaseEvent;
using clusterlite::Operation;
using clusterlite::Row;
using clusterlite::Status;

constexpr const char* kSchema = R"j({"type":"object","title":"Product",)j"
    R"j("description":"A product of the e2e fixture plugin.",)j"
    R"j("properties":{)j"
    R"j("id":{"type":"string","format":"uuid","readOnly":true,"title":"ID"},)j"
    R"j("sku":{"type":"string","title":"SKU","pattern":"^[A-Z]{3}-[0-9]{4}$","minLength":8,"maxLength":8,)j"
    R"j("description":"Three capital letters, a hyphen and four digits, e.g. ABC-1234."},)j"
    R"j("name":{"type":"string","title":"Name","minLength":1,"maxLength":120},)j"
    R"j("price_cents":{"type":"integer","title":"Price (cents)","minimum":0,"maximum":100000000},)j"
    R"j("stock":{"type":"integer","title":"Stock","minimum":0,"maximum":1000000,"default":0},)j"
    R"j("category":{"type":"string","title":"Category","enum":["hardware","software","service"],)j"
    R"j("default":"hardware"},)j"
    R"j("active":{"type":"boolean","title":"Active","default":true},)j"
    R"j("description":{"type":"string","title":"Description","maxLength":2000,"default":""},)j"
    R"j("created_at":{"type":"string","format":"date-time","readOnly":true,"title":"Created"},)j"
    R"j("updated_at":{"type":"string","format":"date-time","readOnly":true,"title":"Updated"}},)j"
    R"j("required":["sku","name","price_cents"],"additionalProperties":false,"x-unique":["sku"]})j";

const char* const kCategories[] = {"hardware", "software", "service"};

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

std::string_view str(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

// Code points in `s`, or -1 when it holds a control character (line breaks
// and tabs allowed only when `multiline`).
long count_chars(std::string_view s, bool multiline) {
  long n = 0;
  for (unsigned char c : s) {
    if ((c < 0x20 && !(multiline && (c == '\n' || c == '\t' || c == '\r'))) || c == 0x7F) return -1;
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

// A product after its defaults were filled in.
struct Product {
  std::string sku, name, category, description;
  int64_t price_cents = 0, stock = 0;
  bool active = true;
};

Status check_integer(const rapidjson::Value& v, const char* field, int64_t lo, int64_t hi, int64_t& out) {
  std::string f(field);
  if (!v.IsInt64()) return Status::Invalid(f + " must be a whole number", f);
  out = v.GetInt64();
  if (out < lo) return Status::Invalid(f + " must be at least " + std::to_string(lo), f);
  if (out > hi) return Status::Invalid(f + " must be at most " + std::to_string(hi), f);
  return Status::Ok();
}

// Checks a request body (or an event's data) against the schema and fills
// `p`. `read_only_ok`: id, created_at and updated_at may be present (an
// update echoing a read row, or event data); `path_id`: the id they must match.
Status parse(const rapidjson::Value& body, bool read_only_ok, const std::string* path_id, Product& p) {
  if (!body.IsObject()) return Status::Invalid("body must be a JSON object");
  static const std::regex kSku("^[A-Z]{3}-[0-9]{4}$");
  bool has_sku = false, has_name = false, has_price = false;
  for (auto& m : body.GetObject()) {
    std::string key(str(m.name).substr(0, 64));
    const auto& v = m.value;
    if (key == "sku") {
      if (!v.IsString() || !std::regex_match(std::string(str(v)), kSku))
        return Status::Invalid("sku must be three capital letters, a hyphen and four digits (ABC-1234)", key);
      p.sku = std::string(str(v));
      has_sku = true;
    } else if (key == "name") {
      if (!v.IsString()) return Status::Invalid("name must be a string", key);
      long n = count_chars(str(v), false);
      if (n < 0) return Status::Invalid("name must not contain control characters", key);
      if (n == 0 || str(v).find_first_not_of(' ') == std::string_view::npos)
        return Status::Invalid("name must not be empty", key);
      if (n > 120) return Status::Invalid("name must be at most 120 characters", key);
      p.name = std::string(str(v));
      has_name = true;
    } else if (key == "price_cents") {
      if (Status s = check_integer(v, "price_cents", 0, 100000000, p.price_cents); !s.ok()) return s;
      has_price = true;
    } else if (key == "stock") {
      if (Status s = check_integer(v, "stock", 0, 1000000, p.stock); !s.ok()) return s;
    } else if (key == "category") {
      bool ok = false;
      if (v.IsString())
        for (const char* c : kCategories) ok = ok || str(v) == c;
      if (!ok) return Status::Invalid("category must be hardware, software or service", key);
      p.category = std::string(str(v));
    } else if (key == "active") {
      if (!v.IsBool()) return Status::Invalid("active must be true or false", key);
      p.active = v.GetBool();
    } else if (key == "description") {
      if (!v.IsString()) return Status::Invalid("description must be a string", key);
      long n = count_chars(str(v), true);
      if (n < 0) return Status::Invalid("description must not contain control characters", key);
      if (n > 2000) return Status::Invalid("description must be at most 2000 characters", key);
      p.description = std::string(str(v));
    } else if (key == "id" && (read_only_ok || path_id)) {
      if (path_id && (!v.IsString() || str(v) != *path_id)) return Status::Invalid("id does not match the URL", key);
    } else if ((key == "created_at" || key == "updated_at") && read_only_ok) {
      continue;
    } else if (key == "id" || key == "created_at" || key == "updated_at") {
      return Status::Invalid(key + " is set by the server", key);
    } else {
      return Status::Invalid("unknown field: " + key, key);
    }
  }
  if (!has_sku) return Status::Invalid("sku is required", "sku");
  if (!has_name) return Status::Invalid("name is required", "name");
  if (!has_price) return Status::Invalid("price_cents is required", "price_cents");
  if (p.category.empty()) p.category = kCategories[0];
  return Status::Ok();
}

void write_product(rapidjson::Writer<rapidjson::StringBuffer>& w, const std::string& id, const Product& p) {
  w.Key("id");
  w.String(id.c_str(), static_cast<rapidjson::SizeType>(id.size()));
  w.Key("sku");
  w.String(p.sku.c_str(), static_cast<rapidjson::SizeType>(p.sku.size()));
  w.Key("name");
  w.String(p.name.c_str(), static_cast<rapidjson::SizeType>(p.name.size()));
  w.Key("price_cents");
  w.Int64(p.price_cents);
  w.Key("stock");
  w.Int64(p.stock);
  w.Key("category");
  w.String(p.category.c_str(), static_cast<rapidjson::SizeType>(p.category.size()));
  w.Key("active");
  w.Bool(p.active);
  w.Key("description");
  w.String(p.description.c_str(), static_cast<rapidjson::SizeType>(p.description.size()));
}

constexpr const char* kColumns = "id, sku, name, price_cents, stock, category, active, description, created_at, updated_at";

std::string row_json(SQLite::Statement& q) {
  Product p;
  std::string id = q.getColumn(0).getString();
  p.sku = q.getColumn(1).getString();
  p.name = q.getColumn(2).getString();
  p.price_cents = q.getColumn(3).getInt64();
  p.stock = q.getColumn(4).getInt64();
  p.category = q.getColumn(5).getString();
  p.active = q.getColumn(6).getInt() != 0;
  p.description = q.getColumn(7).getString();
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  write_product(w, id, p);
  w.Key("created_at");
  w.String(q.getColumn(8).getString().c_str());
  w.Key("updated_at");
  w.String(q.getColumn(9).getString().c_str());
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

class Products : public clusterlite::TableOperations {
 public:
  std::string table_name() const override { return "products"; }
  std::string entity_schema() const override { return kSchema; }

  void create_table(SQLite::Database& db) override {
    db.exec(R"sql(
      CREATE TABLE IF NOT EXISTS products (
        id TEXT PRIMARY KEY,
        sku TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        price_cents INTEGER NOT NULL,
        stock INTEGER NOT NULL,
        category TEXT NOT NULL,
        active INTEGER NOT NULL,
        description TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) WITHOUT ROWID
    )sql");
  }

  Status handle_upsert(SQLite::Database& db, const DatabaseEvent& event) override {
    std::string id(event.entity_id());
    if (id.empty()) return Status::Invalid("event data.id must be a non-empty string", "id");
    Product p;
    if (Status s = parse(event.data, true, nullptr, p); !s.ok()) return s;
    int rc;
    SQLite::Statement q(db, event.operation == Operation::kInsert
                                ? "INSERT INTO products (sku, name, price_cents, stock, category, active, description, "
                                  "created_at, updated_at, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                                : "UPDATE products SET sku = ?, name = ?, price_cents = ?, stock = ?, category = ?, "
                                  "active = ?, description = ?, updated_at = ? WHERE id = ?");
    q.bind(1, p.sku);
    q.bind(2, p.name);
    q.bind(3, p.price_cents);
    q.bind(4, p.stock);
    q.bind(5, p.category);
    q.bind(6, p.active ? 1 : 0);
    q.bind(7, p.description);
    q.bind(8, event.timestamp);
    if (event.operation == Operation::kInsert) {
      q.bind(9, event.timestamp);
      q.bind(10, id);
    } else {
      q.bind(9, id);
    }
    rc = q.tryExecuteStep();
    if (rc != SQLITE_DONE) {
      switch (q.getExtendedErrorCode()) {
        case SQLITE_CONSTRAINT_PRIMARYKEY: return Status::Conflict("a product with this id exists", "id");
        case SQLITE_CONSTRAINT_UNIQUE: return Status::Conflict("sku " + p.sku + " is already in use", "sku");
        default: throw SQLite::Exception(q.getErrorMsg(), rc);
      }
    }
    if (event.operation == Operation::kUpdate && db.getChanges() == 0)
      return Status::NotFound("no product with id " + id);
    return Status::Ok();
  }

  Status handle_delete(SQLite::Database& db, const DatabaseEvent& event) override {
    SQLite::Statement q(db, "DELETE FROM products WHERE id = ?");
    q.bind(1, std::string(event.entity_id()));
    if (q.exec() == 0) return Status::NotFound("no product with id " + std::string(event.entity_id()));
    return Status::Ok();
  }

  std::optional<std::string> get(SQLite::Database& db, const std::string& id) override {
    SQLite::Statement q(db, std::string("SELECT ") + kColumns + " FROM products WHERE id = ?");
    q.bind(1, id);
    if (!q.executeStep()) return std::nullopt;
    return row_json(q);
  }

  std::vector<Row> get_all(SQLite::Database& db, const std::string& after, int limit) override {
    SQLite::Statement q(db, std::string("SELECT ") + kColumns + " FROM products WHERE id > ? ORDER BY id LIMIT ?");
    q.bind(1, after);
    q.bind(2, limit);
    std::vector<Row> rows;
    while (q.executeStep()) rows.push_back({q.getColumn(0).getString(), row_json(q)});
    return rows;
  }

  Status create_event(const rapidjson::Value& body, DatabaseEvent& event) override {
    return build(new_uuid_v7(), Operation::kInsert, body, nullptr, event);
  }

  Status update_event(const std::string& id, const rapidjson::Value& body, DatabaseEvent& event) override {
    return build(id, Operation::kUpdate, body, &id, event);
  }

  Status delete_event(const std::string& id, DatabaseEvent& event) override {
    auto& a = event.data.GetAllocator();
    event.operation = Operation::kDelete;
    event.data.SetObject();
    event.data.AddMember("id", rapidjson::Value(id.c_str(), static_cast<rapidjson::SizeType>(id.size()), a), a);
    return Status::Ok();
  }

 private:
  // The event carries the product with its defaults filled in, so every node
  // stores the same row whatever its own defaults.
  static Status build(const std::string& id, Operation op, const rapidjson::Value& body, const std::string* path_id,
                      DatabaseEvent& event) {
    Product p;
    if (Status s = parse(body, path_id != nullptr, path_id, p); !s.ok()) return s;
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    write_product(w, id, p);
    w.EndObject();
    event.operation = op;
    event.data.Parse(buf.GetString(), buf.GetSize());
    return Status::Ok();
  }
};

std::unique_ptr<clusterlite::TableOperations> make_products(const clusterlite::PluginContext& ctx) {
  if (ctx.settings.IsObject() && ctx.settings.MemberCount() > 0)
    throw std::invalid_argument("products takes no settings");
  return std::make_unique<Products>();
}

}  // namespace

CLUSTERLITE_PLUGIN(make_products, 1)
