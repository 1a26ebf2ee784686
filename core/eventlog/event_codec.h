// Encodes and decodes DatabaseEvent to and from the wire format:
// {"id": uuid, "operation": "INSERT"|"UPDATE"|"DELETE", "table_name": "...",
//  "data": {...}, "timestamp": RFC 3339[, "plugin_version": n]
//  [, "schema_sha256": 16 hex digits]
//  [, "idempotency": {"key": "...", "request_sha256": 64 hex digits,
//                     "keep_seconds": n}]}.
// Unknown fields are ignored; an event without plugin_version is of version 0.
#pragma once

#include <clusterlite/event.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace clusterlite {

// The Idempotency-Key of the request an event came from: the key, the
// SHA-256 of the request (method, path, body) and how long, in event time,
// the outcome is kept for retries. Not part of DatabaseEvent: plugins never
// see it; the applier decides retries before a plugin is asked.
struct IdempotencyStamp {
  std::string key;             // "" when the request had none
  std::string request_sha256;  // 64 lowercase hex digits
  int64_t keep_seconds = 0;
  bool present() const { return !key.empty(); }
};

// An Idempotency-Key as requests and events may carry it: 1 to 255
// printable ASCII characters (space to tilde).
bool is_idempotency_key(std::string_view key);

// The longest an outcome can be kept: ten years.
constexpr int64_t kMaxIdempotencyKeepSeconds = 10LL * 366 * 24 * 3600;

std::string encode_event(const DatabaseEvent& event, const IdempotencyStamp* idempotency = nullptr);

// Decodes `bytes` into `out`, replacing what it held. Returns "" on success,
// otherwise a one-line reason ("not valid JSON at offset 12", "missing field:
// table_name", ...); then `out` holds whichever header fields were read and
// empty data. Parsing allocates from out.data's pool, which keeps its memory
// until `out` is destroyed: reusing one event for a batch allocates once.
// `written_at`, when given, receives the parsed timestamp on success;
// `idempotency`, when given, the event's stamp (cleared when it has none).
std::string decode_event(std::string_view bytes, DatabaseEvent& out,
                         std::chrono::system_clock::time_point* written_at = nullptr,
                         IdempotencyStamp* idempotency = nullptr);

// The highest plugin version (CLUSTERLITE_PLUGIN's bound).
constexpr int kMaxPluginVersion = 1000000;

// A schema fingerprint as events carry it: 16 lowercase hex digits.
bool is_schema_fingerprint(std::string_view text);

// Table names the host accepts: ^[a-z][a-z0-9_]{0,62}$.
bool is_valid_table_name(std::string_view name);

}  // namespace clusterlite
