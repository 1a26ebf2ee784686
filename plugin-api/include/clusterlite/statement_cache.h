// StatementCache: prepared statements kept per connection, so a plugin
// compiles each SQL text once per connection instead of once per call.
//
//   static constexpr const char* kGet = "SELECT ... WHERE id = ?";
//   auto q = cache_.use(db, kGet);   // prepared on first use, reset after
//   q->bind(1, id);
//   if (q->executeStep()) ...
//
// Safe when calls on different connections run concurrently (as get/get_all
// do): the cache is locked only to find a statement, and a connection is used
// by one thread at a time. A statement is reset and its bindings cleared when
// the Use goes out of scope, so it never holds a read snapshot open.
// Statements are keyed by the SQL pointer: pass string constants.
// Destroy the cache (the plugin) before the connections it saw are closed.
#pragma once

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace clusterlite {

class StatementCache {
 public:
  class Use {
   public:
    explicit Use(SQLite::Statement& statement) : statement_(&statement) {}
    Use(Use&& other) noexcept : statement_(std::exchange(other.statement_, nullptr)) {}
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;
    Use& operator=(Use&&) = delete;
    ~Use() {
      if (!statement_) return;
      try {
        statement_->reset();
        statement_->clearBindings();
      } catch (...) {
        // reset() reports the last step's error again; it was seen already.
      }
    }
    SQLite::Statement* operator->() const { return statement_; }
    SQLite::Statement& operator*() const { return *statement_; }

   private:
    SQLite::Statement* statement_;
  };

  // The statement for `sql` on `db`, prepared on first use.
  Use use(SQLite::Database& db, const char* sql) {
    std::lock_guard lock(mutex_);
    auto& slot = statements_[{db.getHandle(), sql}];
    if (!slot) slot = std::make_unique<SQLite::Statement>(db, sql);
    return Use(*slot);
  }

  // The same for SQL built at run time (a query's shape), keyed by its text.
  // At most kMaxTexts texts are kept per connection; past that, the
  // connection's are dropped and prepared again as needed, so do not hold a
  // Use of this call while making another on the same connection.
  Use use_text(SQLite::Database& db, const std::string& sql) {
    static constexpr size_t kMaxTexts = 256;
    std::lock_guard lock(mutex_);
    auto& texts = texts_[db.getHandle()];
    auto it = texts.find(sql);
    if (it == texts.end()) {
      if (texts.size() >= kMaxTexts) texts.clear();
      it = texts.emplace(sql, std::make_unique<SQLite::Statement>(db, sql)).first;
    }
    return Use(*it->second);
  }

 private:
  std::mutex mutex_;
  std::map<std::pair<const void*, const char*>, std::unique_ptr<SQLite::Statement>> statements_;
  std::map<const void*, std::map<std::string, std::unique_ptr<SQLite::Statement>>> texts_;
};

}  // namespace clusterlite
