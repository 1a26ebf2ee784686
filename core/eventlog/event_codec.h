// Encodes and decodes DatabaseEvent to and from the wire format:
// {"id": uuid, "operation": "INSERT"|"UPDATE"|"DELETE", "table_name": "...",
//  "data": {...}, "timestamp": RFC 3339[, "plugin_version": n]
//  [, "schema_sha256": 16 hex digits]}. Unknown fields are ignored; an event
// without plugin_version is of version 0.
#pragma once

#include <clusterlite/event.h>

#include <chrono>
#include <string>
#include <string_view>

namespace clusterlite {

std::string encode_event(const DatabaseEvent& event);

// Decodes `bytes` into `out`, replacing what it held. Returns "" on success,
// otherwise a one-line reason ("not valid JSON at offset 12", "missing field:
// table_name", ...); then `out` holds whichever header fields were read and
// empty data. Parsing allocates from out.data's pool, which keeps its memory
// until `out` is destroyed: reusing one event for a batch allocates once.
// `written_at`, when given, receives the parsed timestamp on success.
std::string decode_event(std::string_view bytes, DatabaseEvent& out,
                         std::chrono::system_clock::time_point* written_at = nullptr);

// The highest plugin version (CLUSTERLITE_PLUGIN's bound).
constexpr int kMaxPluginVersion = 1000000;

// A schema fingerprint as events carry it: 16 lowercase hex digits.
bool is_schema_fingerprint(std::string_view text);

// Table names the host accepts: ^[a-z][a-z0-9_]{0,62}$.
bool is_valid_table_name(std::string_view name);

}  // namespace clusterlite
