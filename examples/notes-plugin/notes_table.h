// NotesTable: a small entity served by an out-of-tree plugin.
//   notes(id TEXT PRIMARY KEY, title, body, created_at, updated_at)
// title: required string, 1..max_title_length characters (setting, default 100);
// body: optional string (default ""). Ids are generated UUIDv7 (time-ordered).
// It follows docs/plugins.md: one statement per event, prepared statements
// from a clusterlite::StatementCache, a WITHOUT ROWID table keyed by the id.
#pragma once

#include <clusterlite/plugin.h>
#include <clusterlite/statement_cache.h>

#include <string>

namespace notes {

class NotesTable : public clusterlite::TableOperations {
 public:
  explicit NotesTable(size_t max_title_length) : max_title_length_(max_title_length) {}

  std::string table_name() const override { return "notes"; }
  void create_table(SQLite::Database& db) override;
  clusterlite::Status handle_upsert(SQLite::Database& db, const clusterlite::DatabaseEvent& event) override;
  clusterlite::Status handle_delete(SQLite::Database& db, const clusterlite::DatabaseEvent& event) override;
  std::optional<std::string> get(SQLite::Database& db, const std::string& id) override;
  std::vector<clusterlite::Row> get_all(SQLite::Database& db, const std::string& after, int limit) override;
  clusterlite::Status create_event(const rapidjson::Value& body, clusterlite::DatabaseEvent& event) override;
  clusterlite::Status update_event(const std::string& id, const rapidjson::Value& body,
                                   clusterlite::DatabaseEvent& event) override;
  clusterlite::Status delete_event(const std::string& id, clusterlite::DatabaseEvent& event) override;

 private:
  // Checks a request body and copies title and body into event.data.
  clusterlite::Status fill(const rapidjson::Value& request, const std::string& id,
                           clusterlite::DatabaseEvent& event) const;

  size_t max_title_length_;
  clusterlite::StatementCache statements_;
};

}  // namespace notes
