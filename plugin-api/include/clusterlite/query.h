// Queries on a table (ABI 3): what GET /{table}?field=value&q=prefix&order=...
// asks of a plugin, and what the plugin answers. The host parses the request's
// parameters, checks them against the plugin's QueryFields, decodes and
// encodes the paging cursor, and hands the plugin a Query; the plugin answers
// it from its indexes (docs/plugins.md, "Queries").
//
// KeysetSelect renders the usual SQL for a Query over one table; a plugin
// gives it the column expressions and the typed values, and binds what it
// returns.
#pragma once

#include <SQLiteCpp/Statement.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <clusterlite/statement_cache.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace clusterlite {

// The fields a table can be queried by. Each must be backed by an index that
// answers it without scanning the table.
struct QueryFields {
  std::vector<std::string> filters;  // ?field=value: equality
  std::vector<std::string> search;   // ?q=prefix: prefix match on any of these, ignoring ASCII case
  std::vector<std::string> sorts;    // ?order=field and ?order=-field, besides id (always sortable)
};

// One request. Fields are names the plugin listed in its QueryFields.
struct Query {
  // Equality on each (field, value), all of them (AND). The value is the
  // parameter's decoded text: the plugin converts it to the field's type
  // and answers Status::Invalid(message, field) when it cannot.
  std::vector<std::pair<std::string, std::string>> equal;
  // A prefix: rows where any search field starts with it. "" for none.
  std::string search;
  // The order: "id" or a field of QueryFields::sorts; ties are broken by id
  // in the same direction.
  std::string order = "id";
  bool descending = false;
  // Keyset paging: rows strictly after the row (after_value, after_id) in
  // this order. after_id "" is the first page. after_value is the JSON text
  // (a string, number or boolean) the plugin put in QueryRow::sort_value for
  // that row; "" when the order is id.
  std::string after_id;
  std::string after_value;
  int limit = 100;  // rows to return at most
};

// One row of an answer.
struct QueryRow {
  std::string id;
  std::string json;        // the entity, as get() answers it
  std::string sort_value;  // the row's value of the order field as JSON text; "" when the order is id
};

// A value bound to a statement parameter.
using SqlValue = std::variant<std::nullptr_t, int64_t, double, std::string>;

inline void bind_sql_value(SQLite::Statement& q, int index, const SqlValue& v) {
  if (std::holds_alternative<int64_t>(v))
    q.bind(index, static_cast<int64_t>(std::get<int64_t>(v)));
  else if (std::holds_alternative<double>(v))
    q.bind(index, std::get<double>(v));
  else if (std::holds_alternative<std::string>(v))
    q.bind(index, std::get<std::string>(v));
  else
    q.bind(index);
}

// The SELECT for a Query over one table, from SQL the plugin provides:
//   SELECT <columns> FROM <table>
//   WHERE <each equal term> AND (<search ranges, OR-ed>) AND <keyset>
//   ORDER BY <order column> [DESC], id [DESC] LIMIT ?
// A search column's range is `col >= ? COLLATE NOCASE AND col < ? COLLATE
// NOCASE` (the prefix, then the prefix followed by byte 0xFF, which no UTF-8
// text holds), so an index on (col COLLATE NOCASE, id) answers it; an equal
// term is the plugin's ("email = ?"), with one placeholder.
//
// A search in id order takes the ids first and the rows after:
//   SELECT <columns> FROM <table> WHERE id IN (
//     SELECT id FROM <table> WHERE <equal> AND <range of column 1> AND <keyset>
//     UNION SELECT id ... <range of column 2> ...
//     ORDER BY 1 [DESC] LIMIT ?)
//   ORDER BY id [DESC] LIMIT ?
// Every prefix match is read to find the first ids, and the (col, id)
// indexes give each match's id without the row: only the page's rows are
// read (a third less time than reading every match's row, on 1,000,000 users
// of which a prefix matched a hundred).
struct KeysetSelect {
  std::string columns;  // the select list
  std::string table;    // quoted as needed
  std::vector<std::pair<std::string, SqlValue>> equal;  // term with one '?', value
  std::vector<std::string> search_columns;               // quoted column names
  std::string search;                                    // the prefix; "" for none
  std::string order_column;  // quoted; "" when the order is id
  bool descending = false;
  bool has_cursor = false;
  SqlValue after_value;  // with an order column
  std::string after_id;
  int limit = 100;

  // The SQL text and the values to bind to its parameters, in order.
  std::pair<std::string, std::vector<SqlValue>> render() const {
    const bool searching = !search.empty() && !search_columns.empty();
    if (searching && order_column.empty()) return render_search_by_id();
    std::string sql = "SELECT " + columns + " FROM " + table;
    std::vector<SqlValue> binds;
    std::vector<std::string> terms;
    for (auto& [term, value] : equal) {
      terms.push_back(term);
      binds.push_back(value);
    }
    if (searching) {
      std::string any;
      for (auto& c : search_columns) any += (any.empty() ? "(" : " OR (") + prefix_range(c, binds) + ")";
      terms.push_back("(" + any + ")");
    }
    if (has_cursor) {
      // With a search, the keyset must not steer the plan (the search's
      // indexes find the rows, a sort orders them): its columns are written
      // +col, which SQLite never answers from an index.
      std::string plus = searching || (!order_column.empty() && !equal.empty()) ? "+" : "";
      const char* op = descending ? " < " : " > ";
      if (order_column.empty()) {
        terms.push_back(plus + "id" + op + "?");
      } else {
        terms.push_back("(" + plus + order_column + ", " + plus + "id)" + op + "(?, ?)");
        binds.push_back(after_value);
      }
      binds.push_back(after_id);
    }
    if (!has_cursor && order_column.empty() && terms.empty()) {
      // The id order's first page: every id is text, so this bound drops
      // nothing and lets the plan name the key range it walks.
      terms.push_back("id >= ''");
    }
    for (size_t i = 0; i < terms.size(); ++i) sql += (i ? " AND " : " WHERE ") + terms[i];
    const char* dir = descending ? " DESC" : "";
    sql += " ORDER BY ";
    if (!order_column.empty()) sql += order_column + dir + ", ";
    sql += std::string("id") + dir + " LIMIT ?";
    binds.push_back(static_cast<int64_t>(limit));
    return {sql, binds};
  }

 private:
  // Column `c` starting with the search prefix, its two values added to `binds`.
  std::string prefix_range(const std::string& c, std::vector<SqlValue>& binds) const {
    binds.push_back(search);
    binds.push_back(search + "\xFF");
    return c + " >= ? COLLATE NOCASE AND " + c + " < ? COLLATE NOCASE";
  }

  // A search in id order: the ids of the page from the search columns'
  // indexes, one SELECT per column joined by UNION, then their rows.
  std::pair<std::string, std::vector<SqlValue>> render_search_by_id() const {
    const char* dir = descending ? " DESC" : "";
    std::vector<SqlValue> binds;
    std::string ids;
    for (auto& c : search_columns) {
      std::string branch = "SELECT id FROM " + table + " WHERE ";
      for (auto& [term, value] : equal) {
        branch += term + " AND ";
        binds.push_back(value);
      }
      branch += prefix_range(c, binds);
      if (has_cursor) {
        // +id: the keyset must not steer the plan away from the column's index.
        branch += std::string(" AND +id") + (descending ? " < ?" : " > ?");
        binds.push_back(after_id);
      }
      ids += (ids.empty() ? "" : " UNION ") + branch;
    }
    ids += std::string(" ORDER BY 1") + dir + " LIMIT ?";
    binds.push_back(static_cast<int64_t>(limit));
    binds.push_back(static_cast<int64_t>(limit));
    return {"SELECT " + columns + " FROM " + table + " WHERE id IN (" + ids + ") ORDER BY id" + dir + " LIMIT ?",
            binds};
  }
};

// A sort column's value as the JSON a cursor carries (QueryRow::sort_value):
// a number for an integer or real, else a string.
inline std::string sort_value_json(const SQLite::Column& col) {
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> w(out);
  if (col.isInteger())
    w.Int64(col.getInt64());
  else if (col.isFloat())
    w.Double(col.getDouble());
  else
    w.String(static_cast<const char*>(col.getText()), static_cast<rapidjson::SizeType>(col.getBytes()));
  return {out.GetString(), out.GetSize()};
}

// Runs `select` on `db` (its SQL prepared once per text in `statements`) and
// appends a QueryRow per row: the id (column 0), the entity as
// `write_row(statement, buffer)` writes it into the cleared buffer, and the
// value of column `sort_column` (none when it is negative, the id order).
template <typename WriteRow>
void run_keyset_select(SQLite::Database& db, StatementCache& statements, const KeysetSelect& select, int sort_column,
                       WriteRow&& write_row, std::vector<QueryRow>& rows, size_t row_buffer_bytes = 512) {
  auto [sql, binds] = select.render();
  auto q = statements.use_text(db, sql);
  for (size_t i = 0; i < binds.size(); ++i) bind_sql_value(*q, static_cast<int>(i + 1), binds[i]);
  rows.reserve(static_cast<size_t>(std::clamp(select.limit, 0, 1024)));
  rapidjson::StringBuffer buf(nullptr, row_buffer_bytes);
  while (q->executeStep()) {
    write_row(*q, buf);
    rows.push_back({q->getColumn(0).getString(), std::string(buf.GetString(), buf.GetSize()),
                    sort_column >= 0 ? sort_value_json(q->getColumn(sort_column)) : std::string()});
  }
}

}  // namespace clusterlite
