// SchemaTable: one table declared in the config file, served from its JSON
// Schema (docs/entities.md).
//
//   "<table>"(id TEXT PRIMARY KEY, created_at, updated_at,
//             one column per declared top-level property
//             [, "_additional" for undeclared keys when the schema admits them])
//   WITHOUT ROWID, and a UNIQUE index "<table>.unique.<field>" per x-unique field,
//   "<table>.query.<field>" on (field, id) per x-filter or x-sort field and
//   "<table>.search.<field>" on (field COLLATE NOCASE, id) per x-search field.
//
// Requests and events are checked with RapidJSON's JSON Schema validator;
// uniqueness is the unique indexes' verdict at apply time, the same on every
// node. Ids are UUIDv7 made in create_event; created_at/updated_at come from
// the event's timestamp.
#pragma once

#include <clusterlite/plugin.h>
#include <clusterlite/statement_cache.h>

#include <rapidjson/stringbuffer.h>

#include <memory>
#include <string>
#include <vector>

#include "declaration.h"
#include "validation.h"

namespace schema {

class SchemaTable : public clusterlite::TableOperations {
 public:
  explicit SchemaTable(Declaration declaration);

  std::string table_name() const override { return decl_.table; }
  void create_table(SQLite::Database& db) override { prepare_table(db, std::nullopt); }
  void prepare_table(SQLite::Database& db, std::optional<int> stored_version) override;
  clusterlite::Status handle_upsert(SQLite::Database& db, const clusterlite::DatabaseEvent& event) override;
  clusterlite::Status handle_delete(SQLite::Database& db, const clusterlite::DatabaseEvent& event) override;
  std::optional<std::string> get(SQLite::Database& db, const std::string& id) override;
  std::vector<clusterlite::Row> get_all(SQLite::Database& db, const std::string& after, int limit) override;
  clusterlite::Status create_event(const rapidjson::Value& body, clusterlite::DatabaseEvent& event) override;
  clusterlite::Status update_event(const std::string& id, const rapidjson::Value& body,
                                   clusterlite::DatabaseEvent& event) override;
  clusterlite::Status delete_event(const std::string& id, clusterlite::DatabaseEvent& event) override;
  std::string entity_schema() const override { return decl_.entity_schema; }
  std::optional<int> table_version() const override { return decl_.version; }
  clusterlite::QueryFields query_fields() const override { return {decl_.filters, decl_.search, decl_.sorts}; }
  clusterlite::Status query(SQLite::Database& db, const clusterlite::Query& query,
                            std::vector<clusterlite::QueryRow>& rows) override;

 private:
  clusterlite::Status build(const std::string& id, const rapidjson::Value& body, bool create,
                            clusterlite::DatabaseEvent& event) const;
  // Adds the declared default of every property `data` lacks.
  void fill_defaults(rapidjson::Document& data) const;
  bool lacks_a_default(const rapidjson::Value& data) const;
  // Binds the extra keys (when admitted) and the properties of `data`, from
  // parameter `first` on; returns the next parameter.
  int bind_entity(SQLite::Statement& q, int first, const rapidjson::Value& data) const;
  clusterlite::Status constraint_status(SQLite::Database& db, SQLite::Statement& q, int rc, const std::string& id,
                                        const rapidjson::Value& data, bool insert);
  bool exists(SQLite::Database& db, const std::string& id);
  // Makes the indexes x-filter, x-search and x-sort need ("<table>.query.<f>"
  // on (f, id), "<table>.search.<f>" on (f COLLATE NOCASE, id)) and drops
  // those no longer declared.
  void prepare_query_indexes(SQLite::Database& db);
  void write_row(SQLite::Statement& q, rapidjson::StringBuffer& buf) const;

  Declaration decl_;
  Validator validator_;
  // What the host stamps on this table's events: the first 16 hex digits of
  // the SHA-256 of entity_schema().
  std::string fingerprint_;
  int first_property_column_;  // index of the first property in SELECT results
  // SQL texts, built once: StatementCache keys statements by their pointer.
  std::string sql_insert_, sql_update_, sql_delete_, sql_get_, sql_page_, sql_exists_;
  std::vector<std::string> sql_taken_;  // per decl_.unique: is this value someone else's?
  clusterlite::StatementCache statements_;
};

}  // namespace schema
