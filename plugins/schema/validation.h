// Entities checked with RapidJSON's JSON Schema validator (rapidjson/schema.h),
// and its verdict turned into a message and the offending field.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/schema.h>

#include <memory>
#include <mutex>
#include <string>

#include "declaration.h"
#include "pattern.h"

namespace schema {

// What is wrong with an entity: a one-line message and the top-level field it
// concerns ("" when none). An empty message means the entity is valid.
struct Problem {
  std::string message;
  std::string field;
  bool ok() const { return message.empty(); }
};

// The "pattern" of each top-level property is checked with Pattern (a DFA)
// after RapidJSON's validator has passed the rest; RapidJSON's validator
// checks everything else, nested patterns included.
class Validator {
 public:
  // `schema` is Declaration::validation.
  explicit Validator(const rapidjson::Value& schema);
  Validator(const Validator&) = delete;
  Validator& operator=(const Validator&) = delete;

  // Checks an entity (a JSON object) against the schema.
  Problem check(const rapidjson::Value& entity) const;

 private:
  struct TopLevelPattern {
    std::string property;
    std::shared_ptr<const Pattern> pattern;
    std::string source_json;  // the pattern as the declaration spells it, for messages
  };
  static rapidjson::Document without_top_level_patterns(const rapidjson::Value& schema,
                                                        std::vector<TopLevelPattern>& taken);

  std::vector<TopLevelPattern> patterns_;
  rapidjson::Document schema_;  // the declaration less patterns_; outlives compiled_
  rapidjson::SchemaDocument compiled_;
  // RapidJSON's regular expressions keep their match state inside the
  // compiled pattern: while the schema still holds one (nested), one
  // validation at a time.
  bool serialize_;
  mutable std::mutex mutex_;
};

// Checks `value` against the property schema `property_schema` (a part of
// Declaration::validation) and against what the column of `p` can hold.
// Returns "" or why not (used for defaults).
std::string check_value(const rapidjson::Value& property_schema, const Property& p, const rapidjson::Value& value);

// What RapidJSON's validator does not see but the table cannot take: an
// integer property's value outside the 64-bit range of SQLite's integers.
// Returns "" or the message (naming the property).
std::string storage_problem(const Property& p, const rapidjson::Value& value);

// Whether a string anywhere in `value` (or a key) holds a NUL character,
// which RapidJSON's pattern matching would stop at.
bool has_nul(const rapidjson::Value& value);

}  // namespace schema
