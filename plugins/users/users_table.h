// UsersTable: the sample `users` entity.
//   users(id TEXT PRIMARY KEY, name, email UNIQUE (case-insensitive),
//         created_at, updated_at)
// name: required, 1..max_name_length characters (setting, default 200);
// email: required, syntactically valid, unique. Ids are generated UUIDv7.
// Queries (GET /users?...): filters email and name (without regard to ASCII
// case), search q on name and email (prefix, ignoring ASCII case), orders
// id, created_at and updated_at; each answered from an index:
//   email's unique index (COLLATE NOCASE), "users.search.name" and
//   "users.search.email" on (column COLLATE NOCASE, id),
//   "users.order.created_at" and "users.order.updated_at" on (column, id).
#pragma once

#include <clusterlite/plugin.h>
#include <clusterlite/statement_cache.h>

#include <memory>
#include <string>

namespace users {

bool is_valid_email(std::string_view email);

class UsersTable : public clusterlite::TableOperations {
 public:
  explicit UsersTable(size_t max_name_length = 200) : max_name_length_(max_name_length) {}

  std::string table_name() const override { return "users"; }
  void create_table(SQLite::Database& db) override;
  clusterlite::Status handle_upsert(SQLite::Database& db, const clusterlite::DatabaseEvent& event) override;
  clusterlite::Status handle_delete(SQLite::Database& db, const clusterlite::DatabaseEvent& event) override;
  std::optional<std::string> get(SQLite::Database& db, const std::string& id) override;
  std::vector<clusterlite::Row> get_all(SQLite::Database& db, const std::string& after, int limit) override;
  clusterlite::Status create_event(const rapidjson::Value& body, clusterlite::DatabaseEvent& event) override;
  clusterlite::Status update_event(const std::string& id, const rapidjson::Value& body,
                                   clusterlite::DatabaseEvent& event) override;
  clusterlite::Status delete_event(const std::string& id, clusterlite::DatabaseEvent& event) override;
  std::string entity_schema() const override;
  clusterlite::QueryFields query_fields() const override;
  clusterlite::Status query(SQLite::Database& db, const clusterlite::Query& query,
                            std::vector<clusterlite::QueryRow>& rows) override;

 private:
  // Checks name and email in `obj` (a request body or event data).
  clusterlite::Status check_fields(const rapidjson::Value& obj, bool allow_read_only, const std::string* path_id) const;
  bool exists(SQLite::Database& db, const std::string& id);

  size_t max_name_length_;
  clusterlite::StatementCache statements_;
};

}  // namespace users
