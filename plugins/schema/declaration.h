// A table declared in the config file: its JSON Schema checked against the
// subset the schema plugin supports (docs/entities.md), and what the plugin
// derives from it: the columns, the unique fields, the schema RapidJSON's
// validator checks entities against, and the entity schema served to clients.
#pragma once

#include <rapidjson/document.h>

#include <memory>
#include <string>
#include <vector>

namespace schema {

// The JSON type of a top-level property, which decides its column.
enum class Kind { kString, kInteger, kNumber, kBoolean, kArray, kObject };

const char* kind_name(Kind kind);

struct Property {
  std::string name;
  Kind kind = Kind::kString;
  // The column's declared SQL type. Its affinity is what the kind stores
  // (TEXT, INTEGER, REAL), and the name tells the kinds that share an
  // affinity apart, so a changed kind is seen in PRAGMA table_info:
  // string TEXT, integer INTEGER, number REAL, boolean BOOLEAN_INTEGER,
  // object JSON_OBJECT_TEXT, array JSON_ARRAY_TEXT.
  std::string column_type;
  bool required = false;
  bool unique = false;
  // The declared default (null when there is none; null is never a valid
  // default, since no supported type admits it).
  std::shared_ptr<const rapidjson::Document> default_value;
  bool has_default() const { return default_value != nullptr; }
};

struct Declaration {
  std::string table;
  int version = 1;                   // x-version
  std::vector<Property> properties;  // ordered by name
  std::vector<std::string> unique;   // x-unique, ordered by name
  std::vector<std::string> required; // in declaration order
  // What GET /<table> may query (x-filter, x-search, x-sort), in declaration
  // order. Filters: string, integer, number or boolean properties. Search:
  // string properties. Sorts: required string, integer or number properties,
  // or created_at / updated_at.
  std::vector<std::string> filters;
  std::vector<std::string> search;
  std::vector<std::string> sorts;
  // Whether keys outside `properties` are accepted at the top level
  // (additionalProperties true or a schema); they are then kept together in
  // one column of JSON text.
  bool additional = false;
  // What RapidJSON's validator checks entities against: the declaration with
  // the id and the timestamps added as properties, additionalProperties false
  // unless declared, and the keywords RapidJSON 1.1 reads differently
  // rewritten to its forms (const as a one-value enum, a numeric
  // exclusiveMinimum/exclusiveMaximum as minimum/maximum plus the draft-04
  // boolean).
  std::shared_ptr<rapidjson::Document> validation;
  // The entity schema served to clients (TableOperations::entity_schema):
  // canonical JSON text, object keys sorted at every level.
  std::string entity_schema;

  const Property* find(const std::string& name) const;
};

// Checks a declaration and derives the rest. Throws std::invalid_argument
// with one line, "table <name>: <what is wrong>", naming the keyword.
Declaration parse_declaration(const std::string& table, const rapidjson::Value& schema);

// Whether `name` may name a declared table: ^[a-z][a-z0-9_]{0,62}$ and not
// one of SQLite's own (sqlite_...).
bool is_valid_table_name(const std::string& name);

// `value` as compact JSON text with the keys of every object sorted.
std::string canonical_json(const rapidjson::Value& value);

}  // namespace schema
