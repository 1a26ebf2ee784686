// TableOperations: the interface an entity plugin implements to serve one
// table. It mirrors the original system's nine operations.
//
// Threading: the host calls create_table, handle_upsert and handle_delete from
// its single applier thread, inside a transaction it owns; get and get_all may
// run concurrently on other threads, each with its own read-only connection;
// the *_event builders may run on any thread and must not touch the database.
// Implementations keep no mutable state shared between these calls, or guard it.
#pragma once

#include <SQLiteCpp/Database.h>
#include <rapidjson/document.h>

#include <clusterlite/event.h>
#include <clusterlite/query.h>
#include <clusterlite/status.h>

#include <optional>
#include <string>
#include <vector>

namespace clusterlite {

// One entity as returned by reads: its id and its JSON object text.
struct Row {
  std::string id;
  std::string json;
};

class TableOperations {
 public:
  virtual ~TableOperations() = default;

  // The table this plugin serves; must match ^[a-z][a-z0-9_]{0,62}$ and be
  // unique among loaded plugins. Constant for the object's lifetime.
  virtual std::string table_name() const = 0;

  // Creates the table and its indexes if missing. Called once at start-up,
  // inside a transaction. Throwing aborts start-up with the message.
  virtual void create_table(SQLite::Database& db) = 0;

  // Applies an INSERT or UPDATE event. Must be deterministic: the result may
  // depend only on the event and the table's current content, so every node
  // reaches the same verdict. Returns kConflict/kNotFound/kInvalid to reject
  // the event; the host then rolls back anything the call wrote.
  virtual Status handle_upsert(SQLite::Database& db, const DatabaseEvent& event) = 0;

  // Applies a DELETE event, with the same rules as handle_upsert.
  virtual Status handle_delete(SQLite::Database& db, const DatabaseEvent& event) = 0;

  // Reads one entity; std::nullopt when absent.
  virtual std::optional<std::string> get(SQLite::Database& db, const std::string& id) = 0;

  // Reads up to `limit` entities with id > `after` (all when `after` is ""),
  // ordered by id ascending, so the host can page with a cursor.
  virtual std::vector<Row> get_all(SQLite::Database& db, const std::string& after, int limit) = 0;

  // Builds the event for a create request. `body` is the parsed request body
  // (any JSON value: check it is an object). Sets operation and data,
  // including a new entity id in data["id"]; the host fills the event's id,
  // table_name and timestamp. Returns kInvalid with the offending field.
  virtual Status create_event(const rapidjson::Value& body, DatabaseEvent& event) = 0;

  // Builds the event for a full update of entity `id`, as create_event does.
  virtual Status update_event(const std::string& id, const rapidjson::Value& body, DatabaseEvent& event) = 0;

  // Builds the event for deleting entity `id`.
  virtual Status delete_event(const std::string& id, DatabaseEvent& event) = 0;

  // (ABI 2) Creates the table, or migrates it from the plugin version that
  // last prepared it on this node: `stored_version` is that version, nullopt
  // when this node has never prepared the table, 0 when a plugin without a
  // version made it. Called instead of create_table, inside the transaction
  // that records the new version, when the plugin is loaded (at start-up or by
  // a reload); throwing refuses the plugin and changes nothing. The default
  // calls create_table. Keep migrations idempotent and deterministic: every
  // node runs them, each when it is upgraded.
  virtual void prepare_table(SQLite::Database& db, std::optional<int> stored_version) {
    (void)stored_version;
    create_table(db);
  }

  // (ABI 2) The entity this table holds, as the text of a JSON Schema object
  // (the subset docs/entities.md lists): "properties" with their types and
  // constraints, "required", "readOnly": true on the fields the server sets
  // (id, created_at, updated_at), and "x-unique": the fields no two entities
  // may share. The host serves it at GET /_schema and in GET /openapi.json,
  // the web UI builds its forms from it, and its SHA-256 travels in every
  // event the table builds: raise the version whenever it changes. "" when
  // the plugin does not describe its entity.
  virtual std::string entity_schema() const { return {}; }

  // (ABI 2) This table's version when it is not the plugin's: a plugin that
  // serves several tables, each declared with a version of its own. nullopt:
  // the plugin's version (CLUSTERLITE_PLUGIN). The same rules apply to it.
  virtual std::optional<int> table_version() const { return std::nullopt; }

  // (ABI 3) The fields GET /{table} may filter, search and sort by (query.h).
  // Read once when the plugin is loaded; the host refuses, with a 400, any
  // query naming another field, so query() only sees these. Each must be
  // answered from an index (create it in create_table / prepare_table).
  // The default: none; the table then pages in id order only (get_all).
  virtual QueryFields query_fields() const { return {}; }

  // (ABI 3) Answers a query: up to `query.limit` rows matching every equal
  // term and the search prefix, in `query.order`, after the cursor row; each
  // with its sort value when the order is not id. Called like get_all (any
  // thread, its own read connection, a read transaction the host owns).
  // Returns kInvalid with the field a value does not fit (the host answers
  // 400 naming that parameter). The default refuses every query.
  virtual Status query(SQLite::Database& db, const Query& query, std::vector<QueryRow>& rows) {
    (void)db;
    (void)query;
    (void)rows;
    return Status::Invalid("this table cannot be queried");
  }
};

}  // namespace clusterlite
