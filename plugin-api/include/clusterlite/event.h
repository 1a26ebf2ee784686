// DatabaseEvent: one change to one table, the unit of the shared event log.
// Its JSON form is the wire format documented in docs/events.md.
#pragma once

#include <rapidjson/document.h>

#include <string>
#include <string_view>

namespace clusterlite {

enum class Operation { kInsert, kUpdate, kDelete };

// "INSERT", "UPDATE" or "DELETE", as written on the wire.
inline const char* to_string(Operation op) {
  switch (op) {
    case Operation::kInsert: return "INSERT";
    case Operation::kUpdate: return "UPDATE";
    case Operation::kDelete: return "DELETE";
  }
  return "?";
}

struct DatabaseEvent {
  std::string id;          // UUID of the event (not of the entity)
  Operation operation = Operation::kInsert;
  std::string table_name;
  // Entity fields. For INSERT and UPDATE the entity id is data["id"]; for
  // DELETE data holds at least {"id": ...}. Always a JSON object.
  rapidjson::Document data{rapidjson::kObjectType};
  // RFC 3339 UTC time the event was created, e.g. "2026-11-27T05:23:00.123456Z".
  // Plugins use it (never the local clock) for created_at/updated_at so every
  // node stores identical rows.
  std::string timestamp;
  // The version of the plugin that built the event (0: a plugin without a
  // version, or an event written by another system). A plugin applies an
  // event by the rules of that version. Set by the host, not by the plugin.
  int plugin_version = 0;
  // The first 16 hex digits of the SHA-256 of the table's entity schema
  // (TableOperations::entity_schema) on the node that built the event; "" when
  // its table does not describe itself. Set by the host.
  std::string schema_sha256;

  // The entity id carried in data, or "" when absent or not a string.
  std::string_view entity_id() const {
    auto it = data.FindMember("id");
    if (it == data.MemberEnd() || !it->value.IsString()) return {};
    return {it->value.GetString(), it->value.GetStringLength()};
  }
};

}  // namespace clusterlite
